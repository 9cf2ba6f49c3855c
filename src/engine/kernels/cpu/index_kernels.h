// CPU kernels for the index family (ops/index.cpp). Index values are validated serially
// before any parallel loop, so a bad index raises Error(index) instead of crashing.
#pragma once
#include <cstdint>

#include "engine/backend/kernel.h"

namespace symnet {

// The attributes of every index op, read once per node (unused fields keep defaults).
struct IndexParams {
  int64_t axis = 0;        // normalized to [0, rank) of the tensor the axis refers to
  int64_t index_base = 0;  // indices count from 0 or 1
  int reduction = 0;       // scatter_elements: 0 none, 1 add, 2 mul
  int64_t depth = 0;       // one_hot
  double on_value = 1, off_value = 0;
};

void gather_kernel(KernelContext& k);
void gather_grad_kernel(KernelContext& k);
void gather_elements_kernel(KernelContext& k);
void scatter_elements_kernel(KernelContext& k);
void one_hot_kernel(KernelContext& k);

}  // namespace symnet
