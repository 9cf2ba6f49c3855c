// Direct float32 kernels for depthwise convolution frames (groups == big-side channels, one
// or more filters per group: MobileNet's 3x3 layers), for the three products of a frame
// (see conv.h). The im2col + GEMM lowering turns these into one tiny GEMM per channel;
// here each (sample, channel) plane is copied once into a zero-padded buffer split by
// column phase (column q of the padded row goes to phase q % stride, slot q / stride), so
// every tap of every stride reads a contiguous run, and the loops along the output width
// are vectorized (AVX-512 or AVX2+FMA chosen at run time, scalar otherwise).
//   forward: each output row sums its taps in vector registers and is written once;
//   backward_data: the same row loop as a correlation over zero-bordered copies of the
//   output-gradient planes (at strides > 1 per class of row residue and column phase,
//   then merged back), so nothing is scattered;
//   both parallel over (sample, channel) planes;
//   backward_weight: parallel over channels, each summing its samples in order, so the
//   result is the same bits for any thread count.
// Two spatial dimensions (or one); a 3-d frame with depth takes the generic path.
#pragma once
#include <cstddef>

#include "engine/base/tensor.h"
#include "engine/math/conv_geometry.h"

namespace symnet {

// Whether the direct kernels handle this frame in dtype t.
bool conv_depthwise_applies(const ConvGeom& g, DType t);

// Scratch bytes of the three products (one padded plane per thread, sized from the
// processor count so the planner's request holds whatever the thread setting).
size_t conv_depthwise_workspace(const ConvGeom& g);

void conv_depthwise_forward(const ConvGeom& g, const TensorView& big, const TensorView& w, const TensorView* bias,
                            const TensorView& small, void* workspace);
void conv_depthwise_backward_data(const ConvGeom& g, const TensorView& small, const TensorView& w,
                                  const TensorView* bias, const TensorView& big, void* workspace);
void conv_depthwise_backward_weight(const ConvGeom& g, const TensorView& big, const TensorView& small,
                                    const TensorView& dw, void* workspace);

// The instruction set the row loops use: "avx512", "avx2" or "scalar". Tests force a lower
// one to check each path (an unavailable or unknown name is refused with a value error);
// an empty name restores the automatic choice.
const char* conv_depthwise_isa();
void conv_depthwise_force_isa(const char* name);

}  // namespace symnet
