// CPU kernel table of pooling and LRN: the geometry is computed once, at compile time.
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/lrn.h"
#include "engine/kernels/cpu/pool.h"
#include "engine/ops/pool_geometry.h"

namespace symnet {

namespace {

// Geometry of the pool over the shape of input `shape_input`.
KernelImpl pool_impl(KernelFn fn, bool is_max, int shape_input) {
  return with_params<PoolGeometry>(fn, [is_max, shape_input](const Node& n) {
    return pool_geometry(n.attrs, n.inputs.at(shape_input).shape(), is_max);
  });
}

LrnParams read_lrn(const Node& n) {
  LrnParams p;
  p.size = n.attrs.get_int("size");
  p.alpha = n.attrs.get_float("alpha", p.alpha);
  p.beta = n.attrs.get_float("beta", p.beta);
  p.bias = n.attrs.get_float("bias", p.bias);
  p.reverse = n.attrs.get_int("reverse", 0) == 1;
  return p;
}

}  // namespace

void bind_pool_kernels(Backend& b) {
  b.add_kernel("max_pool", pool_impl(max_pool_kernel, true, 0));
  b.add_kernel("max_pool_grad", pool_impl(max_pool_grad_kernel, true, 0));
  b.add_kernel("max_pool_gather", pool_impl(max_pool_gather_kernel, true, 0));
  b.add_kernel("avg_pool", pool_impl(avg_pool_kernel, false, 0));
  b.add_kernel("avg_pool_grad", pool_impl(avg_pool_grad_kernel, false, 1));
  b.add_kernel("global_avg_pool", KernelImpl{global_avg_pool_kernel});
  b.add_kernel("global_max_pool", KernelImpl{global_max_pool_kernel});
  b.add_kernel("lrn", with_params<LrnParams>(lrn_kernel, read_lrn));
  b.add_kernel("lrn_window_sum", with_params<LrnParams>(lrn_window_sum_kernel, read_lrn));
}

}  // namespace symnet
