// Float32 convolution on the packed SGEMM's tile kernels (sgemm_microkernel.h: AVX-512
// 12x32 or AVX2 6x16), for every geometry the lowering handles (groups, stride, padding,
// dilation, 1-3 spatial dims). Internal to kernels/cpu: conv.cpp picks these paths.
//
//   forward          the weights packed once per call into the kernel's row panels; the
//                    input lowered straight into column panels (im2col into the packed
//                    layout, no second copy), one kc-deep slice at a time; the tile kernel
//                    writes the output in place. When a sample's output positions would
//                    leave column panels mostly empty (7x7, 4x4), a block spans samples
//                    and goes through a small buffer.
//   backward-data    W^T packed once per call, the output gradient packed per block of
//                    output rows, the product into a column block per input-channel range,
//                    then col2im. Stride 1 with input channels that fill the tiles' rows
//                    (or a 1x1 kernel): the forward engine on the output gradient with the
//                    weights flipped and transposed instead (no col2im).
//   backward-weight  a GEMM per block of output positions (several samples when a sample
//                    has few), over ranges of input channels; the reduction is cut into
//                    chunks fixed by the geometry and the batch, summed in chunk order, so
//                    the result has the same bits for any thread count.
//
// Threads: work items are (column block x row range) for the forward, (sample x channel
// range) for col2im, (reduction chunk x channel range x row range) for the weight gradient,
// so two threads share the work at batch 1 as well as at batch 64.
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine/kernels/cpu/sgemm_microkernel.h"
#include "engine/math/conv_geometry.h"

namespace symnet::convpacked {

// Backward-data runs as a forward convolution (stride 1, padding at most the dilated
// kernel's extent in every dim, and enough input channels to fill the tile's rows).
bool backward_data_as_forward(const SgemmMicroKernel& uk, const ConvGeom& g);

// Scratch bytes for each product with kernel uk (`slices` per-thread buffers).
size_t forward_workspace(const SgemmMicroKernel& uk, const ConvGeom& g, int slices);
size_t backward_data_workspace(const SgemmMicroKernel& uk, const ConvGeom& g, int slices);
size_t backward_weight_workspace(const SgemmMicroKernel& uk, const ConvGeom& g, int slices);

// Same contracts as conv_forward_cpu & co. (conv.h) on float32 data; `slices` is the
// per-thread buffer count the workspace was sized for (threads used: at most that).
void forward(const SgemmMicroKernel& uk, const ConvGeom& g, const float* x, const float* w, const float* bias,
             float* y, void* ws, int slices);
void backward_data(const SgemmMicroKernel& uk, const ConvGeom& g, const float* gy, const float* w,
                   const float* bias, float* dx, void* ws, int slices);
void backward_weight(const SgemmMicroKernel& uk, const ConvGeom& g, const float* x, const float* gy, float* dw,
                     void* ws, int slices);

}  // namespace symnet::convpacked
