// Naive double-precision references for the pooling / normalization cases (cases_pool.cpp,
// cases_norm.cpp, test_pool_norm.cpp). Written for clarity, not speed.
#pragma once
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "harness.h"

namespace symnet::test {

struct PoolSpec {
  std::vector<int64_t> k, s, pb, pe, d;  // empty s/d: 1s; empty pads: 0s
  bool ceil = false, count_include_pad = false;
};

inline PoolSpec pool_spec(std::vector<int64_t> k, std::vector<int64_t> s = {}, std::vector<int64_t> pb = {},
                          std::vector<int64_t> pe = {}, std::vector<int64_t> d = {}, bool ceil = false,
                          bool count_include_pad = false) {
  PoolSpec p;
  p.k = std::move(k);
  p.s = std::move(s);
  p.pb = std::move(pb);
  p.pe = std::move(pe);
  p.d = std::move(d);
  p.ceil = ceil;
  p.count_include_pad = count_include_pad;
  return p;
}

enum class PoolRef { max, avg, gather };

// Calls f(n*C + c (plane), output flat index within plane, list of (input flat index within
// plane) of valid taps in window order, padded-count) for every window.
inline void ref_windows(const Shape& xs, const PoolSpec& p, Shape* out_shape,
                        const std::function<void(int64_t, int64_t, const std::vector<int64_t>&, int64_t)>& f) {
  const size_t nd = p.k.size();
  std::vector<int64_t> in(nd), out(nd), s(nd), d(nd), pb(nd), pe(nd);
  Shape os{xs[0], xs[1]};
  for (size_t i = 0; i < nd; ++i) {
    in[i] = xs[2 + i];
    s[i] = p.s.empty() ? 1 : p.s[i];
    d[i] = p.d.empty() ? 1 : p.d[i];
    pb[i] = p.pb.empty() ? 0 : p.pb[i];
    pe[i] = p.pe.empty() ? 0 : p.pe[i];
    const int64_t ext = (p.k[i] - 1) * d[i] + 1, span = in[i] + pb[i] + pe[i] - ext;
    out[i] = (p.ceil ? (span + s[i] - 1) / s[i] : span / s[i]) + 1;
    if (p.ceil && (out[i] - 1) * s[i] >= in[i] + pb[i]) --out[i];
    os.push_back(out[i]);
  }
  if (out_shape) *out_shape = os;
  int64_t in_plane = 1, out_plane = 1, taps = 1;
  for (size_t i = 0; i < nd; ++i) {
    in_plane *= in[i];
    out_plane *= out[i];
    taps *= p.k[i];
  }
  for (int64_t plane = 0; plane < xs[0] * xs[1]; ++plane)
    for (int64_t o = 0; o < out_plane; ++o) {
      std::vector<int64_t> oi(nd);
      for (int64_t r = o, i = static_cast<int64_t>(nd) - 1; i >= 0; --i) {
        oi[i] = r % out[i];
        r /= out[i];
      }
      std::vector<int64_t> valid;
      int64_t padded = 0;
      for (int64_t t = 0; t < taps; ++t) {
        std::vector<int64_t> ki(nd);
        for (int64_t r = t, i = static_cast<int64_t>(nd) - 1; i >= 0; --i) {
          ki[i] = r % p.k[i];
          r /= p.k[i];
        }
        bool ok = true, in_pad = true;
        int64_t flat = 0;
        for (size_t i = 0; i < nd; ++i) {
          const int64_t pos = oi[i] * s[i] - pb[i] + ki[i] * d[i];
          ok = ok && pos >= 0 && pos < in[i];
          in_pad = in_pad && pos >= -pb[i] && pos < in[i] + pe[i];
          flat = flat * in[i] + pos;
        }
        if (in_pad) ++padded;
        if (ok) valid.push_back(flat);
      }
      f(plane, o, valid, padded);
    }
  (void)in_plane;
}

inline int64_t plane_size(const Shape& s) {
  int64_t n = 1;
  for (size_t i = 2; i < s.size(); ++i) n *= s[i];
  return n;
}

inline int64_t ref_argmax(const Tensor& x, int64_t base, const std::vector<int64_t>& valid) {
  int64_t best = -1;
  double m = 0;
  for (int64_t i : valid) {
    double v = x.get_as_double(base + i);
    if (best < 0 || v > m) {
      m = v;
      best = i;
    }
  }
  return best;
}

inline Tensor ref_pool(const Tensor& x, const PoolSpec& p, PoolRef mode, const Tensor* src = nullptr) {
  Shape os;
  ref_windows(x.shape(), p, &os, [](int64_t, int64_t, const std::vector<int64_t>&, int64_t) {});
  Tensor y(x.dtype(), os);
  const int64_t ip = plane_size(x.shape()), op = plane_size(os);
  ref_windows(x.shape(), p, nullptr, [&](int64_t pl, int64_t o, const std::vector<int64_t>& v, int64_t padded) {
    double r = 0;
    if (mode == PoolRef::avg) {
      for (int64_t i : v) r += x.get_as_double(pl * ip + i);
      const double n = p.count_include_pad ? padded : static_cast<double>(v.size());
      r = n > 0 ? r / n : 0;
    } else {
      int64_t a = ref_argmax(x, pl * ip, v);
      r = a < 0 ? -std::numeric_limits<double>::infinity()
                : (mode == PoolRef::max ? x : *src).get_as_double(pl * ip + a);
    }
    y.set_from_double(pl * op + o, r);
  });
  return y;
}

// Input gradient of max/avg pooling for output gradient gy (x gives the argmax / the shape).
inline Tensor ref_pool_backward(const Tensor& x, const Tensor& gy, const PoolSpec& p, PoolRef mode) {
  Tensor gx(gy.dtype(), x.shape());
  std::vector<double> acc(x.numel(), 0.0);
  const int64_t ip = plane_size(x.shape()), op = plane_size(gy.shape());
  ref_windows(x.shape(), p, nullptr, [&](int64_t pl, int64_t o, const std::vector<int64_t>& v, int64_t padded) {
    const double g = gy.get_as_double(pl * op + o);
    if (mode == PoolRef::avg) {
      const double n = p.count_include_pad ? padded : static_cast<double>(v.size());
      for (int64_t i : v) acc[pl * ip + i] += g / n;
    } else {
      int64_t a = ref_argmax(x, pl * ip, v);
      if (a >= 0) acc[pl * ip + a] += g;
    }
  });
  for (int64_t i = 0; i < x.numel(); ++i) gx.set_from_double(i, acc[i]);
  return gx;
}

inline Tensor ref_global(const Tensor& x, bool is_max) {
  Shape os = x.shape();
  for (size_t i = 2; i < os.size(); ++i) os[i] = 1;
  Tensor y(x.dtype(), os);
  const int64_t n = plane_size(x.shape());
  for (int64_t r = 0; r < x.shape()[0] * x.shape()[1]; ++r) {
    double acc = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
    for (int64_t i = 0; i < n; ++i) {
      double v = x.get_as_double(r * n + i);
      acc = is_max ? std::max(acc, v) : acc + v;
    }
    y.set_from_double(r, is_max ? acc : acc / static_cast<double>(n));
  }
  return y;
}

// Sum over the channel window [c - floor((size-1)/2), c + ceil((size-1)/2)] (mirrored when
// reverse) of f(x).
inline Tensor ref_window_sum(const Tensor& x, int64_t size, bool reverse,
                             const std::function<double(double)>& f = [](double v) { return v; }) {
  const int64_t N = x.shape()[0], C = x.shape()[1], inner = plane_size(x.shape());
  int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
  if (reverse) std::swap(lo, hi);
  Tensor y(x.dtype(), x.shape());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        double s = 0;
        for (int64_t j = c - lo; j <= c + hi; ++j)
          if (j >= 0 && j < C) s += f(x.get_as_double((n * C + j) * inner + i));
        y.set_from_double((n * C + c) * inner + i, s);
      }
  return y;
}

inline Tensor ref_lrn(const Tensor& x, int64_t size, double alpha, double beta, double bias) {
  Tensor s = ref_window_sum(x, size, false, [](double v) { return v * v; });
  Tensor y(x.dtype(), x.shape());
  for (int64_t i = 0; i < x.numel(); ++i)
    y.set_from_double(i, x.get_as_double(i) /
                             std::pow(bias + alpha / static_cast<double>(size) * s.get_as_double(i), beta));
  return y;
}

}  // namespace symnet::test
