// Vector code for 2x2/2 max pooling. Rows are deinterleaved into the four window positions
// v0..v3 (one window per lane). Groups that contain a NaN take the scalar path, so the
// vector path can use plain max/compare: m = max(max(v1, v0), max(v3, v2)) keeps the
// earlier operand on ties (MAXPS returns its second operand unless the first is greater)
// and the argmax is the first position equal to m, exactly the scalar rule.
#include "engine/kernels/cpu/pool_simd.h"

#include <cmath>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
// Not with GCC on Windows: it may spill __m256 values with aligned stores to a stack that the
// Windows x64 ABI aligns to 16 bytes only (GCC bug 54412), a crash; SSE2 serves there.
#if defined(__GNUC__) && defined(__x86_64__) && !(defined(_WIN32) && !defined(__clang__))
#include <immintrin.h>
#define SN_POOL_AVX2 1
#endif

namespace symnet {

namespace {

inline int argmax2x2(const float* r0, const float* r1, int64_t j) {
  const float v[4] = {r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]};
  int best = 0;
  for (int k = 1; k < 4; ++k)
    if (v[k] > v[best] || std::isnan(v[k])) best = k;
  return best;
}

void scalar_forward(const float* r0, const float* r1, float* y, int64_t j0, int64_t j1) {
  for (int64_t j = j0; j < j1; ++j) {
    const int b = argmax2x2(r0, r1, j);
    y[j] = (b < 2 ? r0 : r1)[2 * j + (b & 1)];
  }
}

void scalar_backward(const float* r0, const float* r1, const float* gy, float* q0, float* q1, int64_t j0,
                     int64_t j1) {
  for (int64_t j = j0; j < j1; ++j) {
    const int b = argmax2x2(r0, r1, j);
    const float g = gy[j];
    q0[2 * j] = b == 0 ? g : 0.0f;
    q0[2 * j + 1] = b == 1 ? g : 0.0f;
    q1[2 * j] = b == 2 ? g : 0.0f;
    q1[2 * j + 1] = b == 3 ? g : 0.0f;
  }
}

#if defined(__SSE2__)
struct Win4 {
  __m128 v[4];
  Win4(const float* r0, const float* r1) {
    const __m128 a0 = _mm_loadu_ps(r0), a1 = _mm_loadu_ps(r0 + 4);
    const __m128 b0 = _mm_loadu_ps(r1), b1 = _mm_loadu_ps(r1 + 4);
    v[0] = _mm_shuffle_ps(a0, a1, _MM_SHUFFLE(2, 0, 2, 0));
    v[1] = _mm_shuffle_ps(a0, a1, _MM_SHUFFLE(3, 1, 3, 1));
    v[2] = _mm_shuffle_ps(b0, b1, _MM_SHUFFLE(2, 0, 2, 0));
    v[3] = _mm_shuffle_ps(b0, b1, _MM_SHUFFLE(3, 1, 3, 1));
  }
  bool has_nan() const {
    return _mm_movemask_ps(_mm_or_ps(_mm_cmpunord_ps(v[0], v[1]), _mm_cmpunord_ps(v[2], v[3]))) != 0;
  }
  __m128 max() const { return _mm_max_ps(_mm_max_ps(v[3], v[2]), _mm_max_ps(v[1], v[0])); }
};

void sse_forward(const float* r0, const float* r1, float* y, int64_t j, int64_t ow) {
  for (; j + 4 <= ow; j += 4) {
    Win4 w(r0 + 2 * j, r1 + 2 * j);
    if (w.has_nan()) scalar_forward(r0, r1, y, j, j + 4);
    else _mm_storeu_ps(y + j, w.max());
  }
  scalar_forward(r0, r1, y, j, ow);
}

void sse_backward(const float* r0, const float* r1, const float* gy, float* q0, float* q1, int64_t j, int64_t ow) {
  for (; j + 4 <= ow; j += 4) {
    Win4 w(r0 + 2 * j, r1 + 2 * j);
    if (w.has_nan()) {
      scalar_backward(r0, r1, gy, q0, q1, j, j + 4);
      continue;
    }
    const __m128 m = w.max(), g = _mm_loadu_ps(gy + j);
    const __m128 e0 = _mm_cmpeq_ps(w.v[0], m);
    const __m128 e1 = _mm_andnot_ps(e0, _mm_cmpeq_ps(w.v[1], m));
    const __m128 t = _mm_or_ps(e0, e1);
    const __m128 e2 = _mm_andnot_ps(t, _mm_cmpeq_ps(w.v[2], m));
    const __m128 e3 = _mm_andnot_ps(_mm_or_ps(t, e2), _mm_cmpeq_ps(w.v[3], m));
    const __m128 o0 = _mm_and_ps(e0, g), o1 = _mm_and_ps(e1, g), o2 = _mm_and_ps(e2, g), o3 = _mm_and_ps(e3, g);
    _mm_storeu_ps(q0 + 2 * j, _mm_unpacklo_ps(o0, o1));
    _mm_storeu_ps(q0 + 2 * j + 4, _mm_unpackhi_ps(o0, o1));
    _mm_storeu_ps(q1 + 2 * j, _mm_unpacklo_ps(o2, o3));
    _mm_storeu_ps(q1 + 2 * j + 4, _mm_unpackhi_ps(o2, o3));
  }
  scalar_backward(r0, r1, gy, q0, q1, j, ow);
}
#else
void sse_forward(const float* r0, const float* r1, float* y, int64_t j, int64_t ow) {
  scalar_forward(r0, r1, y, j, ow);
}
void sse_backward(const float* r0, const float* r1, const float* gy, float* q0, float* q1, int64_t j, int64_t ow) {
  scalar_backward(r0, r1, gy, q0, q1, j, ow);
}
#endif

#if defined(SN_POOL_AVX2)
// 8 windows per step. shuffle_ps works within 128-bit lanes, so the lanes hold windows
// [0 1 4 5 | 2 3 6 7]; one 64-bit permute (0, 2, 1, 3) maps between that order and
// memory order, and unpacklo/unpackhi of two position vectors give memory order directly.
#define SN_AVX2 __attribute__((target("avx2")))

struct Win8 {
  __m256 v[4];
  SN_AVX2 Win8(const float* r0, const float* r1) {
    const __m256 a0 = _mm256_loadu_ps(r0), a1 = _mm256_loadu_ps(r0 + 8);
    const __m256 b0 = _mm256_loadu_ps(r1), b1 = _mm256_loadu_ps(r1 + 8);
    v[0] = _mm256_shuffle_ps(a0, a1, _MM_SHUFFLE(2, 0, 2, 0));
    v[1] = _mm256_shuffle_ps(a0, a1, _MM_SHUFFLE(3, 1, 3, 1));
    v[2] = _mm256_shuffle_ps(b0, b1, _MM_SHUFFLE(2, 0, 2, 0));
    v[3] = _mm256_shuffle_ps(b0, b1, _MM_SHUFFLE(3, 1, 3, 1));
  }
  SN_AVX2 bool has_nan() const {
    return _mm256_movemask_ps(_mm256_or_ps(_mm256_cmp_ps(v[0], v[1], _CMP_UNORD_Q),
                                           _mm256_cmp_ps(v[2], v[3], _CMP_UNORD_Q))) != 0;
  }
  SN_AVX2 __m256 max() const {
    return _mm256_max_ps(_mm256_max_ps(v[3], v[2]), _mm256_max_ps(v[1], v[0]));
  }
};

SN_AVX2 inline __m256 swap_mid(__m256 x) {
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(x), _MM_SHUFFLE(3, 1, 2, 0)));
}

SN_AVX2 void avx2_forward(const float* r0, const float* r1, float* y, int64_t ow) {
  int64_t j = 0;
  for (; j + 8 <= ow; j += 8) {
    Win8 w(r0 + 2 * j, r1 + 2 * j);
    if (w.has_nan()) scalar_forward(r0, r1, y, j, j + 8);
    else _mm256_storeu_ps(y + j, swap_mid(w.max()));
  }
  sse_forward(r0, r1, y, j, ow);
}

SN_AVX2 void avx2_backward(const float* r0, const float* r1, const float* gy, float* q0, float* q1, int64_t ow) {
  int64_t j = 0;
  for (; j + 8 <= ow; j += 8) {
    Win8 w(r0 + 2 * j, r1 + 2 * j);
    if (w.has_nan()) {
      scalar_backward(r0, r1, gy, q0, q1, j, j + 8);
      continue;
    }
    const __m256 m = w.max(), g = swap_mid(_mm256_loadu_ps(gy + j));
    const __m256 e0 = _mm256_cmp_ps(w.v[0], m, _CMP_EQ_OQ);
    const __m256 e1 = _mm256_andnot_ps(e0, _mm256_cmp_ps(w.v[1], m, _CMP_EQ_OQ));
    const __m256 t = _mm256_or_ps(e0, e1);
    const __m256 e2 = _mm256_andnot_ps(t, _mm256_cmp_ps(w.v[2], m, _CMP_EQ_OQ));
    const __m256 e3 = _mm256_andnot_ps(_mm256_or_ps(t, e2), _mm256_cmp_ps(w.v[3], m, _CMP_EQ_OQ));
    const __m256 o0 = _mm256_and_ps(e0, g), o1 = _mm256_and_ps(e1, g), o2 = _mm256_and_ps(e2, g),
                 o3 = _mm256_and_ps(e3, g);
    _mm256_storeu_ps(q0 + 2 * j, _mm256_unpacklo_ps(o0, o1));
    _mm256_storeu_ps(q0 + 2 * j + 8, _mm256_unpackhi_ps(o0, o1));
    _mm256_storeu_ps(q1 + 2 * j, _mm256_unpacklo_ps(o2, o3));
    _mm256_storeu_ps(q1 + 2 * j + 8, _mm256_unpackhi_ps(o2, o3));
  }
  sse_backward(r0, r1, gy, q0, q1, j, ow);
}

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}
#endif

using ForwardFn = void (*)(const float*, const float*, float*, int64_t);
using BackwardFn = void (*)(const float*, const float*, const float*, float*, float*, int64_t);

void base_forward(const float* r0, const float* r1, float* y, int64_t ow) { sse_forward(r0, r1, y, 0, ow); }
void base_backward(const float* r0, const float* r1, const float* gy, float* q0, float* q1, int64_t ow) {
  sse_backward(r0, r1, gy, q0, q1, 0, ow);
}

}  // namespace

void max2x2_row_forward(const float* r0, const float* r1, float* y, int64_t ow) {
#if defined(SN_POOL_AVX2)
  static const ForwardFn f = cpu_has_avx2() ? avx2_forward : base_forward;
#else
  static const ForwardFn f = base_forward;
#endif
  f(r0, r1, y, ow);
}

void max2x2_row_backward(const float* r0, const float* r1, const float* gy, float* q0, float* q1, int64_t ow) {
#if defined(SN_POOL_AVX2)
  static const BackwardFn f = cpu_has_avx2() ? avx2_backward : base_backward;
#else
  static const BackwardFn f = base_backward;
#endif
  f(r0, r1, gy, q0, q1, ow);
}

}  // namespace symnet
