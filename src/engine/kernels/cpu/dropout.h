// CPU kernel for inverted dropout (ops/norm.cpp).
#pragma once
#include "engine/backend/kernel.h"
#include "engine/kernels/cpu/random_kernels.h"

namespace symnet {

// x -> (y, mask[bool]). Element i is kept when its Philox draw (key from the node name and
// seed, counter (i / 4, run index), lane i % 4) is at least ratio * 2^32, so the mask is
// the same for any thread count and changes every run.
struct DropoutParams {
  double ratio = 0.5;
  bool training = false;
  RandomKey key;
};
void dropout_kernel(KernelContext& k);

}  // namespace symnet
