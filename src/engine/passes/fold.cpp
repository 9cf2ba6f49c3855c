// Constant folding: a pure node whose inputs are all constants is evaluated now, by the
// evaluator the caller gives (a host backend's kernels), and replaced by constant nodes. Results bigger than kMaxFoldElements
// are left to run time so folding never bloats a graph.
#include <exception>

#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/ir/op_schema.h"
#include "engine/passes/passes.h"
#include "engine/passes/subgraph.h"

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
  const OpSchema& op = *n.op;
  if (!op.has(kPure) || op.has(kRandom) || op.has(kSource) || op.has(kStateful) || n.op_name() == "constant")
    return false;
  for (const Value& v : ins)
    if (!is_constant(v) || !is_core_dtype(v.dtype())) return false;
  for (const TensorType& t : n.outputs) {
    if (!t.known()) return false;
    int64_t numel = shape_numel(t.shape);
    if (numel < 0 || numel > kMaxFoldElements || !is_core_dtype(t.dtype)) return false;
  }
  return true;
}

// Evaluates the node on its constant inputs; empty when the evaluator refuses or the
// kernel fails (the error then surfaces at run time, where it belongs).
std::vector<Tensor> evaluate(const Node& n, const ConstantEvaluator& eval) {
  std::vector<TensorView> ins;
  for (const Value& v : n.inputs) ins.push_back(v.node->attrs.get_tensor("value")->view());
  try {
    return eval(n, ins);
  } catch (const std::exception&) {
    return {};
  }
}

}  // namespace

Graph fold_constants(const Graph& g, const ConstantEvaluator& eval) {
  if (!eval) return g;
  // Constant parts of bodies fold too.
  BodyRewriter bodies([&eval](const Graph& b) { return fold_constants(b, eval); });
  return rewrite_graph(g, [&](const Node& orig, const std::vector<Value>& ins) -> std::vector<Value> {
    std::vector<Value> rebodied = bodies.apply(orig, ins);
    const Node& n = rebodied.empty() ? orig : *rebodied[0].node;
    if (!foldable(n, ins)) return rebodied;
    bool changed = false;
    for (size_t i = 0; i < ins.size(); ++i) changed = changed || ins[i] != n.inputs[i];
    if (n.outputs.empty()) return {};
    NodePtr node = !rebodied.empty() ? rebodied[0].node : changed ? remake_node(n, ins).at(0).node : n.shared_from_this();
    std::vector<Tensor> values = evaluate(*node, eval);
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
