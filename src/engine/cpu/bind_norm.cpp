// CPU kernel table of batch/layer normalization and dropout.
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/dropout.h"
#include "engine/kernels/cpu/norm.h"

namespace symnet {

namespace {

NormParams read_norm(const Node& n) {
  NormParams p;
  p.epsilon = n.attrs.get_float("epsilon", p.epsilon);
  p.momentum = n.attrs.get_float("momentum", p.momentum);
  p.training = n.attrs.get_int("training", 0) == 1;
  return p;
}

KernelImpl norm_impl(KernelFn fn, std::vector<std::pair<int, int>> inplace) {
  KernelImpl k = with_params<NormParams>(fn, read_norm);
  k.inplace = std::move(inplace);
  return k;
}

}  // namespace

void bind_norm_kernels(Backend& b) {
  b.add_kernel("batch_norm", norm_impl(batch_norm_kernel, {{0, 0}}));
  b.add_kernel("batch_norm_grad", norm_impl(batch_norm_grad_kernel, {{0, 4}}));
  b.add_kernel("layer_norm", norm_impl(layer_norm_kernel, {{0, 0}}));
  b.add_kernel("layer_norm_grad", norm_impl(layer_norm_grad_kernel, {{0, 4}}));
  KernelImpl dr = with_params<DropoutParams>(dropout_kernel, [](const Node& n) {
    DropoutParams p;
    p.ratio = n.attrs.get_float("ratio", p.ratio);
    p.training = n.attrs.get_int("training", 0) == 1;
    p.key = make_random_key(n.attrs.has("seed"), n.attrs.get_int("seed", 0), n.name);
    return p;
  });
  dr.inplace = {{0, 0}};
  b.add_kernel("dropout", dr);
}

}  // namespace symnet
