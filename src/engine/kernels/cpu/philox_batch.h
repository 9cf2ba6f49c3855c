// Philox blocks drawn many at a time. The random kernels (uniform, normal, Bernoulli,
// dropout) are limited by the generator: ten rounds of two 32x32->64-bit products per block
// of four values, about 5 ns per value one block at a time. The products vectorise (eight
// blocks per AVX2 instruction), so counters are processed in lanes and the values come out
// identical to philox::draw() for every block (tests/engine/test_philox_batch.cpp).
#pragma once
#include <algorithm>
#include <cstdint>

#include "engine/kernels/cpu/parallel.h"

namespace symnet {

// out[4 * i + j] = philox::draw(key, run, first + i).v[j] for 0 <= i < count.
void philox_draw_blocks(uint64_t key, uint64_t run, uint64_t first, int64_t count, uint32_t* out);

// Which generator philox_draw_blocks() runs: "avx2" or "scalar".
const char* philox_batch_impl();

// Calls f(first_block, count, bits) over blocks [0, n_blocks), in parallel chunks of at
// most kPhiloxChunk blocks, bits holding those blocks' 4 * count words.
constexpr int64_t kPhiloxChunk = 256;
template <typename F>
void for_each_philox_chunk(uint64_t key, uint64_t run, int64_t n_blocks, int64_t grain, F&& f) {
  parallel_for(n_blocks, grain, [&](int64_t b, int64_t e) {
    alignas(64) uint32_t bits[4 * kPhiloxChunk];
    for (int64_t c = b; c < e; c += kPhiloxChunk) {
      const int64_t m = std::min<int64_t>(kPhiloxChunk, e - c);
      philox_draw_blocks(key, run, static_cast<uint64_t>(c), m, bits);
      f(c, m, static_cast<const uint32_t*>(bits));
    }
  });
}

}  // namespace symnet
