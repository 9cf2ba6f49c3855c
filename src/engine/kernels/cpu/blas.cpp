#include "engine/kernels/cpu/blas.h"

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <mutex>

#if defined(__unix__) || defined(__APPLE__)
#include <dlfcn.h>
#define SYMNET_HAVE_DLFCN 1
#endif

#include "engine/kernels/cpu/parallel.h"
#include "engine/kernels/cpu/sgemm_packed.h"
#include "engine/kernels/cpu/sgemm_small_m.h"

// Fortran BLAS entry points (R always provides a BLAS: $(BLAS_LIBS)). The trailing
// lengths are gfortran's hidden character lengths (ignored by C implementations such as
// OpenBLAS).
extern "C" {
void sgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const float* alpha,
            const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c,
            const int* ldc, size_t, size_t);
void dgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const double* alpha,
            const double* a, const int* lda, const double* b, const int* ldb, const double* beta, double* c,
            const int* ldc, size_t, size_t);
}

namespace symnet {

namespace {

// packed: symnet's own SGEMM (sgemm_packed.h) for float, the BLAS or Eigen for double.
enum class Backend { eigen, blas, packed };

struct BlasInfo {
  Backend backend = Backend::eigen;
  const char* name = "eigen";
  bool linked = false;
  void (*set_threads)(int) = nullptr;  // library thread-count setter, if any
  int (*get_threads)() = nullptr;
};

void* find_symbol(void* handle, const char* sym) {
#ifdef SYMNET_HAVE_DLFCN
  void* p = handle ? dlsym(handle, sym) : nullptr;
  if (!p) p = dlsym(RTLD_DEFAULT, sym);
  return p;
#else
  (void)handle;
  (void)sym;
  return nullptr;
#endif
}

BlasInfo detect() {
  BlasInfo info;
  info.linked = true;
  void* handle = nullptr;
#ifdef SYMNET_HAVE_DLFCN
  // Look in the library that actually provides sgemm_ (R loads packages RTLD_LOCAL).
  Dl_info dl;
  if (dladdr(reinterpret_cast<void*>(&sgemm_), &dl) && dl.dli_fname)
    handle = dlopen(dl.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
#endif
  if (find_symbol(handle, "openblas_get_config")) {
    info.name = "openblas";
    info.set_threads = reinterpret_cast<void (*)(int)>(find_symbol(handle, "openblas_set_num_threads"));
    info.get_threads = reinterpret_cast<int (*)()>(find_symbol(handle, "openblas_get_num_threads"));
  } else if (find_symbol(handle, "MKL_Get_Max_Threads") || find_symbol(handle, "mkl_get_max_threads")) {
    info.name = "mkl";
    info.set_threads = reinterpret_cast<void (*)(int)>(find_symbol(handle, "MKL_Set_Num_Threads"));
    info.get_threads = reinterpret_cast<int (*)()>(find_symbol(handle, "MKL_Get_Max_Threads"));
  } else if (find_symbol(handle, "bli_info_get_version")) {
    info.name = "blis";
    info.set_threads = reinterpret_cast<void (*)(int)>(find_symbol(handle, "bli_thread_set_num_threads"));
    info.get_threads = reinterpret_cast<int (*)()>(find_symbol(handle, "bli_thread_get_num_threads"));
  } else if (find_symbol(handle, "cblas_sgemm") && find_symbol(handle, "ATL_buildinfo")) {
    info.name = "blas";  // ATLAS
  } else {
    return info;  // reference BLAS (or unknown): Eigen is faster
  }
  info.backend = Backend::blas;
  if (!info.get_threads) info.set_threads = nullptr;  // cannot restore: leave it alone
  return info;
}

BlasInfo& info() {
  static BlasInfo i = [] {
    BlasInfo d = detect();
    if (const char* env = std::getenv("SYMNET_GEMM_BACKEND")) {
      if (std::strcmp(env, "eigen") == 0) {
        d.backend = Backend::eigen;
        d.name = "eigen";
      }
    }
    return d;
  }();
  return i;
}

std::atomic<int> g_forced{-1};  // -1 auto, else Backend

// SYMNET_GEMM_BACKEND=eigen|blas|symnet at start-up, set_gemm_backend() later.
Backend default_backend() {
  static const Backend b = [] {
    const char* env = std::getenv("SYMNET_GEMM_BACKEND");
    if (env && std::strcmp(env, "eigen") == 0) return Backend::eigen;
    if (env && std::strcmp(env, "blas") == 0 && info().backend == Backend::blas) return Backend::blas;
    return sgemm_best_microkernel() ? Backend::packed : info().backend;
  }();
  return b;
}

Backend backend() {
  int f = g_forced.load(std::memory_order_relaxed);
  return f >= 0 ? static_cast<Backend>(f) : default_backend();
}

template <typename T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using RowStride = Eigen::OuterStride<>;

template <typename T>
void eigen_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
                int64_t ldb, T beta, T* C, int64_t ldc) {
  using CMap = Eigen::Map<RowMat<T>, 0, RowStride<T>>;
  using IMap = Eigen::Map<const RowMat<T>, 0, RowStride<T>>;
  CMap c(C, M, N, RowStride<T>(ldc));
  if (beta == T(0))
    c.setZero();
  else if (beta != T(1))
    c *= beta;
  if (K == 0 || alpha == T(0)) return;
  IMap a(A, ta ? K : M, ta ? M : K, RowStride<T>(lda));
  IMap b(B, tb ? N : K, tb ? K : N, RowStride<T>(ldb));
  // Serial by contract (callers split work). Inside a parallel region Eigen is serial by
  // itself, and its thread setting is a plain global best not written from several threads.
  if (!in_parallel_region()) Eigen::setNbThreads(1);
  if (!ta && !tb) c.noalias() += alpha * (a * b);
  else if (ta && !tb) c.noalias() += alpha * (a.transpose() * b);
  else if (!ta && tb) c.noalias() += alpha * (a * b.transpose());
  else c.noalias() += alpha * (a.transpose() * b.transpose());
}

bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

template <typename T, typename F>
void blas_or_eigen(F fortran, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                   const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int64_t i = 0; i < M; ++i) {
      T* c = C + i * ldc;
      for (int64_t j = 0; j < N; ++j) c[j] = beta == T(0) ? T(0) : beta * c[j];
    }
    return;
  }
  lda = std::max<int64_t>(lda, 1);
  ldb = std::max<int64_t>(ldb, 1);
  const Backend b = backend() == Backend::packed ? info().backend : backend();
  if (b == Backend::blas && fits_int(M) && fits_int(N) && fits_int(K) && fits_int(lda) && fits_int(ldb) &&
      fits_int(ldc)) {
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
    const int m = static_cast<int>(N), n = static_cast<int>(M), k = static_cast<int>(K);
    const int la = static_cast<int>(ldb), lb = static_cast<int>(lda), lc = static_cast<int>(ldc);
    const char ca = tb ? 'T' : 'N', cb = ta ? 'T' : 'N';
    fortran(&ca, &cb, &m, &n, &k, &alpha, B, &la, A, &lb, &beta, C, &lc, size_t{1}, size_t{1});
    return;
  }
  eigen_gemm<T>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace

void sgemm_rowmajor(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                    const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (backend() == Backend::packed) {
    if (sgemm_small_m(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) return;
    sgemm_packed(*sgemm_best_microkernel(), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  blas_or_eigen<float>(sgemm_, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void dgemm_rowmajor(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
                    const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  blas_or_eigen<double>(dgemm_, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <typename T>
void gemm_rowmajor_parallel(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                            const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  const double flops = 2.0 * static_cast<double>(M) * N * std::max<int64_t>(K, 1);
  BlasSerialScope serial;
  int nt = engine_num_threads();
  // Below ~1 MFLOP per thread the fork/join and the repacking of the shared operand cost
  // more than the split gains.
  nt = static_cast<int>(std::min<double>(nt, flops / 1.0e6));
  if (in_parallel_region()) nt = 1;
  if (nt <= 1) {
    gemm_rowmajor(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Split the longer side of C into nt blocks aligned to 16 elements.
  const bool by_rows = M >= N;
  const int64_t len = by_rows ? M : N;
  int64_t chunk = (len + nt - 1) / nt;
  chunk = std::min<int64_t>(len, (chunk + 15) / 16 * 16);
  const int64_t nblocks = (len + chunk - 1) / chunk;
  parallel_for(nblocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t bi = b0; bi < b1; ++bi) {
      const int64_t s = bi * chunk, e = std::min(len, s + chunk);
      if (by_rows) {
        const T* a = ta ? A + s : A + s * lda;
        gemm_rowmajor(ta, tb, e - s, N, K, alpha, a, lda, B, ldb, beta, C + s * ldc, ldc);
      } else {
        const T* b = tb ? B + s * ldb : B + s;
        gemm_rowmajor(ta, tb, M, e - s, K, alpha, A, lda, b, ldb, beta, C + s, ldc);
      }
    }
  });
}

template void gemm_rowmajor_parallel<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                            const float*, int64_t, float, float*, int64_t);
template void gemm_rowmajor_parallel<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                             const double*, int64_t, double, double*, int64_t);

const SgemmMicroKernel* active_sgemm_microkernel() {
  return backend() == Backend::packed ? sgemm_best_microkernel() : nullptr;
}

const char* gemm_backend_name() {
  if (backend() == Backend::packed) return sgemm_best_microkernel()->name;
  if (backend() != Backend::blas) return "eigen";
  return info().backend == Backend::blas ? info().name : "blas";
}

BlasSerialScope::BlasSerialScope() {
  // Also under the packed backend: double-precision products still go to the library.
  const BlasInfo& i = info();
  if (backend() == Backend::eigen || i.backend != Backend::blas || !i.set_threads) return;
  if (in_parallel_region()) return;
  int cur = i.get_threads();
  if (cur != 1) {
    i.set_threads(1);
    prev_ = cur;
  }
}

BlasSerialScope::~BlasSerialScope() {
  if (prev_ > 0) info().set_threads(prev_);
}

bool set_gemm_backend(const char* name) {
  if (std::strcmp(name, "auto") == 0) {
    g_forced = -1;
    return true;
  }
  if (std::strcmp(name, "eigen") == 0) {
    g_forced = static_cast<int>(Backend::eigen);
    return true;
  }
  if (std::strcmp(name, "blas") == 0 && info().linked) {
    g_forced = static_cast<int>(Backend::blas);
    return true;
  }
  if (std::strcmp(name, "symnet") == 0 && sgemm_best_microkernel()) {
    g_forced = static_cast<int>(Backend::packed);
    return true;
  }
  return false;
}

}  // namespace symnet
