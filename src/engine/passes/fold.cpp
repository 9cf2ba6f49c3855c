// Constant folding: a pure node whose inputs are all constants is evaluated now, with its
// own CPU kernel, and replaced by constant nodes. Results bigger than kMaxFoldElements
// are left to run time so folding never bloats a graph.
#include <exception>

#include "engine/base/error.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/ops/builder.h"
#include "engine/ops/registry.h"
#include "engine/passes/passes.h"

namespace symnet {

namespace {

constexpr int64_t kMaxFoldElements = int64_t{1} << 20;

std::vector<Value> outputs_of(const NodePtr& n) {
  std::vector<Value> outs;
  for (int i = 0; i < static_cast<int>(n->outputs.size()); ++i) outs.push_back(n->out(i));
  return outs;
}

bool is_constant(const Value& v) { return v.defined() && v.node->op_name() == "constant"; }

bool foldable(const Node& n, const std::vector<Value>& ins) {
  const OpDef& op = *n.op;
  if (!op.has(kPure) || op.has(kRandom) || op.has(kSource) || n.op_name() == "constant") return false;
  if (!op.kernel(Device::cpu)) return false;
  for (const Value& v : ins)
    if (!is_constant(v) || !has_cpu_kernels(v.dtype())) return false;
  for (const TensorType& t : n.outputs) {
    if (!t.known()) return false;
    int64_t numel = shape_numel(t.shape);
    if (numel < 0 || numel > kMaxFoldElements || !has_cpu_kernels(t.dtype)) return false;
  }
  return true;
}

// Runs the node's CPU kernel on its constant inputs; empty when the kernel refuses (the
// error then surfaces at run time, where it belongs).
std::vector<Tensor> evaluate(const Node& n) {
  std::vector<Tensor> outs;
  KernelContext k{n, {}, {}, nullptr, nullptr};
  for (const Value& v : n.inputs) k.in.push_back(v.node->attrs.get_tensor("value")->view());
  for (const TensorType& t : n.outputs) {
    outs.emplace_back(t.dtype, t.shape);
    k.out.push_back(outs.back().view());
  }
  Tensor workspace;
  if (n.op->workspace) {
    size_t bytes = n.op->workspace(n);
    if (bytes > 0) {
      workspace = Tensor(DType::u8, {static_cast<int64_t>(bytes)});
      k.workspace = workspace.data();
    }
  }
  RunContext run;
  run.num_threads = engine_num_threads();
  k.run = &run;
  try {
    n.op->kernel(Device::cpu)(k);
  } catch (const std::exception&) {
    return {};
  }
  return outs;
}

}  // namespace

Graph fold_constants(const Graph& g) {
  return rewrite_graph(g, [&](const Node& n, const std::vector<Value>& ins) -> std::vector<Value> {
    if (!foldable(n, ins)) return {};
    bool changed = false;
    for (size_t i = 0; i < ins.size(); ++i) changed = changed || ins[i] != n.inputs[i];
    if (n.outputs.empty()) return {};
    NodePtr node = changed ? remake_node(n, ins).at(0).node : n.shared_from_this();
    std::vector<Tensor> values = evaluate(*node);
    if (values.empty()) return outputs_of(node);
    std::vector<Value> outs;
    for (size_t i = 0; i < values.size(); ++i) {
      std::string name = values.size() == 1 ? n.name : n.name + ":" + std::to_string(i);
      outs.push_back(op::constant(values[i], name));
    }
    return outs;
  });
}

}  // namespace symnet
