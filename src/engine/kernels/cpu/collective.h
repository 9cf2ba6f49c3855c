// CPU kernels of the collective ops (ops/collective.cpp) on the calling thread's
// communicator (dist/communicator.h).
#pragma once
#include <cstdint>

#include "engine/backend/kernel.h"

namespace symnet {

enum class CollectiveReduction { sum, mean, max, min };

struct CollectiveParams {
  CollectiveReduction reduction = CollectiveReduction::sum;
  int root = 0;
  int64_t world_size = 1;
};

void allreduce_kernel(KernelContext& k);
void broadcast_kernel(KernelContext& k);
void allgather_kernel(KernelContext& k);
void reduce_scatter_kernel(KernelContext& k);  // workspace: the input's bytes
void comm_rank_kernel(KernelContext& k);

}  // namespace symnet
