// Inlining of call nodes: each is replaced by its body's nodes on its inputs, so backends
// run what the body holds and need no kernel (and no sub-plan runner) for call. Calls
// inside other bodies (control flow) are inlined there; calls a body brings in are inlined
// in the next round.
#include "engine/ops/call.h"
#include "engine/passes/passes.h"
#include "engine/passes/subgraph.h"

namespace symnet {

namespace {

// One walk of the graph (compile runs this on every graph, most without any body).
bool contains_call(const Graph& g) {
  bool found = false;
  for (const NodePtr& n : g.topo_order()) {
    if (found) break;
    found = n->op_name() == "call";
    if (!found && has_body(*n))
      for_each_body(*n, [&](const Graph& b) {
        for (const NodePtr& m : b.topo_order()) found = found || m->op_name() == "call";
      });
  }
  return found;
}

}  // namespace

Graph inline_calls(const Graph& g) {
  Graph cur = g;
  // Each round inlines one level of nesting; bodies cannot contain themselves, so this ends.
  while (contains_call(cur)) {
    BodyRewriter bodies(inline_calls);
    cur = rewrite_graph(cur, [&](const Node& n, const std::vector<Value>& ins) -> std::vector<Value> {
      if (n.op_name() == "call") return expand_call(n, ins);
      return bodies.apply(n, ins);
    });
  }
  return cur;
}

}  // namespace symnet
