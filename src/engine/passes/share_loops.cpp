// Sharing a loop with the loop its gradient re-runs (passes.h share_recorded_loops).
//
// scan's gradient (ops/scan.cpp) runs the forward loop again with a body that also emits each
// step's incoming states: same inputs, same attributes, the forward body's outputs followed
// by more. When the forward scan is in the graph too, the recording scan computes all of its
// outputs; pointing the forward's users at the recording scan runs the loop once, and the
// states it stacks for the gradient are ordinary values in the planned arena. while_loop's
// gradient (ops/while_loop.cpp) likewise re-runs the loop with record = 1: same inputs, cond
// and body, its outputs the forward's followed by the trip count and the recorded values.
//
// Both bodies have been through the passes separately by then (each distinct body is
// rewritten on its own), so they are compared by structure, not by identity.
#include <initializer_list>
#include <unordered_map>

#include "engine/ops/registry.h"
#include "engine/passes/passes.h"

namespace symnet {

namespace {

// Whether outputs of graph `a` compute what outputs of graph `b` compute: node by node, the
// same op, attributes and inputs, inputs of the graphs matching by position. Random ops must
// also have the same name (their stream is keyed by it).
class SameComputation {
 public:
  SameComputation(const Graph& a, const Graph& b) {
    for (size_t i = 0; i < a.inputs.size(); ++i) a_inputs_[a.inputs[i].node.get()] = i;
    for (size_t i = 0; i < b.inputs.size(); ++i) b_inputs_[b.inputs[i].node.get()] = i;
  }

  bool values(const Value& a, const Value& b) { return a.index == b.index && nodes(*a.node, *b.node); }

 private:
  bool nodes(const Node& a, const Node& b) {
    auto ia = a_inputs_.find(&a), ib = b_inputs_.find(&b);
    if (ia != a_inputs_.end() || ib != b_inputs_.end())
      return ia != a_inputs_.end() && ib != b_inputs_.end() && ia->second == ib->second;
    if (&a == &b) return true;  // a node both bodies hold (a captured constant or variable)
    auto seen = matched_.find(&a);
    if (seen != matched_.end()) return seen->second == &b;
    if (a.op != b.op || a.inputs.size() != b.inputs.size() || a.outputs.size() != b.outputs.size() ||
        !(a.attrs == b.attrs) || (a.op->has(kRandom) && a.name != b.name))
      return false;
    for (size_t i = 0; i < a.inputs.size(); ++i) {
      if (a.inputs[i].defined() != b.inputs[i].defined()) return false;
      if (a.inputs[i].defined() && !values(a.inputs[i], b.inputs[i])) return false;
    }
    matched_[&a] = &b;
    return true;
  }

  std::unordered_map<const Node*, size_t> a_inputs_, b_inputs_;
  std::unordered_map<const Node*, const Node*> matched_;
};

bool same_ints(const Node& r, const Node& s, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    if (r.attrs.has(k) != s.attrs.has(k)) return false;
    if (r.attrs.has(k) && r.attrs.get_int(k) != s.attrs.get_int(k)) return false;
  }
  return true;
}

// Whether graph attribute `key` of `r` computes every output of that of `s` (at the same
// positions), from inputs matching by position; `more`: and has further outputs.
bool body_covers(const Node& r, const Node& s, const char* key, bool more) {
  GraphPtr rb = r.attrs.get_graph(key), sb = s.attrs.get_graph(key);
  if (!rb || !sb || rb->inputs.size() != sb->inputs.size()) return false;
  if (more ? rb->outputs.size() <= sb->outputs.size() : rb->outputs.size() != sb->outputs.size()) return false;
  SameComputation same(*sb, *rb);
  for (size_t i = 0; i < sb->outputs.size(); ++i)
    if (!same.values(sb->outputs[i], rb->outputs[i])) return false;
  return true;
}

// Whether loop `r` computes every output of loop `s` (at the same positions), and more: a
// scan whose body has more outputs, or a while_loop that records.
bool covers(const Node& r, const Node& s) {
  if (r.op != s.op || r.inputs != s.inputs || r.outputs.size() <= s.outputs.size()) return false;
  if (s.op_name() == "scan")
    return same_ints(r, s, {"n_states", "n_sequences", "reverse", "n_steps"}) && body_covers(r, s, "body", true);
  return same_ints(r, s, {"n_vars", "max_iterations", "error_at_max"}) && r.attrs.get_int("record", 0) == 1 &&
         s.attrs.get_int("record", 0) == 0 && body_covers(r, s, "cond", false) && body_covers(r, s, "body", false);
}

}  // namespace

Graph share_recorded_loops(const Graph& g) {
  Graph cur = g;
  // A round redirects the users of each covered scan whose inputs did not change in that
  // round; chains (a loop over another loop's outputs) take a round per link.
  for (;;) {
    std::vector<NodePtr> scans;
    for (const NodePtr& n : cur.topo_order())
      if (n->op_name() == "scan" || n->op_name() == "while_loop") scans.push_back(n);
    std::unordered_map<const Node*, const Node*> by;  // covered scan -> the scan covering it
    for (const NodePtr& s : scans) {
      for (const NodePtr& r : scans) {
        if (r != s && covers(*r, *s)) {
          by[s.get()] = r.get();
          break;
        }
      }
    }
    if (by.empty()) return cur;
    bool changed = false;
    cur = rewrite_graph(cur, [&](const Node& orig, const std::vector<Value>& ins) -> std::vector<Value> {
      auto it = by.find(&orig);
      if (it == by.end() || ins != orig.inputs) return {};
      changed = true;
      std::vector<Value> outs;
      for (int i = 0; i < static_cast<int>(orig.outputs.size()); ++i) outs.push_back(it->second->out(i));
      return outs;
    });
    if (!changed) return cur;
  }
}

}  // namespace symnet
