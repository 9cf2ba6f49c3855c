// CPU matrix products: blas.h GEMM (system BLAS or Eigen) for floats, Eigen for integers;
// row-major over engine memory, no copies.
#pragma once
#include "engine/base/tensor.h"

namespace symnet {

// NumPy matmul: 1-D operands are promoted (a: [k] -> [1, k], b: [k] -> [k, 1]) and the
// promoted dims dropped from y; leading dims broadcast. Shapes must already be validated.
void matmul_cpu(const TensorView& a, const TensorView& b, const TensorView& y);

// ONNX Gemm: y[M, N] = alpha * op(a) * op(b) + beta * c, op = transpose when the flag is
// set; c (may be null) broadcasts to [M, N].
void gemm_cpu(const TensorView& a, const TensorView& b, const TensorView* c, const TensorView& y,
              double alpha, double beta, bool trans_a, bool trans_b);

}  // namespace symnet
