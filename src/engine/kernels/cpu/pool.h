// CPU kernels for max/avg/global pooling (ops/pool.cpp) and the pooling geometry shared by
// shape inference and the kernels (ONNX MaxPool/AveragePool attributes).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/ops/registry.h"

namespace symnet {

// Spatial dims are padded at the front to 3 (size 1, kernel 1, stride 1, no padding), so
// one set of loops serves 1-D, 2-D and 3-D pooling.
struct PoolGeometry {
  int nd = 0;                            // spatial rank as given (1..3)
  int64_t n = 0, c = 0;                  // batch, channels (-1 when unknown)
  int64_t in[3], out[3], k[3], s[3], pb[3], pe[3], dil[3];
  bool count_include_pad = false;
  bool known = true;                     // every dim known (false only during inference)

  int64_t in_plane() const { return in[0] * in[1] * in[2]; }
  int64_t out_plane() const { return out[0] * out[1] * out[2]; }
  int64_t planes() const { return n * c; }
  Shape out_shape() const;
};

// Validates the attributes (kernel_shape, strides, pads, dilations, ceil_mode, auto_pad,
// count_include_pad) against input shape x and computes the output geometry. Unknown
// input dims give unknown output dims. Throws attr/shape errors naming the attribute.
PoolGeometry pool_geometry(const AttrMap& a, const Shape& x, bool is_max);

void max_pool_kernel(KernelContext& k);         // (x) -> y
void max_pool_grad_kernel(KernelContext& k);    // (x, gy) -> gx: gy scattered to the argmax
void max_pool_gather_kernel(KernelContext& k);  // (x, g) -> g at each window's argmax
void avg_pool_kernel(KernelContext& k);         // (x) -> y
void avg_pool_grad_kernel(KernelContext& k);    // (gy, x_like) -> gx
void global_avg_pool_kernel(KernelContext& k);
void global_max_pool_kernel(KernelContext& k);

}  // namespace symnet
