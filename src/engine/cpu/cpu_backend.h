// The CPU backend: the kernel table over kernels/cpu (one bind_<family>.cpp per op family,
// each reading node attributes into the kernels' plain parameter structs), and the CPU's
// lowering: convolution epilogues, elementwise fusion and per-sample fusion, whose fused
// nodes run sub-plans of these same kernels.
#pragma once
#include "engine/backend/backend.h"

namespace symnet {

class CpuBackend : public Backend {
 public:
  CpuBackend();
  const BufferType& buffer_type() const override { return host_buffer_type(); }
  bool supports(const Node& n) const override;
  Graph lower(const Graph& g, bool fuse, std::vector<PassStats>* stats) const override;
};

// The CPU backend as registered (backends().get("cpu")).
const Backend& cpu_backend();

// Lowering passes (cpu/fuse.cpp, cpu/fuse_per_sample.cpp).
// relu / clip of a convolution that nothing else reads -> conv_clip (the activation in the
// convolution's node: cpu/fuse_conv_clip.cpp).
Graph fuse_conv_clip(const Graph& g);
// Chains of same-shape elementwise ops -> fused_elementwise.
Graph fuse_elementwise(const Graph& g);
// Chains of batchwise ops (conv, pooling, elementwise) whose whole-batch intermediates can
// be avoided -> fused_per_sample, run one sample at a time (inference memory).
Graph fuse_per_sample(const Graph& g);

// One per op family; each adds that family's kernels to the table.
void bind_elementwise_kernels(Backend& b);
void bind_reduce_kernels(Backend& b);
void bind_linalg_kernels(Backend& b);
void bind_shape_kernels(Backend& b);
void bind_index_kernels(Backend& b);
void bind_nn_kernels(Backend& b);
void bind_random_kernels(Backend& b);
void bind_conv_kernels(Backend& b);
void bind_conv_clip_kernels(Backend& b);  // after bind_conv_kernels: it wraps conv's kernel
void bind_pool_kernels(Backend& b);
void bind_norm_kernels(Backend& b);
void bind_rnn_kernels(Backend& b);
void bind_collective_kernels(Backend& b);
void bind_internal_kernels(Backend& b);
void bind_host_callback_kernels(Backend& b);  // host_callback: functions the host registers
void bind_fused_kernels(Backend& b);
void bind_per_sample_kernels(Backend& b);
void bind_control_flow_kernels(Backend& b);
void bind_while_loop_kernels(Backend& b);
void bind_scan_kernels(Backend& b);

// Shorthand for binding: a kernel whose parameters are P, built by `read` from the node.
template <class P, class Read>
KernelImpl with_params(KernelFn fn, Read read) {
  KernelImpl k;
  k.fn = fn;
  k.prepare = [read](const Node& n) -> std::shared_ptr<const void> { return std::make_shared<P>(read(n)); };
  return k;
}

}  // namespace symnet
