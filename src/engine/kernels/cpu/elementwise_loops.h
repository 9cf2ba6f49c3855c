// CPU loops that apply an elementwise functor over tensor views. Fast paths: operands of
// the output's element count are walked flat (whatever their rank, which is how the
// fusion pass hands out chunks), numel-1 operands are read once, and anything else goes
// through a broadcast plan, parallel over rows of its innermost merged dimension.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "engine/base/tensor.h"
#include "engine/kernels/cpu/broadcast.h"
#include "engine/kernels/cpu/parallel.h"

namespace symnet {

// The loops write y[i] from operands at index i only (an in-place operand aliases y exactly),
// so there are no loop-carried dependencies; telling the compiler lets it vectorize without
// runtime alias checks, which -O2's cost model would not emit.
#if defined(_OPENMP)
#define SN_EW_SIMD _Pragma("omp simd")
#else
#define SN_EW_SIMD
#endif

// Elements per thread below which a loop stays serial.
constexpr int64_t kElementwiseGrain = 16384;

// The flat float loops below are compiled for AVX-512, AVX2 and the baseline, and the
// dynamic loader binds the best one for the CPU (GNU ifunc). R builds packages for the
// baseline x86-64 (SSE2), where the loops of rational approximations such as fast_tanh
// stay scalar: 4 ms instead of 0.26 ms for the 1.5 M tanh of a LeNet batch.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define SN_EW_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SN_EW_CLONES
#endif

namespace ew_detail {
// Only float32 loops and float64 comparisons (the mask of a float64 ReLU backward) get the
// extra instruction-set copies: they are the hot ones, and cloning every dtype would triple
// the size of the elementwise code for nothing.
template <class... T>
constexpr bool cloned() {
  return (std::is_same_v<T, float> || ...) ||
         ((std::is_same_v<T, double> || ...) && (std::is_same_v<T, bool> || ...));
}

template <class TI, class TO, class F>
SN_EW_CLONES void unary_cloned(const TI* x, TO* y, int64_t n, F f) {
  SN_EW_SIMD
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}
template <class TA, class TB, class TO, class F>
SN_EW_CLONES void vv_cloned(const TA* a, const TB* b, TO* y, int64_t n, F f) {
  SN_EW_SIMD
  for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
}
template <class TA, class TB, class TO, class F>
SN_EW_CLONES void vs_cloned(const TA* a, TB b, TO* y, int64_t n, F f) {
  SN_EW_SIMD
  for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b);
}
template <class TA, class TB, class TO, class F>
SN_EW_CLONES void sv_cloned(TA a, const TB* b, TO* y, int64_t n, F f) {
  SN_EW_SIMD
  for (int64_t i = 0; i < n; ++i) y[i] = f(a, b[i]);
}
}  // namespace ew_detail

// y[i] = f(x[i]) over one contiguous run.
template <class TI, class TO, class F>
inline void unary_run(const TI* x, TO* y, int64_t n, const F& f) {
  if constexpr (ew_detail::cloned<TI, TO>()) {
    ew_detail::unary_cloned<TI, TO, F>(x, y, n, f);
  } else {
    const F fl = f;  // a local copy keeps the functor's fields out of reach of the stores
    SN_EW_SIMD
    for (int64_t i = 0; i < n; ++i) y[i] = fl(x[i]);
  }
}

// y[i] = f(a[i], b[i]); f(a[i], b) and f(a, b[i]) with one operand broadcast.
template <class TA, class TB, class TO, class F>
inline void binary_run(const TA* a, const TB* b, TO* y, int64_t n, const F& f) {
  if constexpr (ew_detail::cloned<TA, TB, TO>()) {
    ew_detail::vv_cloned<TA, TB, TO, F>(a, b, y, n, f);
  } else {
    const F fl = f;
    SN_EW_SIMD
    for (int64_t i = 0; i < n; ++i) y[i] = fl(a[i], b[i]);
  }
}
template <class TA, class TB, class TO, class F>
inline void binary_run_vs(const TA* a, TB b, TO* y, int64_t n, const F& f) {
  if constexpr (ew_detail::cloned<TA, TB, TO>()) {
    ew_detail::vs_cloned<TA, TB, TO, F>(a, b, y, n, f);
  } else {
    const F fl = f;
    SN_EW_SIMD
    for (int64_t i = 0; i < n; ++i) y[i] = fl(a[i], b);
  }
}
template <class TA, class TB, class TO, class F>
inline void binary_run_sv(TA a, const TB* b, TO* y, int64_t n, const F& f) {
  if constexpr (ew_detail::cloned<TA, TB, TO>()) {
    ew_detail::sv_cloned<TA, TB, TO, F>(a, b, y, n, f);
  } else {
    const F fl = f;
    SN_EW_SIMD
    for (int64_t i = 0; i < n; ++i) y[i] = fl(a, b[i]);
  }
}

template <class TO>
void fill_value(TO* y, int64_t n, TO v) {
  parallel_for(n, kElementwiseGrain, [&](int64_t b, int64_t e) { std::fill(y + b, y + e, v); });
}

template <class TI, class TO, class F>
void map_unary(const TensorView& x, const TensorView& y, const F& f) {
  const int64_t n = y.numel();
  if (n <= 0) return;
  const TI* xp = static_cast<const TI*>(x.data);
  TO* yp = static_cast<TO*>(y.data);
  if (x.numel() == 1) return fill_value<TO>(yp, n, f(xp[0]));
  parallel_for(n, kElementwiseGrain, [&](int64_t b, int64_t e) { unary_run(xp + b, yp + b, e - b, f); });
}

template <class TA, class TB, class TO, class F>
void map_binary(const TensorView& a, const TensorView& b, const TensorView& y, const F& f) {
  const int64_t n = y.numel();
  if (n <= 0) return;
  const TA* ap = static_cast<const TA*>(a.data);
  const TB* bp = static_cast<const TB*>(b.data);
  TO* yp = static_cast<TO*>(y.data);
  const int64_t na = a.numel(), nb = b.numel();
  if ((na == n || na == 1) && (nb == n || nb == 1)) {
    if (na == n && nb == n) {
      parallel_for(n, kElementwiseGrain,
                   [&](int64_t s, int64_t e) { binary_run(ap + s, bp + s, yp + s, e - s, f); });
    } else if (na == n) {
      parallel_for(n, kElementwiseGrain,
                   [&](int64_t s, int64_t e) { binary_run_vs(ap + s, bp[0], yp + s, e - s, f); });
    } else if (nb == n) {
      parallel_for(n, kElementwiseGrain,
                   [&](int64_t s, int64_t e) { binary_run_sv(ap[0], bp + s, yp + s, e - s, f); });
    } else {
      fill_value<TO>(yp, n, f(ap[0], bp[0]));
    }
    return;
  }
  const BroadcastPlan p = make_broadcast_plan(y.shape, {a.shape, b.shape});
  const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, p.inner));
  parallel_for(p.rows, grain, [&](int64_t rb, int64_t re) {
    const F fl = f;
    broadcast_rows(p, rb, re, [&](int64_t yo, const int64_t* off, int64_t m, const int64_t* st) {
      const TA* ar = ap + off[0];
      const TB* br = bp + off[1];
      TO* yr = yp + yo;
      if (st[0] && st[1]) {
        binary_run(ar, br, yr, m, fl);
      } else if (st[0]) {
        binary_run_vs(ar, br[0], yr, m, fl);
      } else if (st[1]) {
        binary_run_sv(ar[0], br, yr, m, fl);
      } else {
        std::fill(yr, yr + m, fl(ar[0], br[0]));
      }
    });
  });
}

namespace ew_detail {
// Three operands with each one's step fixed at compile time (A/B/C true: walked, false: one
// broadcast value read before the loop), so the loop body has no index arithmetic and
// vectorizes: `where` over a bool mask becomes a byte compare and a blend. Cloned for
// float32 and float64 (the ReLU backward's where(x > 0, g, 0) runs in either).
template <class... T>
constexpr bool ternary_cloned() {
  return ((std::is_same_v<T, float> || std::is_same_v<T, double>) || ...);
}
template <bool A, bool B, bool C, class TA, class TB, class TC, class TO, class F>
SN_EW_CLONES void ternary_loop_cloned(const TA* a, const TB* b, const TC* c, TO* y, int64_t n, F f) {
  const TA a0 = a[0];
  const TB b0 = b[0];
  const TC c0 = c[0];
  SN_EW_SIMD
  for (int64_t i = 0; i < n; ++i) y[i] = f(A ? a[i] : a0, B ? b[i] : b0, C ? c[i] : c0);
}
template <bool A, bool B, bool C, class TA, class TB, class TC, class TO, class F>
inline void ternary_loop(const TA* a, const TB* b, const TC* c, TO* y, int64_t n, const F& f) {
  if constexpr (ternary_cloned<TB, TC, TO>()) {
    ternary_loop_cloned<A, B, C, TA, TB, TC, TO, F>(a, b, c, y, n, f);
  } else {
    const F fl = f;
    const TA a0 = a[0];
    const TB b0 = b[0];
    const TC c0 = c[0];
    SN_EW_SIMD
    for (int64_t i = 0; i < n; ++i) y[i] = fl(A ? a[i] : a0, B ? b[i] : b0, C ? c[i] : c0);
  }
}
}  // namespace ew_detail

namespace ew_detail {
template <class TA, class TB, class TC, class TO, class F>
inline void ternary_steps(const TA* a, bool wa, const TB* b, bool wb, const TC* c, bool wc, TO* y, int64_t n,
                          const F& f) {
  switch ((wa ? 4 : 0) | (wb ? 2 : 0) | (wc ? 1 : 0)) {
    case 7: return ternary_loop<true, true, true>(a, b, c, y, n, f);
    case 6: return ternary_loop<true, true, false>(a, b, c, y, n, f);
    case 5: return ternary_loop<true, false, true>(a, b, c, y, n, f);
    case 4: return ternary_loop<true, false, false>(a, b, c, y, n, f);
    case 3: return ternary_loop<false, true, true>(a, b, c, y, n, f);
    case 2: return ternary_loop<false, true, false>(a, b, c, y, n, f);
    case 1: return ternary_loop<false, false, true>(a, b, c, y, n, f);
    default: std::fill(y, y + n, f(a[0], b[0], c[0]));
  }
}
}  // namespace ew_detail

// y[i] = f(a, b, c) over one run of n > 0 elements, each operand walked (step 1) or
// broadcast (step 0). A bool first operand (where's condition) is read as bytes compared
// with zero: GCC does not vectorize a select on a loaded bool, but does on a byte test.
template <class TA, class TB, class TC, class TO, class F>
inline void ternary_run(const TA* a, bool wa, const TB* b, bool wb, const TC* c, bool wc, TO* y, int64_t n,
                        const F& f) {
  if constexpr (std::is_same_v<TA, bool>) {
    const F fl = f;
    auto on_bytes = [fl](uint8_t m, TB x, TC z) { return fl(m != 0, x, z); };
    ew_detail::ternary_steps(reinterpret_cast<const uint8_t*>(a), wa, b, wb, c, wc, y, n, on_bytes);
  } else {
    ew_detail::ternary_steps(a, wa, b, wb, c, wc, y, n, f);
  }
}

// Three operands (where): operands of the output's size or of one element are walked flat,
// anything else through a broadcast plan, row by row.
template <class TA, class TB, class TC, class TO, class F>
void map_ternary(const TensorView& a, const TensorView& b, const TensorView& c,
                 const TensorView& y, const F& f) {
  const int64_t n = y.numel();
  if (n <= 0) return;
  const TA* ap = static_cast<const TA*>(a.data);
  const TB* bp = static_cast<const TB*>(b.data);
  const TC* cp = static_cast<const TC*>(c.data);
  TO* yp = static_cast<TO*>(y.data);
  const int64_t na = a.numel(), nb = b.numel(), nc = c.numel();
  auto flat = [&](int64_t m) { return m == n || m == 1; };
  if (flat(na) && flat(nb) && flat(nc)) {
    const bool wa = na == n && n > 1, wb = nb == n && n > 1, wc = nc == n && n > 1;
    parallel_for(n, kElementwiseGrain, [&](int64_t s, int64_t e) {
      ternary_run(ap + (wa ? s : 0), wa, bp + (wb ? s : 0), wb, cp + (wc ? s : 0), wc, yp + s, e - s, f);
    });
    return;
  }
  const BroadcastPlan p = make_broadcast_plan(y.shape, {a.shape, b.shape, c.shape});
  const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, p.inner));
  parallel_for(p.rows, grain, [&](int64_t rb, int64_t re) {
    broadcast_rows(p, rb, re, [&](int64_t yo, const int64_t* off, int64_t m, const int64_t* st) {
      if (m > 0) ternary_run(ap + off[0], st[0] != 0, bp + off[1], st[1] != 0, cp + off[2], st[2] != 0, yp + yo, m, f);
    });
  });
}

}  // namespace symnet
