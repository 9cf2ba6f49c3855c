// CPU kernel table of softmax, log_softmax and the classification losses.
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/softmax.h"

namespace symnet {

namespace {

struct SoftmaxParams {
  int64_t axis = 0;  // normalized
};

struct XentParams {
  int64_t ignore_index = -100;
  int64_t index_base = 0;
};

template <bool Log>
void softmax_kernel(KernelContext& k) {
  softmax_cpu(k.in[0], k.out[0], k.param<SoftmaxParams>().axis, Log);
}

void xent_kernel(KernelContext& k) {
  const XentParams& p = k.param<XentParams>();
  softmax_xent_cpu(k.in[0], k.in[1], k.out[0], p.ignore_index, p.index_base);
}

void xent_grad_kernel(KernelContext& k) {
  const XentParams& p = k.param<XentParams>();
  softmax_xent_grad_cpu(k.in[0], k.in[1], k.in[2], k.out[0], p.ignore_index, p.index_base);
}

void xent_prob_kernel(KernelContext& k) { softmax_xent_prob_cpu(k.in[0], k.in[1], k.out[0]); }
void sigmoid_xent_kernel(KernelContext& k) { sigmoid_xent_cpu(k.in[0], k.in[1], k.out[0]); }

SoftmaxParams read_softmax(const Node& n) {
  return SoftmaxParams{normalize_axis(n.attrs.get_int("axis", -1), n.inputs.at(0).rank())};
}

XentParams read_xent(const Node& n) {
  return XentParams{n.attrs.get_int("ignore_index", -100), n.attrs.get_int("index_base", 0)};
}

}  // namespace

void bind_nn_kernels(Backend& b) {
  KernelImpl s = with_params<SoftmaxParams>(softmax_kernel<false>, read_softmax);
  s.inplace = {{0, 0}};
  b.add_kernel("softmax", s);
  KernelImpl ls = with_params<SoftmaxParams>(softmax_kernel<true>, read_softmax);
  ls.inplace = {{0, 0}};
  b.add_kernel("log_softmax", ls);
  b.add_kernel("softmax_cross_entropy", with_params<XentParams>(xent_kernel, read_xent));
  b.add_kernel("softmax_cross_entropy_grad", with_params<XentParams>(xent_grad_kernel, read_xent));
  b.add_kernel("softmax_cross_entropy_prob", KernelImpl{xent_prob_kernel});
  KernelImpl sx{sigmoid_xent_kernel};
  sx.inplace = {{0, 0}, {0, 1}};
  b.add_kernel("sigmoid_cross_entropy", sx);
}

}  // namespace symnet
