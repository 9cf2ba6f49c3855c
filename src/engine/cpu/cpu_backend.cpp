#include "engine/cpu/cpu_backend.h"

#include <chrono>

#include "engine/base/error.h"

namespace symnet {

CpuBackend::CpuBackend() : Backend("cpu") {
  bind_elementwise_kernels(*this);
  bind_reduce_kernels(*this);
  bind_linalg_kernels(*this);
  bind_shape_kernels(*this);
  bind_index_kernels(*this);
  bind_nn_kernels(*this);
  bind_random_kernels(*this);
  bind_conv_kernels(*this);
  bind_conv_clip_kernels(*this);
  bind_pool_kernels(*this);
  bind_norm_kernels(*this);
  bind_rnn_kernels(*this);
  bind_collective_kernels(*this);
  bind_internal_kernels(*this);
  bind_host_callback_kernels(*this);
  bind_fused_kernels(*this);
  bind_per_sample_kernels(*this);
  bind_control_flow_kernels(*this);
  bind_while_loop_kernels(*this);
  bind_scan_kernels(*this);
}

bool CpuBackend::supports(const Node& n) const {
  if (!kernel(n.op_name())) return false;
  for (const Value& v : n.inputs)
    if (v.defined() && !is_core_dtype(v.dtype())) return false;
  for (const TensorType& t : n.outputs)
    if (!is_core_dtype(t.dtype)) return false;
  return true;
}

Graph CpuBackend::lower(const Graph& g, bool fuse, std::vector<PassStats>* stats) const {
  // Fusion groups values by element count, which a value of unknown rank does not have yet.
  // Compiling always specialises first; only a graph drawn before it is fed (sym_dot) gets
  // here with one, and unknown ranks only ever come from inputs declared without a shape.
  bool unknown_rank = false;
  for (const Value& in : g.inputs) unknown_rank = unknown_rank || !in.rank_known();
  if (!fuse || unknown_rank) return g;
  using Pass = Graph (*)(const Graph&);
  const std::pair<const char*, Pass> pipeline[] = {
      {"conv_clip", fuse_conv_clip}, {"per_sample", fuse_per_sample}, {"fuse", fuse_elementwise}, {"dce", eliminate_dead_code}};
  Graph cur = g;
  size_t nodes = stats ? cur.num_nodes() : 0;
  for (const auto& [name, fn] : pipeline) {
    auto t0 = std::chrono::steady_clock::now();
    cur = fn(cur);
    if (!stats) continue;
    PassStats ps;
    ps.name = name;
    ps.nodes_before = nodes;
    ps.nodes_after = nodes = cur.num_nodes();
    ps.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    stats->push_back(ps);
  }
  return cur;
}

const Backend& cpu_backend() {
  static const Backend& b = backends().get("cpu");
  return b;
}

void register_builtin_backends(BackendRegistry& r) { r.add(std::make_unique<CpuBackend>()); }

}  // namespace symnet
