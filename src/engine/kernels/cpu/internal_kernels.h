// CPU kernels of the internal ops gradient rules use: sum_to, broadcast_like,
// reshape_like (a copy, or nothing when in place) and fill_like.
#pragma once
#include "engine/backend/kernel.h"

namespace symnet {

struct FillParams {
  double value = 0;
};

void sum_to_kernel(KernelContext& k);
void broadcast_like_kernel(KernelContext& k);
void copy_like_kernel(KernelContext& k);
void fill_like_kernel(KernelContext& k);  // FillParams

}  // namespace symnet
