// The key of a random node's Philox stream, header-only so that every backend (the CUDA
// library too, which links no CPU kernel) derives the very same key and so draws the same
// numbers as the CPU for the same seed, run and loop stream.
#pragma once
#include <cstdint>
#include <string>

#include "engine/backend/kernel.h"
#include "engine/kernels/cpu/philox.h"

namespace symnet {

// What keys a random node's Philox stream: its `seed` attribute when present, else the
// executable's seed mixed with a hash of the node name (names, unlike ids, survive
// recompiles); inside a loop body, mixed with the iteration's stream (RunContext::stream).
struct RandomKey {
  bool has_seed = false;
  int64_t seed = 0;
  uint64_t name_hash = 0;
};

inline RandomKey make_random_key(bool has_seed, int64_t seed, const std::string& node_name) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : node_name) h = (h ^ c) * 1099511628211ull;
  return RandomKey{has_seed, seed, h};
}

inline uint64_t random_key(const RandomKey& key, const RunContext* run) {
  // An explicit seed alone fixes the stream, so it reproduces across sessions even where
  // node names are generated; otherwise the executable's seed is told apart per node by name.
  // Inside a loop body the iteration's stream is mixed in too (backend/kernel.h), seed or not.
  const uint64_t stream = run ? run->stream : 0;
  uint64_t k;
  if (key.has_seed) {
    k = philox::mix64(philox::mix64(static_cast<uint64_t>(key.seed)));
  } else {
    const uint64_t seed = run ? run->seed : 0;
    k = philox::mix64(philox::mix64(seed) ^ key.name_hash);
  }
  return stream == 0 ? k : philox::mix64(k ^ stream);
}

}  // namespace symnet
