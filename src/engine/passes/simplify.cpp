// Algebraic simplification: rewrites that are exact for every input (x*0 is NOT folded:
// it is NaN for x = NaN or Inf). A rewrite applies only when the result has exactly the
// type of the node it replaces, so no broadcast or dtype change can slip through.
#include <numeric>

#include "engine/base/error.h"
#include "engine/ops/registry.h"
#include "engine/passes/passes.h"
#include "engine/passes/subgraph.h"

namespace symnet {

namespace {

bool is_op(const Value& v, const char* name) { return v.defined() && v.node->op_name() == name; }

// A non-empty constant whose every element equals c.
bool constant_all(const Value& v, double c) {
  if (!is_op(v, "constant")) return false;
  TensorPtr t = v.node->attrs.get_tensor("value");
  if (!t || !t->defined() || t->numel() == 0 || !is_core_dtype(t->dtype())) return false;
  for (int64_t i = 0; i < t->numel(); ++i)
    if (t->get_as_double(i) != c) return false;
  return true;
}

// Builds a replacement node and keeps it only when it has exactly the original's type.
Value try_make(const Node& like, const std::string& op, std::vector<Value> ins, AttrMap attrs) {
  if (!registry().find(op)) return {};
  try {
    Value v = make_node(op, std::move(ins), std::move(attrs), like.name).at(0);
    return v.type() == like.outputs.at(0) ? v : Value{};
  } catch (const Error&) {
    return {};
  }
}

// The node's permutation (empty attribute: reversed axes), or empty when invalid.
std::vector<int64_t> perm_of(const Node& n, int64_t rank) {
  std::vector<int64_t> p = n.attrs.get_ints("perm", {});
  if (p.empty()) {
    for (int64_t i = rank - 1; i >= 0; --i) p.push_back(i);
    return p;
  }
  if (static_cast<int64_t>(p.size()) != rank) return {};
  std::vector<bool> seen(rank, false);
  for (int64_t& a : p) {
    if (a < 0) a += rank;
    if (a < 0 || a >= rank || seen[a]) return {};
    seen[a] = true;
  }
  return p;
}

bool is_identity_perm(const std::vector<int64_t>& p) {
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != static_cast<int64_t>(i)) return false;
  return true;
}

Value simplify_node(const Node& n, const std::vector<Value>& ins) {
  if (n.outputs.size() != 1) return {};
  // Equal declared types do not make two values of unknown rank the same shape (x * ones(3)
  // is x only when x has at least one axis of 3), and ranks are needed below: such nodes
  // wait for specialisation, which gives every value its rank.
  if (!n.outputs[0].rank_known()) return {};
  for (const Value& v : ins)
    if (v.defined() && !v.rank_known()) return {};
  const std::string& op = n.op_name();
  const TensorType& out = n.outputs[0];
  auto same_type = [&](const Value& x) { return x.type() == out; };

  if (ins.size() == 2 && (op == "add" || op == "sub" || op == "mul" || op == "div" || op == "pow")) {
    const Value &a = ins[0], &b = ins[1];
    double neutral = (op == "add" || op == "sub") ? 0.0 : 1.0;
    if (constant_all(b, neutral) && same_type(a)) return a;
    if ((op == "add" || op == "mul") && constant_all(a, neutral) && same_type(b)) return b;
    if (op == "pow" && constant_all(b, 2.0)) return try_make(n, "square", {a}, {});
    return {};
  }
  // Gradient plumbing that turned out not to change anything once shapes are known.
  if (ins.size() == 2 && (op == "sum_to" || op == "broadcast_like" || op == "reshape_like") &&
      shape_known(out.shape) && same_type(ins[0]))
    return ins[0];
  // A fill whose shape is now known no longer needs its input: folding can then make it a
  // constant, which lives outside the arena.
  if (op == "fill_like" && shape_known(out.shape) && is_core_dtype(out.dtype))
    return try_make(n, "fill", {}, {{"shape", out.shape}, {"value", n.attrs.get_float("value")},
                                    {"dtype", std::string(dtype_name(out.dtype))}});
  if (ins.size() != 1) return {};
  const Value& x = ins[0];
  if (op == "identity" && same_type(x)) return x;
  if (op == "neg" && is_op(x, "neg")) return x.node->inputs.at(0);
  if (op == "cast" && same_type(x)) return x;
  if (op == "reshape") {
    if (same_type(x)) return x;
    if (!is_op(x, "reshape") || !shape_known(out.shape)) return {};
    for (int64_t d : out.shape)
      if (d == 0) return {};  // some reshape spellings read 0 as "keep this dimension"
    const Value& inner = x.node->inputs.at(0);
    if (same_type(inner)) return inner;
    AttrMap attrs = n.attrs;
    attrs.set("shape", out.shape);
    return try_make(n, "reshape", {inner}, attrs);
  }
  if (op == "transpose") {
    int64_t rank = x.rank();
    std::vector<int64_t> outer = perm_of(n, rank);
    if (outer.empty() && rank > 0) return {};
    if (is_identity_perm(outer) && same_type(x)) return x;
    if (!is_op(x, "transpose")) return {};
    std::vector<int64_t> inner = perm_of(*x.node, rank);
    if (inner.empty() && rank > 0) return {};
    std::vector<int64_t> composed(rank);
    for (int64_t i = 0; i < rank; ++i) composed[i] = inner[outer[i]];
    const Value& src = x.node->inputs.at(0);
    if (is_identity_perm(composed) && same_type(src)) return src;
    AttrMap attrs = n.attrs;
    attrs.set("perm", composed);
    return try_make(n, "transpose", {src}, attrs);
  }
  return {};
}

}  // namespace

Graph simplify_algebra(const Graph& g) {
  BodyRewriter bodies(simplify_algebra);  // bodies are simplified too
  return rewrite_graph(g, [&](const Node& n, const std::vector<Value>& ins) -> std::vector<Value> {
    std::vector<Value> rebodied = bodies.apply(n, ins);
    if (!rebodied.empty()) return rebodied;  // no rule below applies to a node with a body
    Value v = simplify_node(n, ins);
    if (v.defined()) return {v};
    return {};
  });
}

Graph strip_identities(const Graph& g) {
  return rewrite_graph(g, [](const Node& n, const std::vector<Value>& ins) -> std::vector<Value> {
    const std::string& op = n.op_name();
    if ((op == "identity" || op == "stop_gradient") && ins.size() == 1 && n.outputs.size() == 1 &&
        ins[0].type() == n.outputs[0])
      return {ins[0]};
    return {};
  });
}

}  // namespace symnet
