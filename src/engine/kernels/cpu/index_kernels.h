// CPU kernels for the index family (ops/index.cpp). Index values are validated serially
// before any parallel loop, so a bad index raises Error(value) instead of crashing.
#pragma once
#include "engine/ops/registry.h"

namespace symnet {

void gather_kernel(KernelContext& k);
void gather_grad_kernel(KernelContext& k);
void gather_elements_kernel(KernelContext& k);
void scatter_elements_kernel(KernelContext& k);
void one_hot_kernel(KernelContext& k);

}  // namespace symnet
