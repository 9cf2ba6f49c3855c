// Row-major GEMM. Single precision runs on symnet's own packed kernels (sgemm_packed.h)
// where the CPU has AVX2 or AVX-512; double precision, and single precision elsewhere, on
// the system BLAS (sgemm_/dgemm_) when it is an optimized one (OpenBLAS, MKL, BLIS), else
// on Eigen (the reference BLAS is slower than Eigen).
//
// Threads: engine kernels run the BLAS library single-threaded (BlasSerialScope) and split
// work over the engine's OpenMP threads themselves: two thread pools spinning on the same
// cores cost more than they gain, and a GEMM called from inside an OpenMP region over a
// batch must be serial anyway. The library's setting is restored afterwards, so R's own
// matrix products keep their threads.
#pragma once
#include <cstdint>

namespace symnet {

// C[M,N] = alpha * op(A) * op(B) + beta * C, all row-major; op(A) is [M,K] (A stored
// [K,M] when transA), op(B) is [K,N] (B stored [N,K] when transB). Runs on the calling
// thread. beta == 0 never reads C (NaNs in C are overwritten).
void sgemm_rowmajor(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                    int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void dgemm_rowmajor(bool transA, bool transB, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                    int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc);

inline void gemm_rowmajor(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  sgemm_rowmajor(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline void gemm_rowmajor(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                          int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  dgemm_rowmajor(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// Same product split over engine_num_threads() OpenMP threads (by rows of C, or by
// columns when C is short and wide); serial when small or already inside a parallel region.
template <typename T>
void gemm_rowmajor_parallel(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                            const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// While alive, the BLAS library runs on one thread (its previous setting is restored on
// destruction). Create it outside parallel regions, around code that calls the GEMMs
// above from several OpenMP threads.
class BlasSerialScope {
 public:
  BlasSerialScope();
  ~BlasSerialScope();
  BlasSerialScope(const BlasSerialScope&) = delete;
  BlasSerialScope& operator=(const BlasSerialScope&) = delete;

 private:
  int prev_ = -1;
};

struct SgemmMicroKernel;
// The tile kernel sgemm_rowmajor runs on now, or null when it runs on the BLAS or Eigen.
const SgemmMicroKernel* active_sgemm_microkernel();

// "symnet-avx512", "symnet-avx2" (own kernels for float; doubles as the library below),
// "openblas", "mkl", "blis", "blas" (another optimized library) or "eigen".
const char* gemm_backend_name();
// Forces a backend ("symnet", "blas" or "eigen"; "auto" restores the default, which the
// environment variable SYMNET_GEMM_BACKEND can also set). Returns false when that backend
// is not available here. For benchmarks and tests.
bool set_gemm_backend(const char* name);

}  // namespace symnet
