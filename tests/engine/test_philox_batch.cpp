// The batched Philox generator must give exactly philox::draw()'s words for every block:
// the random ops' values may not depend on which generator, or which chunking, made them.
#include <cstdint>
#include <vector>

#include "engine/kernels/cpu/philox.h"
#include "engine/kernels/cpu/philox_batch.h"
#include "harness.h"

using namespace symnet;

namespace {

void check_range(uint64_t key, uint64_t run, uint64_t first, int64_t count) {
  std::vector<uint32_t> got(static_cast<size_t>(4 * count + 4), 0xDEADBEEFu);
  philox_draw_blocks(key, run, first, count, got.data());
  for (int64_t i = 0; i < count; ++i) {
    const philox::Block want = philox::draw(key, run, first + static_cast<uint64_t>(i));
    for (int j = 0; j < 4; ++j) {
      INFO("key " << key << " run " << run << " block " << first + i << " word " << j << " of " << count);
      REQUIRE(got[static_cast<size_t>(4 * i + j)] == want.v[j]);
    }
  }
  // nothing written past the last block
  for (int j = 0; j < 4; ++j) REQUIRE(got[static_cast<size_t>(4 * count + j)] == 0xDEADBEEFu);
}

}  // namespace

TEST_CASE("batched Philox blocks equal philox::draw for every block", "[random]") {
  INFO("generator " << philox_batch_impl());
  const uint64_t keys[] = {0, 1, 0x0123456789ABCDEFull, ~0ull};
  const uint64_t runs[] = {0, 7, 0xFFFFFFFF00000001ull};
  for (uint64_t key : keys)
    for (uint64_t run : runs)
      for (int64_t count : {0, 1, 7, 8, 9, 16, 37, 256}) check_range(key, run, 5, count);
  // the counter's low word wrapping into the high word inside one vector of lanes
  check_range(42, 3, 0xFFFFFFFDull, 20);
  check_range(42, 3, ~0ull - 9, 9);
}

TEST_CASE("chunked Philox covers every block once, in order", "[random]") {
  const int64_t n = 3 * kPhiloxChunk + 5;
  std::vector<uint32_t> seen(static_cast<size_t>(4 * n), 0);
  std::vector<int> hits(static_cast<size_t>(n), 0);
  for_each_philox_chunk(9, 2, n, 64, [&](int64_t first, int64_t count, const uint32_t* bits) {
    for (int64_t i = 0; i < count; ++i) {
      hits[static_cast<size_t>(first + i)] += 1;
      for (int j = 0; j < 4; ++j) seen[static_cast<size_t>(4 * (first + i) + j)] = bits[4 * i + j];
    }
  });
  for (int64_t b = 0; b < n; ++b) {
    REQUIRE(hits[static_cast<size_t>(b)] == 1);
    const philox::Block want = philox::draw(9, 2, static_cast<uint64_t>(b));
    for (int j = 0; j < 4; ++j) REQUIRE(seen[static_cast<size_t>(4 * b + j)] == want.v[j]);
  }
}
