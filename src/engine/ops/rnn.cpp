// Recurrent layers with ONNX semantics (RNN-14, LSTM-14, GRU-14), one fused kernel per
// cell type (kernels/cpu/rnn*.cpp), and their gradient ops.
//
// Inputs, in ONNX order; the optional ones are present when their has_* attribute is 1
// and then follow X, W, R in this order, absent ones skipped (no placeholders):
//   X                  [seq, batch, in] (layout 0) or [batch, seq, in] (layout 1)
//   W                  [dirs, G*hidden, in]       G = 1 (rnn), 4 (lstm: i, o, f, c), 3 (gru: z, r, h)
//   R                  [dirs, G*hidden, hidden]
//   B        has_bias           [dirs, 2*G*hidden] (Wb then Rb); absent: zero
//   sequence_lens      has_sequence_lens  [batch], int32 or int64, each in [0, seq]
//   initial_h          has_initial_h      [dirs, batch, hidden] (layout 0) or [batch, dirs, hidden]; absent: zeros
//   initial_c (lstm)   has_initial_c      as initial_h; absent: zeros
//   P (lstm)           has_peepholes      [dirs, 3*hidden] (i, o, f); absent: no peepholes
//   mask               has_mask           [seq, batch] (layout 0) or [batch, seq]; bool or X's dtype, nonzero = valid
// X, W, R, B, the initial states and P share one float dtype (the CPU runs float32 and
// float64). Attributes: hidden_size (optional, must match R), direction (forward | reverse |
// bidirectional), layout (0 | 1), clip (> 0, applied to every activation's input),
// activations (num_acts names per direction, or one list for both directions; ONNX
// defaults), activation_alpha / activation_beta (taken in order by the activations that
// use one; ONNX's defaults when the list runs out), lstm: input_forget (f = 1 - i), gru:
// linear_before_reset.
// Outputs: Y [seq, dirs, batch, hidden] (layout 0) or [batch, seq, dirs, hidden]; Y_h
// (and Y_c for lstm) shaped as initial_h; then `reserve`, an opaque uint8 tensor of
// RnnSpec::reserve_elems(seq, batch) elements of X's dtype: what the gradient needs.
//
// Masking: a (step, batch element) is valid when step < sequence_lens[b] and mask is
// nonzero there. An invalid step leaves that element's state unchanged and gives zeros
// in Y; the reverse direction walks from the last step, so with sequence_lens it starts
// at each element's last valid step (ONNX). `mask` is a symnet extension (Keras-style
// masks that need not be a prefix, such as front padding).
//
// Saved state: the forward writes its input projections in place into `reserve`, turns
// them into each step's activated gates there, and adds every step's states (h, and c
// for lstm); `<cell>_grad` reads it instead of recomputing (a cuDNN reserve space). It is
// an output rather than a workspace because the memory planner keeps workspaces for one
// kernel only; being uint8 it is not differentiable and no loss can reach it. Inference
// pays little for it: the gates of every step are materialized by the projection GEMM
// anyway, only the per-step states are extra.
//
// <cell>_grad: inputs = the forward's inputs (same attributes), reserve, dY, dY_h (and
// dY_c); outputs dX, dW, dR, dB [dirs, 2*G*hidden], d_initial_h (and d_initial_c, dP
// [dirs, 3*hidden] for lstm) always, shaped as if every input were present: for absent
// initial states the gradient at the zeros the forward used, for absent B and P zeros
// (not computed; the rule passes on only the gradients of present inputs). No gradient
// reaches sequence_lens or mask. The _grad ops' gradient rule raises: a second derivative
// through a recurrent layer is an unsupported error.
#include <string>

#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/ops/infer_util.h"
#include "engine/ops/rnn_attrs.h"

namespace symnet {

namespace {

using Types = std::vector<TensorType>;

int64_t mul_dims(int64_t a, int64_t b) { return a < 0 || b < 0 ? -1 : a * b; }

void require_shape(const InferContext& c, int i, const Shape& want, const char* what) {
  SN_CHECK(shapes_compatible(c.in(i).shape, want), ErrorKind::shape,
           "input " << i + 1 << " (" << what << ") must have shape " << shape_str(want) << ", got "
                    << shape_str(c.in(i).shape));
}

struct RnnDims {
  RnnSpec spec;
  int64_t seq = -1, batch = -1, in = -1;
  Shape state;  // initial_h, Y_h
};

// Checks the forward inputs (the first spec.num_inputs() of c) and resolves the spec.
RnnDims check_inputs(const InferContext& c, RnnCell cell) {
  for (int i = 0; i < 3; ++i) {
    require_float(c, i);
    require_same_dtype(c, 0, i);
    require_rank(c, i, 3, 3);
  }
  RnnDims d;
  d.spec = resolve_rnn(cell, c.attrs, c.in(2).shape[2]);
  const RnnSpec& s = d.spec;
  SN_CHECK(static_cast<int>(c.num_inputs()) >= s.num_inputs(), ErrorKind::shape,
           "the has_* attributes announce " << s.num_inputs() << " inputs, got " << c.num_inputs());
  const Shape& x = c.in(0).shape;
  d.seq = s.layout == 0 ? x[0] : x[1];
  d.batch = s.layout == 0 ? x[1] : x[0];
  d.in = x[2];
  const int64_t nd = s.dirs(), h = s.hidden, gh = mul_dims(s.gates(), h);
  require_shape(c, 1, {nd, gh, d.in}, "W");
  require_shape(c, 2, {nd, gh, h}, "R");
  d.state = s.layout == 0 ? Shape{nd, d.batch, h} : Shape{d.batch, nd, h};
  int i;
  if ((i = s.input_index(kRnnBias)) >= 0) {
    require_same_dtype(c, 0, i);
    require_shape(c, i, {nd, mul_dims(2, gh)}, "B");
  }
  if ((i = s.input_index(kRnnSeqLens)) >= 0) {
    SN_CHECK(c.in(i).dtype == DType::i32 || c.in(i).dtype == DType::i64, ErrorKind::dtype,
             "input " << i + 1 << " (sequence_lens) must be int32 or int64, not " << dtype_name(c.in(i).dtype));
    require_shape(c, i, {d.batch}, "sequence_lens");
  }
  for (int k : {kRnnInitH, kRnnInitC})
    if ((i = s.input_index(k)) >= 0) {
      require_same_dtype(c, 0, i);
      require_shape(c, i, d.state, k == kRnnInitH ? "initial_h" : "initial_c");
    }
  if ((i = s.input_index(kRnnPeep)) >= 0) {
    require_same_dtype(c, 0, i);
    require_shape(c, i, {nd, mul_dims(3, h)}, "P");
  }
  if ((i = s.input_index(kRnnMask)) >= 0) {
    SN_CHECK(c.in(i).dtype == DType::boolean || c.in(i).dtype == c.in(0).dtype, ErrorKind::dtype,
             "input " << i + 1 << " (mask) must be bool or " << dtype_name(c.in(0).dtype) << ", not "
                      << dtype_name(c.in(i).dtype));
    require_shape(c, i, s.layout == 0 ? Shape{d.seq, d.batch} : Shape{d.batch, d.seq}, "mask");
  }
  return d;
}

TensorType reserve_type(const RnnDims& d, DType t) {
  const int64_t e = d.seq < 0 || d.batch < 0 || d.spec.hidden < 0 ? -1 : d.spec.reserve_elems(d.seq, d.batch);
  return {DType::u8, {e < 0 ? -1 : e * static_cast<int64_t>(dtype_size(t))}};
}

Types infer_forward(const InferContext& c, RnnCell cell) {
  RnnDims d = check_inputs(c, cell);
  SN_CHECK(static_cast<int>(c.num_inputs()) == d.spec.num_inputs(), ErrorKind::shape,
           "the has_* attributes announce " << d.spec.num_inputs() << " inputs, got " << c.num_inputs());
  const DType t = c.in(0).dtype;
  const int64_t nd = d.spec.dirs(), h = d.spec.hidden;
  Types out;
  out.push_back({t, d.spec.layout == 0 ? Shape{d.seq, nd, d.batch, h} : Shape{d.batch, d.seq, nd, h}});
  out.push_back({t, d.state});
  if (cell == RnnCell::lstm) out.push_back({t, d.state});
  out.push_back(reserve_type(d, t));
  return out;
}

int num_state_outputs(RnnCell cell) { return cell == RnnCell::lstm ? 2 : 1; }

Types infer_grad(const InferContext& c, RnnCell cell) {
  RnnDims d = check_inputs(c, cell);
  const int n = d.spec.num_inputs(), ns = num_state_outputs(cell);
  SN_CHECK(static_cast<int>(c.num_inputs()) == n + 2 + ns, ErrorKind::shape,
           "needs the " << n << " forward inputs, reserve, dY and " << ns << " state gradients; got "
                        << c.num_inputs() << " inputs");
  const DType t = c.in(0).dtype;
  const int64_t nd = d.spec.dirs(), h = d.spec.hidden, gh = mul_dims(d.spec.gates(), h);
  SN_CHECK(c.in(n).dtype == DType::u8, ErrorKind::dtype, "input " << n + 1 << " (reserve) must be uint8");
  require_shape(c, n, reserve_type(d, t).shape, "reserve");
  for (int i = n + 1; i < n + 2 + ns; ++i) require_same_dtype(c, 0, i);
  require_shape(c, n + 1, d.spec.layout == 0 ? Shape{d.seq, nd, d.batch, h} : Shape{d.batch, d.seq, nd, h}, "dY");
  for (int i = n + 2; i < n + 2 + ns; ++i) require_shape(c, i, d.state, "state gradient");
  Types out{c.in(0), c.in(1), c.in(2), {t, {nd, mul_dims(2, gh)}}, {t, d.state}};
  if (cell == RnnCell::lstm) {
    out.push_back({t, d.state});
    out.push_back({t, {nd, mul_dims(3, h)}});
  }
  return out;
}

std::vector<Value> rnn_grad_rule(const GradContext& g, RnnCell cell, const std::string& grad_op) {
  const Node& n = g.node;
  const RnnSpec s = resolve_rnn(cell, n.attrs, n.inputs.at(2).shape()[2]);
  const int ns = num_state_outputs(cell);
  std::vector<Value> in(n.inputs.begin(), n.inputs.end());
  in.push_back(g.out(1 + ns));  // reserve
  for (int k = 0; k <= ns; ++k) in.push_back(g.grad(k).defined() ? g.grad(k) : op::zeros_like(g.out(k)));
  std::vector<Value> gr = make_node(grad_op, in, n.attrs);
  std::vector<Value> res(n.inputs.size());
  res[0] = gr[0];
  res[1] = gr[1];
  res[2] = gr[2];
  auto put = [&](int k, const Value& v) {
    if (s.input_index(k) >= 0) res[s.input_index(k)] = v;
  };
  put(kRnnBias, gr[3]);
  put(kRnnInitH, gr[4]);
  if (cell == RnnCell::lstm) {
    put(kRnnInitC, gr[5]);
    put(kRnnPeep, gr[6]);
  }
  return res;
}

void add_cell(Registry& r, const std::string& name, RnnCell cell) {
  const int ns = num_state_outputs(cell);
  // X, W, R and up to 4 (rnn, gru) or 6 (lstm) optional inputs.
  const int max_in = 3 + (cell == RnnCell::lstm ? 6 : 4);
  OpSchema f;
  f.name = name;
  f.min_inputs = 3;
  f.max_inputs = max_in;
  f.flags = kPure;
  f.infer = [cell](const InferContext& c) { return infer_forward(c, cell); };
  const std::string grad_op = name + "_grad";
  f.grad = [cell, grad_op](const GradContext& g) { return rnn_grad_rule(g, cell, grad_op); };
  f.with_attrs(rnn_attr_specs(cell));
  r.add(f);

  OpSchema b;
  b.name = grad_op;
  b.min_inputs = 3 + 2 + ns;
  b.max_inputs = max_in + 2 + ns;
  b.flags = kPure;
  b.infer = [cell](const InferContext& c) { return infer_grad(c, cell); };
  // A rule that refuses, so autodiff reports an unsupported (not a value) error.
  b.grad = [grad_op](const GradContext&) -> std::vector<Value> {
    SN_THROW(ErrorKind::unsupported,
             "second derivatives through a recurrent layer are not supported (" << grad_op << " has no gradient)");
  };
  b.with_attrs(rnn_attr_specs(cell));
  r.add(b);
}

}  // namespace

void register_rnn_ops(Registry& r) {
  add_cell(r, "rnn", RnnCell::rnn);
  add_cell(r, "lstm", RnnCell::lstm);
  add_cell(r, "gru", RnnCell::gru);
}

}  // namespace symnet
