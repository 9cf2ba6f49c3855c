// CPU kernel table of convolution: the frame's geometry is computed once, at compile time;
// only the batch size is taken from the tensors, since per-sample execution runs a node
// on a few of its samples at a time.
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/conv.h"
#include "engine/kernels/cpu/conv_depthwise.h"
#include "engine/ops/conv_geometry.h"

namespace symnet {

namespace {

const Shape& in_shape(const Node& n, size_t i) { return n.inputs.at(i).shape(); }

ConvGeom with_batch(const KernelContext& k, const TensorView& big) {
  ConvGeom g = k.param<ConvGeom>();
  g.N = big.shape[0];
  return g;
}

// Depthwise frames in float32 run on the direct kernels of conv_depthwise.h, the rest on
// the im2col + GEMM lowering of conv.h.
void conv_kernel(KernelContext& k) {
  const ConvGeom g = with_batch(k, k.in[0]);
  const TensorView* bias = k.in.size() > 2 ? &k.in[2] : nullptr;
  if (conv_depthwise_applies(g, k.in[0].dtype))
    conv_depthwise_forward(g, k.in[0], k.in[1], bias, k.out[0], k.workspace);
  else
    conv_forward_cpu(g, k.in[0], k.in[1], bias, k.out[0], k.workspace);
}

void conv_transpose_kernel(KernelContext& k) {
  const ConvGeom g = with_batch(k, k.out[0]);
  const TensorView* bias = k.in.size() > 2 ? &k.in[2] : nullptr;
  if (conv_depthwise_applies(g, k.out[0].dtype))
    conv_depthwise_backward_data(g, k.in[0], k.in[1], bias, k.out[0], k.workspace);
  else
    conv_backward_data_cpu(g, k.in[0], k.in[1], bias, k.out[0], k.workspace);
}

void forward_like_kernel(KernelContext& k) {
  const ConvGeom g = with_batch(k, k.in[0]);
  if (conv_depthwise_applies(g, k.in[0].dtype))
    conv_depthwise_forward(g, k.in[0], k.in[1], nullptr, k.out[0], k.workspace);
  else
    conv_forward_cpu(g, k.in[0], k.in[1], nullptr, k.out[0], k.workspace);
}

void grad_input_kernel(KernelContext& k) {
  const ConvGeom g = with_batch(k, k.out[0]);
  if (conv_depthwise_applies(g, k.out[0].dtype))
    conv_depthwise_backward_data(g, k.in[0], k.in[1], nullptr, k.out[0], k.workspace);
  else
    conv_backward_data_cpu(g, k.in[0], k.in[1], nullptr, k.out[0], k.workspace);
}

void grad_weight_kernel(KernelContext& k) {
  const ConvGeom g = with_batch(k, k.in[0]);
  if (conv_depthwise_applies(g, k.in[0].dtype))
    conv_depthwise_backward_weight(g, k.in[0], k.in[1], k.out[0], k.workspace);
  else
    conv_backward_weight_cpu(g, k.in[0], k.in[1], k.out[0], k.workspace);
}

enum class Product { forward, backward_data, backward_weight };

// The frame of each op: which tensors are big, small and w, and which product it computes.
ConvGeom frame_of(const Node& n, Product p, bool transposed) {
  const Shape& out = n.outputs.at(0).shape;
  switch (p) {
    case Product::forward: return conv_geometry(n.attrs, transposed, in_shape(n, 0), out, in_shape(n, 1));
    case Product::backward_data: return conv_geometry(n.attrs, transposed, out, in_shape(n, 0), in_shape(n, 1));
    case Product::backward_weight:
      return conv_geometry(n.attrs, transposed, in_shape(n, 0), in_shape(n, 1), out);
  }
  return {};
}

// `transposed`: 0 conv, 1 conv_transpose, -1 read from the node (frame products).
KernelImpl conv_impl(KernelFn fn, Product p, int transposed) {
  auto geom = [p, transposed](const Node& n) {
    return frame_of(n, p, transposed < 0 ? conv_frame_transposed(n.attrs) : transposed == 1);
  };
  KernelImpl k = with_params<ConvGeom>(fn, geom);
  k.workspace = [geom, p](const Node& n) {
    const ConvGeom g = geom(n);
    const DType t = n.outputs.at(0).dtype;
    if (conv_depthwise_applies(g, t)) return conv_depthwise_workspace(g);
    switch (p) {
      case Product::forward: return conv_forward_workspace(g, t);
      case Product::backward_data: return conv_backward_data_workspace(g, t);
      case Product::backward_weight: return conv_backward_weight_workspace(g, t);
    }
    return size_t{0};
  };
  k.algorithm = [geom, p](const Node& n) {
    if (conv_depthwise_applies(geom(n), n.outputs.at(0).dtype)) return std::string("depthwise");
    const ConvProduct what = p == Product::forward         ? ConvProduct::forward
                             : p == Product::backward_data ? ConvProduct::backward_data
                                                           : ConvProduct::backward_weight;
    return std::string(conv_algorithm(geom(n), n.outputs.at(0).dtype, what));
  };
  return k;
}

}  // namespace

void bind_conv_kernels(Backend& b) {
  b.add_kernel("conv", conv_impl(conv_kernel, Product::forward, 0));
  b.add_kernel("conv_transpose", conv_impl(conv_transpose_kernel, Product::backward_data, 1));
  b.add_kernel("conv_forward_like", conv_impl(forward_like_kernel, Product::forward, -1));
  b.add_kernel("conv_grad_input", conv_impl(grad_input_kernel, Product::backward_data, -1));
  b.add_kernel("conv_grad_weight", conv_impl(grad_weight_kernel, Product::backward_weight, -1));
}

}  // namespace symnet
