// Bounding a tensor in place: the activation of a fused convolution (conv_clip) until the
// convolution kernels apply it in their output pass.
#pragma once
#include "engine/base/tensor.h"

namespace symnet {

// y = min(max(y, lo), hi) over every element of a float32 or float64 tensor (lo may be
// -Inf, hi Inf); threads over large tensors.
void clamp_inplace_cpu(const TensorView& y, double lo, double hi);

}  // namespace symnet
