// while_loop: runs a closed body while a closed cond holds, carrying loop variables
// (TensorFlow's while_loop, keras3's ops.while_loop, ONNX Loop without scan outputs).
//
// Inputs: [loop variables (n_vars)..., non-loop values...].
// Attributes:
//   cond            graph, required: [loop variables..., non-loop values...] -> one value
//                   (bool or a number; non-zero is true), of one element.
//   body            graph, required: [loop variables..., non-loop values...] -> [new loop
//                   variables...], each of its loop variable's dtype and shape.
//   n_vars          int, required: how many inputs, first, are loop variables (>= 1).
//   max_iterations  int, optional (>= 0): the most times the body runs; absent: no bound.
//   error_at_max    int, optional (0 or 1): what happens when the body has run
//                   max_iterations times: 0 (default) stops the loop there, as TensorFlow
//                   and keras do, without evaluating cond again; 1 evaluates cond once
//                   more, and if it still holds the run fails with a `value` error naming
//                   the node and the bound (R: sym_while_loop(on_max = "error")).
//   record          int, optional (0 or 1; needs max_iterations): 1 adds the outputs the
//                   gradient reads (below). Made by the gradient; a user has no need of it.
// Runs: i = 0; while (i < max_iterations && cond(vars, non-loop)) { vars = body(vars,
// non-loop); ++i }. Outputs: [final loop variables...]; with record = 1 also [the trip
// count i (int64 scalar), then per loop variable its value entering each iteration,
// stacked [max_iterations, ...] (slot t for t < i; the slots from i on are zeros)].
//
// The gradient (TensorFlow's, bounded by max_iterations, which it needs: an `unsupported`
// error otherwise) runs the loop again with record = 1 (compiling merges it with the
// forward loop: passes/share_loops.cpp), then a reverse scan over the
// max_iterations slots whose body applies the body's vjp at the slots below the trip count
// (a cond, so the others cost a comparison) and passes the cotangents through at the
// rest, accumulating the gradients of the non-loop values. Loop, scan and cond all
// differentiate, so the gradient differentiates again. As with scan, a gradient with
// respect to a variable used inside cond or body is refused: pass it as a non-loop value
// (passes/lift.h make_while_loop does).
#include <memory>
#include <sstream>

#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/ops/call.h"
#include "engine/ops/registry.h"

namespace symnet {

namespace {

struct WhileAttrs {
  size_t vars = 0, non_loop = 0;
  int64_t max_iterations = -1;  // -1: unbounded
  bool record = false;
};

WhileAttrs while_attrs(const AttrMap& a, size_t n_inputs) {
  WhileAttrs w;
  const int64_t v = a.get_int("n_vars");
  SN_CHECK(v >= 1 && static_cast<size_t>(v) <= n_inputs, ErrorKind::attr,
           "n_vars (" << v << ") must be at least 1 and count at most the " << n_inputs << " inputs");
  w.vars = static_cast<size_t>(v);
  w.non_loop = n_inputs - w.vars;
  if (a.has("max_iterations")) {
    w.max_iterations = a.get_int("max_iterations");
    SN_CHECK(w.max_iterations >= 0, ErrorKind::attr, "max_iterations must be non-negative, not " << w.max_iterations);
  }
  const int64_t e = a.get_int("error_at_max", 0);
  SN_CHECK(e == 0 || e == 1, ErrorKind::attr, "error_at_max must be 0 or 1, not " << e);
  const int64_t r = a.get_int("record", 0);
  SN_CHECK(r == 0 || r == 1, ErrorKind::attr, "record must be 0 or 1, not " << r);
  w.record = r == 1;
  SN_CHECK(!w.record || w.max_iterations >= 0, ErrorKind::attr, "record = 1 needs max_iterations");
  return w;
}

GraphPtr graph_attr(const AttrMap& a, const char* name) {
  GraphPtr g = a.get_graph(name);
  SN_CHECK(g != nullptr, ErrorKind::attr, "attribute '" << name << "' is empty");
  return g;
}

// The type a loop variable keeps: the body's new value must have its dtype and shape.
TensorType var_type(const TensorType& var, const TensorType& next, size_t k, const std::string& name) {
  auto mismatch = [&] {
    std::ostringstream m;
    m << "loop variable " << k + 1 << " ('" << name << "') is " << type_str(var) << " but the body gives "
      << type_str(next);
    return m.str();
  };
  SN_CHECK(var.dtype == next.dtype, ErrorKind::dtype, mismatch());
  if (var.unknown_rank) return next;
  if (next.unknown_rank) return var;
  SN_CHECK(var.shape.size() == next.shape.size(), ErrorKind::shape, mismatch());
  TensorType t = var;
  for (size_t d = 0; d < t.shape.size(); ++d) {
    SN_CHECK(t.shape[d] < 0 || next.shape[d] < 0 || t.shape[d] == next.shape[d], ErrorKind::shape, mismatch());
    if (t.shape[d] < 0) t.shape[d] = next.shape[d];
  }
  return t;
}

std::vector<TensorType> while_infer(const InferContext& c) {
  const WhileAttrs w = while_attrs(c.attrs, c.num_inputs());
  std::vector<TensorType> args(c.inputs.begin(), c.inputs.end());
  std::vector<TensorType> pred = infer_body(*graph_attr(c.attrs, "cond"), args, "the cond");
  SN_CHECK(pred.size() == 1, ErrorKind::value, "the cond gives " << pred.size() << " outputs, not 1");
  const TensorType& p = pred[0];
  SN_CHECK(p.dtype == DType::boolean || is_integer(p.dtype) || is_float(p.dtype), ErrorKind::dtype,
           "the cond must give a bool or a number, not " << dtype_name(p.dtype));
  SN_CHECK(p.unknown_rank || shape_numel(p.shape) == 1 || shape_numel(p.shape) < 0, ErrorKind::shape,
           "the cond must give one value, not " << type_str(p));
  GraphPtr body = graph_attr(c.attrs, "body");
  std::vector<TensorType> outs = infer_body(*body, args, "the body");
  SN_CHECK(outs.size() == w.vars, ErrorKind::value,
           "the body gives " << outs.size() << " outputs but the loop carries " << w.vars << " variables");
  std::vector<TensorType> result;
  for (size_t k = 0; k < w.vars; ++k) result.push_back(var_type(c.in(k), outs[k], k, body->inputs[k].node->name));
  if (w.record) {
    result.push_back({DType::i64, {}});
    for (size_t k = 0; k < w.vars; ++k) {
      TensorType t = result[k];
      if (!t.unknown_rank) t.shape.insert(t.shape.begin(), w.max_iterations);
      result.push_back(t);
    }
  }
  return result;
}

std::vector<size_t> float_positions(const std::vector<TensorType>& types) {
  std::vector<size_t> f;
  for (size_t i = 0; i < types.size(); ++i)
    if (is_float(types[i].dtype)) f.push_back(i);
  return f;
}

// The formal inputs of one step of the reverse scan, and so of both branches of its cond:
// [cotangents of the float loop variables, accumulated gradients of the float non-loop
// values, the loop variables entering the step, cotangents of their recorded values
// (when the loop records and those have any), the non-loop values].
struct StepInputs {
  std::vector<Value> ds, acc, x, dy, c;
  std::vector<Value> all() const {
    std::vector<Value> v;
    for (const auto* group : {&ds, &acc, &x, &dy, &c}) v.insert(v.end(), group->begin(), group->end());
    return v;
  }
};

StepInputs step_inputs(const Node& node, const WhileAttrs& w, const std::vector<size_t>& fv,
                       const std::vector<size_t>& fc, bool with_dy) {
  StepInputs s;
  auto var = [&](size_t k) { return node.outputs[k]; };
  auto non_loop = [&](size_t j) { return node.inputs[w.vars + j].type(); };
  for (size_t k : fv) s.ds.push_back(body_input("ds" + std::to_string(k + 1), var(k)));
  for (size_t j : fc) s.acc.push_back(body_input("dc" + std::to_string(j + 1), non_loop(j)));
  for (size_t k = 0; k < w.vars; ++k) s.x.push_back(body_input("x" + std::to_string(k + 1), var(k)));
  if (with_dy)
    for (size_t k : fv) s.dy.push_back(body_input("dx" + std::to_string(k + 1), var(k)));
  for (size_t j = 0; j < w.non_loop; ++j) s.c.push_back(body_input("c" + std::to_string(j + 1), non_loop(j)));
  return s;
}

// The taken branch: one iteration undone. Gives [cotangents of the float loop variables
// entering the iteration (plus their recorded values' cotangents), the accumulators plus
// this iteration's part].
GraphPtr vjp_branch(const GradContext& ctx, const Graph& body, const WhileAttrs& w, const std::vector<size_t>& fv,
                    const std::vector<size_t>& fc, bool with_dy) {
  StepInputs s = step_inputs(ctx.node, w, fv, fc, with_dy);
  std::vector<Value> args = s.x;
  args.insert(args.end(), s.c.begin(), s.c.end());
  // Named as in the body (no prefix), so random ops draw the forward pass's numbers.
  std::vector<Value> outs = splice_body(body, args, "");
  std::vector<Value> ys, wrt;
  for (size_t k : fv) {
    ys.push_back(outs[k]);
    wrt.push_back(s.x[k]);
  }
  for (size_t j : fc) wrt.push_back(s.c[j]);
  std::vector<Value> grads = ys.empty() ? std::vector<Value>(wrt.size()) : ctx.vjp(ys, s.ds, wrt);
  auto g = std::make_shared<Graph>();
  g->inputs = s.all();
  size_t i = 0;
  for (; i < fv.size(); ++i) {
    Value d = grads[i].defined() ? grads[i] : op::zeros_like(wrt[i]);
    g->outputs.push_back(with_dy ? op::add(d, s.dy[i]) : d);
  }
  for (size_t j = 0; j < fc.size(); ++j, ++i)
    g->outputs.push_back(grads[i].defined() ? op::add(s.acc[j], grads[i]) : s.acc[j]);
  return g;
}

// The branch of the slots the loop never reached: the cotangents and accumulators pass.
GraphPtr pass_branch(const Node& node, const WhileAttrs& w, const std::vector<size_t>& fv,
                     const std::vector<size_t>& fc, bool with_dy) {
  StepInputs s = step_inputs(node, w, fv, fc, with_dy);
  auto g = std::make_shared<Graph>();
  g->inputs = s.all();
  g->outputs = s.ds;
  g->outputs.insert(g->outputs.end(), s.acc.begin(), s.acc.end());
  return g;
}

// The reverse scan's body: [ds..., acc..., x..., dy..., t, trip, c...] -> cond(t < trip,
// undo the iteration, pass).
GraphPtr reverse_step(const GradContext& ctx, const Graph& body, const WhileAttrs& w, const std::vector<size_t>& fv,
                      const std::vector<size_t>& fc, bool with_dy) {
  StepInputs s = step_inputs(ctx.node, w, fv, fc, with_dy);
  Value t = body_input("t", {DType::i64, {}});
  Value trip = body_input("trip", {DType::i64, {}});
  std::vector<Value> ins = s.all();
  ins.insert(ins.begin(), op::less(t, trip));
  AttrMap a;
  a.set("then_branch", vjp_branch(ctx, body, w, fv, fc, with_dy));
  a.set("else_branch", pass_branch(ctx.node, w, fv, fc, with_dy));
  std::vector<Value> outs = make_node("cond", ins, a, "undo");
  auto g = std::make_shared<Graph>();
  for (const auto* group : {&s.ds, &s.acc, &s.x, &s.dy}) g->inputs.insert(g->inputs.end(), group->begin(), group->end());
  g->inputs.push_back(t);
  g->inputs.push_back(trip);
  g->inputs.insert(g->inputs.end(), s.c.begin(), s.c.end());
  g->outputs = outs;
  return g;
}

std::vector<Value> while_grad(const GradContext& ctx) {
  SN_CHECK(ctx.vjp, ErrorKind::internal, "the gradient of a while_loop needs autodiff's vjp");
  const Node& node = ctx.node;
  const WhileAttrs w = while_attrs(node.attrs, node.inputs.size());
  const size_t V = w.vars;
  std::vector<Value> grads(node.inputs.size());
  std::vector<TensorType> var_types(node.outputs.begin(), node.outputs.begin() + V), non_loop_types;
  for (size_t j = 0; j < w.non_loop; ++j) non_loop_types.push_back(node.inputs[V + j].type());
  const std::vector<size_t> fv = float_positions(var_types), fc = float_positions(non_loop_types);
  // Cotangents arrive on the final variables and, for a recording loop (a gradient being
  // differentiated again), on the recorded values too.
  bool any_final = false, any_recorded = false;
  for (size_t k : fv) {
    any_final = any_final || ctx.out_grads[k].defined();
    if (w.record) any_recorded = any_recorded || ctx.out_grads[V + 1 + k].defined();
  }
  if ((!any_final && !any_recorded) || fv.empty()) return grads;
  SN_CHECK(w.max_iterations >= 0, ErrorKind::unsupported,
           "the gradient of while_loop '" << node.name
                                          << "' needs max_iterations: set it to a bound on the iterations (the "
                                             "gradient keeps the loop variables of each one)");
  auto cot = [&](size_t o) { return ctx.out_grads[o].defined() ? ctx.out_grads[o] : op::zeros_like(ctx.outputs[o]); };
  if (w.max_iterations == 0) {  // the body never runs: the final variables are the initial ones
    for (size_t k : fv) grads[k] = ctx.out_grads[k];
    return grads;
  }

  // The loop's trip count and the variables entering each iteration: this node's own
  // outputs when it records, else those of the loop run again, recording.
  std::vector<Value> rec = ctx.outputs;
  if (!w.record) {
    AttrMap ra = node.attrs;
    ra.set("record", int64_t(1));
    rec = make_node("while_loop", node.inputs, ra, node.name + "/record");
  }
  std::vector<Value> ins;
  for (size_t k : fv) ins.push_back(cot(k));
  for (size_t j : fc) ins.push_back(op::zeros_like(node.inputs[V + j]));
  for (size_t k = 0; k < V; ++k) ins.push_back(rec[V + 1 + k]);
  if (any_recorded)
    for (size_t k : fv) ins.push_back(cot(V + 1 + k));
  ins.push_back(op::apply("range", {},
                          {{"limit", static_cast<double>(w.max_iterations)}, {"dtype", std::string("int64")}}));
  ins.push_back(rec[V]);
  for (size_t j = 0; j < w.non_loop; ++j) ins.push_back(node.inputs[V + j]);
  AttrMap sa;
  sa.set("body", reverse_step(ctx, *graph_attr(node.attrs, "body"), w, fv, fc, any_recorded));
  sa.set("n_states", static_cast<int64_t>(fv.size() + fc.size()));
  sa.set("n_sequences", static_cast<int64_t>(V + (any_recorded ? fv.size() : 0) + 1));
  sa.set("reverse", int64_t(1));
  sa.set("n_steps", w.max_iterations);
  std::vector<Value> back = make_node("scan", ins, sa, node.name + "/grad");
  size_t i = 0;
  for (size_t k : fv) grads[k] = back[i++];
  for (size_t j : fc) grads[V + j] = back[i++];
  return grads;
}

}  // namespace

void register_while_loop_ops(Registry& r) {
  OpSchema s;
  s.name = "while_loop";
  s.min_inputs = 1;
  s.max_inputs = -1;
  // Not kPure: the bodies may draw random numbers or read variables.
  s.flags = 0;
  s.infer = while_infer;
  s.grad = while_grad;
  s.with_attrs(
      {{"cond", AttrKind::graph, true,
        "closed graph: [loop variables..., non-loop values...] -> one bool or number (non-zero: run the body)"},
       {"body", AttrKind::graph, true,
        "closed graph: [loop variables..., non-loop values...] -> [new loop variables...] (same dtypes and shapes)"},
       {"n_vars", AttrKind::int_, true, "how many inputs, first, are the loop variables (at least 1)"},
       {"max_iterations", AttrKind::int_, false, "the most times the body runs (default: no bound)"},
       {"error_at_max", AttrKind::int_, false,
        "1: reaching max_iterations with the cond still true is an error; 0 (default): the loop stops there"},
       {"record", AttrKind::int_, false,
        "1: also output the trip count and the variables entering each iteration (the gradient's; default 0)"}});
  r.add(s);
}

}  // namespace symnet
