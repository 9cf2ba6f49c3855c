// Recursion of passes into graph-valued attributes (passes/subgraph.h).
#include "engine/passes/subgraph.h"

#include <unordered_set>

#include "engine/base/error.h"
#include "engine/ir/op_schema.h"

namespace symnet {

bool has_body(const Node& n) {
  for (const auto& kv : n.attrs.items())
    if (std::holds_alternative<GraphPtr>(kv.second) && std::get<GraphPtr>(kv.second)) return true;
  return false;
}

GraphPtr BodyRewriter::rewritten(const GraphPtr& body) {
  auto it = memo_.find(body.get());
  if (it != memo_.end()) return it->second;
  Graph g = pass_(*body);
  GraphPtr out = body;
  if (g.inputs != body->inputs || g.outputs != body->outputs) out = std::make_shared<const Graph>(std::move(g));
  memo_[body.get()] = out;
  return out;
}

std::vector<Value> BodyRewriter::apply(const Node& n, const std::vector<Value>& ins) {
  if (n.outputs.empty() || !has_body(n)) return {};
  AttrMap attrs = n.attrs;
  bool changed = false;
  for (const auto& kv : n.attrs.items()) {
    const auto* body = std::get_if<GraphPtr>(&kv.second);
    if (!body || !*body) continue;
    GraphPtr b = rewritten(*body);
    if (b == *body) continue;
    attrs.set(kv.first, b);
    changed = true;
  }
  if (!changed) return {};
  try {
    return make_node(n.op_name(), ins, std::move(attrs), n.name);
  } catch (const Error&) {
    return {};
  }
}

void for_each_body(const Graph& g, const std::function<void(const Graph&)>& fn) {
  std::unordered_set<const Graph*> seen;
  std::vector<const Graph*> todo{&g};
  while (!todo.empty()) {
    const Graph* cur = todo.back();
    todo.pop_back();
    for (const NodePtr& n : cur->topo_order()) {
      if (!has_body(*n)) continue;
      for (const auto& kv : n->attrs.items()) {
        const auto* body = std::get_if<GraphPtr>(&kv.second);
        if (!body || !*body || !seen.insert(body->get()).second) continue;
        fn(**body);
        todo.push_back(body->get());
      }
    }
  }
}

}  // namespace symnet
