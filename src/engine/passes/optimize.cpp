// The standard optimization pipeline, with per-pass statistics.
#include <chrono>

#include "engine/passes/passes.h"

namespace symnet {

Graph optimize(const Graph& g, std::vector<PassStats>* stats, bool fuse) {
  using Pass = Graph (*)(const Graph&);
  struct Step {
    const char* name;
    Pass fn;
  };
  std::vector<Step> pipeline = {
      {"simplify", simplify_algebra},
      {"fold", fold_constants},
      {"cse", eliminate_common_subexpressions},
      {"simplify", simplify_algebra},  // folding and merging expose new x*1, neg(neg x), ...
      {"dce", eliminate_dead_code},
  };
  // Fusion groups values by element count, which a value of unknown rank does not have yet.
  // Compiling always specialises first; only a graph drawn before it is fed (sym_dot) gets here.
  // Unknown ranks only ever come from inputs declared without a shape.
  bool unknown_rank = false;
  for (const Value& in : g.inputs) unknown_rank = unknown_rank || !in.rank_known();
  if (fuse && !unknown_rank) {
    pipeline.push_back({"per_sample", fuse_per_sample});
    pipeline.push_back({"fuse", fuse_elementwise});
    pipeline.push_back({"dce", eliminate_dead_code});
  }
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
