// CPU convolution kernels (NCHW, 1 to 3 spatial dims, groups), written once for the
// three products of a convolution "frame":
//   forward       small = conv(big, w)        (conv; the adjoint of conv_transpose)
//   backward_data big   = conv^T(small, w)    (conv's input gradient; conv_transpose)
//   backward_wt   w     = corr(big, small)    (the weight gradient)
// "big" is the conv input side [N, Cb, big...], "small" the conv output side
// [N, Cs, small...], w is [Cs, Cb/G, k...]. Float32, where the CPU has AVX2 or AVX-512 and
// the own GEMM is on, runs on the packed SGEMM's tile kernels (conv_packed.h), except the
// products that measured faster on convgemm (conv_gemm.h; see packed_kernel() in conv.cpp);
// other dtypes and CPUs lower with im2col over blocks of output rows sized to stay in L2,
// then GEMM (kernels/cpu/blas.h); 1x1 stride-1 unpadded convolutions skip the column
// buffer. Every index is bounds-checked against the shapes, so any geometry that passed
// inference is safe.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/base/tensor.h"
#include "engine/math/conv_geometry.h"

namespace symnet {

enum class ConvProduct { forward, backward_data, backward_weight };

// The algorithm a product takes for this geometry and dtype on this CPU and GEMM backend,
// for profiles: "packed-1x1", "im2col-packed", "flipped-packed" (stride-1 input gradient as
// a forward convolution), "col2im-packed", "convgemm" (im2col + the small AVX-512 GEMM,
// batch-parallel) or "blas" (im2col + the GEMM of blas.h: the own packed SGEMM for float32,
// the system BLAS or Eigen otherwise). The packed paths are chosen from the geometry
// without its batch, so the name given at compile time is the path every run takes (a
// node planned for "convgemm" that runs inside a per-sample body takes convgemm too; one
// planned for "blas" on a batch smaller than the threads may take convgemm when nested).
const char* conv_algorithm(const ConvGeom& g, DType t, ConvProduct p);

// Scratch bytes each product needs (deterministic in the geometry, so the planner's
// request and the kernel agree whatever the thread count is at run time).
size_t conv_forward_workspace(const ConvGeom& g, DType t);
size_t conv_backward_data_workspace(const ConvGeom& g, DType t);
size_t conv_backward_weight_workspace(const ConvGeom& g, DType t);

// bias (may be null) has Cs entries for forward, Cb entries for backward_data.
void conv_forward_cpu(const ConvGeom& g, const TensorView& big, const TensorView& w, const TensorView* bias,
                      const TensorView& small, void* workspace);
void conv_backward_data_cpu(const ConvGeom& g, const TensorView& small, const TensorView& w, const TensorView* bias,
                            const TensorView& big, void* workspace);
void conv_backward_weight_cpu(const ConvGeom& g, const TensorView& big, const TensorView& small,
                              const TensorView& dw, void* workspace);

}  // namespace symnet
