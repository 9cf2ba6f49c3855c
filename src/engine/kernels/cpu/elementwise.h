// CPU kernels of the elementwise op family (unary/binary math, comparisons, logic,
// where, cast, identity), looked up by op name when ops/elementwise.cpp registers them.
#pragma once
#include <string>

#include "engine/ops/registry.h"

namespace symnet {

// The CPU kernel of elementwise op `op`, or nullptr when there is none.
KernelFn cpu_elementwise_kernel(const std::string& op);

}  // namespace symnet
