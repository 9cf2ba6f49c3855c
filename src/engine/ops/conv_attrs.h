// Attribute parsing and padding rules of the convolution frame, shared by shape inference
// (ops/conv.cpp) and every backend's prepare() through conv_geometry() (conv_geometry.h).
// Kept apart from the op definitions so that a backend library built without the op
// registry (the CUDA backend) links the geometry alone.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/ir/attr.h"

namespace symnet {
namespace conv_attrs {

struct ConvAttrs {
  int nsp = 0;
  bool transposed = false;
  std::vector<int64_t> strides, dilations, pads, output_padding, output_shape, kernel_shape;
  int64_t group = 1;
  std::string auto_pad = "NOTSET";
};

// The attributes of a frame with `nsp` spatial dims, validated (ErrorKind::attr).
ConvAttrs parse_attrs(const AttrMap& a, int nsp, bool transposed);
// Dilated extent of kernel dim i of size k.
int64_t eff_kernel(const ConvAttrs& c, int i, int64_t k);
// Begin padding of spatial dim i in the conv frame; `*known` false when a needed extent is
// unknown (-1). Conv attributes resolve against the big (input) extent, conv_transpose
// attributes against the small (its input) extent.
int64_t pad_begin(const ConvAttrs& c, int i, int64_t k, int64_t big, int64_t small, bool* known);
// Output extent of conv / conv_transpose along dim i (-1 when unknown).
int64_t conv_out_dim(const ConvAttrs& c, int i, int64_t in, int64_t k);
int64_t conv_transpose_out_dim(const ConvAttrs& c, int i, int64_t in, int64_t k);
// The internal products' 'transposed' attribute (0 or 1).
bool transposed_attr(const AttrMap& a);

}  // namespace conv_attrs
}  // namespace symnet
