// Batch norm's training statistics, computed in one pass of shifted double sums
// (kernels/cpu/norm.cpp): accurate when the mean is large against the spread (where an
// unshifted one-pass variance would cancel to nothing in float32 and lose digits in double),
// the same bits for any thread count, and every output checked against a two-pass double
// reference, in float32 and float64 at odd plane sizes.
#include <cmath>
#include <cstring>
#include <random>

#include "harness.h"
#include "engine/kernels/cpu/parallel.h"

namespace symnet::test {

namespace {

// x[n, c, i] = offset[c] + spread * u, u uniform in [-1, 1).
Tensor shifted(DType t, const Shape& s, double spread, uint64_t seed) {
  Tensor x(t, s);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  const int64_t C = s[1], inner = x.numel() / (s[0] * C);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = (i / inner) % C;
    const double offset = c == 0 ? 1e4 : c == 1 ? -3e3 : 0.5 * c;
    x.set_from_double(i, offset + spread * u(rng));
  }
  return x;
}

Tensor filled(DType t, int64_t n, double v) {
  Tensor r(t, {n});
  for (int64_t i = 0; i < n; ++i) r.set_from_double(i, v + 0.1 * i);
  return r;
}

}  // namespace

TEST_CASE("batch_norm training statistics against a two-pass reference", "[norm][bn_stats]") {
  const double eps = 1e-5, mom = 0.9;
  for (DType t : {DType::f32, DType::f64})
    for (const Shape& s : {Shape{3, 4, 5, 7}, Shape{9, 3, 1, 1}, Shape{2, 5, 33}}) {
      INFO(dtype_name(t) << " " << shape_str(s));
      const int64_t N = s[0], C = s[1], inner = shape_numel(s) / (N * C), M = N * inner;
      Tensor x = shifted(t, s, 0.25, 7), scale = filled(t, C, 0.8), bias = filled(t, C, -0.2);
      Tensor rm = filled(t, C, 0.1), rv = filled(t, C, 1.0);
      AttrMap a{{"training", int64_t(1)}, {"epsilon", eps}, {"momentum", mom}};
      std::vector<Tensor> out = run_op("batch_norm", {x, scale, bias, rm, rv}, a);
      REQUIRE(out.size() == 5);
      const double tol = t == DType::f32 ? 2e-5 : 1e-11;
      for (int64_t c = 0; c < C; ++c) {
        double sum = 0, ss = 0;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = 0; i < inner; ++i) sum += x.get_as_double((n * C + c) * inner + i);
        const double mu = sum / M;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = 0; i < inner; ++i) {
            const double d = x.get_as_double((n * C + c) * inner + i) - mu;
            ss += d * d;
          }
        const double var = ss / M;
        // The variance is tiny against the mean for channels 0 and 1: compare it relatively.
        CHECK(std::abs(out[1].get_as_double(c) - mu) <= tol * (1 + std::abs(mu)));
        CHECK(std::abs(out[2].get_as_double(c) - var) <= tol * var);
        const double rv_want = rv.get_as_double(c) * mom + ss / (M - 1) * (1 - mom);
        CHECK(std::abs(out[4].get_as_double(c) - rv_want) <= tol * (1 + rv_want));
        const double inv = 1 / std::sqrt(var + eps);
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = 0; i < inner; ++i) {
            const int64_t e = (n * C + c) * inner + i;
            const double want = (x.get_as_double(e) - mu) * inv * scale.get_as_double(c) + bias.get_as_double(c);
            // y = x a + (bias - mu a) rounds at the magnitude of mu a: allow about eight ulps of it.
            const double big = 1 + std::abs(mu) * inv * std::abs(scale.get_as_double(c));
            const double ytol = (t == DType::f32 ? 1e-6 : 1e-14) * big;
            REQUIRE(std::abs(out[0].get_as_double(e) - want) <= ytol);
          }
      }
    }
}

TEST_CASE("batch_norm training outputs are the same bits for any thread count", "[norm][bn_stats]") {
  Tensor x = shifted(DType::f32, {16, 8, 12, 12}, 2.0, 9);
  Tensor scale = filled(DType::f32, 8, 1.0), bias = filled(DType::f32, 8, 0.0);
  Tensor rm = filled(DType::f32, 8, 0.0), rv = filled(DType::f32, 8, 1.0);
  AttrMap a{{"training", int64_t(1)}};
  const int old = engine_num_threads();
  std::vector<std::vector<Tensor>> runs;
  for (int threads : {1, 2, 3}) {
    set_engine_num_threads(threads);
    runs.push_back(run_op("batch_norm", {x, scale, bias, rm, rv}, a));
  }
  set_engine_num_threads(old);
  for (const auto& r : runs)
    for (size_t i = 0; i < r.size(); ++i) CHECK(std::memcmp(r[i].data(), runs[0][i].data(), r[i].bytes()) == 0);
}

}  // namespace symnet::test
