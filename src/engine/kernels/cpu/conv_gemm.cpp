#include "engine/kernels/cpu/conv_gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

// Not with GCC on Windows: it may spill __m512 values with aligned stores to a stack that the
// Windows x64 ABI aligns to 16 bytes only (GCC bug 54412), a crash; the BLAS path serves there.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !(defined(_WIN32) && !defined(__clang__))
#include <immintrin.h>
#define SYMNET_CONV_AVX512 1
#endif

namespace symnet::convgemm {

namespace {
std::atomic<bool> g_enabled{true};
bool cpu_has_kernel();
}  // namespace

bool available() { return g_enabled.load(std::memory_order_relaxed) && cpu_has_kernel(); }
void set_enabled(bool on) { g_enabled = on; }

void pack_a(const float* src, int64_t rs, int64_t cs, int64_t M, int64_t K, float* Ap) {
  for (int64_t m0 = 0; m0 < M; m0 += kMR) {
    const int64_t mr = std::min<int64_t>(kMR, M - m0);
    float* dst = Ap + m0 * K;
    if (cs == 1) {
      // Rows contiguous in k: read each row sequentially, write it strided into the
      // panel (which stays in L1).
      for (int64_t r = 0; r < kMR; ++r) {
        float* d = dst + r;
        if (r < mr) {
          const float* s = src + (m0 + r) * rs;
          for (int64_t k = 0; k < K; ++k) d[k * kMR] = s[k];
        } else {
          for (int64_t k = 0; k < K; ++k) d[k * kMR] = 0.f;
        }
      }
    } else {
      for (int64_t k = 0; k < K; ++k) {
        float* d = dst + k * kMR;
        const float* s = src + m0 * rs + k * cs;
        for (int64_t r = 0; r < mr; ++r) d[r] = s[r * rs];
        for (int64_t r = mr; r < kMR; ++r) d[r] = 0.f;
      }
    }
  }
}

#ifdef SYMNET_CONV_AVX512

namespace {

// One MR x NR tile: C[0:mr, 0:nr] (=|+=) A[K][MR] * B[K][0:nr] (+ bias).
__attribute__((target("avx512f"))) void tile_avx512(int64_t K, const float* A, const float* B, int64_t ldb,
                                                     float* C, int64_t ldc, int mr, int nr, const float* bias,
                                                     bool accumulate) {
  const __mmask16 m0 = nr >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? __mmask16(0xFFFF) : nr > 16 ? __mmask16((1u << (nr - 16)) - 1) : __mmask16(0);
  __m512 c0[kMR], c1[kMR];
#pragma GCC unroll 10
  for (int r = 0; r < kMR; ++r) {
    c0[r] = _mm512_setzero_ps();
    c1[r] = _mm512_setzero_ps();
  }
  if (nr == kNR) {
    for (int64_t k = 0; k < K; ++k, A += kMR, B += ldb) {
      const __m512 b0 = _mm512_loadu_ps(B), b1 = _mm512_loadu_ps(B + 16);
#pragma GCC unroll 10
      for (int r = 0; r < kMR; ++r) {
        const __m512 a = _mm512_set1_ps(A[r]);
        c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
        c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
      }
    }
  } else {
    for (int64_t k = 0; k < K; ++k, A += kMR, B += ldb) {
      const __m512 b0 = _mm512_maskz_loadu_ps(m0, B), b1 = _mm512_maskz_loadu_ps(m1, B + 16);
#pragma GCC unroll 10
      for (int r = 0; r < kMR; ++r) {
        const __m512 a = _mm512_set1_ps(A[r]);
        c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
        c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
      }
    }
  }
#pragma GCC unroll 10
  for (int r = 0; r < kMR; ++r) {
    if (r >= mr) break;
    float* c = C + r * ldc;
    __m512 v0 = c0[r], v1 = c1[r];
    if (accumulate) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, c));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, c + 16));
    } else if (bias) {
      const __m512 bb = _mm512_set1_ps(bias[r]);
      v0 = _mm512_add_ps(v0, bb);
      v1 = _mm512_add_ps(v1, bb);
    }
    _mm512_mask_storeu_ps(c, m0, v0);
    _mm512_mask_storeu_ps(c + 16, m1, v1);
  }
}

bool detect() {
  if (const char* env = std::getenv("SYMNET_CONV_GEMM"))
    if (std::strcmp(env, "blas") == 0) return false;
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

bool cpu_has_kernel() {
  static const bool ok = detect();
  return ok;
}

}  // namespace

void gemm(const float* Ap, int64_t M, int64_t N, int64_t K, const float* B, int64_t ldb, int64_t panel_stride,
          float* C, int64_t ldc, const float* bias, bool accumulate) {
  // Column panels outside: one panel of B (K x NR) stays in cache while every row tile of
  // the packed A streams past it.
  for (int64_t n0 = 0, j = 0; n0 < N; n0 += kNR, ++j) {
    const int nr = static_cast<int>(std::min<int64_t>(kNR, N - n0));
    const float* Bj = B + j * panel_stride;
    for (int64_t m0 = 0; m0 < M; m0 += kMR) {
      const int mr = static_cast<int>(std::min<int64_t>(kMR, M - m0));
      tile_avx512(K, Ap + m0 * K, Bj, ldb, C + m0 * ldc + n0, ldc, mr, nr, bias ? bias + m0 : nullptr, accumulate);
    }
  }
}

#else

namespace {
bool cpu_has_kernel() { return false; }
}  // namespace

void gemm(const float* Ap, int64_t M, int64_t N, int64_t K, const float* B, int64_t ldb, int64_t panel_stride,
          float* C, int64_t ldc, const float* bias, bool accumulate) {
  // Portable version (unused when available() is false; kept correct for completeness).
  for (int64_t m = 0; m < M; ++m) {
    const float* a = Ap + (m / kMR) * kMR * K + m % kMR;
    for (int64_t n = 0; n < N; ++n) {
      const float* b = B + (n / kNR) * panel_stride + n % kNR;
      float s = 0;
      for (int64_t k = 0; k < K; ++k) s += a[k * kMR] * b[k * ldb];
      float& c = C[m * ldc + n];
      c = accumulate ? c + s : s + (bias ? bias[m] : 0.f);
    }
  }
}

#endif

}  // namespace symnet::convgemm
