#include "engine/passes/passes.h"

#include <unordered_set>

#include "engine/ops/registry.h"

namespace symnet {

Graph set_training_mode(const Graph& g, bool training) {
  const int64_t mode = training ? 1 : 0;
  return rewrite_graph(g, [&](const Node& n, const std::vector<Value>& ins) -> std::vector<Value> {
    if (!n.attrs.has("training") || n.attrs.get_int("training") == mode) return {};
    AttrMap a = n.attrs;
    a.set("training", mode);
    return make_node(n.op_name(), ins, a, n.name);
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
