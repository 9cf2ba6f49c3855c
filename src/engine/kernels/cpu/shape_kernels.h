// CPU kernels and shared attribute resolution for the shape family (ops/shape.cpp).
// Resolution helpers accept unknown dims (-1) so infer and kernels share one definition.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/base/shape.h"
#include "engine/ir/attr.h"
#include "engine/ops/registry.h"

namespace symnet {

// Copies a box of `shape` elements of `es` bytes between two strided layouts (strides
// and offsets in elements; strides may be 0 or negative). Regions must not overlap.
void strided_copy(const void* src, int64_t src_off, const std::vector<int64_t>& src_strides,
                  void* dst, int64_t dst_off, const std::vector<int64_t>& dst_strides,
                  const Shape& shape, size_t es);

// Per input dimension: first element, step and output length of a slice (ONNX Slice
// clamping). len is -1 when the dimension is unknown. Throws attr errors.
struct SliceSpec {
  std::vector<int64_t> start, step, len;
};
SliceSpec resolve_slice(const Shape& in, const AttrMap& attrs);

// Pads as [begin..., end...] with rank checks; mode is "constant", "reflect" or "edge".
struct PadSpec {
  std::vector<int64_t> begin, end;
  int mode = 0;  // 0 constant, 1 reflect, 2 edge
};
PadSpec resolve_pad(int64_t rank, const AttrMap& attrs);
// Source coordinate for each output coordinate along one dimension; -1 = padding value.
std::vector<int64_t> pad_index_map(int64_t in_dim, int64_t begin, int64_t end, int mode);

// Sizes of the parts of split along an axis of length `dim` (-1 unknown -> parts -1).
std::vector<int64_t> resolve_split(int64_t dim, const AttrMap& attrs);

void reshape_kernel(KernelContext& k);    // also flatten, squeeze, unsqueeze
void transpose_kernel(KernelContext& k);
void expand_kernel(KernelContext& k);
void slice_kernel(KernelContext& k);
void slice_grad_kernel(KernelContext& k);
void concat_kernel(KernelContext& k);
void split_kernel(KernelContext& k);      // also split_like (extra inputs ignored)
void stack_kernel(KernelContext& k);
void tile_kernel(KernelContext& k);
void tile_grad_kernel(KernelContext& k);
void pad_kernel(KernelContext& k);
void pad_grad_kernel(KernelContext& k);

}  // namespace symnet
