// Common-subexpression elimination by hash-consing: a pure node whose op, attributes and
// (already canonical) inputs match an earlier node is replaced by that node. Constants
// compare by content, so equal literals written twice become one. Bodies are merged within
// themselves; nodes that share one body compare equal (the attribute is the same graph).
#include <unordered_map>

#include "engine/ops/registry.h"
#include "engine/passes/passes.h"
#include "engine/passes/subgraph.h"

namespace symnet {

namespace {

uint64_t node_key(const OpSchema* op, const AttrMap& attrs, const std::vector<Value>& ins) {
  uint64_t h = std::hash<const void*>()(op) ^ (hash_attrs(attrs) * 0x9e3779b97f4a7c15ULL);
  for (const Value& v : ins) {
    uint64_t x = std::hash<const void*>()(v.node.get()) + static_cast<uint64_t>(v.index) * 31u;
    h ^= x + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  }
  return h;
}

bool mergeable(const OpSchema& op) { return op.has(kPure) && !op.has(kRandom) && !op.has(kSource); }

}  // namespace

Graph eliminate_common_subexpressions(const Graph& g) {
  std::unordered_multimap<uint64_t, NodePtr> seen;
  BodyRewriter bodies(eliminate_common_subexpressions);
  return rewrite_graph(g, [&](const Node& orig, const std::vector<Value>& ins) -> std::vector<Value> {
    std::vector<Value> rebodied = bodies.apply(orig, ins);
    const Node& n = rebodied.empty() ? orig : *rebodied[0].node;
    if (!mergeable(*n.op)) return rebodied;
    uint64_t key = node_key(n.op, n.attrs, ins);
    auto range = seen.equal_range(key);
    for (auto it = range.first; it != range.second; ++it) {
      const Node& c = *it->second;
      if (c.op != n.op || c.inputs != ins || !(c.attrs == n.attrs)) continue;
      std::vector<Value> outs;
      for (int i = 0; i < static_cast<int>(c.outputs.size()); ++i) outs.push_back(c.out(i));
      return outs;
    }
    std::vector<Value> outs = rebodied;
    if (outs.empty()) {
      bool changed = false;
      for (size_t i = 0; i < ins.size(); ++i) changed = changed || ins[i] != n.inputs[i];
      if (changed) {
        outs = remake_node(n, ins);
      } else {
        for (int i = 0; i < static_cast<int>(n.outputs.size()); ++i) outs.push_back(n.out(i));
      }
    }
    if (!outs.empty()) seen.emplace(key, outs[0].node);
    return outs;
  });
}

}  // namespace symnet
