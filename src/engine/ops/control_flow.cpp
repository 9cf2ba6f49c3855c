// Control flow. cond(pred, args...) runs one of two closed bodies, then_branch or
// else_branch, on args: only the taken branch runs (the CPU runs each branch as a SubPlan,
// cpu/control_flow.cpp). Both branches take the same arguments and give outputs of the
// same types. The gradient is a cond of the branches' gradient bodies, so it runs only the
// taken branch's backward pass and differentiates again.
#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/ops/call.h"
#include "engine/ops/registry.h"

namespace symnet {

namespace {

// A dimension both branches agree on: equal, or known in one only.
TensorType merge_branch_types(const TensorType& a, const TensorType& b, size_t k) {
  SN_CHECK(a.dtype == b.dtype, ErrorKind::dtype,
           "output " << k + 1 << " is " << dtype_name(a.dtype) << " in then_branch but " << dtype_name(b.dtype)
                     << " in else_branch");
  if (a.unknown_rank) return b;
  if (b.unknown_rank) return a;
  SN_CHECK(a.shape.size() == b.shape.size(), ErrorKind::shape,
           "output " << k + 1 << " is " << type_str(a) << " in then_branch but " << type_str(b) << " in else_branch");
  TensorType t = a;
  for (size_t d = 0; d < a.shape.size(); ++d) {
    SN_CHECK(a.shape[d] < 0 || b.shape[d] < 0 || a.shape[d] == b.shape[d], ErrorKind::shape,
             "output " << k + 1 << " is " << type_str(a) << " in then_branch but " << type_str(b)
                       << " in else_branch");
    if (t.shape[d] < 0) t.shape[d] = b.shape[d];
  }
  return t;
}

GraphPtr branch(const AttrMap& attrs, const char* name) {
  GraphPtr g = attrs.get_graph(name);
  SN_CHECK(g != nullptr, ErrorKind::attr, "attribute '" << name << "' is empty");
  return g;
}

std::vector<TensorType> cond_infer(const InferContext& c) {
  const TensorType& pred = c.in(0);
  SN_CHECK(pred.dtype == DType::boolean || is_integer(pred.dtype) || is_float(pred.dtype), ErrorKind::dtype,
           "the predicate must be bool or a number, not " << dtype_name(pred.dtype));
  SN_CHECK(pred.unknown_rank || shape_numel(pred.shape) == 1 || shape_numel(pred.shape) < 0, ErrorKind::shape,
           "the predicate must hold one value, not " << type_str(pred));
  std::vector<TensorType> args;
  for (size_t i = 1; i < c.num_inputs(); ++i) args.push_back(c.in(i));
  std::vector<TensorType> then_t = infer_body(*branch(c.attrs, "then_branch"), args, "then_branch");
  std::vector<TensorType> else_t = infer_body(*branch(c.attrs, "else_branch"), args, "else_branch");
  SN_CHECK(then_t.size() == else_t.size(), ErrorKind::value,
           "then_branch gives " << then_t.size() << " outputs but else_branch " << else_t.size());
  std::vector<TensorType> out;
  for (size_t k = 0; k < then_t.size(); ++k) out.push_back(merge_branch_types(then_t[k], else_t[k], k));
  return out;
}

// The gradient body of one branch: inputs (args..., cotangents of the outputs...), outputs
// the gradient of each differentiable argument (zeros where none flows).
GraphPtr gradient_branch(const GradContext& ctx, const Graph& body, const std::vector<size_t>& wrt_args) {
  auto g = std::make_shared<Graph>();
  std::vector<Value> args;
  for (size_t i = 0; i < body.inputs.size(); ++i) {
    args.push_back(body_input("x" + std::to_string(i + 1), ctx.node.inputs[i + 1].type()));
  }
  std::vector<Value> outs = splice_body(body, args, "");
  std::vector<Value> ys, cots, wrt;
  for (size_t k = 0; k < outs.size(); ++k) {
    const TensorType& t = ctx.node.outputs[k];
    Value cot = body_input("dy" + std::to_string(k + 1), t);
    g->inputs.push_back(cot);
    if (!is_float(t.dtype)) continue;
    ys.push_back(outs[k]);
    cots.push_back(cot);
  }
  g->inputs.insert(g->inputs.begin(), args.begin(), args.end());
  for (size_t i : wrt_args) wrt.push_back(args[i]);
  std::vector<Value> grads = ys.empty() ? std::vector<Value>(wrt.size()) : ctx.vjp(ys, cots, wrt);
  for (size_t j = 0; j < grads.size(); ++j) g->outputs.push_back(grads[j].defined() ? grads[j] : op::zeros_like(wrt[j]));
  return g;
}

std::vector<Value> cond_grad(const GradContext& ctx) {
  SN_CHECK(ctx.vjp, ErrorKind::internal, "the gradient of a cond needs autodiff's vjp");
  std::vector<Value> grads(ctx.node.inputs.size());
  std::vector<size_t> wrt_args;  // argument numbers (0-based, after the predicate)
  for (size_t i = 1; i < ctx.node.inputs.size(); ++i)
    if (is_float(ctx.node.inputs[i].dtype())) wrt_args.push_back(i - 1);
  if (wrt_args.empty()) return grads;
  bool any = false;
  std::vector<Value> ins(ctx.node.inputs.begin(), ctx.node.inputs.end());
  for (size_t k = 0; k < ctx.outputs.size(); ++k) {
    any = any || ctx.out_grads[k].defined();
    ins.push_back(ctx.out_grads[k].defined() ? ctx.out_grads[k] : op::zeros_like(ctx.outputs[k]));
  }
  if (!any) return grads;
  AttrMap a;
  a.set("then_branch", gradient_branch(ctx, *branch(ctx.node.attrs, "then_branch"), wrt_args));
  a.set("else_branch", gradient_branch(ctx, *branch(ctx.node.attrs, "else_branch"), wrt_args));
  std::vector<Value> g = make_node("cond", ins, a, ctx.node.name + "/grad");
  for (size_t j = 0; j < wrt_args.size(); ++j) grads[wrt_args[j] + 1] = g[j];
  return grads;
}

}  // namespace

void register_control_flow_ops(Registry& r) {
  OpSchema c;
  c.name = "cond";
  c.min_inputs = 1;
  c.max_inputs = -1;
  // Not kPure: a branch may draw random numbers or read variables.
  c.flags = 0;
  c.infer = cond_infer;
  c.grad = cond_grad;
  c.with_attrs({{"then_branch", AttrKind::graph, true, "closed graph run on the arguments when the predicate is true"},
                {"else_branch", AttrKind::graph, true, "closed graph run on the arguments otherwise"}});
  r.add(c);
}

}  // namespace symnet
