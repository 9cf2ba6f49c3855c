// CPU kernels for local response normalization across channels (ONNX LRN, ops/pool.cpp).
#pragma once
#include <cstdint>

#include "engine/backend/kernel.h"

namespace symnet {

// Channel window of output c: [c - (size-1)/2, c + ceil((size-1)/2)], clipped to [0, C).
// `reverse` swaps the two half-widths (the adjoint window, used by the gradient).
struct LrnWindow {
  int64_t lo, hi;
};
LrnWindow lrn_window(int64_t size, bool reverse);

struct LrnParams {
  int64_t size = 1;
  double alpha = 1e-4, beta = 0.75, bias = 1.0;
  bool reverse = false;  // lrn_window_sum: the adjoint window
};

void lrn_kernel(KernelContext& k);             // y = x / (bias + alpha/size * sum x^2)^beta
void lrn_window_sum_kernel(KernelContext& k);  // y[c] = sum of x over the window of c

}  // namespace symnet
