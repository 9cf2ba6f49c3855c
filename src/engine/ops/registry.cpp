#include "engine/ops/registry.h"

namespace symnet {

void register_all_ops(Registry& r) {
  register_source_ops(r);
  register_internal_ops(r);
  register_fused_ops(r);
  register_per_sample_ops(r);
  register_call_ops(r);
  register_host_callback_ops(r);
  register_control_flow_ops(r);
  register_while_loop_ops(r);
  register_scan_ops(r);
  register_elementwise_ops(r);
  register_reduce_ops(r);
  register_linalg_ops(r);
  register_shape_ops(r);
  register_index_ops(r);
  register_nn_ops(r);
  register_random_ops(r);
  register_conv_ops(r);
  register_pool_ops(r);
  register_norm_ops(r);
  register_rnn_ops(r);
  register_collective_ops(r);
}

const Registry& registry() {
  // Function-local static: filled once, on first use, thread-safe (C++11).
  static const Registry reg = [] {
    Registry r;
    register_all_ops(r);
    return r;
  }();
  return reg;
}

}  // namespace symnet
