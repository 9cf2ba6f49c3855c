// Normalization kernels. Statistics are accumulated in double (float32 inputs too), so large
// means do not cancel: layer norm in two passes (mean, then squared deviations), batch norm's
// training forward in one pass of sums shifted by one of the channel's values. Batch norm
// splits work over channels and layer norm over rows, so every sum has a fixed order and
// the results do not depend on the thread count. Hot loops carry `omp simd` so they are
// vectorized at R's -O2 (a no-op without OpenMP).
#include "engine/kernels/cpu/norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/base/error.h"
#include "engine/kernels/cpu/elementwise_loops.h"  // SN_EW_CLONES
#include "engine/kernels/cpu/parallel.h"

namespace symnet {

namespace {

constexpr int64_t kGrain = 32768;

template <typename F>
void float_dispatch(DType t, F&& f) {
  if (t == DType::f32) f(float{});
  else if (t == DType::f64) f(double{});
  else SN_THROW(ErrorKind::dtype, "normalization needs float32 or float64, got " << dtype_name(t));
}

// x viewed as [N, C, inner].
struct NCI {
  int64_t n, c, inner;
  explicit NCI(const TensorView& x) : n(x.shape[0]), c(x.shape[1]) {
    inner = n * c > 0 ? x.numel() / (n * c) : 0;
  }
  int64_t per_channel() const { return n * inner; }
};

// Reductions as plain functions: GCC does not vectorize `omp simd` reductions inside the
// kernels' lambdas (it fails to type the privatized accumulators). The batch-norm loops are
// also compiled for AVX-512 and AVX2 (SN_EW_CLONES, chosen at load time): at R's baseline
// -O2 the float-to-double reductions run two lanes wide and the kernels fall well short of
// memory bandwidth.
template <typename T>
SN_EW_CLONES double sum_of(const T* p, int64_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += p[i];
  return s;
}

template <typename T>
SN_EW_CLONES double sq_dev_sum(const T* p, int64_t n, double mu) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) {
    const double d = p[i] - mu;
    s += d * d;
  }
  return s;
}

// sum(x - k) and sum((x - k)^2), added to s1 and s2.
template <typename T>
SN_EW_CLONES void shifted_sums(const T* p, int64_t n, double k, double& s1, double& s2) {
  double a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
  for (int64_t i = 0; i < n; ++i) {
    const double d = p[i] - k;
    a += d;
    b += d * d;
  }
  s1 += a;
  s2 += b;
}

// sum(g) and sum(g * (x - mu)).
template <typename T>
SN_EW_CLONES void grad_sums(const T* g, const T* x, int64_t n, double mu, double& sg, double& sgx) {
  double a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
  for (int64_t i = 0; i < n; ++i) {
    a += g[i];
    b += g[i] * (x[i] - mu);
  }
  sg += a;
  sgx += b;
}

// y = x a + b.
template <typename T>
SN_EW_CLONES void affine_run(const T* x, T* y, int64_t n, T a, T b) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * a + b;
}

// gx = a gy + b + c (x - m): batch norm's input gradient.
template <typename T>
SN_EW_CLONES void bn_grad_run(const T* gy, const T* x, T* gx, int64_t n, T a, T b, T c, T m) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = a * gy[i] + b + c * (x[i] - m);
}

// sum(g * s) and sum(g * s * (x - mu) * inv).
template <typename T>
void ln_row_sums(const T* g, const T* s, const T* x, int64_t n, T mu, T inv, double& a, double& b) {
  double sa = 0, sb = 0;
#pragma omp simd reduction(+ : sa, sb)
  for (int64_t j = 0; j < n; ++j) {
    const double gs = static_cast<double>(g[j]) * s[j];
    sa += gs;
    sb += gs * ((x[j] - mu) * inv);
  }
  a = sa;
  b = sb;
}

template <typename T>
void bn_inference(const KernelContext& k) {
  const NCI s(k.in[0]);
  const T *x = k.in[0].ptr<T>(), *scale = k.in[1].ptr<T>(), *bias = k.in[2].ptr<T>(), *mean = k.in[3].ptr<T>(),
          *var = k.in[4].ptr<T>();
  T* y = k.out[0].ptr<T>();
  const double eps = k.param<NormParams>().epsilon;
  std::vector<T> a(s.c), b(s.c);
  for (int64_t c = 0; c < s.c; ++c) {
    const double ac = static_cast<double>(scale[c]) / std::sqrt(static_cast<double>(var[c]) + eps);
    a[c] = static_cast<T>(ac);
    b[c] = static_cast<T>(static_cast<double>(bias[c]) - static_cast<double>(mean[c]) * ac);
  }
  parallel_for(s.n * s.c, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, s.inner)), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) {
      const T ac = a[p % s.c], bc = b[p % s.c];
      affine_run(x + p * s.inner, y + p * s.inner, s.inner, ac, bc);
    }
  });
}

template <typename T>
void bn_training(const KernelContext& k) {
  const NCI s(k.in[0]);
  const T *x = k.in[0].ptr<T>(), *scale = k.in[1].ptr<T>(), *bias = k.in[2].ptr<T>(), *rmean = k.in[3].ptr<T>(),
          *rvar = k.in[4].ptr<T>();
  T *y = k.out[0].ptr<T>(), *bm = k.out[1].ptr<T>(), *bv = k.out[2].ptr<T>(), *rm_new = k.out[3].ptr<T>(),
    *rv_new = k.out[4].ptr<T>();
  const double eps = k.param<NormParams>().epsilon, mom = k.param<NormParams>().momentum;
  const int64_t M = s.per_channel();
  SN_CHECK(M > 1, ErrorKind::value,
           "batch_norm in training mode needs more than one value per channel, got input shape "
               << shape_str(k.in[0].shape));
  parallel_for(s.c, std::max<int64_t>(1, kGrain / M), [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      // One pass: sums of d and d^2 for d = x - K in double, K one of the channel's values.
      // Shifting by a sample keeps |mean - K| within the data's spread, so the cancellation in
      // sum(d^2) - sum(d)^2 / M costs a few double ulps relative to the variance (against a
      // float32 result); a second pass over x would cost a quarter of the kernel's time.
      const double shift = x[c * s.inner];
      double s1 = 0, s2 = 0;
      for (int64_t n = 0; n < s.n; ++n) shifted_sums(x + (n * s.c + c) * s.inner, s.inner, shift, s1, s2);
      const double mu = shift + s1 / static_cast<double>(M);
      const double ss = std::max(0.0, s2 - s1 * s1 / static_cast<double>(M));
      const double var = ss / static_cast<double>(M);
      const double a = static_cast<double>(scale[c]) / std::sqrt(var + eps);
      const T ac = static_cast<T>(a), bc = static_cast<T>(static_cast<double>(bias[c]) - mu * a);
      for (int64_t n = 0; n < s.n; ++n)
        affine_run(x + (n * s.c + c) * s.inner, y + (n * s.c + c) * s.inner, s.inner, ac, bc);
      bm[c] = static_cast<T>(mu);
      bv[c] = static_cast<T>(var);
      // Running variance takes the unbiased batch variance, as PyTorch does.
      rm_new[c] = static_cast<T>(rmean[c] * mom + mu * (1 - mom));
      rv_new[c] = static_cast<T>(rvar[c] * mom + ss / static_cast<double>(M - 1) * (1 - mom));
    }
  });
}

template <typename T>
void bn_grad(const KernelContext& k) {
  const NCI s(k.in[0]);
  const T *x = k.in[0].ptr<T>(), *scale = k.in[1].ptr<T>(), *bm = k.in[2].ptr<T>(), *bv = k.in[3].ptr<T>(),
          *gy = k.in[4].ptr<T>();
  T *gx = k.out[0].ptr<T>(), *gscale = k.out[1].ptr<T>(), *gbias = k.out[2].ptr<T>();
  const double eps = k.param<NormParams>().epsilon;
  const int64_t M = std::max<int64_t>(1, s.per_channel());
  parallel_for(s.c, std::max<int64_t>(1, kGrain / M), [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      const double mu = bm[c], inv = 1.0 / std::sqrt(static_cast<double>(bv[c]) + eps);
      double sg = 0, sgx = 0;
      for (int64_t n = 0; n < s.n; ++n) {
        const int64_t off = (n * s.c + c) * s.inner;
        grad_sums(gy + off, x + off, s.inner, mu, sg, sgx);
      }
      gbias[c] = static_cast<T>(sg);
      gscale[c] = static_cast<T>(sgx * inv);
      // gx = scale inv (g - mean(g) - xhat mean(g xhat)), xhat = (x - mu) inv.
      const double a = scale[c] * inv;
      const T ta = static_cast<T>(a), tm = static_cast<T>(mu);
      const T tb = static_cast<T>(-a * sg / static_cast<double>(M));
      const T tc = static_cast<T>(-a * inv * inv * sgx / static_cast<double>(M));
      for (int64_t n = 0; n < s.n; ++n) {
        const int64_t off = (n * s.c + c) * s.inner;
        bn_grad_run(gy + off, x + off, gx + off, s.inner, ta, tb, tc, tm);
      }
    }
  });
}

template <typename T>
void ln_forward(const KernelContext& k) {
  const TensorView& xv = k.in[0];
  const int64_t D = k.in[1].numel(), rows = D > 0 ? xv.numel() / D : 0;
  const T *x = xv.ptr<T>(), *scale = k.in[1].ptr<T>(), *bias = k.in.size() > 2 ? k.in[2].ptr<T>() : nullptr;
  T *y = k.out[0].ptr<T>(), *mean = k.out[1].ptr<T>(), *istd = k.out[2].ptr<T>();
  const double eps = k.param<NormParams>().epsilon;
  if (D == 0) {  // nothing to normalize: statistics of an empty row, as for a zero variance
    std::fill(mean, mean + k.out[1].numel(), T(0));
    std::fill(istd, istd + k.out[2].numel(), static_cast<T>(1.0 / std::sqrt(eps)));
    return;
  }
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, D)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* xr = x + r * D;
      T* yr = y + r * D;
      const double mu = sum_of(xr, D) / static_cast<double>(D);
      const double ss = sq_dev_sum(xr, D, mu);
      const double inv = 1.0 / std::sqrt(ss / static_cast<double>(D) + eps);
      const T tm = static_cast<T>(mu), ti = static_cast<T>(inv);
      if (bias) {
#pragma omp simd
        for (int64_t j = 0; j < D; ++j) yr[j] = (xr[j] - tm) * ti * scale[j] + bias[j];
      } else {
#pragma omp simd
        for (int64_t j = 0; j < D; ++j) yr[j] = (xr[j] - tm) * ti * scale[j];
      }
      mean[r] = tm;
      istd[r] = ti;
    }
  });
}

template <typename T>
void ln_grad(const KernelContext& k) {
  const TensorView& xv = k.in[0];
  const int64_t D = k.in[1].numel(), rows = D > 0 ? xv.numel() / D : 0;
  const T *x = xv.ptr<T>(), *scale = k.in[1].ptr<T>(), *mean = k.in[2].ptr<T>(), *istd = k.in[3].ptr<T>(),
          *gy = k.in[4].ptr<T>();
  T *gx = k.out[0].ptr<T>(), *gscale = k.out[1].ptr<T>(), *gbias = k.out[2].ptr<T>();
  // Column sums over rows, split by column blocks (fixed summation order). They run first,
  // so gx may overwrite gy (in-place).
  constexpr int64_t JB = 256;
  const int64_t nb = (D + JB - 1) / JB;
  parallel_for(nb, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, rows * JB)), [&](int64_t lo, int64_t hi) {
    double sa[JB], sb[JB];
    for (int64_t blk = lo; blk < hi; ++blk) {
      const int64_t j0 = blk * JB, jn = std::min(JB, D - j0);
      std::fill(sa, sa + jn, 0.0);
      std::fill(sb, sb + jn, 0.0);
      for (int64_t r = 0; r < rows; ++r) {
        const T *xr = x + r * D + j0, *gr = gy + r * D + j0;
        const T mu = mean[r], inv = istd[r];
#pragma omp simd
        for (int64_t j = 0; j < jn; ++j) {
          sa[j] += gr[j] * ((xr[j] - mu) * inv);
          sb[j] += gr[j];
        }
      }
      for (int64_t j = 0; j < jn; ++j) {
        gscale[j0 + j] = static_cast<T>(sa[j]);
        gbias[j0 + j] = static_cast<T>(sb[j]);
      }
    }
  });
  // gx = inv (gs - mean(gs) - xhat mean(gs xhat)), gs = g * scale.
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, D)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T *xr = x + r * D, *gr = gy + r * D;
      T* q = gx + r * D;
      const T mu = mean[r], inv = istd[r];
      double a, b;
      ln_row_sums(gr, scale, xr, D, mu, inv, a, b);
      const T ta = static_cast<T>(a / static_cast<double>(D)), tb = static_cast<T>(b / static_cast<double>(D));
#pragma omp simd
      for (int64_t j = 0; j < D; ++j) {
        const T xh = (xr[j] - mu) * inv;
        q[j] = inv * (gr[j] * scale[j] - ta - xh * tb);
      }
    }
  });
}

}  // namespace

void batch_norm_kernel(KernelContext& k) {
  const bool training = k.param<NormParams>().training;
  float_dispatch(k.in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    if (training) bn_training<T>(k);
    else bn_inference<T>(k);
  });
}

void batch_norm_grad_kernel(KernelContext& k) {
  float_dispatch(k.in[0].dtype, [&](auto tag) { bn_grad<decltype(tag)>(k); });
}

void layer_norm_kernel(KernelContext& k) {
  float_dispatch(k.in[0].dtype, [&](auto tag) { ln_forward<decltype(tag)>(k); });
}

void layer_norm_grad_kernel(KernelContext& k) {
  float_dispatch(k.in[0].dtype, [&](auto tag) { ln_grad<decltype(tag)>(k); });
}

}  // namespace symnet
