#include "engine/kernels/cpu/philox_batch.h"

#include "engine/kernels/cpu/philox.h"

// Not with GCC on Windows (GCC bug 54412: aligned spills to a 16-byte-aligned stack), as
// for the SGEMM tiles.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !(defined(_WIN32) && !defined(__clang__))
#define SYMNET_PHILOX_AVX2 1
#include <immintrin.h>
#endif

namespace symnet {

namespace {

void draw_scalar(uint64_t key, uint64_t run, uint64_t first, int64_t count, uint32_t* out) {
  for (int64_t i = 0; i < count; ++i) {
    const philox::Block r = philox::draw(key, run, first + static_cast<uint64_t>(i));
    for (int j = 0; j < 4; ++j) out[4 * i + j] = r.v[j];
  }
}

#ifdef SYMNET_PHILOX_AVX2
#define SYMNET_TARGET_AVX2 __attribute__((target("avx2")))

// hi/lo halves of the 32x32-bit products m * x in each of eight lanes: vpmuludq multiplies
// the even lanes, so the odd ones are shifted down for a second product and the halves
// blended back into place.
SYMNET_TARGET_AVX2 inline void mulhilo8(__m256i m, __m256i x, __m256i& hi, __m256i& lo) {
  const __m256i even = _mm256_mul_epu32(m, x);
  const __m256i odd = _mm256_mul_epu32(m, _mm256_srli_epi64(x, 32));
  lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

// Eight consecutive blocks first..first+7 (the counter's low word may wrap into the high one).
SYMNET_TARGET_AVX2 void draw8(uint64_t key, uint64_t run, uint64_t first, uint32_t* out) {
  alignas(32) uint32_t lo_words[8], hi_words[8];
  for (int l = 0; l < 8; ++l) {
    const uint64_t b = first + static_cast<uint64_t>(l);
    lo_words[l] = static_cast<uint32_t>(b);
    hi_words[l] = static_cast<uint32_t>(b >> 32);
  }
  __m256i c0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(lo_words));
  __m256i c1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(hi_words));
  __m256i c2 = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(run)));
  __m256i c3 = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(run >> 32)));
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    __m256i hi0, lo0, hi1, lo1;
    mulhilo8(m0, c0, hi0, lo0);
    mulhilo8(m1, c2, hi1, lo1);
    const __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32(static_cast<int>(k0)));
    const __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32(static_cast<int>(k1)));
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  // lanes (blocks) x words -> block-major, a 4x8 transpose. Per 128-bit half:
  // unpack*_epi32 pairs words 0,1 (and 2,3) of two blocks, unpack*_epi64 then joins the
  // pairs into whole blocks, one per half: q0 = [b0 | b4], q1 = [b1 | b5], q2 = [b2 | b6],
  // q3 = [b3 | b7]; the half permutes put them in order.
  const __m256i w01_lo = _mm256_unpacklo_epi32(c0, c1), w01_hi = _mm256_unpackhi_epi32(c0, c1);
  const __m256i w23_lo = _mm256_unpacklo_epi32(c2, c3), w23_hi = _mm256_unpackhi_epi32(c2, c3);
  const __m256i q0 = _mm256_unpacklo_epi64(w01_lo, w23_lo), q1 = _mm256_unpackhi_epi64(w01_lo, w23_lo);
  const __m256i q2 = _mm256_unpacklo_epi64(w01_hi, w23_hi), q3 = _mm256_unpackhi_epi64(w01_hi, w23_hi);
  __m256i* o = reinterpret_cast<__m256i*>(out);
  _mm256_storeu_si256(o + 0, _mm256_permute2x128_si256(q0, q1, 0x20));  // b0 b1
  _mm256_storeu_si256(o + 1, _mm256_permute2x128_si256(q2, q3, 0x20));  // b2 b3
  _mm256_storeu_si256(o + 2, _mm256_permute2x128_si256(q0, q1, 0x31));  // b4 b5
  _mm256_storeu_si256(o + 3, _mm256_permute2x128_si256(q2, q3, 0x31));  // b6 b7
}

bool cpu_has_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}
#endif

}  // namespace

void philox_draw_blocks(uint64_t key, uint64_t run, uint64_t first, int64_t count, uint32_t* out) {
  int64_t i = 0;
#ifdef SYMNET_PHILOX_AVX2
  if (cpu_has_avx2()) {
    for (; i + 8 <= count; i += 8) draw8(key, run, first + static_cast<uint64_t>(i), out + 4 * i);
  }
#endif
  draw_scalar(key, run, first + static_cast<uint64_t>(i), count - i, out + 4 * i);
}

const char* philox_batch_impl() {
#ifdef SYMNET_PHILOX_AVX2
  if (cpu_has_avx2()) return "avx2";
#endif
  return "scalar";
}

}  // namespace symnet
