// CPU kernels for the shape family (ops/shape.cpp); attributes arrive resolved in
// ShapeParams (ops/shape_attrs.h resolves them for inference and backends alike).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/backend/kernel.h"
#include "engine/base/shape.h"
#include "engine/math/shape_specs.h"

namespace symnet {

// Copies a box of `shape` elements of `es` bytes between two strided layouts (strides
// and offsets in elements; strides may be 0 or negative). Regions must not overlap.
void strided_copy(const void* src, int64_t src_off, const std::vector<int64_t>& src_strides,
                  void* dst, int64_t dst_off, const std::vector<int64_t>& dst_strides,
                  const Shape& shape, size_t es);

// Source coordinate for each output coordinate along one dimension; -1 = padding value.
std::vector<int64_t> pad_index_map(int64_t in_dim, int64_t begin, int64_t end, int mode);

// The attributes of the shape ops, resolved against the node's shapes (unused fields empty).
struct ShapeParams {
  std::vector<int64_t> perm;     // transpose: normalized permutation
  SliceSpec slice;               // slice, slice_grad: over the full (sliced-from) shape
  int64_t axis = 0;              // concat, split, stack: normalized
  std::vector<int64_t> repeats;  // tile
  PadSpec pad;                   // pad, pad_grad
  double value = 0;              // pad: the constant of "constant" mode
};

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
