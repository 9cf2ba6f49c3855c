// SIMD rows of 2x2 / stride 2 float32 max pooling (LeNet's pooling), used by pool.cpp.
// AVX2 when the CPU has it (chosen at run time, so the package still builds with plain
// -O2), else SSE2, else scalar; all give the same results: the first maximum in window
// order (0,0), (0,1), (1,0), (1,1) wins, and NaN propagates with PyTorch's rule (a NaN
// replaces the running maximum, so the last NaN of a window is its argmax).
#pragma once
#include <cstdint>

namespace symnet {

// y[j] = max of the window over columns 2j, 2j+1 of input rows r0, r1, for j < ow.
void max2x2_row_forward(const float* r0, const float* r1, float* y, int64_t ow);
// q0/q1 (the two input-gradient rows, columns [0, 2 ow)) get gy[j] at each window's argmax
// and 0 elsewhere.
void max2x2_row_backward(const float* r0, const float* r1, const float* gy, float* q0, float* q1, int64_t ow);

}  // namespace symnet
