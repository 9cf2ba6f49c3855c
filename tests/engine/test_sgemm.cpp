// symnet's packed SGEMM (kernels/cpu/sgemm_packed.h): every tile kernel this CPU runs
// against a double-precision naive product, over shapes that cross every blocking edge.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <limits>
#include <random>
#include <vector>

#include "engine/kernels/cpu/blas.h"
#include "engine/kernels/cpu/gemm_reused_rhs.h"
#include "engine/kernels/cpu/sgemm_packed.h"
#include "engine/kernels/cpu/sgemm_small_m.h"
#include "harness.h"

using namespace symnet;

namespace {

std::vector<const SgemmMicroKernel*> runnable_kernels() {
  std::vector<const SgemmMicroKernel*> ks;
  for (const SgemmMicroKernel* k : {sgemm_microkernel_avx512(), sgemm_microkernel_avx2()})
    if (k && k->cpu_supports()) ks.push_back(k);
  return ks;
}

std::vector<float> random_floats(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// C = alpha op(A) op(B) + beta C in double, C's padding columns untouched.
void naive(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const std::vector<float>& A, int64_t lda,
           const std::vector<float>& B, int64_t ldb, double beta, std::vector<double>& C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k)
        s += double(ta ? A[k * lda + i] : A[i * lda + k]) * double(tb ? B[j * ldb + k] : B[k * ldb + j]);
      double& c = C[i * ldc + j];
      c = alpha * s + (beta == 0 ? 0.0 : beta * c);
    }
}

void check_shape(const SgemmMicroKernel& uk, int64_t M, int64_t N, int64_t K, bool ta, bool tb, float alpha,
                 float beta) {
  const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
  std::vector<float> A = random_floats(static_cast<size_t>((ta ? K : M) * lda), 1);
  std::vector<float> B = random_floats(static_cast<size_t>((tb ? N : K) * ldb), 2);
  std::vector<float> C = random_floats(static_cast<size_t>(M * ldc), 3);
  if (beta == 0.f)  // never read: NaNs must be overwritten
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = std::numeric_limits<float>::quiet_NaN();
  std::vector<double> want(C.begin(), C.end());
  naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, want, ldc);
  sgemm_packed(uk, ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      const double w = want[i * ldc + j], got = C[i * ldc + j];
      INFO(uk.name << " " << M << "x" << N << "x" << K << " ta " << ta << " tb " << tb << " at " << i << "," << j);
      REQUIRE(std::abs(got - w) <= 1e-5 * std::sqrt(double(K) + 1) * (1 + std::abs(w)) + 1e-5);
    }
    for (int64_t j = N; j < ldc; ++j) REQUIRE(C[i * ldc + j] == static_cast<float>(want[i * ldc + j]));
  }
}

}  // namespace

TEST_CASE("packed sgemm matches a naive product on every runnable kernel", "[gemm]") {
  const auto kernels = runnable_kernels();
  if (kernels.empty()) SUCCEED("no AVX2/AVX-512 on this CPU: sgemm_rowmajor uses the BLAS");
  for (const SgemmMicroKernel* uk : kernels) {
    // Edges of every blocking level: below, at and past mr / nr, kc (256), mc and nc.
    const std::vector<std::array<int64_t, 3>> shapes = {
        {1, 1, 1},    {1, 37, 5},    {7, 1, 9},      {uk->mr, uk->nr, 3}, {uk->mr + 1, uk->nr + 1, 17},
        {13, 33, 256}, {25, 70, 257}, {uk->mc + 5, 40, 100}, {30, uk->nc + 20, 20}, {64, 512, 128},
        {200, 190, 520}};
    for (const auto& s : shapes)
      for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb)
          DYNAMIC_SECTION(uk->name << " " << s[0] << "x" << s[1] << "x" << s[2] << " ta " << ta << " tb " << tb) {
            check_shape(*uk, s[0], s[1], s[2], ta, tb, 0.5f, 0.f);
            check_shape(*uk, s[0], s[1], s[2], ta, tb, -1.25f, 2.f);
          }
  }
}

TEST_CASE("products with at most four rows stream B once and match a naive product", "[gemm]") {
  for (int64_t M = 1; M <= kSmallM + 1; ++M)
    for (const auto& nk : std::vector<std::array<int64_t, 2>>{{1, 1}, {37, 5}, {1000, 1280}, {600, 33}})
      for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb)
          for (const auto& ab : std::vector<std::array<float, 2>>{{0.5f, 0.f}, {-1.25f, 2.f}, {1.f, 1.f}}) {
            const int64_t N = nk[0], K = nk[1];
            const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
            std::vector<float> A = random_floats(static_cast<size_t>((ta ? K : M) * lda), 4);
            std::vector<float> B = random_floats(static_cast<size_t>((tb ? N : K) * ldb), 5);
            std::vector<float> C = random_floats(static_cast<size_t>(M * ldc), 6);
            if (ab[1] == 0.f)  // never read: NaNs must be overwritten
              for (int64_t i = 0; i < M; ++i)
                for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = std::numeric_limits<float>::quiet_NaN();
            const std::vector<float> before = C;
            std::vector<double> want(C.begin(), C.end());
            naive(ta, tb, M, N, K, ab[0], A, lda, B, ldb, ab[1], want, ldc);
            const bool done = sgemm_small_m(ta, tb, M, N, K, ab[0], A.data(), lda, B.data(), ldb, ab[1], C.data(), ldc);
            INFO(M << "x" << N << "x" << K << " ta " << ta << " tb " << tb << " alpha " << ab[0] << " beta " << ab[1]);
            if (M > kSmallM) {
              REQUIRE_FALSE(done);
              REQUIRE(std::equal(C.begin(), C.end(), before.begin(), [](float x, float y) {
                return (std::isnan(x) && std::isnan(y)) || x == y;
              }));  // untouched
              continue;
            }
            REQUIRE(done);
            for (int64_t i = 0; i < M; ++i) {
              for (int64_t j = 0; j < N; ++j) {
                const double w = want[i * ldc + j];
                REQUIRE(std::abs(C[i * ldc + j] - w) <= 1e-5 * std::sqrt(double(K) + 1) * (1 + std::abs(w)) + 1e-5);
              }
              for (int64_t j = N; j < ldc; ++j) REQUIRE(C[i * ldc + j] == before[i * ldc + j]);
            }
          }
}

TEST_CASE("packed sgemm: K = 0 and alpha = 0 scale C by beta", "[gemm]") {
  for (const SgemmMicroKernel* uk : runnable_kernels()) {
    std::vector<float> C = {1, 2, 3, 4}, A = {9}, B = {9};
    sgemm_packed(*uk, false, false, 2, 2, 0, 1.f, A.data(), 1, B.data(), 2, 3.f, C.data(), 2);
    REQUIRE(C == std::vector<float>{3, 6, 9, 12});
    std::vector<float> A2 = random_floats(4, 5), B2 = random_floats(4, 6);
    C = {std::numeric_limits<float>::quiet_NaN(), 1, 1, 1};
    sgemm_packed(*uk, false, false, 2, 2, 2, 0.f, A2.data(), 2, B2.data(), 2, 0.f, C.data(), 2);
    REQUIRE(C == std::vector<float>{0, 0, 0, 0});
  }
}

TEST_CASE("the symnet gemm backend is the default where the CPU has a kernel", "[gemm]") {
  const SgemmMicroKernel* best = sgemm_best_microkernel();
  REQUIRE(set_gemm_backend("auto"));
  if (!best) {
    REQUIRE_FALSE(set_gemm_backend("symnet"));
    return;
  }
  if (!std::getenv("SYMNET_GEMM_BACKEND")) REQUIRE(std::string(gemm_backend_name()) == best->name);
  REQUIRE(set_gemm_backend("symnet"));
  REQUIRE(std::string(gemm_backend_name()) == best->name);
  REQUIRE(set_gemm_backend("auto"));
}

TEST_CASE("prepacked right operands give the plain product on every backend", "[gemm]") {
  for (const char* backend : {"symnet", "blas", "eigen"}) {
    if (!set_gemm_backend(backend)) continue;
    for (int tb = 0; tb < 2; ++tb)
      for (const auto& s : std::vector<std::array<int64_t, 3>>{{5, 7, 3}, {33, 70, 300}, {64, 1024, 256}})
        DYNAMIC_SECTION(backend << " " << s[0] << "x" << s[1] << "x" << s[2] << " tb " << tb) {
          const int64_t M = s[0], N = s[1], K = s[2], ldb = (tb ? K : N) + 3, lda = K + 1, ldc = N + 2;
          std::vector<float> A = random_floats(static_cast<size_t>(M * lda), 7);
          std::vector<float> B = random_floats(static_cast<size_t>((tb ? N : K) * ldb), 8);
          std::vector<float> C = random_floats(static_cast<size_t>(M * ldc), 9);
          std::vector<double> want(C.begin(), C.end());
          naive(false, tb, M, N, K, 0.5, A, lda, B, ldb, 1.0, want, ldc);
          std::vector<char> ws(ReusedRhs<float>::workspace_bytes(K, N) + 64);
          void* aligned = ws.data() + (64 - reinterpret_cast<uintptr_t>(ws.data()) % 64) % 64;
          ReusedRhs<float> rhs;
          rhs.prepare(tb, B.data(), ldb, K, N, aligned);
          rhs.multiply(M, 0.5f, A.data(), lda, 1.0f, C.data(), ldc);
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j)
              REQUIRE(std::abs(C[i * ldc + j] - want[i * ldc + j]) <= 1e-4 * (1 + std::abs(want[i * ldc + j])));
        }
  }
  set_gemm_backend("auto");
}
