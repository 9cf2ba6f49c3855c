// Elementwise fusion: maximal connected groups of same-shape elementwise ops become one
// fused_elementwise node whose "body" graph re-makes the members on formal inputs
// in0, in1, ... Values used outside the group (or graph outputs) escape as outputs of
// the fused node; everything else stays in per-chunk buffers of its kernel.
//
// Groups are grown in topological order. Adding a node (and possibly merging the groups of
// several producers) is refused when a path would leave the group and come back, since
// the fused node would then depend on itself; groups already formed count as one node in
// that check.
//
// The check must stay cheap on graphs of 100k nodes, where one group can hold most of
// them: it searches the graph of units (groups and lone nodes) backwards, bounded by a
// topological order of that graph which is kept valid as units merge (Pearce and Kelly's
// dynamic topological sort), so it only visits units that sit between the merged ones.
// Node positions cannot bound it: a group spans positions, so a path through a group
// can run from a late node back to an early one.
#include <algorithm>
#include <map>
#include <memory>
#include <queue>
#include <unordered_map>

#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/ops/registry.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/passes/passes.h"

namespace symnet {

namespace {

// Elementwise node whose inputs all have its element count or one element.
bool fusable(const Node& n) {
  const OpSchema& op = *n.op;
  if (!op.has(kElementwise) || op.has(kRandom) || op.has(kSource) || !cpu_backend().kernel(n.op_name())) return false;
  if (n.outputs.size() != 1 || n.inputs.empty()) return false;
  const TensorType& t = n.outputs[0];
  if (!t.known()) return false;  // unknown rank: element counts are not known yet
  int64_t numel = shape_numel(t.shape);
  if (numel <= 0 || !is_core_dtype(t.dtype)) return false;
  for (const Value& v : n.inputs) {
    if (!v.defined() || !is_core_dtype(v.dtype()) || !v.rank_known()) return false;
    int64_t m = shape_numel(v.shape());
    if (m != numel && m != 1) return false;
  }
  return true;
}

struct Grouping {
  std::vector<NodePtr> order;
  NodeIndex index;                             // topological position
  std::vector<int> in_begin, in_pos;           // producers of each node, by position (CSR)
  std::vector<int> uses0;                      // readers of each first output, graph outputs included
  std::vector<char> fusable_node;
  // Units: every processed node is one, and a group is the unit of its root (its first
  // member). parent is union-find over positions; roots stay the smallest member.
  std::vector<int> parent;
  std::vector<std::vector<int>> members;       // per root (lone nodes included)
  std::vector<int> ord;                        // per root: a topological order of the units
  // Per root: producer / consumer positions outside the unit, possibly stale (members
  // since merged, or repeats); tidied into distinct unit roots when read.
  std::vector<std::vector<int>> ins, outs;
  std::vector<uint32_t> seen, dedup, in_s;     // marks, compared against the epochs below
  uint32_t seen_epoch = 0, dedup_epoch = 0, s_epoch = 0;

  int find(int i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  }
  int group_of(int i) { return fusable_node[i] ? find(i) : -1; }

  // The distinct units (other than u) that list[...] positions belong to, kept as the list.
  const std::vector<int>& tidy(int u, std::vector<int>& list) {
    ++dedup_epoch;
    size_t k = 0;
    for (int p : list) {
      int q = find(p);
      if (q == u || dedup[q] == dedup_epoch) continue;
      dedup[q] = dedup_epoch;
      list[k++] = q;
    }
    list.resize(k);
    return list;
  }

  void mark_set(const std::vector<int>& roots, int extra) {
    ++s_epoch;
    in_s[extra] = s_epoch;
    for (int r : roots) in_s[r] = s_epoch;
  }
  bool in_set(int u) const { return in_s[u] == s_epoch; }

  // True when some path from a member of `roots` leaves them and returns (through any node
  // or through another group, treated as a single node). Nothing consumes the new node
  // `extra` yet, so such a path ends at it or at another root; every unit on it comes after
  // the earliest root in `ord`. Searches backwards from the units that feed the would-be
  // group, skipping units ordered before that root. Without a cycle, `ancestors` gets the
  // visited units: those feeding the group that are ordered after the earliest root.
  bool would_cycle(const std::vector<int>& roots, int extra, std::vector<int>* ancestors) {
    mark_set(roots, extra);
    int lo = ord[roots[0]];
    for (int r : roots) lo = std::min(lo, ord[r]);
    ++seen_epoch;
    std::vector<int> stack;
    if (ancestors) ancestors->clear();
    auto consider = [&](int q) {
      if (in_set(q) || ord[q] < lo || seen[q] == seen_epoch) return;
      seen[q] = seen_epoch;
      stack.push_back(q);
      if (ancestors) ancestors->push_back(q);
    };
    for (int k = in_begin[extra]; k < in_begin[extra + 1]; ++k) consider(find(in_pos[k]));
    // The earliest root's own producers are ordered before it.
    for (int r : roots)
      if (ord[r] > lo)
        for (int q : tidy(r, ins[r])) consider(q);
    while (!stack.empty()) {
      int u = stack.back();
      stack.pop_back();
      for (int q : tidy(u, ins[u])) {
        if (in_set(q)) return true;
        consider(q);
      }
    }
    return false;
  }

  // Merges `roots` and the new node `extra` into one unit, which needs a place in `ord`
  // after the units that feed it (`ancestors`, from would_cycle) and before the units fed
  // by it: those between them in `ord` trade places, taking the old positions among them.
  int merge(const std::vector<int>& roots, int extra, std::vector<int> ancestors) {
    mark_set(roots, extra);
    int lo = ord[roots[0]], hi = lo;
    for (int r : roots) lo = std::min(lo, ord[r]), hi = std::max(hi, ord[r]);
    for (int a : ancestors) hi = std::max(hi, ord[a]);
    std::vector<int> descendants, stack;
    ++seen_epoch;
    auto consider = [&](int q) {
      if (in_set(q) || ord[q] >= hi || seen[q] == seen_epoch) return;
      seen[q] = seen_epoch;
      stack.push_back(q);
      descendants.push_back(q);
    };
    for (int r : roots)
      if (ord[r] < hi)
        for (int q : tidy(r, outs[r])) consider(q);
    while (!stack.empty()) {
      int u = stack.back();
      stack.pop_back();
      for (int q : tidy(u, outs[u])) consider(q);
    }
    std::vector<int> pool;
    for (int a : ancestors) pool.push_back(ord[a]);
    for (int r : roots) pool.push_back(ord[r]);
    for (int d : descendants) pool.push_back(ord[d]);
    std::sort(pool.begin(), pool.end());
    auto by_ord = [&](int a, int b) { return ord[a] < ord[b]; };
    std::sort(ancestors.begin(), ancestors.end(), by_ord);
    std::sort(descendants.begin(), descendants.end(), by_ord);

    int root = extra;
    for (int r : roots) root = std::min(root, r);
    size_t k = 0;
    for (int a : ancestors) ord[a] = pool[k++];
    int root_ord = pool[k++];
    k = pool.size() - descendants.size();
    for (int d : descendants) ord[d] = pool[k++];
    ord[root] = root_ord;

    // Small lists join big ones.
    auto absorb = [&](std::vector<int>& into, std::vector<int>& from) {
      if (into.size() < from.size()) into.swap(from);
      into.insert(into.end(), from.begin(), from.end());
      std::vector<int>().swap(from);
    };
    std::vector<int> all = roots;
    all.push_back(extra);
    for (int u : all) {
      if (u == root) continue;
      parent[u] = root;
      absorb(members[root], members[u]);
      absorb(ins[root], ins[u]);
      absorb(outs[root], outs[u]);
    }
    return root;
  }
};

Grouping form_groups(const Graph& g) {
  Grouping gr;
  gr.order = g.topo_order(&gr.index);
  const int n = static_cast<int>(gr.order.size());
  gr.in_begin.assign(n + 1, 0);
  gr.uses0.assign(n, 0);
  for (int i = 0; i < n; ++i) {
    for (const Value& v : gr.order[i]->inputs) {
      if (!v.defined()) continue;
      const int p = gr.index.find(v.node.get());
      gr.in_pos.push_back(p);
      gr.uses0[p] += v.index == 0;
    }
    gr.in_begin[i + 1] = static_cast<int>(gr.in_pos.size());
  }
  for (const Value& v : g.outputs) gr.uses0[gr.index.find(v.node.get())] += v.index == 0;
  // Producers whose value some non-fusable node (matmul, conv, a reduction) also reads.
  std::vector<char> read_by_other(n, 0);
  gr.fusable_node.assign(n, 0);
  for (int i = 0; i < n; ++i) {
    const Node& c = *gr.order[i];
    const bool c_fusable = fusable(c);
    gr.fusable_node[i] = c_fusable;
    for (const Value& v : c.inputs)
      if (v.defined() && (!c_fusable || c.outputs[0].shape != v.shape())) read_by_other[gr.index.find(v.node.get())] = 1;
  }
  gr.parent.resize(n);
  gr.members.assign(n, {});
  gr.ord.assign(n, 0);
  gr.ins.assign(n, {});
  gr.outs.assign(n, {});
  gr.seen.assign(n, 0);
  gr.dedup.assign(n, 0);
  gr.in_s.assign(n, 0);
  std::vector<int> ancestors, accepted_ancestors;
  for (int i = 0; i < n; ++i) {
    const Node& node = *gr.order[i];
    gr.parent[i] = i;
    gr.members[i] = {i};
    gr.ord[i] = i;  // after every unit so far: nothing consumes it yet
    gr.ins[i].assign(gr.in_pos.begin() + gr.in_begin[i], gr.in_pos.begin() + gr.in_begin[i + 1]);
    int unit = i;
    if (gr.fusable_node[i]) {
      // Candidate producer groups, in input order, without repeats.
      // A producer that a non-fusable node also reads (a forward activation feeding both a
      // matmul and, later, its backward factor 1 - tanh(x)^2) is not fused with its
      // elementwise readers: the group would run them early, at the producer, and keep
      // their results alive across everything in between.
      std::vector<int> cands;
      for (int k = gr.in_begin[i]; k < gr.in_begin[i + 1]; ++k) {
        int j = gr.in_pos[k];
        int r = gr.group_of(j);
        if (r < 0 || gr.order[j]->outputs[0].shape != node.outputs[0].shape) continue;
        if (read_by_other[j]) continue;
        if (std::find(cands.begin(), cands.end(), r) == cands.end()) cands.push_back(r);
      }
      std::vector<int> accepted;
      for (int r : cands) {
        std::vector<int> trial = accepted;
        trial.push_back(r);
        if (!gr.would_cycle(trial, i, &ancestors)) {
          accepted = trial;
          accepted_ancestors.swap(ancestors);
        }
      }
      if (!accepted.empty()) unit = gr.merge(accepted, i, std::move(accepted_ancestors));
    }
    for (int k = gr.in_begin[i]; k < gr.in_begin[i + 1]; ++k) {
      int p = gr.find(gr.in_pos[k]);
      if (p != unit) gr.outs[p].push_back(i);
    }
  }
  for (int i = 0; i < n; ++i) {
    if (!gr.fusable_node[i] || gr.find(i) != i) continue;
    std::sort(gr.members[i].begin(), gr.members[i].end());
  }
  return gr;
}

struct PosHash {
  size_t operator()(const std::pair<const Node*, int>& p) const {
    return std::hash<const void*>()(p.first) ^ static_cast<size_t>(p.second);
  }
};

}  // namespace

Graph fuse_elementwise(const Graph& g) {
  Grouping gr = form_groups(g);
  const int n = static_cast<int>(gr.order.size());

  // Units: a fused group (2+ members, keyed by root) or a single node (keyed by itself).
  std::vector<int> unit(n);
  for (int i = 0; i < n; ++i) {
    int r = gr.group_of(i);
    unit[i] = (r >= 0 && gr.members[r].size() > 1) ? r : i;
  }
  std::vector<char> is_unit_root(n, 0);
  for (int i = 0; i < n; ++i) is_unit_root[unit[i]] = 1;

  // Order units so every producer unit comes first (Kahn, smallest position first).
  std::vector<std::vector<int>> dependents(n);
  std::vector<int> pending(n, 0);
  for (int i = 0; i < n; ++i) {
    for (int k = gr.in_begin[i]; k < gr.in_begin[i + 1]; ++k) {
      int p = unit[gr.in_pos[k]];
      if (p == unit[i]) continue;
      dependents[p].push_back(unit[i]);
      pending[unit[i]]++;
    }
  }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int i = 0; i < n; ++i)
    if (is_unit_root[i] && pending[i] == 0) ready.push(i);

  std::unordered_map<std::pair<const Node*, int>, Value, PosHash> mapped;
  auto lookup = [&](const Value& v) {
    if (!v.defined()) return v;  // an optional input left out
    auto it = mapped.find({v.node.get(), v.index});
    SN_CHECK(it != mapped.end(), ErrorKind::internal, "fuse_elementwise: value used before it was built");
    return it->second;
  };

  std::vector<char> graph_output(n, 0);
  for (const Value& v : g.outputs) graph_output[gr.index.find(v.node.get())] = 1;

  int built = 0;
  while (!ready.empty()) {
    int u = ready.top();
    ready.pop();
    ++built;
    bool is_group = gr.group_of(u) == u && gr.members[u].size() > 1;
    if (!is_group) {
      const Node& node = *gr.order[u];
      std::vector<Value> ins;
      bool changed = false;
      for (const Value& v : node.inputs) {
        ins.push_back(lookup(v));
        changed = changed || ins.back() != v;
      }
      std::vector<Value> outs;
      if (changed) {
        outs = remake_node(node, ins);
      } else {
        for (int k = 0; k < static_cast<int>(node.outputs.size()); ++k) outs.push_back(node.out(k));
      }
      for (int k = 0; k < static_cast<int>(outs.size()); ++k) mapped[{&node, k}] = outs[k];
    } else {
      const std::vector<int>& mem = gr.members[u];
      // Formal inputs of the body, one per distinct external value, in first-use order.
      auto body = std::make_shared<Graph>();
      std::vector<Value> ext_inputs;
      std::unordered_map<std::pair<const Node*, int>, Value, PosHash> inner;
      for (int m : mem) {
        const Node& node = *gr.order[m];
        std::vector<Value> ins;
        for (const Value& v : node.inputs) {
          auto it = inner.find({v.node.get(), v.index});
          if (it == inner.end()) {
            std::string nm = "in" + std::to_string(ext_inputs.size());
            Value formal = op::input(nm, v.dtype(), v.shape());
            ext_inputs.push_back(lookup(v));
            body->inputs.push_back(formal);
            it = inner.emplace(std::make_pair(v.node.get(), v.index), formal).first;
          }
          ins.push_back(it->second);
        }
        inner[{&node, 0}] = remake_node(node, ins).at(0);
      }
      // Escaping values: used by a non-member or by the graph's outputs.
      std::unordered_map<const Node*, int> inside;
      for (int m : mem)
        for (const Value& v : gr.order[m]->inputs) inside[v.node.get()]++;
      std::vector<int> escaping;
      for (int m : mem) {
        const Node* node = gr.order[m].get();
        if (graph_output[m] || gr.uses0[m] > inside[node]) escaping.push_back(m);
      }
      for (int m : escaping) {
        body->outputs.push_back(inner.at({gr.order[m].get(), 0}));
        body->output_names.push_back(gr.order[m]->name);
      }
      const Node& last = *gr.order[mem.back()];
      std::vector<Value> outs = make_node("fused_elementwise", ext_inputs, {{"body", GraphPtr(body)}},
                                          "fused/" + last.name);
      for (size_t k = 0; k < escaping.size(); ++k) mapped[{gr.order[escaping[k]].get(), 0}] = outs[k];
    }
    for (int d : dependents[u])
      if (--pending[d] == 0) ready.push(d);
  }
  int n_units = 0;
  for (int i = 0; i < n; ++i) n_units += is_unit_root[i];
  SN_CHECK(built == n_units, ErrorKind::internal, "fuse_elementwise: grouping produced a cycle");

  Graph out;
  for (const Value& v : g.inputs) out.inputs.push_back(lookup(v));
  for (const Value& v : g.outputs) out.outputs.push_back(lookup(v));
  out.output_names = g.output_names;
  return out;
}

}  // namespace symnet
