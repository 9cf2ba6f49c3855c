// CPU kernels of the elementwise op family (unary/binary math, comparisons, logic,
// where, cast, identity), looked up by op name when the CPU backend builds its table.
#pragma once
#include <cmath>
#include <string>

#include "engine/backend/kernel.h"

namespace symnet {

// Attributes of the elementwise ops that have any, read once per node by the backend's
// prepare(); the defaults are the functors' (elementwise_functors.h).
struct ElementwiseParams {
  double alpha = 0, beta = 0, gamma = 0;  // hard_sigmoid, leaky_relu, elu, selu, celu
  double lo = -INFINITY, hi = INFINITY;   // clip
  bool tanh_approx = false;               // gelu(approximate = "tanh")
  bool fmod = false;                      // mod with C's fmod (sign of the dividend)
};

// The CPU kernel of elementwise op `op`, or nullptr when there is none.
KernelFn cpu_elementwise_kernel(const std::string& op);

}  // namespace symnet
