// Cases of the recurrent ops (rnn, lstm, gru and their _grad kernels). Forward outputs are
// checked against rnn_reference.h (a naive loop from the ONNX equations); the harness
// checks every forward case's gradients by finite differences through the _grad op; the
// _grad ops' own cases compare with central differences of the naive reference.
#include <cmath>

#include "harness.h"
#include "rnn_reference.h"

namespace symnet::test {

namespace {

struct RnnCase {
  RnnRefCfg cfg;
  int64_t S = 3, B = 2, I = 3, H = 4;
  DType t = DType::f64;
  std::vector<int64_t> lens;  // cfg.lens: one per batch element
  std::vector<int> mask;      // cfg.mask: [S][B], step-major (transposed for layout 1)
  DType mask_t = DType::boolean;
  DType lens_t = DType::i32;
  bool grad = true;
  bool hidden_attr = false;
  std::string label;
  uint64_t seed = 1;
};

bool takes_alpha(const std::string& n) {
  return n == "HardSigmoid" || n == "LeakyRelu" || n == "Affine" || n == "ScaledTanh" || n == "ThresholdedRelu" ||
         n == "Elu";
}
bool takes_beta(const std::string& n) { return n == "HardSigmoid" || n == "Affine" || n == "ScaledTanh"; }

AttrMap case_attrs(const RnnCase& rc) {
  const RnnRefCfg& c = rc.cfg;
  AttrMap a;
  a.set("direction", c.direction);
  a.set("layout", c.layout);
  if (rc.hidden_attr) a.set("hidden_size", rc.H);
  if (c.bias) a.set("has_bias", int64_t{1});
  if (c.lens) a.set("has_sequence_lens", int64_t{1});
  if (c.init_h) a.set("has_initial_h", int64_t{1});
  if (c.init_c) a.set("has_initial_c", int64_t{1});
  if (c.peep) a.set("has_peepholes", int64_t{1});
  if (c.mask) a.set("has_mask", int64_t{1});
  if (c.clip > 0) a.set("clip", c.clip);
  if (c.input_forget) a.set("input_forget", int64_t{1});
  if (c.op == "gru") a.set("linear_before_reset", int64_t{c.lbr ? 1 : 0});
  if (!c.acts.empty()) {
    // Alphas and betas are listed in order for the activations that take them (ONNX).
    std::vector<std::string> names;
    std::vector<double> al, be;
    for (const RefAct& r : c.acts) {
      names.push_back(r.name);
      if (takes_alpha(r.name)) al.push_back(r.alpha);
      if (takes_beta(r.name)) be.push_back(r.beta);
    }
    a.set("activations", names);
    if (!al.empty()) a.set("activation_alpha", al);
    if (!be.empty()) a.set("activation_beta", be);
  }
  return a;
}

std::vector<Tensor> case_inputs(const RnnCase& rc) {
  const RnnRefCfg& c = rc.cfg;
  const int64_t D = c.dirs(), GH = c.gates() * rc.H, H = rc.H;
  const uint64_t s = rc.seed * 100;
  const Shape state = c.layout == 0 ? Shape{D, rc.B, H} : Shape{rc.B, D, H};
  std::vector<Tensor> in{random_tensor(rc.t, c.layout == 0 ? Shape{rc.S, rc.B, rc.I} : Shape{rc.B, rc.S, rc.I}, s),
                         random_tensor(rc.t, {D, GH, rc.I}, s + 1, -0.6, 0.6),
                         random_tensor(rc.t, {D, GH, H}, s + 2, -0.6, 0.6)};
  if (c.bias) in.push_back(random_tensor(rc.t, {D, 2 * GH}, s + 3, -0.4, 0.4));
  if (c.lens) {
    Tensor l(rc.lens_t, {rc.B});
    for (int64_t b = 0; b < rc.B; ++b) l.set_from_double(b, static_cast<double>(rc.lens.at(b)));
    in.push_back(l);
  }
  if (c.init_h) in.push_back(random_tensor(rc.t, state, s + 4));
  if (c.init_c) in.push_back(random_tensor(rc.t, state, s + 5));
  if (c.peep) in.push_back(random_tensor(rc.t, {D, 3 * H}, s + 6, -0.5, 0.5));
  if (c.mask) {
    Tensor m(rc.mask_t, c.layout == 0 ? Shape{rc.S, rc.B} : Shape{rc.B, rc.S});
    for (int64_t t = 0; t < rc.S; ++t)
      for (int64_t b = 0; b < rc.B; ++b)
        m.set_from_double(c.layout == 0 ? t * rc.B + b : b * rc.S + t, rc.mask.at(t * rc.B + b));
    in.push_back(m);
  }
  return in;
}

OpCase forward_case(const RnnCase& rc) {
  OpCase k;
  k.op = rc.cfg.op;
  k.label = rc.label;
  k.attrs = case_attrs(rc);
  k.inputs = case_inputs(rc);
  k.grad = rc.grad;
  k.tol = rc.t == DType::f32 ? 2e-5 : 1e-9;
  const RnnRefCfg cfg = rc.cfg;
  const std::vector<Tensor> inputs = k.inputs;
  k.check = [cfg, inputs](const std::vector<Tensor>& out) {
    std::vector<Tensor> want = rnn_reference(cfg, inputs);
    REQUIRE(out.size() == want.size() + 1);
    const double tol = inputs[0].dtype() == DType::f32 ? 2e-5 : 1e-9;
    for (size_t i = 0; i < want.size(); ++i) check_close(out[i], want[i], tol);
    CHECK(out.back().dtype() == DType::u8);  // the reserve: opaque bytes for the gradient
  };
  for (size_t i = 0; i < k.inputs.size(); ++i) {
    const bool is_mask = cfg.mask && i + 1 == k.inputs.size();
    if (is_float(k.inputs[i].dtype()) && !is_mask) k.grad_inputs.push_back(static_cast<int>(i));
  }
  return k;
}

// d/dinputs of sum(dY * Y) + sum(dY_h * Y_h) (+ sum(dY_c * Y_c)) by central differences of
// the reference, absent bias / states / peepholes taken as present zeros: the _grad op
// gives the gradient at the zero initial states the forward used, and zeros for an absent
// B or P (which it does not compute).
std::vector<Tensor> grad_reference(const RnnCase& rc, const std::vector<Tensor>& in) {
  const size_t n = case_inputs(rc).size();
  const int ns = rc.cfg.op == "lstm" ? 2 : 1;
  RnnRefCfg full = rc.cfg;
  full.bias = full.init_h = true;
  if (full.op == "lstm") full.init_c = full.peep = true;
  RnnCase fc = rc;
  fc.cfg = full;
  // Full inputs, float ones in float64: the case's where present, zeros where absent.
  std::vector<Tensor> x = case_inputs(fc);
  auto take = [&](bool has, size_t& k) -> const Tensor* { return has ? &in[k++] : nullptr; };
  size_t k = 3;
  const Tensor* b = take(rc.cfg.bias, k);
  const Tensor* l = take(rc.cfg.lens, k);
  const Tensor* h0 = take(rc.cfg.init_h, k);
  const Tensor* c0 = take(rc.cfg.init_c, k);
  const Tensor* p = take(rc.cfg.peep, k);
  const Tensor* m = take(rc.cfg.mask, k);
  std::vector<const Tensor*> src{&in[0], &in[1], &in[2], b};
  if (l) src.push_back(l);
  src.push_back(h0);
  if (full.op == "lstm") {
    src.push_back(c0);
    src.push_back(p);
  }
  if (m) src.push_back(m);
  REQUIRE(src.size() == x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const bool is_mask = m != nullptr && src[i] == m;
    const bool to_f64 = is_float(x[i].dtype()) && !is_mask;
    Tensor d(to_f64 ? DType::f64 : x[i].dtype(), x[i].shape());
    if (src[i])
      for (int64_t e = 0; e < d.numel(); ++e) d.set_from_double(e, src[i]->get_as_double(e));
    x[i] = d;
  }
  std::vector<Tensor> cot(in.begin() + n + 1, in.end());
  auto loss = [&]() {
    std::vector<Tensor> y = rnn_reference(full, x);
    double v = 0;
    for (int o = 0; o <= ns; ++o)
      for (int64_t e = 0; e < y[o].numel(); ++e) v += y[o].get_as_double(e) * cot[o].get_as_double(e);
    return v;
  };
  // Outputs: dX, dW, dR, dB, d_initial_h (, d_initial_c, dP): positions in x.
  const size_t hi = l ? 5 : 4;
  std::vector<size_t> roles{0, 1, 2, 3, hi};
  if (full.op == "lstm") {
    roles.push_back(hi + 1);
    roles.push_back(hi + 2);
  }
  std::vector<Tensor> out;
  for (size_t r : roles) {
    Tensor gt(rc.t, x[r].shape());
    for (int64_t e = 0; e < x[r].numel(); ++e) {
      const double orig = x[r].get_as_double(e), h = 1e-6;
      x[r].set_from_double(e, orig + h);
      const double fp = loss();
      x[r].set_from_double(e, orig - h);
      const double fm = loss();
      x[r].set_from_double(e, orig);
      gt.set_from_double(e, (fp - fm) / (2 * h));
    }
    const bool skipped = (r == 3 && !rc.cfg.bias) || (full.op == "lstm" && r == hi + 2 && !rc.cfg.peep);
    out.push_back(skipped ? Tensor(rc.t, x[r].shape()) : gt);
  }
  return out;
}

OpCase grad_case(const RnnCase& rc) {
  OpCase fw = forward_case(rc);
  std::vector<Tensor> outs = run_op(fw.op, fw.inputs, fw.attrs);
  OpCase k;
  k.op = rc.cfg.op + "_grad";
  k.label = rc.label;
  k.attrs = fw.attrs;
  k.inputs = fw.inputs;
  k.inputs.push_back(outs.back());
  for (size_t o = 0; o + 1 < outs.size(); ++o)
    k.inputs.push_back(random_tensor(rc.t, outs[o].shape(), 500 + rc.seed * 10 + o));
  k.grad = false;
  k.tol = rc.t == DType::f32 ? 1e-4 : 1e-6;
  k.reference = [rc](const std::vector<Tensor>& in) { return grad_reference(rc, in); };
  return k;
}

RnnCase make(const std::string& op, const std::string& dir, int64_t layout, const std::string& label, uint64_t seed) {
  RnnCase c;
  c.cfg.op = op;
  c.cfg.direction = dir;
  c.cfg.layout = layout;
  c.label = label;
  c.seed = seed;
  return c;
}

void all_optional(RnnCase& c) {
  c.cfg.bias = c.cfg.init_h = true;
  if (c.cfg.op == "lstm") c.cfg.init_c = c.cfg.peep = true;
}

}  // namespace

void add_rnn_cases(std::vector<OpCase>& cases) {
  std::vector<RnnCase> fw;
  for (const std::string op : {"lstm", "gru", "rnn"}) {
    uint64_t s = op == "lstm" ? 10 : op == "gru" ? 30 : 50;
    // Plain: no optional input, batch 1.
    RnnCase a = make(op, "forward", 0, "forward, no optional inputs, batch 1", s++);
    a.B = 1;
    a.H = 5;
    fw.push_back(a);
    // Everything, both directions, sequence_lens (one element shorter, one empty).
    RnnCase b = make(op, "bidirectional", 0, "bidirectional, all inputs, sequence_lens", s++);
    all_optional(b);
    b.cfg.lens = true;
    b.B = 3;
    b.lens = {3, 1, 0};
    b.hidden_attr = true;
    fw.push_back(b);
    // Reverse, layout 1, int64 sequence_lens, initial state only.
    RnnCase c = make(op, "reverse", 1, "reverse, layout 1, sequence_lens", s++);
    c.cfg.init_h = c.cfg.lens = true;
    c.lens = {2, 4};
    c.lens_t = DType::i64;
    c.S = 4;
    fw.push_back(c);
    // A mask that is no prefix (front padding and a hole), float mask, layout 1, reverse.
    RnnCase d = make(op, "reverse", 1, "reverse, layout 1, float mask with front padding", s++);
    d.cfg.mask = d.cfg.bias = true;
    d.S = 4;
    d.mask = {0, 1, 1, 1, 1, 0, 1, 1};  // [S=4][B=2]: element 0 padded in front, element 1 has a hole
    d.mask_t = DType::f64;
    fw.push_back(d);
    // Bool mask with sequence_lens, bidirectional, layout 0.
    RnnCase e = make(op, "bidirectional", 0, "bidirectional, bool mask and sequence_lens", s++);
    all_optional(e);
    e.cfg.mask = e.cfg.lens = true;
    e.S = 4;
    e.lens = {4, 3};
    e.mask = {1, 0, 0, 1, 1, 1, 1, 1};
    fw.push_back(e);
    // Clip and other activations (smooth where the samples land, for the finite differences).
    RnnCase f = make(op, "bidirectional", 0, "clip, other activations", s++);
    f.cfg.bias = true;
    f.cfg.clip = 0.7;
    if (op == "lstm") {
      f.cfg.input_forget = true;
      f.cfg.acts = {{"HardSigmoid", 0.3, 0.45}, {"Softsign"}, {"ScaledTanh", 1.2, 0.8},
                    {"Sigmoid"},                {"Elu", 0.9}, {"Softplus"}};
    } else if (op == "gru") {
      f.cfg.acts = {{"Sigmoid"}, {"Affine", 0.8, 0.1}, {"HardSigmoid", 0.25, 0.5}, {"LeakyRelu", 0.05}};
    } else {
      f.cfg.acts = {{"Relu"}, {"ThresholdedRelu", 0.05}};
    }
    fw.push_back(f);
    if (op == "gru") {
      for (RnnCase* g : {&a, &b, &c, &d, &e, &f}) {
        RnnCase l = *g;
        l.cfg.lbr = true;
        l.label += ", linear_before_reset";
        l.seed += 7;
        fw.push_back(l);
      }
    }
    // float32, sizes off the SIMD width, enough work for several threads: values only.
    RnnCase big = make(op, "bidirectional", 1, "float32, 2 threads' worth", s++);
    all_optional(big);
    big.cfg.lens = true;
    big.t = DType::f32;
    big.S = 9;
    big.B = 16;
    big.I = 13;
    big.H = 37;
    for (int64_t i = 0; i < big.B; ++i) big.lens.push_back(i % 3 == 0 ? 9 : 1 + i % 9);
    big.grad = false;
    fw.push_back(big);
    RnnCase small32 = make(op, "forward", 0, "float32, hidden 3", s++);
    small32.t = DType::f32;
    small32.cfg.bias = true;
    small32.H = 3;
    small32.B = 5;
    small32.grad = false;
    fw.push_back(small32);
  }
  for (const RnnCase& c : fw) cases.push_back(forward_case(c));

  // The gradient kernels on their own, against finite differences of the reference.
  for (const std::string op : {"lstm", "gru", "rnn"}) {
    RnnCase a = make(op, "bidirectional", 1, "bidirectional, sequence_lens, float32", 70);
    a.t = DType::f32;
    a.cfg.lens = true;
    a.cfg.bias = true;
    a.lens = {3, 2};
    if (op == "lstm") a.cfg.peep = true;
    cases.push_back(grad_case(a));
    RnnCase b = make(op, "reverse", 0, "reverse, mask, defaults for absent inputs", 71);
    b.cfg.mask = true;
    b.S = 4;
    b.mask = {1, 1, 0, 1, 1, 0, 1, 1};
    if (op == "gru") b.cfg.lbr = true;
    cases.push_back(grad_case(b));
  }
}

}  // namespace symnet::test
