// CPU kernels for generators (fill, eye, range) and Philox-based random ops (ops/random.cpp).
#pragma once
#include <cstdint>
#include <string>

#include "engine/backend/kernel.h"
#include "engine/kernels/cpu/random_key.h"

namespace symnet {

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
