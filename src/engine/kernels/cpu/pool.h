// CPU kernels for max/avg/global pooling (ops/pool.cpp). Their parameters are the
// PoolGeometry of the node (math/pool_geometry.h).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/backend/kernel.h"
#include "engine/math/pool_geometry.h"

namespace symnet {

void max_pool_kernel(KernelContext& k);         // (x) -> y; all but global pools take PoolGeometry
void max_pool_grad_kernel(KernelContext& k);    // (x, gy) -> gx: gy scattered to the argmax
void max_pool_gather_kernel(KernelContext& k);  // (x, g) -> g at each window's argmax
void avg_pool_kernel(KernelContext& k);         // (x) -> y
void avg_pool_grad_kernel(KernelContext& k);    // (gy, x_like) -> gx
void global_avg_pool_kernel(KernelContext& k);
void global_max_pool_kernel(KernelContext& k);

}  // namespace symnet
