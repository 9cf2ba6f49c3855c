// CPU kernels for generators (fill, eye, range) and Philox-based random ops (ops/random.cpp).
#pragma once
#include <cstdint>
#include <string>

#include "engine/backend/kernel.h"

namespace symnet {

// What keys a random node's Philox stream: its `seed` attribute when present, else the
// executable's seed mixed with a hash of the node name (names, unlike ids, survive
// recompiles); inside a loop body, mixed with the iteration's stream (RunContext::stream).
struct RandomKey {
  bool has_seed = false;
  int64_t seed = 0;
  uint64_t name_hash = 0;
};
RandomKey make_random_key(bool has_seed, int64_t seed, const std::string& node_name);
uint64_t random_key(const RandomKey& key, const RunContext* run);

// Attributes of the generator and random ops (unused fields keep defaults):
// fill: a = value; eye: k; range: a = start, b = delta; uniform: a = low, b = high;
// normal: a = mean, b = std.
struct RandomParams {
  RandomKey key;
  double a = 0, b = 1;
  int64_t k = 0;
};

void fill_kernel(KernelContext& k);
void eye_kernel(KernelContext& k);
void range_kernel(KernelContext& k);
void random_uniform_kernel(KernelContext& k);    // also random_uniform_like
void random_normal_kernel(KernelContext& k);     // also random_normal_like
void random_bernoulli_kernel(KernelContext& k);

}  // namespace symnet
