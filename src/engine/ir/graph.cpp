#include "engine/ir/graph.h"

#include <algorithm>
#include <unordered_set>

#include "engine/base/error.h"
#include "engine/ops/registry.h"

namespace symnet {

std::vector<NodePtr> Graph::topo_order() const {
  // Iterative DFS so deep graphs (long RNN unrolls) cannot overflow the stack.
  std::vector<NodePtr> order;
  std::unordered_set<const Node*> done, on_stack;
  std::vector<std::pair<NodePtr, size_t>> stack;
  auto visit_root = [&](const NodePtr& root) {
    if (!root || done.count(root.get())) return;
    stack.push_back({root, 0});
    while (!stack.empty()) {
      auto& [n, next] = stack.back();
      if (next < n->inputs.size()) {
        const NodePtr& child = n->inputs[next++].node;
        if (child && !done.count(child.get())) {
          SN_CHECK(!on_stack.count(child.get()), ErrorKind::internal, "cycle in graph");
          on_stack.insert(child.get());
          stack.push_back({child, 0});
        }
      } else {
        on_stack.erase(n.get());
        if (done.insert(n.get()).second) order.push_back(n);
        stack.pop_back();
      }
    }
  };
  for (const Value& v : inputs) visit_root(v.node);
  for (const Value& v : outputs) visit_root(v.node);
  return order;
}

Graph Graph::from_outputs(std::vector<Value> outputs, std::vector<std::string> names) {
  Graph g;
  g.outputs = std::move(outputs);
  g.output_names = std::move(names);
  while (g.output_names.size() < g.outputs.size())
    g.output_names.push_back("output" + std::to_string(g.output_names.size() + 1));
  for (const NodePtr& n : g.topo_order())
    if (n->op_name() == "input") g.inputs.push_back(n->out(0));
  std::stable_sort(g.inputs.begin(), g.inputs.end(), [](const Value& a, const Value& b) {
    return a.node->attrs.get_string("name") < b.node->attrs.get_string("name");
  });
  return g;
}

Graph rewrite_graph(const Graph& g, const RewriteFn& fn) {
  std::unordered_map<const Node*, std::vector<Value>> mapped;
  auto lookup = [&](const Value& v) -> Value {
    if (!v.defined()) return v;
    auto it = mapped.find(v.node.get());
    SN_CHECK(it != mapped.end(), ErrorKind::internal, "rewrite_graph: node visited out of order");
    return it->second.at(v.index);
  };
  for (const NodePtr& n : g.topo_order()) {
    std::vector<Value> ins;
    bool changed = false;
    for (const Value& v : n->inputs) {
      ins.push_back(lookup(v));
      changed = changed || ins.back() != v;
    }
    std::vector<Value> outs = fn(*n, ins);
    if (outs.empty()) {
      if (!changed) {
        for (int i = 0; i < static_cast<int>(n->outputs.size()); ++i) outs.push_back(n->out(i));
      } else {
        outs = remake_node(*n, ins);
      }
    }
    SN_CHECK(outs.size() == n->outputs.size(), ErrorKind::internal,
             "rewrite of " << n->describe() << " returned " << outs.size() << " outputs");
    mapped[n.get()] = std::move(outs);
  }
  Graph out;
  for (const Value& v : g.inputs) out.inputs.push_back(lookup(v));
  for (const Value& v : g.outputs) out.outputs.push_back(lookup(v));
  out.output_names = g.output_names;
  return out;
}

std::unordered_map<const Node*, std::vector<int>> count_uses(const Graph& g) {
  std::unordered_map<const Node*, std::vector<int>> uses;
  auto order = g.topo_order();
  for (const NodePtr& n : order) uses[n.get()].assign(n->outputs.size(), 0);
  for (const NodePtr& n : order)
    for (const Value& v : n->inputs)
      if (v.defined()) uses[v.node.get()][v.index]++;
  for (const Value& v : g.outputs) uses[v.node.get()][v.index]++;
  return uses;
}

}  // namespace symnet
