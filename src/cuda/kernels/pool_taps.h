// The pooling windows of the CUDA kernels (pool.cu), as SN_HD functions so the engine's
// Catch2 tests evaluate them on the host against the CPU kernels: for every output, the
// valid taps per dimension (the CPU's make_taps), the window's argmax (first maximum in
// row-major order, NaN wins) and the average's divisor (valid taps, or taps inside the
// padded extent with count_include_pad).
#pragma once
#include <cstdint>

#include "engine/base/host_device.h"
#include "engine/math/pool_geometry.h"

namespace symnet {
namespace cuda {

// Taps [lo, hi) of output `o` along dim d are valid; tap k reads input start + k * dil;
// `padded` counts the taps inside [-pb, in + pe).
struct PoolTap {
  int64_t start, lo, hi, padded;
};

SN_HD inline PoolTap pool_tap(const PoolGeometry& g, int d, int64_t o) {
  PoolTap t;
  t.start = o * g.s[d] - g.pb[d];
  int64_t lo = 0, hi = 0, pad = 0;
  for (int64_t k = 0; k < g.k[d]; ++k) {
    const int64_t i = t.start + k * g.dil[d];
    if (i < 0) lo = k + 1;
    if (i < g.in[d]) hi = k + 1;
    if (i < g.in[d] + g.pe[d]) pad = k + 1;
  }
  t.lo = lo;
  t.hi = hi > lo ? hi : lo;
  t.padded = pad;
  return t;
}

// Output t (flat over planes and positions): its plane, position in the plane and taps.
struct PoolWindow {
  int64_t plane, o;
  PoolTap t[3];
};

SN_HD inline PoolWindow pool_window(const PoolGeometry& g, int64_t t) {
  PoolWindow w;
  const int64_t op = g.out[0] * g.out[1] * g.out[2];
  w.plane = t / op;
  w.o = t - w.plane * op;
  const int64_t ow = w.o % g.out[2], oh = (w.o / g.out[2]) % g.out[1], od = w.o / (g.out[2] * g.out[1]);
  w.t[0] = pool_tap(g, 0, od);
  w.t[1] = pool_tap(g, 1, oh);
  w.t[2] = pool_tap(g, 2, ow);
  return w;
}

// f(i) over the window's valid taps in row-major order (i: offset within the plane).
template <class F>
SN_HD inline void for_pool_taps(const PoolGeometry& g, const PoolWindow& w, F&& f) {
  const int64_t H = g.in[1], W = g.in[2];
  for (int64_t kd = w.t[0].lo; kd < w.t[0].hi; ++kd) {
    const int64_t id = w.t[0].start + kd * g.dil[0];
    for (int64_t kh = w.t[1].lo; kh < w.t[1].hi; ++kh) {
      const int64_t row = (id * H + w.t[1].start + kh * g.dil[1]) * W + w.t[2].start;
      for (int64_t kw = w.t[2].lo; kw < w.t[2].hi; ++kw) f(row + kw * g.dil[2]);
    }
  }
}

// Offset of the window's maximum within the plane, -1 for a window without valid taps.
template <class T>
SN_HD inline int64_t pool_argmax(const PoolGeometry& g, const PoolWindow& w, const T* xp) {
  int64_t best = -1;
  T m = T(0);
  for_pool_taps(g, w, [&](int64_t i) {
    const T v = xp[i];
    if (best < 0 || v > m || v != v) {
      m = v;
      best = i;
    }
  });
  return best;
}

SN_HD inline double pool_divisor(const PoolGeometry& g, const PoolWindow& w) {
  const int64_t n = g.count_include_pad
                        ? w.t[0].padded * w.t[1].padded * w.t[2].padded
                        : (w.t[0].hi - w.t[0].lo) * (w.t[1].hi - w.t[1].lo) * (w.t[2].hi - w.t[2].lo);
  return n > 0 ? 1.0 / static_cast<double>(n) : 0.0;  // empty window (dilation): 0
}

}  // namespace cuda
}  // namespace symnet
