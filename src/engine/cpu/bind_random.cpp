// CPU kernel table of the generators and random ops.
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/param_readers.h"
#include "engine/kernels/cpu/random_kernels.h"

namespace symnet {

namespace {

KernelImpl random_impl(KernelFn fn, const char* a_name, double a_def, const char* b_name, double b_def) {
  return with_params<RandomParams>(
      fn, [=](const Node& n) { return read_random(n, a_name, a_def, b_name, b_def); });
}

}  // namespace

void bind_random_kernels(Backend& b) {
  b.add_kernel("fill", random_impl(fill_kernel, "value", 0.0, nullptr, 0));
  b.add_kernel("eye", random_impl(eye_kernel, nullptr, 0, nullptr, 0));
  b.add_kernel("range", random_impl(range_kernel, "start", 0.0, "delta", 1.0));
  b.add_kernel("random_uniform", random_impl(random_uniform_kernel, "low", 0.0, "high", 1.0));
  b.add_kernel("random_uniform_like", random_impl(random_uniform_kernel, "low", 0.0, "high", 1.0));
  b.add_kernel("random_normal", random_impl(random_normal_kernel, "mean", 0.0, "std", 1.0));
  b.add_kernel("random_normal_like", random_impl(random_normal_kernel, "mean", 0.0, "std", 1.0));
  b.add_kernel("random_bernoulli", random_impl(random_bernoulli_kernel, nullptr, 0, nullptr, 0));
}

}  // namespace symnet
