// CPU kernels for generators (fill, eye, range) and Philox-based random ops (ops/random.cpp).
#pragma once
#include <cstdint>

#include "engine/ops/registry.h"

namespace symnet {

// Philox key of a random node: the `seed` attribute when present, else the executable's
// seed, mixed with a hash of the node name (names, unlike ids, survive recompiles).
uint64_t random_key(const Node& node, const RunContext* run);

void fill_kernel(KernelContext& k);
void eye_kernel(KernelContext& k);
void range_kernel(KernelContext& k);
void random_uniform_kernel(KernelContext& k);    // also random_uniform_like
void random_normal_kernel(KernelContext& k);     // also random_normal_like
void random_bernoulli_kernel(KernelContext& k);

}  // namespace symnet
