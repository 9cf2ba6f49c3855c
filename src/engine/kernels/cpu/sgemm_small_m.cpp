#include "engine/kernels/cpu/sgemm_small_m.h"

#include <algorithm>
#include <vector>

namespace symnet {

namespace {

// Dot products of the rows of A (M of them, each gathered contiguous in `a`, K long) with
// one row of B; partial sums in kLanes independent lanes so the compiler can keep them in
// vector registers without reordering a single sum.
constexpr int kLanes = 16;

template <int M>
void dots_row(const float* a, int64_t K, const float* b, float* out) {
  float acc[M][kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= K; k += kLanes)
    for (int i = 0; i < M; ++i)
      for (int l = 0; l < kLanes; ++l) acc[i][l] += a[i * K + k + l] * b[k + l];
  for (int i = 0; i < M; ++i) {
    float s = 0;
    for (int l = 0; l < kLanes; ++l) s += acc[i][l];
    for (int64_t kk = k; kk < K; ++kk) s += a[i * K + kk] * b[kk];
    out[i] = s;
  }
}

template <int M>
void product_trans_b(const float* a, int64_t N, int64_t K, const float* B, int64_t ldb, float alpha, float beta,
                     float* C, int64_t ldc) {
  float d[M];
  for (int64_t j = 0; j < N; ++j) {
    dots_row<M>(a, K, B + j * ldb, d);
    for (int i = 0; i < M; ++i) {
      float& c = C[i * ldc + j];
      c = beta == 0.0f ? alpha * d[i] : alpha * d[i] + beta * c;
    }
  }
}

// op(B) = B (K x N rows): C's rows accumulate alpha a[i][k] * B[k, :] row by row of B, in
// blocks of columns that stay in L1 across the K rows.
void product_plain_b(const float* a, int M, int64_t N, int64_t K, const float* B, int64_t ldb, float alpha,
                     float beta, float* C, int64_t ldc) {
  constexpr int64_t kCols = 512;
  for (int64_t j0 = 0; j0 < N; j0 += kCols) {
    const int64_t j1 = std::min(N, j0 + kCols);
    for (int i = 0; i < M; ++i) {
      float* c = C + i * ldc;
      if (beta == 0.0f) std::fill(c + j0, c + j1, 0.0f);
      else if (beta != 1.0f)
        for (int64_t j = j0; j < j1; ++j) c[j] *= beta;
    }
    for (int64_t k = 0; k < K; ++k) {
      const float* b = B + k * ldb;
      for (int i = 0; i < M; ++i) {
        const float s = alpha * a[i * K + k];
        float* c = C + i * ldc;
        for (int64_t j = j0; j < j1; ++j) c[j] += s * b[j];
      }
    }
  }
}

}  // namespace

bool sgemm_small_m(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                   const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M < 1 || M > kSmallM || N < 1 || K < 1) return false;
  // The rows of op(A), contiguous (A transposed is read with stride lda); per thread, as
  // the callers split N over threads.
  thread_local std::vector<float> rows;
  rows.resize(static_cast<size_t>(M * K));
  float* a = rows.data();
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = 0; k < K; ++k) a[i * K + k] = ta ? A[k * lda + i] : A[i * lda + k];
  if (!tb) {
    product_plain_b(a, static_cast<int>(M), N, K, B, ldb, alpha, beta, C, ldc);
    return true;
  }
  switch (M) {
    case 1: product_trans_b<1>(a, N, K, B, ldb, alpha, beta, C, ldc); break;
    case 2: product_trans_b<2>(a, N, K, B, ldb, alpha, beta, C, ldc); break;
    case 3: product_trans_b<3>(a, N, K, B, ldb, alpha, beta, C, ldc); break;
    default: product_trans_b<4>(a, N, K, B, ldb, alpha, beta, C, ldc); break;
  }
  return true;
}

}  // namespace symnet
