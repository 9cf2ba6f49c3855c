// Host-side choices of the CUDA convolution kernels, in plain C++ so the engine's Catch2
// tests check them without a GPU: the cuDNN view of a frame's geometry (whether cuDNN can
// pad it: symmetric padding only; other frames run on an explicitly padded copy) and the
// algorithm picked from cuDNN's heuristic ranking.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/math/conv_geometry.h"

namespace symnet {
namespace cuda {

// Up to three spatial values as cuDNN takes them: 1-D frames become 2-D with height 1,
// since cuDNN's descriptors need at least two spatial dimensions.
struct CudnnDims {
  int n = 2;
  int v[3] = {1, 1, 1};
};
struct CudnnFrame {
  CudnnDims big, small, k, pad, stride, dil;
};

inline CudnnFrame cudnn_frame(const ConvGeom& g) {
  CudnnFrame f;
  const int n = g.nsp == 3 ? 3 : 2, off = 3 - n;
  CudnnDims* all[] = {&f.big, &f.small, &f.k, &f.pad, &f.stride, &f.dil};
  for (CudnnDims* d : all) d->n = n;
  for (int i = 0; i < n; ++i) {
    f.big.v[i] = static_cast<int>(g.big[off + i]);
    f.small.v[i] = static_cast<int>(g.small[off + i]);
    f.k.v[i] = static_cast<int>(g.k[off + i]);
    f.pad.v[i] = static_cast<int>(g.pb[off + i]);
    f.stride.v[i] = static_cast<int>(g.s[off + i]);
    f.dil.v[i] = static_cast<int>(g.d[off + i]);
  }
  return f;
}

// cuDNN pads both ends by the same amount: the frame must be what that padding gives
// (the small extent is the forward output of the big one), and sizes must fit in int.
inline bool cudnn_supports(const ConvGeom& g, std::string* why) {
  const int64_t limit = INT32_MAX;
  // cuDNN's descriptors take int dimensions and strides: one sample of each side must fit.
  if (g.Cb * g.big_vol() > limit || g.Cs * g.small_vol() > limit || g.N > limit) {
    if (why) *why = "a sample of more than 2^31 elements, or a batch beyond 2^31, is not supported by cuDNN";
    return false;
  }
  for (int d = 0; d < 3; ++d) {
    const int64_t span = g.d[d] * (g.k[d] - 1) + 1;
    const int64_t expect = (g.big[d] + 2 * g.pb[d] - span) / g.s[d] + 1;
    if (g.big[d] + 2 * g.pb[d] < span || expect != g.small[d]) {
      if (why)
        *why = "asymmetric padding (begin " + std::to_string(g.pb[d]) + ", input " + std::to_string(g.big[d]) +
               ", output " + std::to_string(g.small[d]) + ") is not supported by cuDNN; pad the input explicitly";
      return false;
    }
  }
  return true;
}

// A frame cuDNN cannot pad (asymmetric padding) runs on an explicitly padded copy of the
// big side: this frame, whose big extents are exactly those the windows cover,
// (small - 1) * s + d * (k - 1) + 1 from -pb on, with no padding of its own. Coordinate j
// of the copy is coordinate j - pb of the big tensor (zero outside it).
inline ConvGeom explicit_pad_frame(const ConvGeom& g) {
  ConvGeom p = g;
  for (int d = 0; d < 3; ++d) {
    p.big[d] = (g.small[d] - 1) * g.s[d] + g.d[d] * (g.k[d] - 1) + 1;
    p.pb[d] = 0;
  }
  return p;
}

// One entry of cuDNN's ranking (best first).
struct AlgoCandidate {
  int algo = 0;
  bool ok = false;          // status success
  size_t memory = 0;        // workspace bytes
  bool deterministic = false;
};

// The first usable candidate within the workspace limit (deterministic ones only when
// asked); -1 when none qualifies.
inline int choose_algorithm(const std::vector<AlgoCandidate>& ranked, size_t limit, bool need_deterministic) {
  for (const AlgoCandidate& c : ranked)
    if (c.ok && c.memory <= limit && (!need_deterministic || c.deterministic)) return c.algo;
  return -1;
}

}  // namespace cuda
}  // namespace symnet
