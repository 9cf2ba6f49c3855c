// CPU convolution kernels (NCHW, 1 to 3 spatial dims, groups), written once for the
// three products of a convolution "frame":
//   forward       small = conv(big, w)        (conv; the adjoint of conv_transpose)
//   backward_data big   = conv^T(small, w)    (conv's input gradient; conv_transpose)
//   backward_wt   w     = corr(big, small)    (the weight gradient)
// "big" is the conv input side [N, Cb, big...], "small" the conv output side
// [N, Cs, small...], w is [Cs, Cb/G, k...]. Lowering: im2col over blocks of output rows
// sized to stay in L2, then GEMM (kernels/cpu/blas.h); 1x1 stride-1 unpadded convolutions
// skip the column buffer. Every index is bounds-checked against the shapes, so any
// geometry that passed inference is safe.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/base/tensor.h"

namespace symnet {

struct ConvGeom {
  int nsp = 2;      // spatial dims of the op (1..3)
  int64_t N = 0;    // batch
  int64_t Cb = 0;   // channels on the big (conv input) side
  int64_t Cs = 0;   // channels on the small (conv output) side = w.shape[0]
  int64_t G = 1;    // groups
  // Spatial extents padded to 3 dims with leading (size 1, stride 1, dilation 1, pad 0).
  int64_t big[3] = {1, 1, 1}, small[3] = {1, 1, 1}, k[3] = {1, 1, 1};
  int64_t s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, pb[3] = {0, 0, 0};

  int64_t big_vol() const { return big[0] * big[1] * big[2]; }
  int64_t small_vol() const { return small[0] * small[1] * small[2]; }
  int64_t kvol() const { return k[0] * k[1] * k[2]; }
  int64_t Cbg() const { return Cb / G; }
  int64_t Csg() const { return Cs / G; }
  int64_t K() const { return Cbg() * kvol(); }  // GEMM reduction length of the forward
  // 1x1 kernel, unit strides, no padding, equal extents: the column matrix is the input.
  bool pointwise() const;
  double flops() const { return 2.0 * N * Cs * small_vol() * K(); }
};

// Shapes are full tensor shapes (N, C, spatial...); pad_begin has one entry per spatial dim.
ConvGeom make_conv_geom(const Shape& big, const Shape& small, const Shape& w, const std::vector<int64_t>& strides,
                        const std::vector<int64_t>& dilations, const std::vector<int64_t>& pad_begin, int64_t group);

// Scratch bytes each product needs (deterministic in the geometry, so the planner's
// request and the kernel agree whatever the thread count is at run time).
size_t conv_forward_workspace(const ConvGeom& g, DType t);
size_t conv_backward_data_workspace(const ConvGeom& g, DType t);
size_t conv_backward_weight_workspace(const ConvGeom& g, DType t);

// bias (may be null) has Cs entries for forward, Cb entries for backward_data.
void conv_forward_cpu(const ConvGeom& g, const TensorView& big, const TensorView& w, const TensorView* bias,
                      const TensorView& small, void* workspace);
void conv_backward_data_cpu(const ConvGeom& g, const TensorView& small, const TensorView& w, const TensorView* bias,
                            const TensorView& big, void* workspace);
void conv_backward_weight_cpu(const ConvGeom& g, const TensorView& big, const TensorView& small,
                              const TensorView& dw, void* workspace);

}  // namespace symnet
