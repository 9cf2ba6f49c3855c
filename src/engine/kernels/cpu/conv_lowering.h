// Lowering helpers shared by the convolution kernels (conv.cpp, conv_packed.cpp):
// im2col / col2im over blocks of output rows, and the short-run copies they are built on.
// Header-only templates, internal to kernels/cpu.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "engine/math/conv_geometry.h"

namespace symnet::convlower {

// Copies a short run (typically one output row) without a loop per element or a memcpy
// call: fixed-size, possibly overlapping block moves that compile to vector loads/stores.
template <typename T>
inline void copy_run(T* dst, const T* src, int64_t n) {
  constexpr int64_t V = 32 / sizeof(T);  // elements per 32-byte block
  if (n >= V) {
    int64_t i = 0;
    for (; i + V <= n; i += V) std::memcpy(dst + i, src + i, 32);
    if (i < n) std::memcpy(dst + n - V, src + n - V, 32);
  } else if (n >= V / 2) {
    std::memcpy(dst, src, 16);
    std::memcpy(dst + n - V / 2, src + n - V / 2, 16);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  }
}

// dst += src over a short run; all loads of a group precede its stores, so the compiler
// vectorizes the group without an aliasing check.
template <typename T>
inline void add_run(T* dst, const T* src, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const T a0 = src[i], a1 = src[i + 1], a2 = src[i + 2], a3 = src[i + 3];
    const T b0 = dst[i], b1 = dst[i + 1], b2 = dst[i + 2], b3 = dst[i + 3];
    dst[i] = a0 + b0;
    dst[i + 1] = a1 + b1;
    dst[i + 2] = a2 + b2;
    dst[i + 3] = a3 + b3;
  }
  for (; i < n; ++i) dst[i] += src[i];
}

// Valid output columns [lo, hi) along the innermost dim for kernel offset kw.
inline void valid_range(int64_t W_out, int64_t W_in, int64_t s, int64_t pb, int64_t off, int64_t& lo, int64_t& hi) {
  // iw = ow*s - pb + off must lie in [0, W_in).
  int64_t a = pb - off;  // ow*s >= a
  lo = a <= 0 ? 0 : (a + s - 1) / s;
  int64_t bnd = W_in - 1 + pb - off;  // ow*s <= bnd
  hi = bnd < 0 ? 0 : bnd / s + 1;
  lo = std::min(lo, W_out);
  hi = std::max(lo, std::min(hi, W_out));
}

// col[(c, kd, kh, kw), (rows r0..r1 of (od, oh)) x ow] from x[c, id, ih, iw] of one group.
template <typename T>
void im2col(const ConvGeom& g, const T* x, T* col, int64_t r0, int64_t r1) {
  const int64_t Wo = g.small[2], Ho = g.small[1];
  const int64_t Di = g.big[0], Hi = g.big[1], Wi = g.big[2];
  const int64_t ncols = (r1 - r0) * Wo;
  T* dst = col;
  for (int64_t c = 0; c < g.Cbg(); ++c) {
    const T* xc = x + c * g.big_vol();
    for (int64_t kd = 0; kd < g.k[0]; ++kd)
      for (int64_t kh = 0; kh < g.k[1]; ++kh)
        for (int64_t kw = 0; kw < g.k[2]; ++kw, dst += ncols) {
          int64_t lo, hi;
          valid_range(Wo, Wi, g.s[2], g.pb[2], kw * g.d[2], lo, hi);
          const int64_t iw0 = lo * g.s[2] - g.pb[2] + kw * g.d[2];
          // (od, oh) advance with r: no division per output row.
          for (int64_t r = r0, od = r0 / Ho, oh = r0 % Ho; r < r1; ++r, oh = oh + 1 == Ho ? (++od, 0) : oh + 1) {
            const int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
            const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
            T* out = dst + (r - r0) * Wo;
            if (id < 0 || id >= Di || ih < 0 || ih >= Hi || lo >= hi) {
              std::fill(out, out + Wo, T(0));
              continue;
            }
            const T* src = xc + (id * Hi + ih) * Wi + iw0;
            std::fill(out, out + lo, T(0));
            if (g.s[2] == 1) {
              copy_run(out + lo, src, hi - lo);
            } else {
              for (int64_t o = lo, i = 0; o < hi; ++o, i += g.s[2]) out[o] = src[i];
            }
            std::fill(out + hi, out + Wo, T(0));
          }
        }
  }
}

// x[c, id, ih, iw] += col[...]: the adjoint of im2col, for channels [c0, c1) of the group
// (c1 < 0: to the last); col starts at the rows of channel c0.
template <typename T>
void col2im(const ConvGeom& g, const T* col, T* x, int64_t r0, int64_t r1, int64_t c0 = 0, int64_t c1 = -1) {
  const int64_t Wo = g.small[2], Ho = g.small[1];
  const int64_t Di = g.big[0], Hi = g.big[1], Wi = g.big[2];
  const int64_t ncols = (r1 - r0) * Wo;
  const T* src0 = col;
  if (c1 < 0) c1 = g.Cbg();
  for (int64_t c = c0; c < c1; ++c) {
    T* xc = x + c * g.big_vol();
    for (int64_t kd = 0; kd < g.k[0]; ++kd)
      for (int64_t kh = 0; kh < g.k[1]; ++kh)
        for (int64_t kw = 0; kw < g.k[2]; ++kw, src0 += ncols) {
          int64_t lo, hi;
          valid_range(Wo, Wi, g.s[2], g.pb[2], kw * g.d[2], lo, hi);
          if (lo >= hi) continue;
          const int64_t iw0 = lo * g.s[2] - g.pb[2] + kw * g.d[2];
          for (int64_t r = r0, od = r0 / Ho, oh = r0 % Ho; r < r1; ++r, oh = oh + 1 == Ho ? (++od, 0) : oh + 1) {
            const int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
            const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
            if (id < 0 || id >= Di || ih < 0 || ih >= Hi) continue;
            const T* in = src0 + (r - r0) * Wo;
            T* out = xc + (id * Hi + ih) * Wi + iw0;
            if (g.s[2] == 1) {
              add_run(out, in + lo, hi - lo);
            } else {
              for (int64_t o = lo, i = 0; o < hi; ++o, i += g.s[2]) out[i] += in[o];
            }
          }
        }
  }
}

}  // namespace symnet::convlower
