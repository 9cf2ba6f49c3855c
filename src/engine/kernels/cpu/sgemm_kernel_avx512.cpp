// AVX-512 SGEMM tile: 12 rows x 32 columns of C in 24 zmm accumulators. Per k step two
// loads of B and twelve broadcasts of A feed 24 FMAs, so the loads never limit the FMA
// units. Compiled with a target attribute (never -mavx512f for the whole file) so the
// package still runs on CPUs without AVX-512: the driver calls it only after checking.
#include "engine/kernels/cpu/sgemm_microkernel.h"

// Not with GCC on Windows: it may spill vector registers with aligned stores to a stack
// that the Windows x64 ABI aligns to 16 bytes only (GCC bug 54412), a crash.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !(defined(_WIN32) && !defined(__clang__))
#define SYMNET_SGEMM_AVX512 1
#include <immintrin.h>
#endif

namespace symnet {

#ifdef SYMNET_SGEMM_AVX512
namespace {

constexpr int kMR = 12;
constexpr int kNR = 32;

#define SYMNET_TARGET_AVX512 __attribute__((target("avx512f")))

SYMNET_TARGET_AVX512 inline void store_row(float* c, __m512 v0, __m512 v1, __mmask16 m0, __mmask16 m1, float alpha,
                                           float beta) {
  const __m512 va = _mm512_set1_ps(alpha);
  v0 = _mm512_mul_ps(v0, va);
  v1 = _mm512_mul_ps(v1, va);
  if (beta != 0.0f) {
    const __m512 vb = _mm512_set1_ps(beta);
    v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), v0);
    v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), v1);
  }
  _mm512_mask_storeu_ps(c, m0, v0);
  _mm512_mask_storeu_ps(c + 16, m1, v1);
}

SYMNET_TARGET_AVX512 void tile_12x32(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n,
                                     float alpha, float beta) {
  // Spelled out row by row: arrays of vectors indexed in loops are not reliably kept in
  // registers at -O2 (R's default), named locals are.
  __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
         c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00, c80 = c00,
         c81 = c00, c90 = c00, c91 = c00, ca0 = c00, ca1 = c00, cb0 = c00, cb1 = c00;
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(b);
    const __m512 b1 = _mm512_load_ps(b + 16);
#define SYMNET_ROW(i, r0, r1)                 \
  {                                           \
    const __m512 ai = _mm512_set1_ps(a[i]);   \
    r0 = _mm512_fmadd_ps(ai, b0, r0);         \
    r1 = _mm512_fmadd_ps(ai, b1, r1);         \
  }
    SYMNET_ROW(0, c00, c01)
    SYMNET_ROW(1, c10, c11)
    SYMNET_ROW(2, c20, c21)
    SYMNET_ROW(3, c30, c31)
    SYMNET_ROW(4, c40, c41)
    SYMNET_ROW(5, c50, c51)
    SYMNET_ROW(6, c60, c61)
    SYMNET_ROW(7, c70, c71)
    SYMNET_ROW(8, c80, c81)
    SYMNET_ROW(9, c90, c91)
    SYMNET_ROW(10, ca0, ca1)
    SYMNET_ROW(11, cb0, cb1)
#undef SYMNET_ROW
    a += kMR;
    b += kNR;
  }
  const __mmask16 m0 = n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u);
  const __mmask16 m1 = n >= 32 ? __mmask16(0xFFFF) : n <= 16 ? __mmask16(0) : __mmask16((1u << (n - 16)) - 1u);
  const __m512 rows[kMR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51},
                               {c60, c61}, {c70, c71}, {c80, c81}, {c90, c91}, {ca0, ca1}, {cb0, cb1}};
  for (int i = 0; i < m; ++i) store_row(c + i * ldc, rows[i][0], rows[i][1], m0, m1, alpha, beta);
}

bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

// kc x 32 floats of B (32 KiB at kc = 256) stay in a 48 KiB L1 beside the A panel;
// 192 x 256 of A (192 KiB) sits in L2.
const SgemmMicroKernel kKernel{"symnet-avx512", kMR, kNR, 256, 192, 2048, tile_12x32, cpu_has_avx512};

}  // namespace

const SgemmMicroKernel* sgemm_microkernel_avx512() { return &kKernel; }
#else
const SgemmMicroKernel* sgemm_microkernel_avx512() { return nullptr; }
#endif

}  // namespace symnet
