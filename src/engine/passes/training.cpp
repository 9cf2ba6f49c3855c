#include "engine/passes/passes.h"

#include <unordered_set>

#include "engine/base/error.h"

#include "engine/ops/registry.h"

namespace symnet {

Graph set_training_mode(const Graph& g, bool training) {
  const int64_t mode = training ? 1 : 0;
  return rewrite_graph(g, [&](const Node& n, const std::vector<Value>& ins) -> std::vector<Value> {
    if (!n.attrs.has("training") || n.attrs.get_int("training") == mode) return {};
    AttrMap a = n.attrs;
    a.set("training", mode);
    std::vector<Value> outs = make_node(n.op_name(), ins, a, n.name);
    // Modes may differ in output count (batch_norm: 1 output in inference, 5 in
    // training); users of the old node only reference its first outputs.
    if (outs.size() > n.outputs.size()) outs.resize(n.outputs.size());
    SN_CHECK(outs.size() == n.outputs.size(), ErrorKind::unsupported,
             "cannot switch " << n.describe() << " to " << (training ? "training" : "inference") << " mode");
    return outs;
  });
}

std::vector<VariablePtr> graph_variables(const Graph& g) {
  std::vector<VariablePtr> out;
  std::unordered_set<const Variable*> seen;
  for (const NodePtr& n : g.topo_order()) {
    if (n->op_name() != "variable") continue;
    VariablePtr v = n->attrs.get_variable("var");
    if (seen.insert(v.get()).second) out.push_back(v);
  }
  return out;
}

}  // namespace symnet
