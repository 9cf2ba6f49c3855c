// A right-hand GEMM operand that many products share (an RNN's recurrent weights, used at
// every step of the sequence): packed once per kernel call when the packed SGEMM runs,
// otherwise laid out untransposed once, which the BLAS packs faster than a transposed one.
#pragma once
#include <cstddef>
#include <cstdint>

namespace symnet {

struct SgemmMicroKernel;

template <typename T>
class ReusedRhs {
 public:
  // Workspace bytes prepare() may use for op(B)[K, N], whichever GEMM backend runs then.
  static size_t workspace_bytes(int64_t K, int64_t N);

  // op(B) is B, or B^T (B stored [N, K]) when tb. The workspace (64-byte aligned,
  // workspace_bytes(K, N)) must outlive the products.
  void prepare(bool tb, const T* B, int64_t ldb, int64_t K, int64_t N, void* workspace);

  // C[M, N] = alpha * A[M, K] * op(B) + beta * C (A row-major, lda). Thread-safe: several
  // threads may multiply different rows at once.
  void multiply(int64_t M, T alpha, const T* A, int64_t lda, T beta, T* C, int64_t ldc) const;

 private:
  int64_t K_ = 0, N_ = 0;
  const SgemmMicroKernel* kernel_ = nullptr;  // set: packed_ holds the prepacked panels
  const T* packed_ = nullptr;
  const T* b_ = nullptr;  // else op(B) row-major [K, N] with leading dimension ldb_
  int64_t ldb_ = 0;
};

}  // namespace symnet
