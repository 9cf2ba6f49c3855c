// Recursion of passes into graph-valued attributes (passes/subgraph.h).
#include "engine/passes/subgraph.h"

#include <algorithm>
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

namespace {

// Visits the bodies of `nodes` and, through `todo`, those of their nodes, each once.
void visit_bodies(std::vector<const Node*> nodes, const std::function<void(const Graph&)>& fn) {
  std::unordered_set<const Graph*> seen;
  while (!nodes.empty()) {
    const Node* n = nodes.back();
    nodes.pop_back();
    for (const auto& kv : n->attrs.items()) {
      const auto* body = std::get_if<GraphPtr>(&kv.second);
      if (!body || !*body || !seen.insert(body->get()).second) continue;
      fn(**body);
      for (const NodePtr& m : (*body)->topo_order())
        if (has_body(*m)) nodes.push_back(m.get());
    }
  }
}

}  // namespace

void for_each_body(const Graph& g, const std::function<void(const Graph&)>& fn) {
  std::vector<const Node*> holders;
  for (const NodePtr& n : g.topo_order())
    if (has_body(*n)) holders.push_back(n.get());
  std::reverse(holders.begin(), holders.end());  // visited from the back: topological order first
  visit_bodies(std::move(holders), fn);
}

void for_each_body(const Node& n, const std::function<void(const Graph&)>& fn) { visit_bodies({&n}, fn); }

}  // namespace symnet
