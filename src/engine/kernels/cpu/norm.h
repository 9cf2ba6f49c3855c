// CPU kernels for batch and layer normalization (ops/norm.cpp).
#pragma once
#include "engine/backend/kernel.h"

namespace symnet {

struct NormParams {
  double epsilon = 1e-5;
  double momentum = 0.9;  // batch_norm training: running = momentum * running + (1 - momentum) * batch
  bool training = false;  // batch_norm
};

// (x, scale, bias, mean, var) -> y (training = 0), or
// -> (y, batch_mean, batch_var, running_mean_new, running_var_new) (training = 1).
void batch_norm_kernel(KernelContext& k);
// (x, scale, batch_mean, batch_var, gy) -> (gx, gscale, gbias), closed form.
void batch_norm_grad_kernel(KernelContext& k);
// (x, scale[, bias]) -> (y, mean, inv_std) over the trailing dims from `axis`.
void layer_norm_kernel(KernelContext& k);
// (x, scale, mean, inv_std, gy) -> (gx, gscale, gbias).
void layer_norm_grad_kernel(KernelContext& k);

}  // namespace symnet
