#include "engine/kernels/cpu/gemm_reused_rhs.h"

#include <algorithm>
#include <type_traits>

#include "engine/kernels/cpu/blas.h"
#include "engine/kernels/cpu/sgemm_packed.h"

namespace symnet {

template <typename T>
size_t ReusedRhs<T>::workspace_bytes(int64_t K, int64_t N) {
  size_t bytes = static_cast<size_t>(std::max<int64_t>(K, 0) * std::max<int64_t>(N, 0)) * sizeof(T);
  if (std::is_same<T, float>::value)
    if (const SgemmMicroKernel* uk = sgemm_best_microkernel())
      bytes = std::max(bytes, sgemm_prepacked_b_floats(*uk, K, N) * sizeof(float));
  return bytes;
}

template <typename T>
void ReusedRhs<T>::prepare(bool tb, const T* B, int64_t ldb, int64_t K, int64_t N, void* workspace) {
  K_ = K;
  N_ = N;
  kernel_ = nullptr;
  if constexpr (std::is_same<T, float>::value) {
    if (const SgemmMicroKernel* uk = active_sgemm_microkernel()) {
      sgemm_prepack_b(*uk, tb, B, ldb, K, N, static_cast<float*>(workspace));
      kernel_ = uk;
      packed_ = static_cast<const float*>(workspace);
      return;
    }
  }
  if (!tb) {
    b_ = B;
    ldb_ = ldb;
    return;
  }
  // Transposed in 16 x 16 tiles: a plain column walk over B touches few cache sets.
  T* dst = static_cast<T*>(workspace);
  constexpr int64_t kTile = 16;
  for (int64_t n0 = 0; n0 < N; n0 += kTile)
    for (int64_t k0 = 0; k0 < K; k0 += kTile)
      for (int64_t n = n0; n < std::min(N, n0 + kTile); ++n)
        for (int64_t k = k0; k < std::min(K, k0 + kTile); ++k) dst[k * N + n] = B[n * ldb + k];
  b_ = dst;
  ldb_ = N;
}

template <typename T>
void ReusedRhs<T>::multiply(int64_t M, T alpha, const T* A, int64_t lda, T beta, T* C, int64_t ldc) const {
  if constexpr (std::is_same<T, float>::value) {
    if (kernel_) {
      sgemm_packed_prepacked_b(*kernel_, false, M, N_, K_, alpha, A, lda, packed_, beta, C, ldc);
      return;
    }
  }
  gemm_rowmajor(false, false, M, N_, K_, alpha, A, lda, b_, ldb_, beta, C, ldc);
}

template class ReusedRhs<float>;
template class ReusedRhs<double>;

}  // namespace symnet
