// symnet's own single-precision GEMM: operands packed into cache-sized panels and a
// register-blocked tile kernel per instruction set (AVX-512, AVX2+FMA), chosen at run time.
//
// Why not only the system BLAS: R links whatever BLAS the machine has. The reference BLAS
// is slow, Eigen compiled for R's baseline x86-64 uses SSE2 only, and OpenBLAS falls back
// to its generic "Prescott" kernels on CPUs it does not recognize (measured on a current
// Xeon VM: about a fifth of its tuned speed). The same kernels everywhere give every user
// the CPU's vector units.
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine/kernels/cpu/sgemm_microkernel.h"

namespace symnet {

// The best tile kernel this CPU runs, or null (no AVX2/AVX-512, or not x86-64).
const SgemmMicroKernel* sgemm_best_microkernel();

// Row-major C[M,N] = alpha * op(A) * op(B) + beta * C, same contract as sgemm_rowmajor
// (blas.h): op(A) is [M,K] (A stored [K,M] when transA), op(B) is [K,N] (B stored [N,K]
// when transB); beta == 0 never reads C. Runs on the calling thread.
void sgemm_packed(const SgemmMicroKernel& kernel, bool transA, bool transB, int64_t M, int64_t N, int64_t K,
                  float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                  int64_t ldc);

// op(B)[K, N] packed once for many products with different left operands (an RNN's
// recurrent weights, used at every step): packing B costs as much as a product with a
// short A, so doing it once per run instead of once per step matters.
size_t sgemm_prepacked_b_floats(const SgemmMicroKernel& kernel, int64_t K, int64_t N);
// out (64-byte aligned, sgemm_prepacked_b_floats() floats) receives op(B), B stored [N, K]
// when transB.
void sgemm_prepack_b(const SgemmMicroKernel& kernel, bool transB, const float* B, int64_t ldb, int64_t K, int64_t N,
                     float* out);
// C[M,N] = alpha * op(A) * Bp + beta * C with Bp from sgemm_prepack_b (same kernel, K, N).
void sgemm_packed_prepacked_b(const SgemmMicroKernel& kernel, bool transA, int64_t M, int64_t N, int64_t K,
                              float alpha, const float* A, int64_t lda, const float* Bp, float beta, float* C,
                              int64_t ldc);

}  // namespace symnet
