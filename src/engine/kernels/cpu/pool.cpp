// Pooling kernels. Work is split over the N*C planes. Two paths:
//  - tiled: kernel == stride, no dilation, every window inside the input (LeNet's 2x2/2):
//    windows do not overlap, so the backward writes every input gradient exactly once and
//    needs no zero fill or scatter; 2x2 float32 max pooling uses pool_simd.cpp and avg
//    pooling SSE2 where available;
//  - generic: per-dimension tap ranges precomputed once, then plain loops (1-D to 3-D,
//    padding, dilation, ceil mode).
// Max pooling follows PyTorch: the first maximum in row-major window order wins and NaN
// propagates (a NaN replaces the running maximum; a number never replaces a NaN, since
// v > NaN is false).
#include "engine/kernels/cpu/pool.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "engine/base/error.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/kernels/cpu/pool_simd.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace symnet {


namespace {

constexpr int64_t kGrain = 32768;  // elements per thread before splitting

// Valid taps of every output position along one dimension: input index of tap k is
// start + k * dil, valid for k in [lo, hi); `padded` counts the taps inside the padded
// extent [-pb, in + pe) (count_include_pad divisor).
struct Taps {
  std::vector<int64_t> start, lo, hi, padded;
};

Taps make_taps(const PoolGeometry& g, int d) {
  Taps t;
  const int64_t n = g.out[d];
  t.start.resize(n);
  t.lo.resize(n);
  t.hi.resize(n);
  t.padded.resize(n);
  for (int64_t o = 0; o < n; ++o) {
    const int64_t st = o * g.s[d] - g.pb[d];
    int64_t lo = 0, hi = 0, pad = 0;
    for (int64_t k = 0; k < g.k[d]; ++k) {
      const int64_t i = st + k * g.dil[d];
      if (i < 0) lo = k + 1;
      if (i < g.in[d]) hi = k + 1;
      if (i < g.in[d] + g.pe[d]) pad = k + 1;
    }
    t.start[o] = st;
    t.lo[o] = lo;
    t.hi[o] = std::max(lo, hi);
    t.padded[o] = pad;
  }
  return t;
}

bool tiled(const PoolGeometry& g) {
  for (int d = 0; d < 3; ++d)
    if (g.k[d] != g.s[d] || g.dil[d] != 1 || g.pb[d] != 0 || g.out[d] * g.k[d] > g.in[d]) return false;
  return g.in[0] == 1;  // 1-D and 2-D (3-D tiled pooling takes the generic path)
}

template <typename F>
void for_planes(const PoolGeometry& g, F&& f) {
  const int64_t work = std::max<int64_t>(1, g.in_plane() + g.out_plane());
  parallel_for(g.planes(), std::max<int64_t>(1, kGrain / work), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) f(p);
  });
}

// f(o, idx): output o of one plane and the input offset of its window's maximum (-1 for a
// window without valid taps, possible only with dilation).
template <typename T, typename F>
void for_each_argmax(const PoolGeometry& g, const Taps* t, const T* x, F&& f) {
  const int64_t H = g.in[1], W = g.in[2];
  int64_t o = 0;
  for (int64_t od = 0; od < g.out[0]; ++od)
    for (int64_t oh = 0; oh < g.out[1]; ++oh)
      for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) {
        int64_t best = -1;
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t kd = t[0].lo[od]; kd < t[0].hi[od]; ++kd) {
          const int64_t id = t[0].start[od] + kd * g.dil[0];
          for (int64_t kh = t[1].lo[oh]; kh < t[1].hi[oh]; ++kh) {
            const int64_t row = (id * H + t[1].start[oh] + kh * g.dil[1]) * W + t[2].start[ow];
            for (int64_t kw = t[2].lo[ow]; kw < t[2].hi[ow]; ++kw) {
              const int64_t i = row + kw * g.dil[2];
              const T v = x[i];
              if (best < 0 || v > m || std::isnan(v)) {
                m = v;
                best = i;
              }
            }
          }
        }
        f(o, best);
      }
}

// Tiled windows (kernel == stride, 1-D/2-D): f(o, idx) as above, in the same order.
template <typename T, typename F>
void for_each_argmax_tiled(const PoolGeometry& g, const T* x, F&& f) {
  const int64_t W = g.in[2], kh = g.k[1], kw = g.k[2];
  int64_t o = 0;
  for (int64_t oh = 0; oh < g.out[1]; ++oh)
    for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) {
      const int64_t base = oh * kh * W + ow * kw;
      int64_t best = base;
      T m = x[base];
      for (int64_t a = 0; a < kh; ++a)
        for (int64_t b = 0; b < kw; ++b) {
          const int64_t i = base + a * W + b;
          const T v = x[i];
          if (v > m || std::isnan(v)) {
            m = v;
            best = i;
          }
        }
      f(o, best);
    }
}

template <typename T>
void max_pool_tiled_fwd(const PoolGeometry& g, const T* x, T* y) {
  const int64_t W = g.in[2], OW = g.out[2];
  if constexpr (std::is_same_v<T, float>) {
    if (g.k[1] == 2 && g.k[2] == 2) {
      for (int64_t oh = 0; oh < g.out[1]; ++oh) max2x2_row_forward(x + 2 * oh * W, x + (2 * oh + 1) * W, y + oh * OW, OW);
      return;
    }
  }
  for_each_argmax_tiled(g, x, [&](int64_t o, int64_t i) { y[o] = x[i]; });
}

// Writes every element of gx (zeros outside the argmax positions and the uncovered edge).
template <typename T>
void max_pool_tiled_bwd(const PoolGeometry& g, const T* x, const T* gy, T* gx) {
  const int64_t H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2], kh = g.k[1], kw = g.k[2];
  if constexpr (std::is_same_v<T, float>) {
    if (kh == 2 && kw == 2) {
      for (int64_t oh = 0; oh < OH; ++oh) {
        float *q0 = gx + 2 * oh * W, *q1 = q0 + W;
        max2x2_row_backward(x + 2 * oh * W, x + (2 * oh + 1) * W, gy + oh * OW, q0, q1, OW);
        for (int64_t w = 2 * OW; w < W; ++w) q0[w] = q1[w] = 0.0f;
      }
      if (2 * OH < H) std::memset(gx + 2 * OH * W, 0, sizeof(float) * (H - 2 * OH) * W);
      return;
    }
  }
  for (int64_t oh = 0; oh < OH; ++oh) {
    for (int64_t a = 0; a < kh; ++a) {
      T* q = gx + (oh * kh + a) * W;
      std::fill(q + OW * kw, q + W, T(0));
    }
  }
  if (OH * kh < H) std::fill(gx + OH * kh * W, gx + H * W, T(0));
  for_each_argmax_tiled(g, x, [&](int64_t o, int64_t i) {
    const int64_t oh = o / OW, ow = o % OW, base = oh * kh * W + ow * kw;
    for (int64_t a = 0; a < kh; ++a)
      for (int64_t b = 0; b < kw; ++b) gx[base + a * W + b] = T(0);
    gx[i] = gy[o];
  });
}

template <typename T>
void avg_pool_tiled_fwd(const PoolGeometry& g, const T* x, T* y) {
  const int64_t W = g.in[2], OW = g.out[2], kh = g.k[1], kw = g.k[2];
  const T inv = T(1) / static_cast<T>(kh * kw);
#if defined(__SSE2__)
  if constexpr (std::is_same_v<T, float>) {
    if (kh == 2 && kw == 2) {
      const __m128 q = _mm_set1_ps(0.25f);
      for (int64_t oh = 0; oh < g.out[1]; ++oh) {
        const float *r0 = x + 2 * oh * W, *r1 = r0 + W;
        float* yr = y + oh * OW;
        int64_t ow = 0;
        for (; ow + 4 <= OW; ow += 4) {
          __m128 a = _mm_add_ps(_mm_loadu_ps(r0 + 2 * ow), _mm_loadu_ps(r1 + 2 * ow));
          __m128 b = _mm_add_ps(_mm_loadu_ps(r0 + 2 * ow + 4), _mm_loadu_ps(r1 + 2 * ow + 4));
          __m128 s = _mm_add_ps(_mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), _mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
          _mm_storeu_ps(yr + ow, _mm_mul_ps(s, q));
        }
        for (; ow < OW; ++ow)
          yr[ow] = ((r0[2 * ow] + r1[2 * ow]) + (r0[2 * ow + 1] + r1[2 * ow + 1])) * 0.25f;
      }
      return;
    }
  }
#endif
  for (int64_t oh = 0; oh < g.out[1]; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow) {
      const T* p = x + oh * kh * W + ow * kw;
      T s = 0;
      for (int64_t a = 0; a < kh; ++a)
        for (int64_t b = 0; b < kw; ++b) s += p[a * W + b];
      y[oh * OW + ow] = s * inv;
    }
}

template <typename T>
void avg_pool_tiled_bwd(const PoolGeometry& g, const T* gy, T* gx) {
  const int64_t H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2], kh = g.k[1], kw = g.k[2];
  const T inv = T(1) / static_cast<T>(kh * kw);
  for (int64_t oh = 0; oh < OH; ++oh) {
    const T* gr = gy + oh * OW;
    for (int64_t a = 0; a < kh; ++a) {
      T* q = gx + (oh * kh + a) * W;
      int64_t ow = 0;
#if defined(__SSE2__)
      if constexpr (std::is_same_v<T, float>) {
        if (kw == 2) {
          const __m128 qv = _mm_set1_ps(inv);
          for (; ow + 4 <= OW; ow += 4) {
            __m128 v = _mm_mul_ps(_mm_loadu_ps(gr + ow), qv);
            _mm_storeu_ps(q + 2 * ow, _mm_unpacklo_ps(v, v));
            _mm_storeu_ps(q + 2 * ow + 4, _mm_unpackhi_ps(v, v));
          }
        }
      }
#endif
      for (; ow < OW; ++ow) {
        const T v = gr[ow] * inv;
        for (int64_t b = 0; b < kw; ++b) q[ow * kw + b] = v;
      }
      std::fill(q + OW * kw, q + W, T(0));
    }
  }
  if (OH * kh < H) std::fill(gx + OH * kh * W, gx + H * W, T(0));
}

// Divisor of every output window (plane-independent).
std::vector<double> avg_divisors(const PoolGeometry& g, const Taps* t) {
  std::vector<double> div(g.out_plane());
  int64_t o = 0;
  for (int64_t od = 0; od < g.out[0]; ++od)
    for (int64_t oh = 0; oh < g.out[1]; ++oh)
      for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) {
        int64_t n = g.count_include_pad
                        ? t[0].padded[od] * t[1].padded[oh] * t[2].padded[ow]
                        : (t[0].hi[od] - t[0].lo[od]) * (t[1].hi[oh] - t[1].lo[oh]) * (t[2].hi[ow] - t[2].lo[ow]);
        div[o] = n > 0 ? 1.0 / static_cast<double>(n) : 0.0;  // empty window (dilation): 0
      }
  return div;
}

// f(o, idx) for every valid tap idx of every window o of one plane.
template <typename F>
void for_each_tap(const PoolGeometry& g, const Taps* t, F&& f) {
  const int64_t H = g.in[1], W = g.in[2];
  int64_t o = 0;
  for (int64_t od = 0; od < g.out[0]; ++od)
    for (int64_t oh = 0; oh < g.out[1]; ++oh)
      for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o)
        for (int64_t kd = t[0].lo[od]; kd < t[0].hi[od]; ++kd) {
          const int64_t id = t[0].start[od] + kd * g.dil[0];
          for (int64_t kh = t[1].lo[oh]; kh < t[1].hi[oh]; ++kh) {
            const int64_t row = (id * H + t[1].start[oh] + kh * g.dil[1]) * W + t[2].start[ow];
            for (int64_t kw = t[2].lo[ow]; kw < t[2].hi[ow]; ++kw) f(o, row + kw * g.dil[2]);
          }
        }
}

struct PoolPlan {
  PoolGeometry g;
  bool tiled;
  Taps t[3];
};

PoolPlan plan(const KernelContext& k, const Shape& x_shape, bool is_max) {
  PoolPlan p;
  p.g = k.param<PoolGeometry>();
  // Per-sample execution runs the kernel on a few samples of the node's batch at a time.
  p.g.n = x_shape[0];
  (void)is_max;
  p.tiled = tiled(p.g);
  if (!p.tiled)
    for (int d = 0; d < 3; ++d) p.t[d] = make_taps(p.g, d);
  return p;
}

template <typename F>
void float_dispatch(DType t, F&& f) {
  if (t == DType::f32) f(float{});
  else if (t == DType::f64) f(double{});
  else SN_THROW(ErrorKind::dtype, "pooling needs float32 or float64, got " << dtype_name(t));
}

}  // namespace

void max_pool_kernel(KernelContext& k) {
  const PoolPlan p = plan(k, k.in[0].shape, true);
  const PoolGeometry& g = p.g;
  float_dispatch(k.in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = k.in[0].ptr<T>();
    T* y = k.out[0].ptr<T>();
    for_planes(g, [&](int64_t pl) {
      const T* xp = x + pl * g.in_plane();
      T* yp = y + pl * g.out_plane();
      if (p.tiled) {
        max_pool_tiled_fwd(g, xp, yp);
      } else {
        for_each_argmax(g, p.t, xp, [&](int64_t o, int64_t i) {
          yp[o] = i >= 0 ? xp[i] : -std::numeric_limits<T>::infinity();
        });
      }
    });
  });
}

void max_pool_grad_kernel(KernelContext& k) {
  const PoolPlan p = plan(k, k.in[0].shape, true);
  const PoolGeometry& g = p.g;
  float_dispatch(k.in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = k.in[0].ptr<T>();
    const T* gy = k.in[1].ptr<T>();
    T* gx = k.out[0].ptr<T>();
    for_planes(g, [&](int64_t pl) {
      const T* xp = x + pl * g.in_plane();
      const T* gp = gy + pl * g.out_plane();
      T* q = gx + pl * g.in_plane();
      if (p.tiled) {
        max_pool_tiled_bwd(g, xp, gp, q);
      } else {
        std::fill(q, q + g.in_plane(), T(0));
        for_each_argmax(g, p.t, xp, [&](int64_t o, int64_t i) {
          if (i >= 0) q[i] += gp[o];
        });
      }
    });
  });
}

void max_pool_gather_kernel(KernelContext& k) {
  const PoolPlan p = plan(k, k.in[0].shape, true);
  const PoolGeometry& g = p.g;
  float_dispatch(k.in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = k.in[0].ptr<T>();
    const T* src = k.in[1].ptr<T>();
    T* y = k.out[0].ptr<T>();
    for_planes(g, [&](int64_t pl) {
      const T* xp = x + pl * g.in_plane();
      const T* sp = src + pl * g.in_plane();
      T* yp = y + pl * g.out_plane();
      auto put = [&](int64_t o, int64_t i) { yp[o] = i >= 0 ? sp[i] : T(0); };
      if (p.tiled) for_each_argmax_tiled(g, xp, put);
      else for_each_argmax(g, p.t, xp, put);
    });
  });
}

void avg_pool_kernel(KernelContext& k) {
  const PoolPlan p = plan(k, k.in[0].shape, false);
  const PoolGeometry& g = p.g;
  std::vector<double> div;
  if (!p.tiled) div = avg_divisors(g, p.t);
  float_dispatch(k.in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = k.in[0].ptr<T>();
    T* y = k.out[0].ptr<T>();
    for_planes(g, [&](int64_t pl) {
      const T* xp = x + pl * g.in_plane();
      T* yp = y + pl * g.out_plane();
      if (p.tiled) {
        avg_pool_tiled_fwd(g, xp, yp);
        return;
      }
      std::fill(yp, yp + g.out_plane(), T(0));
      for_each_tap(g, p.t, [&](int64_t o, int64_t i) { yp[o] += xp[i]; });
      for (int64_t o = 0; o < g.out_plane(); ++o) yp[o] = static_cast<T>(yp[o] * div[o]);
    });
  });
}

void avg_pool_grad_kernel(KernelContext& k) {
  const PoolPlan p = plan(k, k.in[1].shape, false);
  const PoolGeometry& g = p.g;
  std::vector<double> div;
  if (!p.tiled) div = avg_divisors(g, p.t);
  float_dispatch(k.in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* gy = k.in[0].ptr<T>();
    T* gx = k.out[0].ptr<T>();
    for_planes(g, [&](int64_t pl) {
      const T* gp = gy + pl * g.out_plane();
      T* q = gx + pl * g.in_plane();
      if (p.tiled) {
        avg_pool_tiled_bwd(g, gp, q);
        return;
      }
      std::fill(q, q + g.in_plane(), T(0));
      for_each_tap(g, p.t, [&](int64_t o, int64_t i) { q[i] += static_cast<T>(gp[o] * div[o]); });
    });
  });
}

namespace {

// Rows = N*C, each reduced over its contiguous spatial extent.
template <typename F>
void global_rows(const KernelContext& k, F&& f) {
  const TensorView& x = k.in[0];
  const int64_t rows = x.shape[0] * x.shape[1];
  const int64_t inner = rows > 0 ? x.numel() / rows : 0;
  float_dispatch(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.ptr<T>();
    T* yp = k.out[0].ptr<T>();
    parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) yp[r] = f(xp + r * inner, inner);
    });
  });
}

}  // namespace

namespace {

// A plain function: GCC does not vectorize `omp simd` reductions inside lambdas.
template <typename T>
T row_mean(const T* p, int64_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += p[i];
  return static_cast<T>(n > 0 ? s / static_cast<double>(n) : 0.0);
}

}  // namespace

void global_avg_pool_kernel(KernelContext& k) {
  global_rows(k, [](const auto* p, int64_t n) { return row_mean(p, n); });
}

void global_max_pool_kernel(KernelContext& k) {
  global_rows(k, [](const auto* p, int64_t n) {
    using T = std::remove_const_t<std::remove_reference_t<decltype(*p)>>;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t i = 0; i < n; ++i) {
      if (std::isnan(p[i])) return p[i];
      m = std::max(m, p[i]);
    }
    return m;
  });
}

}  // namespace symnet
