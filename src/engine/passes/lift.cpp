// Lambda lifting (passes/lift.h).
#include "engine/passes/lift.h"

#include <unordered_map>
#include <unordered_set>

#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/ops/call.h"
#include "engine/ops/infer_util.h"

namespace symnet {

namespace {

bool stays_captured(const Node& n, const LiftOptions& o) {
  return n.op_name() == "constant" || (n.op_name() == "variable" && !o.lift_variables);
}
bool is_outer_source(const Node& n) { return n.op_name() == "input" || n.op_name() == "variable"; }

struct ValueHash {
  size_t operator()(const Value& v) const {
    return std::hash<const void*>()(v.node.get()) ^ (static_cast<size_t>(v.index) * 0x9e3779b97f4a7c15ULL);
  }
};

}  // namespace

LiftedBody lift_body(const std::vector<Value>& params, const std::vector<Value>& outputs,
                     const std::vector<std::string>& output_names) {
  return lift_body(params, outputs, output_names, LiftOptions{});
}

LiftedBody lift_body(const std::vector<Value>& params, const std::vector<Value>& outputs,
                     const std::vector<std::string>& output_names, const LiftOptions& options) {
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
  // Nodes that depend on a parameter, or that the body's code made, belong to the body; the
  // rest is computed outside.
  std::unordered_set<const Node*> inside;
  for (const NodePtr& n : order) {
    bool in = formal.count(n.get()) > 0 ||
              (options.created_after != UINT64_MAX && n->id > options.created_after && !is_outer_source(*n) &&
               !(n->op_name() == "constant"));
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
    if (stays_captured(*v.node, options)) return v;
    auto it = lifted.find(v);
    if (it != lifted.end()) return it->second;
    Value in = body_input(v.node->name + (v.node->outputs.size() > 1 ? ":" + std::to_string(v.index) : ""), v.type());
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

namespace {

// A formal input standing for `v` in a body that does not use it.
Value unused_input(const Value& v, size_t k) { return body_input("unused" + std::to_string(k + 1), v.type()); }

}  // namespace

std::vector<Value> make_cond(const Value& pred, const std::vector<Value>& then_outputs, uint64_t then_after,
                             const std::vector<Value>& else_outputs, uint64_t else_after, const std::string& name) {
  LiftOptions o;
  o.lift_variables = true;
  o.created_after = then_after;
  LiftedBody t = lift_body({}, then_outputs, {}, o);
  o.created_after = else_after;
  LiftedBody e = lift_body({}, else_outputs, {}, o);
  // then's body: its own inputs, then placeholders for else's arguments; else's body the
  // other way round. Bodies are immutable, so each is rebuilt with the longer input list.
  auto then_body = std::make_shared<Graph>(*t.body);
  for (size_t k = 0; k < e.captured.size(); ++k) then_body->inputs.push_back(unused_input(e.captured[k], k));
  auto else_body = std::make_shared<Graph>(*e.body);
  std::vector<Value> lead;
  for (size_t k = 0; k < t.captured.size(); ++k) lead.push_back(unused_input(t.captured[k], k));
  else_body->inputs.insert(else_body->inputs.begin(), lead.begin(), lead.end());
  std::vector<Value> ins{pred};
  ins.insert(ins.end(), t.captured.begin(), t.captured.end());
  ins.insert(ins.end(), e.captured.begin(), e.captured.end());
  return make_node("cond", ins, {{"then_branch", GraphPtr(then_body)}, {"else_branch", GraphPtr(else_body)}}, name);
}

std::vector<Value> make_scan(const std::vector<Value>& state_params, const std::vector<Value>& slice_params,
                             const std::vector<Value>& step_outputs, uint64_t created_after,
                             const std::vector<Value>& init, const std::vector<Value>& sequences, int64_t n_steps,
                             bool reverse, const std::string& name) {
  SN_CHECK(state_params.size() == init.size() && slice_params.size() == sequences.size(), ErrorKind::value,
           "a scan needs one parameter per initial state and per sequence");
  SN_CHECK(step_outputs.size() >= init.size(), ErrorKind::value,
           "the step returns " << step_outputs.size() << " values but the scan carries " << init.size() << " states");
  std::vector<Value> params = state_params;
  params.insert(params.end(), slice_params.begin(), slice_params.end());
  LiftOptions o;
  o.lift_variables = true;
  o.created_after = created_after;
  LiftedBody b = lift_body(params, step_outputs, {}, o);
  std::vector<Value> ins = init;
  ins.insert(ins.end(), sequences.begin(), sequences.end());
  ins.insert(ins.end(), b.captured.begin(), b.captured.end());
  AttrMap attrs{{"body", GraphPtr(b.body)},
                {"n_states", static_cast<int64_t>(init.size())},
                {"n_sequences", static_cast<int64_t>(sequences.size())},
                {"reverse", static_cast<int64_t>(reverse ? 1 : 0)}};
  if (n_steps >= 0) attrs.set("n_steps", n_steps);
  return make_node("scan", ins, attrs, name);
}

std::vector<Value> make_while_loop(const std::vector<Value>& var_params, const Value& cond_output, uint64_t cond_after,
                                   const std::vector<Value>& body_outputs, uint64_t body_after,
                                   const std::vector<Value>& init, int64_t max_iterations, bool error_at_max,
                                   const std::string& name) {
  SN_CHECK(var_params.size() == init.size(), ErrorKind::value, "a while loop needs one parameter per loop variable");
  SN_CHECK(body_outputs.size() == init.size(), ErrorKind::value,
           "the body returns " << body_outputs.size() << " values but the loop has " << init.size() << " variables");
  LiftOptions o;
  o.lift_variables = true;
  o.created_after = cond_after;
  LiftedBody c = lift_body(var_params, {cond_output}, {}, o);
  o.created_after = body_after;
  LiftedBody b = lift_body(var_params, body_outputs, {}, o);
  // [vars..., cond's captured..., body's captured...] for both subgraphs
  const size_t nv = var_params.size();
  auto cond_g = std::make_shared<Graph>(*c.body);
  for (size_t k = 0; k < b.captured.size(); ++k) cond_g->inputs.push_back(unused_input(b.captured[k], k));
  auto body_g = std::make_shared<Graph>(*b.body);
  std::vector<Value> mid;
  for (size_t k = 0; k < c.captured.size(); ++k) mid.push_back(unused_input(c.captured[k], k));
  body_g->inputs.insert(body_g->inputs.begin() + static_cast<std::ptrdiff_t>(nv), mid.begin(), mid.end());
  std::vector<Value> ins = init;
  ins.insert(ins.end(), c.captured.begin(), c.captured.end());
  ins.insert(ins.end(), b.captured.begin(), b.captured.end());
  AttrMap attrs{{"cond", GraphPtr(cond_g)}, {"body", GraphPtr(body_g)}, {"n_vars", static_cast<int64_t>(nv)}};
  if (max_iterations >= 0) attrs.set("max_iterations", max_iterations);
  if (error_at_max) attrs.set("error_at_max", int64_t{1});
  return make_node("while_loop", ins, attrs, name);
}

std::vector<Value> make_function_call(const std::vector<Value>& params, const std::vector<Value>& outputs,
                                      uint64_t created_after, const std::vector<Value>& args,
                                      const std::string& function, const std::string& name) {
  SN_CHECK(params.size() == args.size(), ErrorKind::value,
           "the function takes " << params.size() << " arguments but is called with " << args.size());
  LiftOptions o;
  o.lift_variables = true;
  o.created_after = created_after;
  LiftedBody b = lift_body(params, outputs, {}, o);
  std::vector<Value> ins = args;
  ins.insert(ins.end(), b.captured.begin(), b.captured.end());
  AttrMap attrs{{"body", GraphPtr(b.body)}};
  if (!function.empty()) attrs.set("function", function);
  return make_node("call", ins, attrs, name);
}

std::vector<Value> make_custom_gradient_call(const CustomGradientTrace& t, const std::vector<Value>& args,
                                             const std::string& function, const std::string& name) {
  const size_t np = t.params.size(), no = t.outputs.size();
  SN_CHECK(args.size() == np && t.grad_params.size() == np && t.grads.size() == np, ErrorKind::value,
           "a function with a custom gradient needs one argument, gradient parameter and gradient per parameter");
  SN_CHECK(t.out_params.size() == no && t.cot_params.size() == no, ErrorKind::value,
           "the gradient needs one output parameter and one output-gradient parameter per output");
  LiftOptions o;
  o.lift_variables = true;
  o.created_after = t.fn_after;
  LiftedBody f = lift_body(t.params, t.outputs, {}, o);
  for (const Value& c : f.captured)
    SN_CHECK(c.node->op_name() != "variable", ErrorKind::unsupported,
             "the function uses the parameter '" << c.node->name
                                                 << "', which is not among its arguments; a custom gradient gives"
                                                    " gradients for the arguments only: pass it as an argument");
  std::vector<Value> grads;
  for (size_t i = 0; i < np; ++i) {
    const TensorType& want = t.grad_params[i].type();
    Value g = t.grads[i].defined() ? t.grads[i] : op::zeros_like(t.grad_params[i]);
    const TensorType& got = g.type();
    SN_CHECK(got.dtype == want.dtype, ErrorKind::dtype,
             "the gradient for argument " << i + 1 << " ('" << t.params[i].node->name << "') is " << type_str(got)
                                          << " but the argument is " << type_str(want));
    SN_CHECK(got.unknown_rank || want.unknown_rank || shapes_compatible(got.shape, want.shape), ErrorKind::shape,
             "the gradient for argument " << i + 1 << " ('" << t.params[i].node->name << "') is " << type_str(got)
                                          << " but the argument is " << type_str(want));
    grads.push_back(g);
  }
  std::vector<Value> gparams = t.grad_params;
  gparams.insert(gparams.end(), t.out_params.begin(), t.out_params.end());
  gparams.insert(gparams.end(), t.cot_params.begin(), t.cot_params.end());
  o.created_after = t.grad_after;
  LiftedBody g = lift_body(gparams, grads, {}, o);

  // Call inputs: [args, the function's captured values, the gradient's captured values].
  auto fn_body = std::make_shared<Graph>(*f.body);
  for (size_t k = 0; k < g.captured.size(); ++k) fn_body->inputs.push_back(unused_input(g.captured[k], k));
  // The gradient body: [those inputs, outputs, output gradients] -> one gradient per input;
  // captured values get zeros.
  auto grad_body = std::make_shared<Graph>();
  grad_body->inputs.assign(g.body->inputs.begin(), g.body->inputs.begin() + static_cast<std::ptrdiff_t>(np));
  grad_body->outputs = g.body->outputs;
  for (size_t k = 0; k < f.captured.size(); ++k) {
    Value in = unused_input(f.captured[k], k);
    grad_body->inputs.push_back(in);
    grad_body->outputs.push_back(op::zeros_like(in));
  }
  const auto lifted = g.body->inputs.begin() + static_cast<std::ptrdiff_t>(np + 2 * no);
  for (auto it = lifted; it != g.body->inputs.end(); ++it) {
    grad_body->inputs.push_back(*it);
    grad_body->outputs.push_back(op::zeros_like(*it));
  }
  grad_body->inputs.insert(grad_body->inputs.end(), g.body->inputs.begin() + static_cast<std::ptrdiff_t>(np),
                           lifted);
  std::vector<Value> ins = args;
  ins.insert(ins.end(), f.captured.begin(), f.captured.end());
  ins.insert(ins.end(), g.captured.begin(), g.captured.end());
  AttrMap attrs{{"body", GraphPtr(fn_body)}, {"grad", GraphPtr(grad_body)}};
  if (!function.empty()) attrs.set("function", function);
  return make_node("call", ins, attrs, name);
}

}  // namespace symnet
