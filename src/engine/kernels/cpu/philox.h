// Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers:
// as easy as 1, 2, 3", SC'11). Every value is a pure function of (key, counter), so any
// thread count, and a GPU kernel including this header, draw identical numbers.
#pragma once
#include <cmath>
#include <cstdint>

#include "engine/base/host_device.h"

#define SN_PHILOX_FN SN_HD inline

namespace symnet {
namespace philox {

struct Block {
  uint32_t v[4];
};

SN_PHILOX_FN void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

// Philox4x32 with 10 rounds on counter (c0..c3) and key (k0, k1).
SN_PHILOX_FN Block philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, c0, hi0, lo0);
    mulhilo(0xCD9E8D57u, c2, hi1, lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return Block{{c0, c1, c2, c3}};
}

// SplitMix64 finalizer: spreads seeds and name hashes over all key bits.
SN_PHILOX_FN uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Block `block` of stream `key` in run `run`: counter = (block, run), both 64-bit.
SN_PHILOX_FN Block draw(uint64_t key, uint64_t run, uint64_t block) {
  return philox4x32_10(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                       static_cast<uint32_t>(run), static_cast<uint32_t>(run >> 32),
                       static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32));
}

// [0, 1) with 24 random bits (every value exactly representable as float).
SN_PHILOX_FN float u01_f32(uint32_t x) { return static_cast<float>(x >> 8) * (1.0f / 16777216.0f); }
// [0, 1) with 53 random bits.
SN_PHILOX_FN double u01_f64(uint32_t a, uint32_t b) {
  uint64_t x = ((static_cast<uint64_t>(a) << 32) | b) >> 11;
  return static_cast<double>(x) * (1.0 / 9007199254740992.0);
}
// (0, 1] with 32 bits: safe for log().
SN_PHILOX_FN double u01_open_32(uint32_t x) { return (static_cast<double>(x) + 1.0) * (1.0 / 4294967296.0); }
// (0, 1] with 53 bits.
SN_PHILOX_FN double u01_open_53(uint32_t a, uint32_t b) {
  uint64_t x = ((static_cast<uint64_t>(a) << 32) | b) >> 11;
  return (static_cast<double>(x) + 1.0) * (1.0 / 9007199254740992.0);
}

// Box-Muller: two independent standard normals from u1 in (0, 1] and u2 in [0, 1).
SN_PHILOX_FN void box_muller(double u1, double u2, double& z0, double& z1) {
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double t = 6.283185307179586476925286766559 * u2;
  z0 = r * std::cos(t);
  z1 = r * std::sin(t);
}

// Single-precision Box-Muller from two raw words: float math is several times cheaper,
// and u1 keeps 32 bits of relative precision near 0, so tails reach about 6.7 sd.
SN_PHILOX_FN void box_muller_f32(uint32_t a, uint32_t b, float& z0, float& z1) {
  const float u1 = static_cast<float>(u01_open_32(a));
  const float r = std::sqrt(-2.0f * std::log(u1));
  const float t = 6.28318530718f * u01_f32(b);
  z0 = r * std::cos(t);
  z1 = r * std::sin(t);
}

}  // namespace philox
}  // namespace symnet
