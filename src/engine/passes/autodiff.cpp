// Reverse-mode autodiff as a graph transform: every gradient is built from registered
// ops, so the result is an ordinary graph (optimizable, differentiable again).
#include <unordered_map>
#include <unordered_set>

#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/ops/infer_util.h"
#include "engine/ops/registry.h"
#include "engine/passes/passes.h"
#include "engine/passes/subgraph.h"

namespace symnet {

namespace {

struct ValueKey {
  const Node* node;
  int index;
  bool operator==(const ValueKey& o) const { return node == o.node && index == o.index; }
};
struct ValueKeyHash {
  size_t operator()(const ValueKey& k) const {
    return std::hash<const void*>()(k.node) ^ (static_cast<size_t>(k.index) * 0x9e3779b97f4a7c15ULL);
  }
};

// Gradient rules are built now, before the graph is fed, and many need ranks (which axes
// to sum a broadcast gradient over, how to transpose a matmul operand). A value of unknown
// rank on the way from wrt to y would make them guess, so it is refused, naming the inputs
// that were declared without a shape.
void require_known_ranks(const Graph& g, const std::vector<NodePtr>& order,
                         const std::unordered_set<const Node*>& depends, const std::vector<Value>& outputs,
                         const std::vector<Value>& wrt) {
  bool any = false;
  for (const Value& y : outputs) any = any || !y.rank_known();
  for (const Value& w : wrt) any = any || (w.defined() && !w.rank_known());
  for (const NodePtr& n : order) {
    if (any) break;
    if (!depends.count(n.get())) continue;
    for (const TensorType& t : n->outputs) any = any || t.unknown_rank;
    for (const Value& v : n->inputs) any = any || (v.defined() && !v.rank_known());
  }
  if (!any) return;
  std::string names;
  for (const Value& in : g.inputs)
    if (!in.rank_known()) names += (names.empty() ? "'" : ", '") + in.node->attrs.get_string("name", in.node->name) + "'";
  for (const Value& w : wrt)
    if (w.defined() && !w.rank_known() && w.node->op_name() == "input" && names.find("'" + w.node->name + "'") == std::string::npos)
      names += (names.empty() ? "'" : ", '") + w.node->attrs.get_string("name", w.node->name) + "'";
  if (names.empty()) names = "'x'";
  const std::string first = names.substr(1, names.find('\'', 1) - 1);
  SN_THROW(ErrorKind::shape, "gradients are built before the graph is fed and need the rank of every value they"
                             " pass through; input "
                                 << names << " was declared without a shape (any rank): declare it with one,"
                                 << " e.g. sym_var(\"" << first << "\", c(NA, NA)) for a matrix of any size, or sym_var(\""
                                 << first << "\", integer()) for a scalar");
}

// Whether a call on the way to the outputs has a wrt value inside its body (a parameter the
// body shares with the graph). A call's gradient rule only gives gradients for its inputs,
// so such calls are differentiated inlined instead (the same nodes the rule would build).
bool body_holds_wrt(const std::vector<NodePtr>& order, const std::unordered_set<const Node*>& wrt_nodes) {
  bool found = false;
  for (const NodePtr& n : order) {
    if (found) break;
    const bool is_call = n->op_name() == "call";
    for_each_body(*n, [&](const Graph& b) {
      for (const NodePtr& m : b.topo_order()) {
        if (!wrt_nodes.count(m.get())) continue;
        // Other ops with bodies (cond) differentiate with respect to their arguments only:
        // a gradient that would also flow inside a body must not silently miss that part.
        SN_CHECK(is_call, ErrorKind::unsupported,
                 "the gradient with respect to '" << m->name << "', which is used inside the body of "
                                                  << n->describe() << ", is not supported; pass it to the "
                                                  << n->op_name() << " as an argument instead");
        // A call with its own gradient body gives gradients for its arguments only; inlining
        // it would silently differentiate the body instead of using the given gradient.
        SN_CHECK(!n->attrs.has("grad"), ErrorKind::unsupported,
                 "the gradient with respect to '" << m->name << "', which is used inside the body of "
                                                  << n->describe()
                                                  << ", is not supported: that call has a custom gradient, which "
                                                     "gives gradients for its arguments only; pass it as an argument");
        found = true;
      }
    });
  }
  return found;
}

}  // namespace

std::vector<Value> gradients(const Value& y, const std::vector<Value>& wrt) {
  SN_CHECK(y.defined(), ErrorKind::value, "gradient of an undefined value");
  SN_CHECK(is_float(y.dtype()), ErrorKind::dtype,
           "gradients need a floating-point output, got " << dtype_name(y.dtype()));
  // (An output of unknown rank gets vjp's message naming the inputs to declare.)
  if (y.rank_known())
    SN_CHECK(shape_numel(y.shape()) == 1 || y.shape().empty(), ErrorKind::shape,
             "gradients need a scalar output (one element), got shape " << shape_str(y.shape())
                                                                       << "; reduce it first, e.g. with sum()");
  return vjp({y}, {op::ones_like(y)}, wrt);
}

std::vector<Value> vjp(const std::vector<Value>& outputs, const std::vector<Value>& cotangents,
                       const std::vector<Value>& wrt) {
  SN_CHECK(!outputs.empty() && outputs.size() == cotangents.size(), ErrorKind::value,
           "vjp needs one cotangent per output (" << outputs.size() << " outputs, " << cotangents.size()
                                                   << " cotangents)");
  for (size_t k = 0; k < outputs.size(); ++k) {
    const Value& y = outputs[k];
    const Value& c = cotangents[k];
    SN_CHECK(y.defined() && c.defined(), ErrorKind::value, "vjp of an undefined output or cotangent");
    SN_CHECK(is_float(y.dtype()) && c.dtype() == y.dtype(), ErrorKind::dtype,
             "output " << k + 1 << " is " << type_str(y.type()) << " but its cotangent is " << type_str(c.type())
                       << "; both must be the same floating-point type");
  }

  Graph g = Graph::from_outputs(outputs);
  std::vector<NodePtr> order = g.topo_order();

  // Only nodes on a path from some wrt to y need gradients.
  std::unordered_set<const Node*> wrt_nodes;
  for (const Value& w : wrt) {
    SN_CHECK(w.defined(), ErrorKind::value, "gradient w.r.t. an undefined value");
    wrt_nodes.insert(w.node.get());
  }
  std::unordered_set<const Node*> depends;  // node depends on some wrt
  for (const NodePtr& n : order) {
    bool d = wrt_nodes.count(n.get()) > 0;
    for (const Value& v : n->inputs) d = d || (v.defined() && depends.count(v.node.get()));
    if (d) depends.insert(n.get());
  }
  if (body_holds_wrt(order, wrt_nodes)) {
    Graph inlined = inline_calls(g);
    return vjp(inlined.outputs, cotangents, wrt);
  }
  require_known_ranks(g, order, depends, outputs, wrt);
  for (size_t k = 0; k < outputs.size(); ++k)
    SN_CHECK(cotangents[k].rank_known() && shapes_compatible(outputs[k].shape(), cotangents[k].shape()),
             ErrorKind::shape,
             "output " << k + 1 << " has type " << type_str(outputs[k].type()) << " but its cotangent "
                       << type_str(cotangents[k].type()));

  std::unordered_map<ValueKey, Value, ValueKeyHash> grads;
  for (size_t k = 0; k < outputs.size(); ++k) {
    ValueKey key{outputs[k].node.get(), outputs[k].index};
    auto g_it = grads.find(key);  // an output listed twice gets the sum of its cotangents
    grads[key] = op::add_grad(g_it == grads.end() ? Value{} : g_it->second, cotangents[k]);
  }

  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Node& n = **it;
    if (!depends.count(&n) || n.inputs.empty()) continue;
    GradContext ctx{n, {}, {}, VjpFn(vjp)};
    bool any = false;
    for (int i = 0; i < static_cast<int>(n.outputs.size()); ++i) {
      ctx.outputs.push_back(n.out(i));
      auto g_it = grads.find({&n, i});
      ctx.out_grads.push_back(g_it == grads.end() ? Value{} : g_it->second);
      any = any || ctx.out_grads.back().defined();
    }
    if (!any) continue;
    bool needs_input_grad = false;
    for (const Value& v : n.inputs) needs_input_grad = needs_input_grad || (v.defined() && depends.count(v.node.get()));
    if (!needs_input_grad) continue;
    if (n.op->has(kZeroGrad)) continue;
    if (!n.op->grad) {
      throw Error(ErrorKind::value,
                  "op '" + n.op_name() + "' has no gradient; a gradient cannot flow through it",
                  n.op_name(), n.name);
    }
    // Undefined output gradients become zeros so rules can rely on them.
    for (size_t i = 0; i < ctx.out_grads.size(); ++i)
      if (!ctx.out_grads[i].defined() && is_float(ctx.outputs[i].dtype()))
        ctx.out_grads[i] = op::zeros_like(ctx.outputs[i]);
    std::vector<Value> in_grads;
    try {
      in_grads = n.op->grad(ctx);
    } catch (const Error& e) {
      throw e.with_context(n.op_name(), n.name);
    }
    SN_CHECK(in_grads.size() == n.inputs.size(), ErrorKind::internal,
             "gradient rule of " << n.describe() << " returned " << in_grads.size() << " values for "
                                 << n.inputs.size() << " inputs");
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const Value& x = n.inputs[i];
      if (!in_grads[i].defined() || !x.defined() || !depends.count(x.node.get())) continue;
      SN_CHECK(in_grads[i].shape().size() == x.shape().size(), ErrorKind::internal,
               "gradient rule of " << n.describe() << " gave shape " << shape_str(in_grads[i].shape())
                                   << " for input " << shape_str(x.shape()));
      ValueKey key{x.node.get(), x.index};
      auto g_it = grads.find(key);
      grads[key] = op::add_grad(g_it == grads.end() ? Value{} : g_it->second, in_grads[i]);
    }
  }

  std::vector<Value> out;
  for (const Value& w : wrt) {
    auto g_it = grads.find({w.node.get(), w.index});
    if (g_it != grads.end()) {
      Value gv = g_it->second;
      if (gv.dtype() != w.dtype()) gv = op::cast(gv, w.dtype());
      out.push_back(gv);
    } else {
      out.push_back(op::zeros_like(w));
    }
  }
  return out;
}

Graph autodiff(const Graph& g, const std::vector<Value>& wrt) {
  SN_CHECK(!g.outputs.empty(), ErrorKind::value, "autodiff of a graph without outputs");
  std::vector<Value> grads = gradients(g.outputs[0], wrt);
  Graph out = g;
  for (size_t i = 0; i < wrt.size(); ++i) {
    out.outputs.push_back(grads[i]);
    out.output_names.push_back("grad_" + wrt[i].node->name);
  }
  return out;
}

}  // namespace symnet
