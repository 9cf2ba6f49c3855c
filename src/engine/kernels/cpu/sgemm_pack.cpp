#include "engine/kernels/cpu/sgemm_pack.h"

#include <algorithm>
#include <cstring>

// As in the tile kernels: no vector code under GCC on Windows (GCC bug 54412).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !(defined(_WIN32) && !defined(__clang__))
#define SYMNET_PACK_AVX2 1
#include <immintrin.h>
#endif

namespace symnet {

namespace {

// Rows stored contiguously become columns of the panel: dst[k * stride + r] = src_r[k] for
// r < rows (zeros for rows <= r < width), k < kc. Element by element.
void transpose_rows_scalar(const float* src, int64_t ld, int rows, int width, int64_t k_begin, int64_t kc,
                           float* dst, int stride) {
  for (int64_t k = k_begin; k < kc; ++k) {
    float* d = dst + k * stride;
    int r = 0;
    for (; r < rows; ++r) d[r] = src[r * ld + k];
    for (; r < width; ++r) d[r] = 0.0f;
  }
}

#ifdef SYMNET_PACK_AVX2
#define SYMNET_TARGET_AVX2 __attribute__((target("avx2")))

// The same for up to 8 rows, 8 values of k at a time through an 8 x 8 register transpose.
// Returns how far in k it got (a multiple of 8); the caller finishes the rest.
SYMNET_TARGET_AVX2 int64_t transpose_rows_avx2(const float* src, int64_t ld, int rows, int width, int64_t kc,
                                               float* dst, int stride) {
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    __m256 r[8];
    for (int i = 0; i < 8; ++i) r[i] = i < rows ? _mm256_loadu_ps(src + i * ld + k) : _mm256_setzero_ps();
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    // Column j of the block: the value at k + j of each of the 8 rows.
    const __m256 col[8] = {_mm256_permute2f128_ps(s0, s4, 0x20), _mm256_permute2f128_ps(s1, s5, 0x20),
                           _mm256_permute2f128_ps(s2, s6, 0x20), _mm256_permute2f128_ps(s3, s7, 0x20),
                           _mm256_permute2f128_ps(s0, s4, 0x31), _mm256_permute2f128_ps(s1, s5, 0x31),
                           _mm256_permute2f128_ps(s2, s6, 0x31), _mm256_permute2f128_ps(s3, s7, 0x31)};
    if (width == 8) {
      for (int j = 0; j < 8; ++j) _mm256_storeu_ps(dst + (k + j) * stride, col[j]);
    } else {
      alignas(32) float tmp[8];
      for (int j = 0; j < 8; ++j) {
        _mm256_store_ps(tmp, col[j]);
        std::memcpy(dst + (k + j) * stride, tmp, sizeof(float) * static_cast<size_t>(width));
      }
    }
  }
  return k;
}

bool cpu_has_avx2() {
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return ok;
}
#endif

// Panel rows/columns [0, width) from `rows` stored rows (zeros past them), in groups of 8.
void transpose_into_panel(const float* src, int64_t ld, int rows, int width, int64_t kc, float* dst, int stride) {
  for (int g = 0; g < width; g += 8) {
    const int w = std::min(8, width - g);
    const int r = std::max(0, std::min(w, rows - g));
    const float* s = src + g * ld;
    int64_t done = 0;
#ifdef SYMNET_PACK_AVX2
    if (cpu_has_avx2()) done = transpose_rows_avx2(s, ld, r, w, kc, dst + g, stride);
#endif
    transpose_rows_scalar(s, ld, r, w, done, kc, dst + g, stride);
  }
}

// dst[k * width + c] = src[k * ld + c] for c < cols, zeros for cols <= c < width.
void copy_into_panel(const float* src, int64_t ld, int cols, int width, int64_t kc, float* dst) {
  for (int64_t k = 0; k < kc; ++k) {
    float* d = dst + k * width;
    std::memcpy(d, src + k * ld, sizeof(float) * static_cast<size_t>(cols));
    if (cols < width) std::memset(d + cols, 0, sizeof(float) * static_cast<size_t>(width - cols));
  }
}

}  // namespace

void sgemm_pack_a(bool ta, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr,
                  float* out) {
  for (int64_t ip = 0; ip < mc; ip += mr) {
    const int rows = static_cast<int>(std::min<int64_t>(mr, mc - ip));
    float* panel = out + ip * kc;
    if (ta)  // A stored [K, M]: each k is a contiguous run of rows of op(A)
      copy_into_panel(A + p0 * lda + i0 + ip, lda, rows, mr, kc, panel);
    else
      transpose_into_panel(A + (i0 + ip) * lda + p0, lda, rows, mr, kc, panel, mr);
  }
}

void sgemm_pack_b(bool tb, const float* B, int64_t ldb, int64_t j0, int64_t nc, int64_t p0, int64_t kc, int nr,
                  float* out) {
  for (int64_t jp = 0; jp < nc; jp += nr) {
    const int cols = static_cast<int>(std::min<int64_t>(nr, nc - jp));
    float* panel = out + jp * kc;
    if (!tb)  // B stored [K, N]: each k is a contiguous run of columns
      copy_into_panel(B + p0 * ldb + j0 + jp, ldb, cols, nr, kc, panel);
    else
      transpose_into_panel(B + (j0 + jp) * ldb + p0, ldb, cols, nr, kc, panel, nr);
  }
}

}  // namespace symnet
