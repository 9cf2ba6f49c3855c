// Products with very few rows of C (a classifier's last layer at batch 1, an RNN's step at
// batch 2): C = alpha op(A) op(B) + beta C for M <= kSmallM. Such a product reads each
// element of B once and does one multiply-add with it per row of A, so it is bound by
// reading B; the packed GEMM would first copy B into panels (as many bytes again) for
// reuse that never comes. Here B is streamed once, in place, for all rows of A together.
#pragma once
#include <cstdint>

namespace symnet {

constexpr int64_t kSmallM = 4;

// Computes the product and returns true when M <= kSmallM; returns false (touching
// nothing) otherwise. Same argument conventions as sgemm_rowmajor (blas.h).
bool sgemm_small_m(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace symnet
