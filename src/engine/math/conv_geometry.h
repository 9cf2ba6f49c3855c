// The geometry of a convolution "frame" (big = conv input side, small = conv output side,
// w = weights; see kernels/cpu/conv.h), computed from the op's attributes by
// ops/conv_geometry.h and handed to every backend's convolution kernels.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/base/shape.h"

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

}  // namespace symnet
