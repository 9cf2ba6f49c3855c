// Softmax family. Every row is shifted by its max before exp, so no input overflows;
// float32 rows sum their exponentials in double.
#include "engine/kernels/cpu/softmax.h"

#include <array>
#include <cmath>
#include <limits>
#include <type_traits>

#include "engine/kernels/cpu/parallel.h"
#include "engine/kernels/cpu/reduce.h"

namespace symnet {

namespace {

constexpr int64_t kGrain = 16384;

template <typename T>
void softmax_rows(const T* x, T* y, int64_t rows, int64_t n, bool log) {
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* p = x + r * n;
      T* q = y + r * n;
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t i = 0; i < n; ++i) m = std::max(m, p[i]);
      double s = 0;
      if (log) {
        for (int64_t i = 0; i < n; ++i) s += std::exp(p[i] - m);
        // (x - m) - log(s): shifting by m first keeps float32 exact for large logits.
        T ls = static_cast<T>(std::log(s));
        for (int64_t i = 0; i < n; ++i) q[i] = (p[i] - m) - ls;
      } else {
        for (int64_t i = 0; i < n; ++i) {
          T v = std::exp(p[i] - m);
          q[i] = v;
          s += v;
        }
        T inv = static_cast<T>(1.0 / s);
        for (int64_t i = 0; i < n; ++i) q[i] *= inv;
      }
    }
  });
}

// Softmax over a strided axis: whole inner vectors at a time keep reads contiguous.
template <typename T>
void softmax_strided(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool log) {
  constexpr int64_t JB = 128;
  const int64_t nb = (inner + JB - 1) / JB;
  parallel_for(outer * nb, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, n * std::min(inner, JB))),
               [&](int64_t b, int64_t e) {
    std::array<T, JB> m;
    std::array<double, JB> s;
    for (int64_t t = b; t < e; ++t) {
      int64_t o = t / nb, j0 = (t % nb) * JB, jn = std::min(JB, inner - j0);
      const T* p = x + o * n * inner + j0;
      T* q = y + o * n * inner + j0;
      for (int64_t j = 0; j < jn; ++j) {
        m[j] = -std::numeric_limits<T>::infinity();
        s[j] = 0;
      }
      for (int64_t k = 0; k < n; ++k)
        for (int64_t j = 0; j < jn; ++j) m[j] = std::max(m[j], p[k * inner + j]);
      if (log) {
        for (int64_t k = 0; k < n; ++k)
          for (int64_t j = 0; j < jn; ++j) s[j] += std::exp(p[k * inner + j] - m[j]);
        std::array<T, JB> ls;
        for (int64_t j = 0; j < jn; ++j) ls[j] = static_cast<T>(std::log(s[j]));
        for (int64_t k = 0; k < n; ++k)
          for (int64_t j = 0; j < jn; ++j) q[k * inner + j] = (p[k * inner + j] - m[j]) - ls[j];
      } else {
        for (int64_t k = 0; k < n; ++k)
          for (int64_t j = 0; j < jn; ++j) {
            T v = std::exp(p[k * inner + j] - m[j]);
            q[k * inner + j] = v;
            s[j] += v;
          }
        for (int64_t j = 0; j < jn; ++j) s[j] = 1.0 / s[j];
        for (int64_t k = 0; k < n; ++k)
          for (int64_t j = 0; j < jn; ++j) q[k * inner + j] = static_cast<T>(q[k * inner + j] * s[j]);
      }
    }
  });
}

template <typename F>
void float_dispatch(DType t, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: break;
  }
  SN_THROW(ErrorKind::dtype, "no CPU kernel for dtype " << dtype_name(t));
}

template <typename F>
void label_dispatch(DType t, F&& f) {
  if (t == DType::i32) return f(int32_t{});
  if (t == DType::i64) return f(int64_t{});
  SN_THROW(ErrorKind::dtype, "labels must be int32 or int64, not " << dtype_name(t));
}

// Validated serially before the parallel loops: throwing inside an OpenMP region aborts.
template <typename L>
void check_labels(const L* lab, int64_t n, int64_t C, int64_t ignore_index, int64_t base) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t l = static_cast<int64_t>(lab[i]);
    SN_CHECK(l == ignore_index || (l >= base && l < C + base), ErrorKind::index,
             "label " << l << " (element " << i + 1 << " of the labels) is out of range for " << C
                      << " classes: valid labels are " << base << ".." << C - 1 + base
                      << (base == 1 && l == 0 ? " (0-based labels? give index_base = 0)"
                          : base == 0 && l == C ? " (1-based labels? give index_base = 1)" : ""));
  }
}

// logsumexp of a row as max + log(sum exp(x - max)), kept apart so callers can shift by
// the max exactly in T and by the small log-sum separately.
template <typename T>
struct RowLse {
  T m;
  double log_s;
  double value() const { return static_cast<double>(m) + log_s; }
};

template <typename T>
RowLse<T> row_logsumexp(const T* p, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t i = 0; i < n; ++i) m = std::max(m, p[i]);
  if (std::isinf(m)) return {m, 0.0};
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::exp(p[i] - m);  // exp in T (expf for float), sum in double
  return {m, std::log(s)};
}

int64_t last_dim(const TensorView& v) { return v.shape.empty() ? 1 : v.shape.back(); }

}  // namespace

void softmax_cpu(const TensorView& x, const TensorView& y, int64_t axis, bool log) {
  int64_t outer, n, inner;
  split_at_axis(x.shape, axis, outer, n, inner);
  float_dispatch(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (inner == 1)
      softmax_rows(x.ptr<T>(), y.ptr<T>(), outer, n, log);
    else
      softmax_strided(x.ptr<T>(), y.ptr<T>(), outer, n, inner, log);
  });
}

void softmax_xent_cpu(const TensorView& logits, const TensorView& labels, const TensorView& loss,
                      int64_t ignore_index, int64_t base) {
  const int64_t C = last_dim(logits), N = labels.numel();
  float_dispatch(logits.dtype, [&](auto tag) {
    using T = decltype(tag);
    label_dispatch(labels.dtype, [&](auto ltag) {
      using L = decltype(ltag);
      const T* z = logits.ptr<T>();
      const L* lab = labels.ptr<L>();
      T* out = loss.ptr<T>();
      check_labels(lab, N, C, ignore_index, base);
      parallel_for(N, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          int64_t l = static_cast<int64_t>(lab[i]);
          if (l == ignore_index) {
            out[i] = 0;
            continue;
          }
          l -= base;
          const T* p = z + i * C;
          RowLse<T> lse = row_logsumexp(p, C);
          out[i] = static_cast<T>(static_cast<double>(lse.m - p[l]) + lse.log_s);
        }
      });
    });
  });
}

void softmax_xent_grad_cpu(const TensorView& logits, const TensorView& labels, const TensorView& g,
                           const TensorView& dlogits, int64_t ignore_index, int64_t base) {
  const int64_t C = last_dim(logits), N = labels.numel();
  float_dispatch(logits.dtype, [&](auto tag) {
    using T = decltype(tag);
    label_dispatch(labels.dtype, [&](auto ltag) {
      using L = decltype(ltag);
      const T* z = logits.ptr<T>();
      const T* gp = g.ptr<T>();
      const bool g_scalar = g.numel() == 1 && N != 1;
      const L* lab = labels.ptr<L>();
      T* d = dlogits.ptr<T>();
      check_labels(lab, N, C, ignore_index, base);
      parallel_for(N, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          int64_t l = static_cast<int64_t>(lab[i]);
          const T* p = z + i * C;
          T* q = d + i * C;
          if (l == ignore_index) {
            std::fill(q, q + C, T(0));
            continue;
          }
          l -= base;
          RowLse<T> lse = row_logsumexp(p, C);
          const T ls = static_cast<T>(lse.log_s);
          const double gi = gp[g_scalar ? 0 : i];
          for (int64_t c = 0; c < C; ++c) q[c] = static_cast<T>(std::exp((p[c] - lse.m) - ls) * gi);
          q[l] = static_cast<T>(q[l] - gi);
        }
      });
    });
  });
}

void softmax_xent_prob_cpu(const TensorView& logits, const TensorView& probs, const TensorView& loss) {
  const int64_t C = last_dim(logits), N = loss.numel();
  float_dispatch(logits.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* z = logits.ptr<T>();
    const T* t = probs.ptr<T>();
    T* out = loss.ptr<T>();
    parallel_for(N, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const T* p = z + i * C;
        const T* q = t + i * C;
        double lse = row_logsumexp(p, C).value(), st = 0, stz = 0;
        for (int64_t c = 0; c < C; ++c) {
          st += q[c];
          stz += static_cast<double>(q[c]) * p[c];
        }
        // -sum t (z - lse); terms with t == 0 contribute nothing even where z = -inf.
        out[i] = static_cast<T>(st == 0 ? 0.0 : lse * st - stz);
      }
    });
  });
}

void sigmoid_xent_cpu(const TensorView& x, const TensorView& t, const TensorView& y) {
  const int64_t n = y.numel();
  float_dispatch(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.ptr<T>();
    const T* tp = t.ptr<T>();
    T* yp = y.ptr<T>();
    const int64_t xs = x.numel() == n ? 1 : 0, ts = t.numel() == n ? 1 : 0;
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        T v = xp[i * xs], tv = tp[i * ts];
        yp[i] = std::max(v, T(0)) - v * tv + std::log1p(std::exp(-std::abs(v)));
      }
    });
  });
}

}  // namespace symnet
