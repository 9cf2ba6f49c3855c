// LRN kernels. Planes (n, c) are independent; each sums its channel window into a
// per-thread buffer the length of one plane, so the reads stay contiguous.
#include "engine/kernels/cpu/lrn.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/base/error.h"
#include "engine/kernels/cpu/parallel.h"

namespace symnet {

LrnWindow lrn_window(int64_t size, bool reverse) {
  const int64_t a = (size - 1) / 2, b = size - 1 - a;
  return reverse ? LrnWindow{b, a} : LrnWindow{a, b};
}

namespace {

// f(plane, acc, inner) once per (n, c) plane with acc[i] = sum over the window of sq(x).
template <typename T, typename Sq, typename F>
void window_planes(const TensorView& x, const LrnWindow& w, Sq&& sq, F&& f) {
  const int64_t N = x.shape[0], C = x.shape[1];
  const int64_t inner = N * C > 0 ? x.numel() / (N * C) : 0;
  const T* xp = x.ptr<T>();
  const int64_t work = std::max<int64_t>(1, inner * (w.lo + w.hi + 1));
  parallel_for(N * C, std::max<int64_t>(1, 32768 / work), [&](int64_t b, int64_t e) {
    std::vector<T> acc(inner);
    for (int64_t p = b; p < e; ++p) {
      const int64_t n = p / C, c = p % C;
      std::fill(acc.begin(), acc.end(), T(0));
      for (int64_t j = std::max<int64_t>(0, c - w.lo); j <= std::min(C - 1, c + w.hi); ++j) {
        const T* src = xp + (n * C + j) * inner;
        T* ap = acc.data();
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) ap[i] += sq(src[i]);
      }
      f(p, acc.data(), inner);
    }
  });
}

template <typename F>
void float_dispatch(DType t, F&& f) {
  if (t == DType::f32) f(float{});
  else if (t == DType::f64) f(double{});
  else SN_THROW(ErrorKind::dtype, "lrn needs float32 or float64, got " << dtype_name(t));
}

}  // namespace

void lrn_kernel(KernelContext& k) {
  const LrnParams& p = k.param<LrnParams>();
  const int64_t size = p.size;
  const double alpha = p.alpha, beta = p.beta, bias = p.bias;
  float_dispatch(k.in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = k.in[0].ptr<T>();
    T* y = k.out[0].ptr<T>();
    const T sc = static_cast<T>(alpha / static_cast<double>(size)), bs = static_cast<T>(bias), nb = static_cast<T>(-beta);
    const bool b34 = beta == 0.75;
    window_planes<T>(k.in[0], lrn_window(size, false), [](T v) { return v * v; },
                     [&](int64_t p, const T* acc, int64_t inner) {
                       const T* xr = x + p * inner;
                       T* yr = y + p * inner;
                       for (int64_t i = 0; i < inner; ++i) {
                         const T d = bs + sc * acc[i];
                         // d^-0.75 = 1 / (sqrt(d) * sqrt(sqrt(d))): much cheaper than pow.
                         T f;
                         if (b34) {
                           const T r = std::sqrt(d);
                           f = T(1) / (r * std::sqrt(r));
                         } else {
                           f = std::pow(d, nb);
                         }
                         yr[i] = xr[i] * f;
                       }
                     });
  });
}

void lrn_window_sum_kernel(KernelContext& k) {
  const LrnParams& p = k.param<LrnParams>();
  const LrnWindow w = lrn_window(p.size, p.reverse);
  float_dispatch(k.in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    T* y = k.out[0].ptr<T>();
    window_planes<T>(k.in[0], w, [](T v) { return v; }, [&](int64_t p, const T* acc, int64_t inner) {
      std::copy(acc, acc + inner, y + p * inner);
    });
  });
}

}  // namespace symnet
