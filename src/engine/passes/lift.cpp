// Lambda lifting (passes/lift.h).
#include "engine/passes/lift.h"

#include <unordered_map>
#include <unordered_set>

#include "engine/base/error.h"
#include "engine/ops/builder.h"

namespace symnet {

namespace {

bool stays_captured(const Node& n) { return n.op_name() == "constant" || n.op_name() == "variable"; }

struct ValueHash {
  size_t operator()(const Value& v) const {
    return std::hash<const void*>()(v.node.get()) ^ (static_cast<size_t>(v.index) * 0x9e3779b97f4a7c15ULL);
  }
};

}  // namespace

LiftedBody lift_body(const std::vector<Value>& params, const std::vector<Value>& outputs,
                     const std::vector<std::string>& output_names) {
  SN_CHECK(!outputs.empty(), ErrorKind::value, "a body needs at least one output");
  std::unordered_set<const Node*> formal;
  for (const Value& p : params) {
    SN_CHECK(p.defined() && p.node->op_name() == "input" && p.index == 0, ErrorKind::value,
             "the parameters of a body must be input nodes");
    SN_CHECK(formal.insert(p.node.get()).second, ErrorKind::value,
             "parameter '" << p.node->name << "' is listed twice");
  }
  for (const Value& v : outputs) SN_CHECK(v.defined(), ErrorKind::value, "a body output is undefined");

  Graph expr = Graph::from_outputs(outputs);
  std::vector<NodePtr> order = expr.topo_order();
  // Nodes that depend on a parameter belong to the body; the rest is computed outside.
  std::unordered_set<const Node*> inside;
  for (const NodePtr& n : order) {
    bool in = formal.count(n.get()) > 0;
    for (const Value& v : n->inputs) in = in || (v.defined() && inside.count(v.node.get()));
    if (in) inside.insert(n.get());
  }

  LiftedBody out;
  auto g = std::make_shared<Graph>();
  g->inputs = params;
  std::unordered_map<Value, Value, ValueHash> lifted;  // outer value -> body input standing for it
  auto body_value = [&](const Value& v, const std::unordered_map<const Node*, std::vector<Value>>& made) -> Value {
    if (inside.count(v.node.get())) {
      auto m = made.find(v.node.get());
      return m == made.end() ? v : m->second.at(v.index);  // a param is itself
    }
    if (stays_captured(*v.node)) return v;
    auto it = lifted.find(v);
    if (it != lifted.end()) return it->second;
    const TensorType& t = v.type();
    std::string name = v.node->name + (v.node->outputs.size() > 1 ? ":" + std::to_string(v.index) : "");
    AttrMap a{{"name", name}, {"dtype", std::string(dtype_name(t.dtype))}};
    if (t.rank_known()) a.set("shape", t.shape);
    Value in = make_node("input", {}, std::move(a), name).at(0);
    g->inputs.push_back(in);
    out.captured.push_back(v);
    lifted.emplace(v, in);
    return in;
  };
  std::unordered_map<const Node*, std::vector<Value>> made;  // body copies of inside nodes
  for (const NodePtr& n : order) {
    if (!inside.count(n.get()) || formal.count(n.get())) continue;
    std::vector<Value> ins;
    bool changed = false;
    for (const Value& v : n->inputs) {
      ins.push_back(v.defined() ? body_value(v, made) : v);
      changed = changed || ins.back() != v;
    }
    if (changed) {
      made[n.get()] = remake_node(*n, std::move(ins));
    } else {
      std::vector<Value> same;
      for (int i = 0; i < static_cast<int>(n->outputs.size()); ++i) same.push_back(n->out(i));
      made[n.get()] = same;
    }
  }
  for (const Value& v : outputs) g->outputs.push_back(body_value(v, made));
  g->output_names = output_names;
  out.body = g;
  return out;
}

}  // namespace symnet
