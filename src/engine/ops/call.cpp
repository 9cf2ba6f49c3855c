// The call op's schema (see ops/call.h): inference re-infers the body on the argument
// types; the gradient differentiates the body expanded in place, so it is made of plain
// ops and differentiates again.
#include "engine/ops/call.h"

#include <unordered_map>
#include <unordered_set>

#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/ops/infer_util.h"
#include "engine/ops/registry.h"

namespace symnet {

namespace {

// Constants and variables are shared between a body and its expansions: they hold no
// computation, and a variable must stay one node for gradients with respect to it.
bool is_shared_source(const Node& n) { return n.op_name() == "constant" || n.op_name() == "variable"; }

// The declared type `formal` accepts `given`: same dtype; same rank where both are known,
// and equal dimensions where both are known.
bool fits(const TensorType& formal, const TensorType& given) {
  if (formal.dtype != given.dtype) return false;
  if (formal.unknown_rank || given.unknown_rank) return true;
  if (formal.shape.size() != given.shape.size()) return false;
  for (size_t d = 0; d < given.shape.size(); ++d)
    if (formal.shape[d] >= 0 && given.shape[d] >= 0 && formal.shape[d] != given.shape[d]) return false;
  return true;
}

std::vector<TensorType> call_infer(const InferContext& c) {
  GraphPtr body = c.attrs.get_graph("body");
  SN_CHECK(body != nullptr, ErrorKind::attr, "attribute 'body' is empty");
  std::vector<TensorType> args;
  for (size_t i = 0; i < c.num_inputs(); ++i) args.push_back(c.in(i));
  std::vector<TensorType> outs = infer_body(*body, args, "the body");
  if (GraphPtr grad = c.attrs.has("grad") ? c.attrs.get_graph("grad") : nullptr) {
    // The gradient body is checked now, on the types it will be given, so a wrong one fails
    // where the op is made rather than where a gradient is first taken.
    std::vector<TensorType> gargs = args;
    gargs.insert(gargs.end(), outs.begin(), outs.end());
    gargs.insert(gargs.end(), outs.begin(), outs.end());
    std::vector<TensorType> g = infer_body(*grad, gargs, "the gradient body");
    SN_CHECK(g.size() == args.size(), ErrorKind::attr,
             "the gradient body gives " << g.size() << " values for " << args.size() << " arguments");
    for (size_t i = 0; i < g.size(); ++i)
      SN_CHECK(g[i].dtype == args[i].dtype && (g[i].unknown_rank || args[i].unknown_rank ||
                                               shapes_compatible(g[i].shape, args[i].shape)),
               g[i].dtype != args[i].dtype ? ErrorKind::dtype : ErrorKind::shape,
               "the gradient body gives " << type_str(g[i]) << " for argument " << i + 1 << " of type "
                                          << type_str(args[i]));
  }
  return outs;
}

// A call with a "grad" body: the gradient is that body expanded on [arguments, outputs,
// output gradients] instead of the forward body's derivative. The expansion is made of
// plain ops, so a second derivative differentiates the given gradient.
std::vector<Value> custom_call_grad(const GradContext& ctx, const Graph& grad) {
  std::vector<Value> args = ctx.node.inputs;
  args.insert(args.end(), ctx.outputs.begin(), ctx.outputs.end());
  for (size_t k = 0; k < ctx.out_grads.size(); ++k)
    args.push_back(ctx.out_grads[k].defined() ? ctx.out_grads[k] : op::zeros_like(ctx.outputs[k]));
  std::vector<Value> g = splice_body(grad, args, ctx.node.name + "/grad/");
  std::vector<Value> grads(ctx.node.inputs.size());
  for (size_t i = 0; i < grads.size(); ++i)
    if (is_float(ctx.node.inputs[i].dtype())) grads[i] = g.at(i);
  return grads;
}

std::vector<Value> call_grad(const GradContext& ctx) {
  if (ctx.node.attrs.has("grad") && ctx.node.attrs.get_graph("grad"))
    return custom_call_grad(ctx, *ctx.node.attrs.get_graph("grad"));
  SN_CHECK(ctx.vjp, ErrorKind::internal, "the gradient of a call needs autodiff's vjp");
  // The body is expanded on identities of the arguments: the rule must give the partial
  // derivative for each argument, and one argument may be computed from another (x and
  // sin(x)); a vjp with respect to the arguments themselves would follow sin(x) back into
  // x and count that path twice. The identities vanish at compile time.
  std::vector<Value> proxies;
  for (const Value& in : ctx.node.inputs) proxies.push_back(op::identity(in));
  std::vector<Value> outs = expand_call(ctx.node, proxies);
  std::vector<Value> ys, cots, wrt;
  std::vector<int> which;  // input number of each wrt
  for (size_t k = 0; k < outs.size(); ++k) {
    if (!ctx.out_grads[k].defined() || !is_float(outs[k].dtype())) continue;
    ys.push_back(outs[k]);
    cots.push_back(ctx.out_grads[k]);
  }
  for (size_t i = 0; i < ctx.node.inputs.size(); ++i) {
    if (!is_float(ctx.node.inputs[i].dtype())) continue;
    wrt.push_back(proxies[i]);
    which.push_back(static_cast<int>(i));
  }
  std::vector<Value> grads(ctx.node.inputs.size());
  if (ys.empty() || wrt.empty()) return grads;
  std::vector<Value> g = ctx.vjp(ys, cots, wrt);
  for (size_t j = 0; j < which.size(); ++j) grads[which[j]] = g[j];
  return grads;
}

}  // namespace

void validate_call_body(const Graph& body, size_t n_inputs) {
  SN_CHECK(body.inputs.size() == n_inputs, ErrorKind::value,
           "the body has " << body.inputs.size() << " inputs but the call has " << n_inputs << " arguments");
  SN_CHECK(!body.outputs.empty(), ErrorKind::attr, "the body has no outputs");
  std::unordered_set<const Node*> formal;
  for (const Value& v : body.inputs) {
    SN_CHECK(v.defined() && v.node->op_name() == "input", ErrorKind::attr, "the body's inputs must be input nodes");
    SN_CHECK(formal.insert(v.node.get()).second, ErrorKind::attr,
             "the body lists input '" << v.node->name << "' twice");
  }
  for (const NodePtr& n : body.topo_order()) {
    if (n->op_name() != "input" || formal.count(n.get())) continue;
    SN_THROW(ErrorKind::attr, "the body uses input '" << n->name
                                                      << "' that is not among its inputs (lift the body first)");
  }
}

std::vector<Value> splice_body(const Graph& body, const std::vector<Value>& args, const std::string& prefix) {
  std::unordered_map<const Node*, Value> formal;
  for (size_t i = 0; i < body.inputs.size(); ++i) formal[body.inputs[i].node.get()] = args.at(i);
  std::unordered_map<const Node*, std::vector<Value>> made;
  auto mapped = [&](const Value& v) -> Value {
    auto f = formal.find(v.node.get());
    if (f != formal.end()) return f->second;
    auto m = made.find(v.node.get());
    return m == made.end() ? v : m->second.at(v.index);
  };
  for (const NodePtr& n : body.topo_order()) {
    if (formal.count(n.get()) || is_shared_source(*n)) continue;
    std::vector<Value> ins;
    for (const Value& v : n->inputs) ins.push_back(mapped(v));
    made[n.get()] = make_node(n->op_name(), std::move(ins), n->attrs, prefix + n->name);
  }
  std::vector<Value> outs;
  for (const Value& v : body.outputs) outs.push_back(mapped(v));
  return outs;
}

std::vector<TensorType> infer_body(const Graph& body, const std::vector<TensorType>& args, const std::string& what) {
  validate_call_body(body, args.size());
  bool same = true;
  for (size_t i = 0; i < args.size(); ++i) {
    const TensorType& formal = body.inputs[i].type();
    SN_CHECK(fits(formal, args[i]), formal.dtype != args[i].dtype ? ErrorKind::dtype : ErrorKind::shape,
             "argument " << i + 1 << " is " << type_str(args[i]) << " but the input '"
                         << body.inputs[i].node->name << "' of " << what << " is " << type_str(formal));
    same = same && formal == args[i];
  }
  std::vector<TensorType> outs;
  if (same) {
    for (const Value& v : body.outputs) outs.push_back(v.type());
    return outs;
  }
  // Other (more concrete) argument types: infer the body again on inputs of those types.
  std::vector<Value> formal_args;
  for (size_t i = 0; i < args.size(); ++i) {
    const Node& in = *body.inputs[i].node;
    AttrMap a = in.attrs;
    if (args[i].unknown_rank) {
      a.erase("shape");
    } else {
      a.set("shape", args[i].shape);
    }
    formal_args.push_back(make_node("input", {}, std::move(a), in.name).at(0));
  }
  try {
    for (const Value& v : splice_body(body, formal_args, "")) outs.push_back(v.type());
  } catch (const Error& e) {
    SN_THROW(e.kind(), what << " cannot take these arguments: " << e.what());
  }
  return outs;
}

Value body_input(const std::string& name, const TensorType& t) {
  AttrMap a{{"name", name}, {"dtype", std::string(dtype_name(t.dtype))}};
  if (!t.unknown_rank) a.set("shape", t.shape);
  return make_node("input", {}, std::move(a), name).at(0);
}

std::vector<Value> expand_call(const Node& call, const std::vector<Value>& args) {
  GraphPtr body = call.attrs.get_graph("body");
  SN_CHECK(body != nullptr, ErrorKind::attr, "attribute 'body' is empty");
  validate_call_body(*body, args.size());
  std::vector<Value> outs = splice_body(*body, args, call.name + "/");
  for (size_t k = 0; k < outs.size() && k < call.outputs.size(); ++k)
    SN_CHECK(outs[k].type() == call.outputs[k] || !call.outputs[k].known(), ErrorKind::internal,
             "the body of " << call.describe() << " gave " << type_str(outs[k].type()) << " for output " << k + 1
                            << " of type " << type_str(call.outputs[k]));
  return outs;
}

void register_call_ops(Registry& r) {
  OpSchema c;
  c.name = "call";
  c.min_inputs = 0;
  c.max_inputs = -1;
  // Not kPure: the body may draw random numbers or read variables; CSE and folding look
  // inside it instead (passes/subgraph.h).
  c.flags = 0;
  c.infer = call_infer;
  c.grad = call_grad;
  c.decompose = [](const Node& n, const std::vector<Value>& ins) { return expand_call(n, ins); };
  c.with_attrs({{"body", AttrKind::graph, true,
                 "the closed graph to run: its inputs take the arguments in order, its outputs are the node's"},
                {"grad", AttrKind::graph, false,
                 "a closed graph giving the gradient instead of the body's derivative: inputs [arguments, outputs, "
                 "output gradients], one output per argument (absent: differentiate the body)"},
                {"function", AttrKind::string, false,
                 "the name of the operation the body implements (R's sym_function()), shown by DOT and summaries "
                 "(absent: 'call')"}});
  r.add(c);
}

}  // namespace symnet
