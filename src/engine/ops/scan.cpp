// scan: a loop over the leading axis of its sequences, carrying states (Theano's scan,
// ONNX Scan, without a batch axis). Inputs: [initial states (n_states)..., sequences
// (n_sequences)..., non-sequences...]. The closed body takes [states..., one step's slice of
// each sequence (leading axis removed)..., non-sequences...] and gives [new states (the
// states' types)..., per-step outputs...]. The node gives [final states..., each per-step
// output stacked along a new leading axis of n_steps]. reverse = 1 walks the sequences
// from their end, but the stacked outputs stay in sequence order: output[t] is the step
// that read position t (Theano's go_backwards), so reversing twice lines the steps up.
// Zero steps: the final states are the initial ones, the stacked outputs have length 0.
//
// The gradient recomputes: a forward scan whose body also emits each step's incoming
// states (so every step's states are at hand, stacked), then a scan the other way whose
// body is the vjp of the body (carrying the states' cotangents and the non-sequences'
// accumulated gradients, emitting each step's sequence-slice gradients). Both are scans of
// plain ops, so the gradient differentiates again.
#include <memory>

#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/ops/call.h"
#include "engine/ops/registry.h"

namespace symnet {

namespace {

struct ScanCounts {
  size_t states = 0, sequences = 0, non_sequences = 0;
};

ScanCounts scan_counts(const AttrMap& a, size_t n_inputs) {
  const int64_t s = a.get_int("n_states"), q = a.get_int("n_sequences");
  SN_CHECK(s >= 0 && q >= 0 && static_cast<size_t>(s + q) <= n_inputs, ErrorKind::attr,
           "n_states (" << s << ") and n_sequences (" << q << ") must be non-negative and count at most the "
                        << n_inputs << " inputs");
  const int64_t r = a.get_int("reverse", 0);
  SN_CHECK(r == 0 || r == 1, ErrorKind::attr, "reverse must be 0 or 1, not " << r);
  return {static_cast<size_t>(s), static_cast<size_t>(q), n_inputs - static_cast<size_t>(s + q)};
}

GraphPtr scan_body(const AttrMap& a) {
  GraphPtr g = a.get_graph("body");
  SN_CHECK(g != nullptr, ErrorKind::attr, "attribute 'body' is empty");
  return g;
}

// One step's slice of a sequence: its type without the leading axis.
TensorType slice_type(const TensorType& seq) {
  TensorType t = seq;
  if (!t.unknown_rank) t.shape.erase(t.shape.begin());
  return t;
}

// The type `slice` stacked along a new leading axis of `n` (-1: unknown).
TensorType stacked_type(const TensorType& slice, int64_t n) {
  TensorType t = slice;
  if (!t.unknown_rank) t.shape.insert(t.shape.begin(), n);
  return t;
}

// The number of steps: the sequences' common leading length (-1 where unknown), or n_steps.
int64_t scan_steps(const InferContext& c, const ScanCounts& n) {
  int64_t len = -1;
  size_t first = 0;
  for (size_t j = 0; j < n.sequences; ++j) {
    const TensorType& t = c.in(n.states + j);
    if (t.unknown_rank) continue;
    SN_CHECK(!t.shape.empty(), ErrorKind::shape,
             "sequence " << j + 1 << " is a scalar; a sequence needs a leading axis");
    if (t.shape[0] < 0) continue;
    if (len < 0) {
      len = t.shape[0];
      first = j;
    }
    SN_CHECK(t.shape[0] == len, ErrorKind::shape,
             "sequence " << j + 1 << " has length " << t.shape[0] << " but sequence " << first + 1 << " has length "
                         << len);
  }
  if (!c.attrs.has("n_steps")) {
    SN_CHECK(n.sequences > 0, ErrorKind::attr, "a scan without sequences needs the attribute 'n_steps'");
    return len;
  }
  const int64_t steps = c.attrs.get_int("n_steps");
  SN_CHECK(steps >= 0, ErrorKind::attr, "n_steps must be non-negative, not " << steps);
  SN_CHECK(len < 0 || steps == len, ErrorKind::shape,
           "n_steps is " << steps << " but the sequences have length " << len);
  return steps;
}

// The type a state keeps: the body's new state must agree with the state it replaces.
TensorType state_type(const TensorType& state, const TensorType& next, size_t k, const std::string& name) {
  SN_CHECK(state.dtype == next.dtype, ErrorKind::dtype,
           "state " << k + 1 << " ('" << name << "') is " << type_str(state) << " but the body's new state is "
                    << type_str(next));
  if (state.unknown_rank) return next;
  if (next.unknown_rank) return state;
  SN_CHECK(state.shape.size() == next.shape.size(), ErrorKind::shape,
           "state " << k + 1 << " ('" << name << "') is " << type_str(state) << " but the body's new state is "
                    << type_str(next));
  TensorType t = state;
  for (size_t d = 0; d < t.shape.size(); ++d) {
    SN_CHECK(t.shape[d] < 0 || next.shape[d] < 0 || t.shape[d] == next.shape[d], ErrorKind::shape,
             "state " << k + 1 << " ('" << name << "') is " << type_str(state) << " but the body's new state is "
                      << type_str(next));
    if (t.shape[d] < 0) t.shape[d] = next.shape[d];
  }
  return t;
}

std::vector<TensorType> scan_infer(const InferContext& c) {
  const ScanCounts n = scan_counts(c.attrs, c.num_inputs());
  const int64_t steps = scan_steps(c, n);
  GraphPtr body = scan_body(c.attrs);
  std::vector<TensorType> args;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    const bool seq = i >= n.states && i < n.states + n.sequences;
    args.push_back(seq ? slice_type(c.in(i)) : c.in(i));
  }
  std::vector<TensorType> outs = infer_body(*body, args, "the body");
  SN_CHECK(outs.size() >= n.states, ErrorKind::value,
           "the body gives " << outs.size() << " outputs but the scan carries " << n.states << " states");
  std::vector<TensorType> result;
  for (size_t k = 0; k < n.states; ++k) result.push_back(state_type(c.in(k), outs[k], k, body->inputs[k].node->name));
  for (size_t m = n.states; m < outs.size(); ++m) result.push_back(stacked_type(outs[m], steps));
  return result;
}

// Positions (within their group) of the float values among `types`.
std::vector<size_t> float_positions(const std::vector<TensorType>& types) {
  std::vector<size_t> f;
  for (size_t i = 0; i < types.size(); ++i)
    if (is_float(types[i].dtype)) f.push_back(i);
  return f;
}

// The body of the backward scan, one step. Inputs: [cotangents of the float states,
// accumulated gradients of the float non-sequences, the step's incoming states, its
// sequence slices, cotangents of its float per-step outputs, the non-sequences]; outputs:
// [cotangents of the incoming float states, the accumulators plus this step's part, the
// gradients of the float sequence slices].
GraphPtr backward_body(const GradContext& ctx, const Graph& body, const ScanCounts& n, const std::vector<size_t>& fs,
                       const std::vector<size_t>& fq, const std::vector<size_t>& fp, const std::vector<size_t>& fm) {
  const Node& node = ctx.node;
  const size_t S = n.states, Q = n.sequences;
  auto in_type = [&](size_t i) { return node.inputs[i].type(); };
  std::vector<Value> ds, acc, s, x, dy, c;
  for (size_t k : fs) ds.push_back(body_input("ds" + std::to_string(k + 1), node.outputs[k]));
  for (size_t j : fp) acc.push_back(body_input("dc" + std::to_string(j + 1), in_type(S + Q + j)));
  for (size_t k = 0; k < S; ++k) s.push_back(body_input("s" + std::to_string(k + 1), in_type(k)));
  for (size_t j = 0; j < Q; ++j) x.push_back(body_input("x" + std::to_string(j + 1), slice_type(in_type(S + j))));
  for (size_t m : fm) dy.push_back(body_input("dy" + std::to_string(m + 1), slice_type(node.outputs[S + m])));
  for (size_t j = 0; j < n.non_sequences; ++j) c.push_back(body_input("c" + std::to_string(j + 1), in_type(S + Q + j)));

  std::vector<Value> args = s;
  args.insert(args.end(), x.begin(), x.end());
  args.insert(args.end(), c.begin(), c.end());
  std::vector<Value> outs = splice_body(body, args, "");
  std::vector<Value> ys, cots, wrt;
  for (size_t i = 0; i < fs.size(); ++i) {
    ys.push_back(outs[fs[i]]);
    cots.push_back(ds[i]);
  }
  for (size_t i = 0; i < fm.size(); ++i) {
    ys.push_back(outs[S + fm[i]]);
    cots.push_back(dy[i]);
  }
  for (size_t k : fs) wrt.push_back(s[k]);
  for (size_t j : fp) wrt.push_back(c[j]);
  for (size_t j : fq) wrt.push_back(x[j]);
  std::vector<Value> grads = ys.empty() ? std::vector<Value>(wrt.size()) : ctx.vjp(ys, cots, wrt);

  auto g = std::make_shared<Graph>();
  for (const auto* group : {&ds, &acc, &s, &x, &dy, &c})
    g->inputs.insert(g->inputs.end(), group->begin(), group->end());
  size_t w = 0;
  for (size_t i = 0; i < fs.size(); ++i, ++w)
    g->outputs.push_back(grads[w].defined() ? grads[w] : op::zeros_like(wrt[w]));
  for (size_t i = 0; i < fp.size(); ++i, ++w)
    g->outputs.push_back(grads[w].defined() ? op::add(acc[i], grads[w]) : acc[i]);
  for (size_t i = 0; i < fq.size(); ++i, ++w)
    g->outputs.push_back(grads[w].defined() ? grads[w] : op::zeros_like(wrt[w]));
  return g;
}

std::vector<Value> scan_grad(const GradContext& ctx) {
  SN_CHECK(ctx.vjp, ErrorKind::internal, "the gradient of a scan needs autodiff's vjp");
  const Node& node = ctx.node;
  const ScanCounts n = scan_counts(node.attrs, node.inputs.size());
  const size_t S = n.states, Q = n.sequences, M = node.outputs.size() - S;
  std::vector<Value> grads(node.inputs.size());
  bool any = false;
  for (size_t k = 0; k < ctx.outputs.size(); ++k)
    any = any || (ctx.out_grads[k].defined() && is_float(node.outputs[k].dtype));
  auto types = [&](size_t begin, size_t count, bool outputs) {
    std::vector<TensorType> t;
    for (size_t i = begin; i < begin + count; ++i) t.push_back(outputs ? node.outputs[i] : node.inputs[i].type());
    return t;
  };
  const std::vector<size_t> fs = float_positions(types(0, S, false)), fq = float_positions(types(S, Q, false)),
                            fp = float_positions(types(S + Q, n.non_sequences, false)),
                            fm = float_positions(types(S, M, true));
  if (!any || (fs.empty() && fq.empty() && fp.empty())) return grads;
  GraphPtr body = scan_body(node.attrs);

  // The forward pass again, its body also emitting each step's incoming states.
  auto with_states = std::make_shared<Graph>(*body);
  for (size_t k = 0; k < S; ++k) {
    with_states->outputs.push_back(body->inputs[k]);
    if (!body->output_names.empty()) with_states->output_names.push_back("state" + std::to_string(k + 1));
  }
  AttrMap fa = node.attrs;
  fa.set("body", GraphPtr(with_states));
  std::vector<Value> fwd = make_node("scan", node.inputs, fa, node.name + "/states");

  auto cot = [&](size_t k) { return ctx.out_grads[k].defined() ? ctx.out_grads[k] : op::zeros_like(ctx.outputs[k]); };
  std::vector<Value> ins;
  for (size_t k : fs) ins.push_back(cot(k));
  for (size_t j : fp) ins.push_back(op::zeros_like(node.inputs[S + Q + j]));
  for (size_t k = 0; k < S; ++k) ins.push_back(fwd[S + M + k]);
  for (size_t j = 0; j < Q; ++j) ins.push_back(node.inputs[S + j]);
  for (size_t m : fm) ins.push_back(cot(S + m));
  for (size_t j = 0; j < n.non_sequences; ++j) ins.push_back(node.inputs[S + Q + j]);
  AttrMap ba;
  ba.set("body", backward_body(ctx, *body, n, fs, fq, fp, fm));
  ba.set("n_states", static_cast<int64_t>(fs.size() + fp.size()));
  ba.set("n_sequences", static_cast<int64_t>(S + Q + fm.size()));
  ba.set("reverse", int64_t(1 - node.attrs.get_int("reverse", 0)));
  if (node.attrs.has("n_steps")) ba.set("n_steps", node.attrs.get_int("n_steps"));
  std::vector<Value> back = make_node("scan", ins, ba, node.name + "/grad");

  size_t w = 0;
  for (size_t k : fs) grads[k] = back[w++];
  for (size_t j : fp) grads[S + Q + j] = back[w++];
  for (size_t j : fq) grads[S + j] = back[w++];
  return grads;
}

}  // namespace

void register_scan_ops(Registry& r) {
  OpSchema s;
  s.name = "scan";
  s.min_inputs = 0;
  s.max_inputs = -1;
  // Not kPure: the body may draw random numbers or read variables.
  s.flags = 0;
  s.infer = scan_infer;
  s.grad = scan_grad;
  s.with_attrs(
      {{"body", AttrKind::graph, true,
        "closed graph of one step: [states..., sequence slices..., non-sequences...] -> [new states..., "
        "per-step outputs...]"},
       {"n_states", AttrKind::int_, true, "how many inputs, first, are the initial states"},
       {"n_sequences", AttrKind::int_, true, "how many inputs, after the states, are sequences (scanned on axis 0)"},
       {"reverse", AttrKind::int_, false,
        "1: walk the sequences from their end; output[t] still comes from position t (default 0)"},
       {"n_steps", AttrKind::int_, false,
        "the number of steps: required without sequences, else must equal their length"}});
  r.add(s);
}

}  // namespace symnet
