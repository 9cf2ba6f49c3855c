// The target-independent optimization pipeline, with per-pass statistics.
#include <chrono>

#include "engine/passes/passes.h"

namespace symnet {

Graph optimize_generic(const Graph& g, const ConstantEvaluator& eval, std::vector<PassStats>* stats) {
  using Pass = std::function<Graph(const Graph&)>;
  struct Step {
    const char* name;
    Pass fn;
  };
  std::vector<Step> pipeline = {
      {"inline", inline_calls},  // first: the other passes then see across call boundaries
      {"simplify", simplify_algebra},
      // Before folding: batch norms on constant weights then fold away entirely.
      {"fold_bn", fold_batch_norms},
      {"fold", [&eval](const Graph& x) { return fold_constants(x, eval); }},
      {"cse", eliminate_common_subexpressions},
      {"share_loops", share_recorded_loops},  // after cse: the two loops' inputs are canonical
      {"simplify", simplify_algebra},  // folding and merging expose new x*1, neg(neg x), ...
      {"dce", eliminate_dead_code},
  };
  Graph cur = g;
  size_t nodes = stats ? cur.num_nodes() : 0;
  for (const Step& s : pipeline) {
    auto t0 = std::chrono::steady_clock::now();
    cur = s.fn(cur);
    if (!stats) continue;
    PassStats ps;
    ps.name = s.name;
    ps.nodes_before = nodes;
    ps.nodes_after = nodes = cur.num_nodes();
    ps.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    stats->push_back(ps);
  }
  return cur;
}

}  // namespace symnet
