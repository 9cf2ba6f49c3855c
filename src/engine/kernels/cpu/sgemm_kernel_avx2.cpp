// AVX2 + FMA SGEMM tile: 6 rows x 16 columns of C in 12 ymm accumulators (of 16 ymm
// registers: two for B, one broadcast). Compiled with a target attribute so the package
// still runs on CPUs without AVX2: the driver calls it only after checking.
#include "engine/kernels/cpu/sgemm_microkernel.h"

// Not with GCC on Windows: it may spill vector registers with aligned stores to a stack
// that the Windows x64 ABI aligns to 16 bytes only (GCC bug 54412), a crash.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !(defined(_WIN32) && !defined(__clang__))
#define SYMNET_SGEMM_AVX2 1
#include <immintrin.h>
#endif

namespace symnet {

#ifdef SYMNET_SGEMM_AVX2
namespace {

constexpr int kMR = 6;
constexpr int kNR = 16;

#define SYMNET_TARGET_AVX2 __attribute__((target("avx2,fma")))

SYMNET_TARGET_AVX2 void tile_6x16(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n,
                                  float alpha, float beta) {
  // Named locals, not an array indexed in a loop: kept in registers at -O2.
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
         c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
#define SYMNET_ROW(i, r0, r1)                   \
  {                                             \
    const __m256 ai = _mm256_broadcast_ss(a + i); \
    r0 = _mm256_fmadd_ps(ai, b0, r0);           \
    r1 = _mm256_fmadd_ps(ai, b1, r1);           \
  }
    SYMNET_ROW(0, c00, c01)
    SYMNET_ROW(1, c10, c11)
    SYMNET_ROW(2, c20, c21)
    SYMNET_ROW(3, c30, c31)
    SYMNET_ROW(4, c40, c41)
    SYMNET_ROW(5, c50, c51)
#undef SYMNET_ROW
    a += kMR;
    b += kNR;
  }
  const __m256 rows[kMR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  const __m256 va = _mm256_set1_ps(alpha);
  if (n == kNR) {
    for (int i = 0; i < m; ++i) {
      float* ci = c + i * ldc;
      __m256 v0 = _mm256_mul_ps(rows[i][0], va), v1 = _mm256_mul_ps(rows[i][1], va);
      if (beta != 0.0f) {
        const __m256 vb = _mm256_set1_ps(beta);
        v0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), v0);
        v1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), v1);
      }
      _mm256_storeu_ps(ci, v0);
      _mm256_storeu_ps(ci + 8, v1);
    }
    return;
  }
  // Column tail: through a small buffer (AVX2 masked stores are slow on some CPUs).
  alignas(32) float tmp[kNR];
  for (int i = 0; i < m; ++i) {
    _mm256_store_ps(tmp, _mm256_mul_ps(rows[i][0], va));
    _mm256_store_ps(tmp + 8, _mm256_mul_ps(rows[i][1], va));
    float* ci = c + i * ldc;
    for (int j = 0; j < n; ++j) ci[j] = beta != 0.0f ? tmp[j] + beta * ci[j] : tmp[j];
  }
}

bool cpu_has_avx2_fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

const SgemmMicroKernel kKernel{"symnet-avx2", kMR, kNR, 256, 144, 2048, tile_6x16, cpu_has_avx2_fma};

}  // namespace

const SgemmMicroKernel* sgemm_microkernel_avx2() { return &kKernel; }
#else
const SgemmMicroKernel* sgemm_microkernel_avx2() { return nullptr; }
#endif

}  // namespace symnet
