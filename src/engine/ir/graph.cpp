#include "engine/ir/graph.h"

#include <algorithm>
#include <unordered_set>

#include "engine/base/error.h"
#include "engine/ir/op_schema.h"

namespace symnet {

NodeIndex::NodeIndex(size_t expected) {
  size_t cap = 16;
  int bits = 4;
  while (cap < 2 * expected) cap <<= 1, ++bits;
  slots_.assign(cap, Slot{});
  mask_ = cap - 1;
  shift_ = 64 - bits;
}

void NodeIndex::set(const Node* n, int value) {
  if (2 * (size_ + 1) > slots_.size()) grow();
  size_t i = slot(n);
  while (slots_[i].key != nullptr && slots_[i].key != n) i = (i + 1) & mask_;
  if (slots_[i].key == nullptr) {
    slots_[i].key = n;
    ++size_;
  }
  slots_[i].value = value;
}

void NodeIndex::grow() {
  std::vector<Slot> old(slots_.size() * 2);
  old.swap(slots_);
  mask_ = slots_.size() - 1;
  --shift_;
  for (const Slot& e : old) {
    if (!e.key) continue;
    size_t i = slot(e.key);
    while (slots_[i].key != nullptr) i = (i + 1) & mask_;
    slots_[i] = e;
  }
}

std::vector<NodePtr> Graph::topo_order() const { return topo_order(nullptr); }

std::vector<NodePtr> Graph::topo_order(NodeIndex* positions) const {
  // Iterative DFS so deep graphs (long RNN unrolls) cannot overflow the stack. A node's
  // mark is -2 while it is on the stack, then its position.
  constexpr int kOnStack = -2;
  std::vector<NodePtr> order;
  NodeIndex local;
  NodeIndex& mark = positions ? *positions : local;
  // Pointers into the inputs of nodes on the stack (or the graph's own lists), which
  // outlive the walk: no reference counting per step.
  std::vector<std::pair<const NodePtr*, size_t>> stack;
  auto visit_root = [&](const NodePtr& root) {
    if (!root || mark.find(root.get()) >= 0) return;
    mark.set(root.get(), kOnStack);
    stack.push_back({&root, 0});
    while (!stack.empty()) {
      const NodePtr& n = *stack.back().first;
      size_t& next = stack.back().second;
      if (next < n->inputs.size()) {
        const NodePtr& child = n->inputs[next++].node;
        if (!child) continue;
        const int m = mark.find(child.get());
        if (m >= 0) continue;
        SN_CHECK(m != kOnStack, ErrorKind::internal, "cycle in graph");
        mark.set(child.get(), kOnStack);
        stack.push_back({&child, 0});
      } else {
        mark.set(n.get(), static_cast<int>(order.size()));
        order.push_back(n);
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
  NodeIndex pos;
  const std::vector<NodePtr> order = g.topo_order(&pos);
  // The replacement outputs of the node at position p start at mapped[first[p]].
  std::vector<size_t> first(order.size() + 1, 0);
  for (size_t p = 0; p < order.size(); ++p) first[p + 1] = first[p] + order[p]->outputs.size();
  std::vector<Value> mapped(first.back());
  auto lookup = [&](const Value& v) -> const Value& {
    if (!v.defined()) return v;
    const int p = pos.find(v.node.get());
    SN_CHECK(p >= 0, ErrorKind::internal, "rewrite_graph: node visited out of order");
    SN_CHECK(v.index >= 0 && first[p] + v.index < first[p + 1], ErrorKind::internal,
             "rewrite_graph: output " << v.index << " of " << v.node->describe() << " does not exist");
    return mapped[first[p] + v.index];
  };
  std::vector<Value> ins;
  for (size_t p = 0; p < order.size(); ++p) {
    const NodePtr& n = order[p];
    ins.clear();
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
    std::move(outs.begin(), outs.end(), mapped.begin() + first[p]);
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
  uses.reserve(order.size());
  for (const NodePtr& n : order) uses[n.get()].assign(n->outputs.size(), 0);
  for (const NodePtr& n : order)
    for (const Value& v : n->inputs)
      if (v.defined()) uses[v.node.get()][v.index]++;
  for (const Value& v : g.outputs) uses[v.node.get()][v.index]++;
  return uses;
}

}  // namespace symnet
