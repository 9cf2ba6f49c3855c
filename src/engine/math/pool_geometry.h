// The geometry of a pooling window over NCHW input (ONNX MaxPool/AveragePool), computed
// from the op's attributes by ops/pool_geometry.h and handed to every backend's kernels.
#pragma once
#include <cstdint>

#include "engine/base/host_device.h"
#include "engine/base/shape.h"

namespace symnet {

// Spatial dims are padded at the front to 3 (size 1, kernel 1, stride 1, no padding), so
// one set of loops serves 1-D, 2-D and 3-D pooling.
struct PoolGeometry {
  int nd = 0;                            // spatial rank as given (1..3)
  int64_t n = 0, c = 0;                  // batch, channels (-1 when unknown)
  int64_t in[3], out[3], k[3], s[3], pb[3], pe[3], dil[3];
  bool count_include_pad = false;
  bool known = true;                     // every dim known (false only during inference)

  SN_HD int64_t in_plane() const { return in[0] * in[1] * in[2]; }
  SN_HD int64_t out_plane() const { return out[0] * out[1] * out[2]; }
  SN_HD int64_t planes() const { return n * c; }
  Shape out_shape() const {
    Shape s{n, c};
    for (int d = 3 - nd; d < 3; ++d) s.push_back(out[d]);
    return s;
  }
};

}  // namespace symnet
