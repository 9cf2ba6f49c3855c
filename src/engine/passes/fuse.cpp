// Elementwise fusion: maximal connected groups of same-shape elementwise ops become one
// fused_elementwise node whose "body" graph re-makes the members on formal inputs
// in0, in1, ... Values used outside the group (or graph outputs) escape as outputs of
// the fused node; everything else stays in per-chunk buffers of its kernel.
//
// Groups are grown in topological order. Adding a node (and possibly merging the groups of
// several producers) is refused when a path would leave the group and come back, since
// the fused node would then depend on itself; groups already formed count as one node in
// that check.
#include <algorithm>
#include <map>
#include <memory>
#include <queue>
#include <unordered_map>

#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/ops/registry.h"
#include "engine/passes/passes.h"

namespace symnet {

namespace {

// Elementwise node whose inputs all have its element count or one element.
bool fusable(const Node& n) {
  const OpDef& op = *n.op;
  if (!op.has(kElementwise) || op.has(kRandom) || op.has(kSource) || !op.kernel(Device::cpu)) return false;
  if (n.outputs.size() != 1 || n.inputs.empty()) return false;
  const TensorType& t = n.outputs[0];
  int64_t numel = shape_numel(t.shape);
  if (numel <= 0 || !has_cpu_kernels(t.dtype)) return false;
  for (const Value& v : n.inputs) {
    if (!v.defined() || !has_cpu_kernels(v.dtype())) return false;
    int64_t m = shape_numel(v.shape());
    if (m != numel && m != 1) return false;
  }
  return true;
}

struct Grouping {
  std::vector<NodePtr> order;
  std::unordered_map<const Node*, int> index;  // topological position
  std::vector<int> parent;                     // union-find over positions; -1: not fusable
  std::vector<std::vector<int>> members;       // per root
  std::vector<int> min_index;                  // per root

  int find(int i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  }
  int group_of(int i) { return parent[i] < 0 ? -1 : find(i); }

  // True when some path from a member of `roots` leaves them and returns (through any node
  // or through another group, treated as a single node). Searches backwards from the
  // external producers of the would-be group. With a single group only the new node's
  // producers can close a cycle: the group was cycle-free before and nothing built yet
  // consumes the new node.
  bool would_cycle(const std::vector<int>& roots, int extra) {
    auto in_set = [&](int i) {
      if (i == extra) return true;
      int g = group_of(i);
      return g >= 0 && std::find(roots.begin(), roots.end(), g) != roots.end();
    };
    int lo = extra;
    std::vector<int> stack;
    auto push_producers = [&](int i) {
      for (const Value& v : order[i]->inputs) {
        int j = index.at(v.node.get());
        if (!in_set(j)) stack.push_back(j);
      }
    };
    push_producers(extra);
    for (int r : roots) {
      lo = std::min(lo, min_index[r]);
      if (roots.size() > 1)
        for (int m : members[r]) push_producers(m);
    }
    std::vector<char> seen(order.size(), 0);
    while (!stack.empty()) {
      int i = stack.back();
      stack.pop_back();
      if (i < lo || seen[i]) continue;  // earlier than every member: cannot depend on one
      seen[i] = 1;
      if (in_set(i)) return true;
      int g = group_of(i);
      if (g >= 0 && members[g].size() > 1) {
        for (int m : members[g]) {
          seen[m] = 1;
          for (const Value& v : order[m]->inputs) stack.push_back(index.at(v.node.get()));
        }
      } else {
        for (const Value& v : order[i]->inputs) stack.push_back(index.at(v.node.get()));
      }
    }
    return false;
  }

  void join(int root, int i) {
    parent[i] = root;
    members[root].push_back(i);
    min_index[root] = std::min(min_index[root], i);
  }
  int merge(int a, int b) {  // keeps the smaller root
    if (a > b) std::swap(a, b);
    parent[b] = a;
    members[a].insert(members[a].end(), members[b].begin(), members[b].end());
    members[b].clear();
    min_index[a] = std::min(min_index[a], min_index[b]);
    return a;
  }
};

Grouping form_groups(const Graph& g) {
  Grouping gr;
  gr.order = g.topo_order();
  const int n = static_cast<int>(gr.order.size());
  for (int i = 0; i < n; ++i) gr.index[gr.order[i].get()] = i;
  // Producers whose value some non-fusable node (matmul, conv, a reduction) also reads.
  std::vector<char> read_by_other(n, 0);
  for (int i = 0; i < n; ++i) {
    const Node& c = *gr.order[i];
    bool c_fusable = fusable(c);
    for (const Value& v : c.inputs)
      if (!c_fusable || c.outputs[0].shape != v.shape()) read_by_other[gr.index.at(v.node.get())] = 1;
  }
  gr.parent.assign(n, -1);
  gr.members.assign(n, {});
  gr.min_index.assign(n, n);
  for (int i = 0; i < n; ++i) {
    const Node& node = *gr.order[i];
    if (!fusable(node)) continue;
    gr.parent[i] = i;
    gr.members[i] = {i};
    gr.min_index[i] = i;
    // Candidate producer groups, in input order, without repeats.
    // A producer that a non-fusable node also reads (a forward activation feeding both a
    // matmul and, later, its backward factor 1 - tanh(x)^2) is not fused with its
    // elementwise readers: the group would run them early, at the producer, and keep
    // their results alive across everything in between.
    std::vector<int> cands;
    for (const Value& v : node.inputs) {
      int j = gr.index.at(v.node.get());
      int r = gr.group_of(j);
      if (r < 0 || gr.order[j]->outputs[0].shape != node.outputs[0].shape) continue;
      if (read_by_other[j]) continue;
      if (std::find(cands.begin(), cands.end(), r) == cands.end()) cands.push_back(r);
    }
    std::vector<int> accepted;
    for (int r : cands) {
      std::vector<int> trial = accepted;
      trial.push_back(r);
      if (!gr.would_cycle(trial, i)) accepted = trial;
    }
    if (accepted.empty()) continue;
    gr.members[i].clear();
    int root = accepted[0];
    for (size_t k = 1; k < accepted.size(); ++k) root = gr.merge(root, accepted[k]);
    gr.join(root, i);
  }
  for (auto& m : gr.members) std::sort(m.begin(), m.end());
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
  auto uses = count_uses(g);

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
    for (const Value& v : gr.order[i]->inputs) {
      int p = unit[gr.index.at(v.node.get())];
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
    auto it = mapped.find({v.node.get(), v.index});
    SN_CHECK(it != mapped.end(), ErrorKind::internal, "fuse_elementwise: value used before it was built");
    return it->second;
  };

  std::vector<char> graph_output(n, 0);
  for (const Value& v : g.outputs) graph_output[gr.index.at(v.node.get())] = 1;

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
        if (graph_output[m] || uses.at(node)[0] > inside[node]) escaping.push_back(m);
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
