// Training-mode switching and variable discovery: both reach into bodies (subgraphs), so
// a dropout inside a call follows the mode of the graph, and a parameter used only inside a
// body is still one of the graph's variables (and so found and trained).
#include <unordered_set>

#include "engine/base/error.h"
#include "engine/ops/registry.h"
#include "engine/passes/passes.h"
#include "engine/passes/subgraph.h"

namespace symnet {

namespace {
bool reads_frozen_variable(const Node& n) {
  for (const Value& in : n.inputs)
    if (in.node->op_name() == "variable" && in.node->attrs.get_variable("var")->frozen) return true;
  return false;
}
}  // namespace

Graph set_training_mode(const Graph& g, bool training) {
  const int64_t mode = training ? 1 : 0;
  BodyRewriter bodies([training](const Graph& b) { return set_training_mode(b, training); });
  return rewrite_graph(g, [&](const Node& orig, const std::vector<Value>& ins) -> std::vector<Value> {
    std::vector<Value> rebodied = bodies.apply(orig, ins);
    const Node& n = rebodied.empty() ? orig : *rebodied[0].node;
    if (!n.attrs.has("training") || n.attrs.get_int("training") == mode) return rebodied;
    if (training && reads_frozen_variable(n)) return rebodied;  // a frozen layer keeps inference behaviour
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

namespace {

// Variables of g in topological order, those of a node's bodies at the node's place.
void collect_variables(const Graph& g, std::unordered_set<const Graph*>& bodies_seen,
                       std::unordered_set<const Variable*>& seen, std::vector<VariablePtr>& out) {
  for (const NodePtr& n : g.topo_order()) {
    if (has_body(*n)) {
      for (const auto& kv : n->attrs.items()) {
        const auto* body = std::get_if<GraphPtr>(&kv.second);
        if (body && *body && bodies_seen.insert(body->get()).second) collect_variables(**body, bodies_seen, seen, out);
      }
    }
    if (n->op_name() != "variable") continue;
    VariablePtr v = n->attrs.get_variable("var");
    if (seen.insert(v.get()).second) out.push_back(v);
  }
}

}  // namespace

std::vector<VariablePtr> graph_variables(const Graph& g) {
  std::vector<VariablePtr> out;
  std::unordered_set<const Variable*> seen;
  std::unordered_set<const Graph*> bodies_seen;
  collect_variables(g, bodies_seen, seen, out);
  return out;
}

}  // namespace symnet
