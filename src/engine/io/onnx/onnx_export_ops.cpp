// Engine op -> ONNX operators (opsets 13 to 17), the inverse of onnx_convert_*.cpp. Most
// engine ops carry ONNX's attributes under ONNX's names; shape-like attributes (shape,
// axes, pads, repeats, starts...) become int64 initializers where ONNX takes them as
// inputs. Ops ONNX lacks at the opset are written as the compositions ONNX's own
// function bodies give (gelu, expm1, log1p, floor mod of floats, reduce_variance).
#include <algorithm>
#include <cctype>
#include <cmath>

#include "engine/io/onnx/onnx_export_context.h"
#include "engine/ops/builder.h"
#include "engine/passes/passes.h"

namespace symnet {
namespace onnx {

namespace {

using Ctx = ExportContext;

DType in_dtype(const Ctx& c, size_t i) { return c.n.inputs.at(i).dtype(); }
DType out_dtype(const Ctx& c, size_t i = 0) { return c.n.outputs.at(i).dtype; }

OpExporter same(const char* op_type) {
  return [op_type](Ctx& c) { c.b.node(op_type, c.in, c.out); };
}

// The engine attribute `key` copied (when set) as an ONNX attribute of the same name.
void copy_ints(const Ctx& c, std::vector<Attribute>& at, const char* key) {
  if (c.a().has(key)) at.push_back(attr_ints(key, c.a().get_ints(key)));
}
void copy_int(const Ctx& c, std::vector<Attribute>& at, const char* key) {
  if (c.a().has(key)) at.push_back(attr_i(key, c.a().get_int(key)));
}

// --- elementwise ------------------------------------------------------------------------

OpExporter with_alpha(const char* op_type, double def) {
  return [op_type, def](Ctx& c) { c.b.node(op_type, c.in, c.out, {attr_f("alpha", c.a().get_float("alpha", def))}); };
}

void selu(Ctx& c) {
  c.b.node("Selu", c.in, c.out,
           {attr_f("alpha", c.a().get_float("alpha", 1.6732632423543772)),
            attr_f("gamma", c.a().get_float("gamma", 1.0507009873554805))});
}

void hard_sigmoid(Ctx& c) {
  c.b.node("HardSigmoid", c.in, c.out,
           {attr_f("alpha", c.a().get_float("alpha", 0.2)), attr_f("beta", c.a().get_float("beta", 0.5))});
}

std::string k(Ctx& c, double v, DType dt) { return c.b.scalar(c.label() + "/const", v, dt); }

// Gelu is an operator from opset 20; before, its definition.
void gelu(Ctx& c) {
  const DType dt = in_dtype(c, 0);
  const std::string& x = c.in[0];
  const std::string base = c.label();
  std::string inner;
  if (c.a().get_string("approximate", "none") == "tanh") {
    std::string x3 = c.b.tmp("Mul", {x, c.b.tmp("Mul", {x, x}, base + "/x2")}, base + "/x3");
    std::string s = c.b.tmp("Add", {x, c.b.tmp("Mul", {x3, k(c, 0.044715, dt)}, base + "/cx3")}, base + "/sum");
    inner = c.b.tmp("Tanh", {c.b.tmp("Mul", {s, k(c, std::sqrt(2.0 / M_PI), dt)}, base + "/scaled")}, base + "/tanh");
  } else {
    inner = c.b.tmp("Erf", {c.b.tmp("Mul", {x, k(c, 1.0 / std::sqrt(2.0), dt)}, base + "/scaled")}, base + "/erf");
  }
  std::string one_plus = c.b.tmp("Add", {inner, k(c, 1.0, dt)}, base + "/one_plus");
  std::string half_x = c.b.tmp("Mul", {x, k(c, 0.5, dt)}, base + "/half_x");
  c.b.node("Mul", {half_x, one_plus}, c.out);
}

void expm1(Ctx& c) {
  c.b.node("Sub", {c.b.tmp("Exp", {c.in[0]}, c.label() + "/exp"), k(c, 1.0, in_dtype(c, 0))}, c.out);
}
void log1p(Ctx& c) {
  c.b.node("Log", {c.b.tmp("Add", {c.in[0], k(c, 1.0, in_dtype(c, 0))}, c.label() + "/plus1")}, c.out);
}
void square(Ctx& c) { c.b.node("Mul", {c.in[0], c.in[0]}, c.out); }
void rsqrt(Ctx& c) { c.b.node("Reciprocal", {c.b.tmp("Sqrt", {c.in[0]}, c.label() + "/sqrt")}, c.out); }
void not_equal(Ctx& c) { c.b.node("Not", {c.b.tmp("Equal", c.in, c.label() + "/equal")}, c.out); }

// ONNX's Mod takes fmod = 0 (the divisor's sign) for integers only; floats get
// x - floor(x / y) * y.
void mod(Ctx& c) {
  const int64_t fmod = c.a().get_int("fmod", 0);
  if (fmod || !is_float(in_dtype(c, 0))) {
    c.b.node("Mod", c.in, c.out, {attr_i("fmod", fmod)});
    return;
  }
  const std::string base = c.label();
  std::string q = c.b.tmp("Floor", {c.b.tmp("Div", c.in, base + "/div")}, base + "/floor");
  c.b.node("Sub", {c.in[0], c.b.tmp("Mul", {q, c.in[1]}, base + "/mul")}, c.out);
}

void cast(Ctx& c) { c.b.node("Cast", c.in, c.out, {attr_i("to", elem_type_of(out_dtype(c)))}); }

void clip(Ctx& c) {
  const double lo = c.a().get_float("min", -INFINITY), hi = c.a().get_float("max", INFINITY);
  const DType dt = in_dtype(c, 0);
  std::string min = std::isinf(lo) ? std::string() : c.b.scalar(c.label() + "/min", lo, dt);
  std::string max = std::isinf(hi) ? std::string() : c.b.scalar(c.label() + "/max", hi, dt);
  c.b.node("Clip", {c.in[0], min, max}, c.out);
}

void with_axis(Ctx& c, const char* op_type, int64_t def) {
  c.b.node(op_type, c.in, c.out, {attr_i("axis", c.a().get_int("axis", def))});
}

void arg_reduce(Ctx& c, const char* op_type) {
  c.b.node(op_type, c.in, c.out,
           {attr_i("axis", c.a().get_int("axis", 0)), attr_i("keepdims", c.a().get_int("keepdims", 1)),
            attr_i("select_last_index", c.a().get_int("select_last_index", 0))});
}

// --- reductions ---------------------------------------------------------------------------

// ReduceSum takes its axes as an input from opset 13, the others as an attribute until 18.
// The engine keeps no reduced axes by default, ONNX keeps them: keepdims is always written.
OpExporter reduce(const char* op_type) {
  return [op_type](Ctx& c) {
    const std::vector<int64_t> axes = c.a().get_ints("axes", {});
    std::vector<Attribute> at = {attr_i("keepdims", c.a().get_int("keepdims", 0))};
    if (std::string(op_type) == "ReduceSum") {
      std::vector<std::string> ins = {c.in[0]};
      if (!axes.empty()) ins.push_back(c.b.ints(c.label() + "/axes", axes));
      c.b.node(op_type, ins, c.out, at);
      return;
    }
    if (!axes.empty()) at.push_back(attr_ints("axes", axes));
    c.b.node(op_type, c.in, c.out, at);
  };
}

// Variance as mean((x - mean(x))^2), scaled by n / (n - correction) when corrected.
void reduce_variance(Ctx& c) {
  const std::vector<int64_t> axes = c.a().get_ints("axes", {});
  const int64_t keep = c.a().get_int("keepdims", 0);
  const double corr = c.a().get_float("correction", 0);
  const std::string base = c.label();
  std::vector<Attribute> keep1 = {attr_i("keepdims", 1)};
  if (!axes.empty()) keep1.push_back(attr_ints("axes", axes));
  std::string mean = c.b.tmp("ReduceMean", {c.in[0]}, base + "/mean", keep1);
  std::string d = c.b.tmp("Sub", {c.in[0], mean}, base + "/centered");
  std::vector<Attribute> at = {attr_i("keepdims", keep)};
  if (!axes.empty()) at.push_back(attr_ints("axes", axes));
  if (corr == 0) {
    c.b.node("ReduceMean", {c.b.tmp("Mul", {d, d}, base + "/sq")}, c.out, at);
    return;
  }
  const Value& x = c.n.inputs[0];
  if (!x.type().known()) c.unsupported("a corrected variance needs the input's shape known when it is exported");
  double n = 1;
  if (axes.empty()) {
    for (int64_t s : x.shape()) n *= static_cast<double>(s);
  } else {
    for (int64_t ax : axes) n *= static_cast<double>(x.shape()[static_cast<size_t>(ax < 0 ? ax + x.rank() : ax)]);
  }
  std::string v = c.b.tmp("ReduceMean", {c.b.tmp("Mul", {d, d}, base + "/sq")}, base + "/var", at);
  c.b.node("Mul", {v, k(c, n / (n - corr), in_dtype(c, 0))}, c.out);
}

void cumsum(Ctx& c) {
  c.b.node("CumSum", {c.in[0], c.b.int_scalar(c.label() + "/axis", c.a().get_int("axis"))}, c.out,
           {attr_i("exclusive", c.a().get_int("exclusive", 0)), attr_i("reverse", c.a().get_int("reverse", 0))});
}

// --- linear algebra, convolution, pooling, normalization --------------------------------

void gemm(Ctx& c) {
  c.b.node("Gemm", c.in, c.out,
           {attr_f("alpha", c.a().get_float("alpha", 1)), attr_f("beta", c.a().get_float("beta", 1)),
            attr_i("transA", c.a().get_int("transA", 0)), attr_i("transB", c.a().get_int("transB", 0))});
}

std::vector<Attribute> window_attrs(const Ctx& c) {
  std::vector<Attribute> at;
  for (const char* key : {"kernel_shape", "strides", "pads", "dilations"}) copy_ints(c, at, key);
  if (c.a().has("auto_pad")) at.push_back(attr_s("auto_pad", c.a().get_string("auto_pad")));
  return at;
}

void conv(Ctx& c) {
  std::vector<Attribute> at = window_attrs(c);
  at.push_back(attr_i("group", c.a().get_int("group", 1)));
  c.b.node("Conv", c.in, c.out, at);
}

void conv_transpose(Ctx& c) {
  std::vector<Attribute> at = window_attrs(c);
  at.push_back(attr_i("group", c.a().get_int("group", 1)));
  copy_ints(c, at, "output_padding");
  copy_ints(c, at, "output_shape");
  c.b.node("ConvTranspose", c.in, c.out, at);
}

void max_pool(Ctx& c) {
  std::vector<Attribute> at = window_attrs(c);
  copy_int(c, at, "ceil_mode");
  c.b.node("MaxPool", c.in, c.out, at);
}

void avg_pool(Ctx& c) {
  for (int64_t d : c.a().get_ints("dilations", {}))
    if (d != 1) c.unsupported("AveragePool takes dilations from opset 19 only");
  std::vector<Attribute> at;
  for (const Attribute& a : window_attrs(c))
    if (a.name != "dilations") at.push_back(a);
  copy_int(c, at, "ceil_mode");
  at.push_back(attr_i("count_include_pad", c.a().get_int("count_include_pad", 0)));
  c.b.node("AveragePool", c.in, c.out, at);
}

void batch_norm(Ctx& c) {
  if (c.a().get_int("training", 0) != 0) c.unsupported("a batch norm in training mode cannot be exported");
  c.b.node("BatchNormalization", c.in, c.out,
           {attr_f("epsilon", c.a().get_float("epsilon", 1e-5)), attr_f("momentum", c.a().get_float("momentum", 0.9))});
}

// LayerNormalization is an operator from opset 17; before, its definition.
void layer_norm(Ctx& c) {
  const int64_t axis = c.a().get_int("axis", -1);
  const double eps = c.a().get_float("epsilon", 1e-5);
  if (c.b.opset() >= 17) {
    c.b.node("LayerNormalization", c.in, c.out, {attr_i("axis", axis), attr_f("epsilon", eps)});
    return;
  }
  const Value& x = c.n.inputs[0];
  if (!x.rank_known()) c.unsupported("before opset 17 a layer norm needs its input's rank known");
  const int64_t r = x.rank(), first = axis < 0 ? axis + r : axis;
  std::vector<int64_t> axes;
  for (int64_t d = first; d < r; ++d) axes.push_back(d);
  const std::string base = c.label();
  const std::vector<Attribute> at = {attr_ints("axes", axes), attr_i("keepdims", 1)};
  std::string d = c.b.tmp("Sub", {c.in[0], c.b.tmp("ReduceMean", {c.in[0]}, base + "/mean", at)}, base + "/centered");
  std::string var = c.b.tmp("ReduceMean", {c.b.tmp("Mul", {d, d}, base + "/sq")}, base + "/var", at);
  std::string sd = c.b.tmp("Sqrt", {c.b.tmp("Add", {var, k(c, eps, in_dtype(c, 0))}, base + "/var_eps")}, base + "/sd");
  std::string y = c.b.tmp("Mul", {c.b.tmp("Div", {d, sd}, base + "/normed"), c.in[1]}, base + "/scaled");
  if (c.in.size() > 2) {
    c.b.node("Add", {y, c.in[2]}, c.out);
  } else {
    c.b.node("Identity", {y}, c.out);
  }
}

// Inference mode: dropout passes its input through, and its mask (written only when
// something reads it) keeps everything.
void dropout(Ctx& c) {
  if (c.a().get_int("training", 0) != 0) c.unsupported("a dropout in training mode cannot be exported");
  c.b.node("Identity", {c.in[0]}, {c.out[0]});
  if (c.used.size() > 1 && c.used[1]) {
    Tensor one(DType::boolean, {1});
    one.set_from_double(0, 1);
    c.b.node("ConstantOfShape", {c.b.tmp("Shape", {c.in[0]}, c.label() + "/shape")}, {c.out[1]}, {attr_t("value", one)});
  }
}

void lrn(Ctx& c) {
  c.b.node("LRN", c.in, c.out,
           {attr_i("size", c.a().get_int("size")), attr_f("alpha", c.a().get_float("alpha", 1e-4)),
            attr_f("beta", c.a().get_float("beta", 0.75)), attr_f("bias", c.a().get_float("bias", 1.0))});
}

// RNN, LSTM, GRU: the engine's attributes are ONNX's; its optional inputs are compacted
// behind has_* flags (ONNX leaves gaps) and its trailing reserve output is internal.
std::string onnx_activation(const std::string& engine_name) {
  static const std::pair<const char*, const char*> names[] = {
      {"sigmoid", "Sigmoid"},       {"tanh", "Tanh"},         {"relu", "Relu"},
      {"hardsigmoid", "HardSigmoid"}, {"leakyrelu", "LeakyRelu"}, {"affine", "Affine"},
      {"scaledtanh", "ScaledTanh"}, {"thresholdedrelu", "ThresholdedRelu"}, {"elu", "Elu"},
      {"softsign", "Softsign"},     {"softplus", "Softplus"}};
  std::string low;
  for (char ch : engine_name) low += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (const auto& p : names)
    if (low == p.first) return p.second;
  return engine_name;
}

OpExporter recurrent(const char* op_type, int n_states) {
  return [op_type, n_states](Ctx& c) {
    const AttrMap& a = c.a();
    if (a.get_int("has_mask", 0)) c.unsupported("the mask input is a symnet extension ONNX does not have");
    const int64_t layout = a.get_int("layout", 0);
    std::vector<Attribute> at;
    // hidden_size from the output Y: [seq, dirs, batch, hidden] (layout 1: [batch, seq, dirs, hidden]).
    int64_t hidden = a.get_int("hidden_size", 0);
    if (hidden <= 0 && c.n.outputs[0].rank_known()) hidden = c.n.outputs[0].shape.back();
    if (hidden <= 0) c.unsupported("hidden_size must be known");
    at.push_back(attr_i("hidden_size", hidden));
    at.push_back(attr_s("direction", a.get_string("direction", "forward")));
    if (a.has("clip")) at.push_back(attr_f("clip", a.get_float("clip")));
    if (a.has("activations")) {
      std::vector<std::string> acts = a.get_strings("activations");
      for (std::string& s : acts) s = onnx_activation(s);
      at.push_back(attr_strings("activations", acts));
    }
    if (a.has("activation_alpha")) at.push_back(attr_floats("activation_alpha", a.get_floats("activation_alpha")));
    if (a.has("activation_beta")) at.push_back(attr_floats("activation_beta", a.get_floats("activation_beta")));
    const std::string op(op_type);
    if (op == "GRU") at.push_back(attr_i("linear_before_reset", a.get_int("linear_before_reset", 0)));
    if (op == "LSTM") at.push_back(attr_i("input_forget", a.get_int("input_forget", 0)));
    // Batch-major values (layout 1) are transposed around a sequence-major op: ONNX
    // Runtime runs recurrent ops in layout 0 only.
    const std::string base = c.label();
    auto to_seq_major = [&](const std::string& v, const char* what) {
      return layout ? c.b.tmp("Transpose", {v}, base + "/" + what, {attr_ints("perm", {1, 0, 2})}) : v;
    };
    // ONNX positions: X W R B sequence_lens initial_h (initial_c P).
    std::vector<std::string> ins = {to_seq_major(c.in[0], "x_seq_major"), c.in[1], c.in[2]};
    const char* flags[] = {"has_bias", "has_sequence_lens", "has_initial_h", "has_initial_c", "has_peepholes"};
    const size_t n_opt = op == "LSTM" ? 5 : 3;
    size_t next = 3;
    for (size_t f = 0; f < n_opt; ++f) {
      if (!a.get_int(flags[f], 0)) {
        ins.push_back("");
        continue;
      }
      std::string v = c.in.at(next);
      // sequence_lens is int32 in ONNX.
      if (f == 1 && in_dtype(c, next) != DType::i32)
        v = c.b.tmp("Cast", {v}, c.label() + "/sequence_lens", {attr_i("to", kInt32)});
      if (f == 2 || f == 3) v = to_seq_major(v, f == 2 ? "initial_h_seq_major" : "initial_c_seq_major");
      ins.push_back(v);
      ++next;
    }
    std::vector<std::string> outs(c.out.begin(), c.out.begin() + 1 + n_states);
    if (!layout) {
      c.b.node(op_type, ins, outs, at);
      return;
    }
    // Y [seq, dirs, batch, hidden] -> [batch, seq, dirs, hidden]; states [dirs, batch,
    // hidden] -> [batch, dirs, hidden].
    std::vector<std::string> seq_major;
    for (size_t i = 0; i < outs.size(); ++i) seq_major.push_back(c.b.fresh(outs[i] + "/seq_major"));
    c.b.node(op_type, ins, seq_major, at);
    for (size_t i = 0; i < outs.size(); ++i)
      c.b.node("Transpose", {seq_major[i]}, {outs[i]},
               {attr_ints("perm", i == 0 ? std::vector<int64_t>{2, 0, 1, 3} : std::vector<int64_t>{1, 0, 2})});
  };
}

// --- shapes and indexing ------------------------------------------------------------------

void reshape(Ctx& c) { c.b.node("Reshape", {c.in[0], c.b.ints(c.label() + "/shape", c.a().get_ints("shape"))}, c.out); }
void flatten(Ctx& c) { with_axis(c, "Flatten", 1); }

void transpose(Ctx& c) {
  std::vector<Attribute> at;
  copy_ints(c, at, "perm");
  c.b.node("Transpose", c.in, c.out, at);
}

void squeeze(Ctx& c) {
  std::vector<std::string> ins = {c.in[0]};
  if (c.a().has("axes")) ins.push_back(c.b.ints(c.label() + "/axes", c.a().get_ints("axes")));
  c.b.node("Squeeze", ins, c.out);
}

void unsqueeze(Ctx& c) {
  c.b.node("Unsqueeze", {c.in[0], c.b.ints(c.label() + "/axes", c.a().get_ints("axes"))}, c.out);
}

void expand(Ctx& c) { c.b.node("Expand", {c.in[0], c.b.ints(c.label() + "/shape", c.a().get_ints("shape"))}, c.out); }
void tile(Ctx& c) { c.b.node("Tile", {c.in[0], c.b.ints(c.label() + "/repeats", c.a().get_ints("repeats"))}, c.out); }
void concat(Ctx& c) { with_axis(c, "Concat", 0); }

// The part sizes from the outputs' static shapes; without them equal parts (ONNX's
// default when the split input is absent).
void split(Ctx& c) {
  const Value& x = c.n.inputs[0];
  int64_t axis = c.a().get_int("axis", 0);
  std::vector<int64_t> sizes = c.a().get_ints("sizes", {});
  if (sizes.empty() && x.rank_known()) {
    const int64_t ax = axis < 0 ? axis + x.rank() : axis;
    bool known = true;
    for (const TensorType& t : c.n.outputs) {
      const int64_t s = t.rank_known() ? t.shape[static_cast<size_t>(ax)] : -1;
      known = known && s >= 0;
      sizes.push_back(s);
    }
    if (!known) sizes.clear();
  }
  if (sizes.empty() && c.n.op_name() == "split_like") c.unsupported("the part sizes must be known when it is exported");
  std::vector<std::string> ins = {c.in[0]};
  if (!sizes.empty()) ins.push_back(c.b.ints(c.label() + "/split", sizes));
  c.b.node("Split", ins, c.out, {attr_i("axis", axis)});
}

// Bounds beyond +-2^62 (INT64_MAX for "to the end") mean the same clamped to 2^62, and
// stay exact for readers that pass indices through doubles.
std::vector<int64_t> clamp_bounds(std::vector<int64_t> v) {
  const int64_t lim = int64_t{1} << 62;
  for (int64_t& x : v) x = std::min(std::max(x, -lim), lim);
  return v;
}

void slice(Ctx& c) {
  const std::string base = c.label();
  std::vector<std::string> ins = {c.in[0], c.b.ints(base + "/starts", clamp_bounds(c.a().get_ints("starts"))),
                                  c.b.ints(base + "/ends", clamp_bounds(c.a().get_ints("ends")))};
  ins.push_back(c.a().has("axes") ? c.b.ints(base + "/axes", c.a().get_ints("axes")) : std::string());
  ins.push_back(c.a().has("steps") ? c.b.ints(base + "/steps", c.a().get_ints("steps")) : std::string());
  c.b.node("Slice", ins, c.out);
}

void stack(Ctx& c) {
  const int64_t axis = c.a().get_int("axis", 0);
  const std::string axes = c.b.ints(c.label() + "/axes", {axis});
  std::vector<std::string> parts;
  for (size_t i = 0; i < c.in.size(); ++i)
    parts.push_back(c.b.tmp("Unsqueeze", {c.in[i], axes}, c.label() + "/part" + std::to_string(i)));
  c.b.node("Concat", parts, c.out, {attr_i("axis", axis)});
}

void pad(Ctx& c) {
  const std::string mode = c.a().get_string("mode", "constant");
  std::vector<std::string> ins = {c.in[0], c.b.ints(c.label() + "/pads", c.a().get_ints("pads"))};
  if (mode == "constant") ins.push_back(c.b.scalar(c.label() + "/value", c.a().get_float("value", 0), in_dtype(c, 0)));
  c.b.node("Pad", ins, c.out, {attr_s("mode", mode)});
}

// Indices counted from 1 (R's convention) shift to ONNX's 0.
std::string zero_based(Ctx& c, size_t i) {
  if (c.a().get_int("index_base", 0) == 0) return c.in[i];
  return c.b.tmp("Sub", {c.in[i], k(c, 1, in_dtype(c, i))}, c.label() + "/index0");
}

OpExporter gather(const char* op_type) {
  return [op_type](Ctx& c) {
    c.b.node(op_type, {c.in[0], zero_based(c, 1)}, c.out, {attr_i("axis", c.a().get_int("axis", 0))});
  };
}

void scatter_elements(Ctx& c) {
  const std::string red = c.a().get_string("reduction", "none");
  std::vector<Attribute> at = {attr_i("axis", c.a().get_int("axis", 0))};
  if (red != "none") {
    if (c.b.opset() < 16) c.unsupported("ScatterElements takes a reduction from opset 16");
    at.push_back(attr_s("reduction", red));
  }
  c.b.node("ScatterElements", {c.in[0], zero_based(c, 1), c.in[2]}, c.out, at);
}

void one_hot(Ctx& c) {
  const DType dt = out_dtype(c);
  Tensor values(dt, {2});
  values.set_from_double(0, c.a().get_float("off_value", 0));
  values.set_from_double(1, c.a().get_float("on_value", 1));
  c.b.node("OneHot",
           {zero_based(c, 0), c.b.int_scalar(c.label() + "/depth", c.a().get_int("depth")),
            c.b.initializer(c.label() + "/values", values)},
           c.out, {attr_i("axis", c.a().get_int("axis", -1))});
}

// --- sources and internal helpers ---------------------------------------------------------

Tensor one_value(DType dt, double v) {
  Tensor t(dt, {1});
  t.set_from_double(0, v);
  return t;
}

void fill(Ctx& c) {
  c.b.node("ConstantOfShape", {c.b.ints(c.label() + "/shape", c.a().get_ints("shape"))}, c.out,
           {attr_t("value", one_value(out_dtype(c), c.a().get_float("value")))});
}

void fill_like(Ctx& c) {
  std::string shape = c.b.tmp("Shape", {c.in[0]}, c.label() + "/shape");
  c.b.node("ConstantOfShape", {shape}, c.out, {attr_t("value", one_value(out_dtype(c), c.a().get_float("value")))});
}

void eye(Ctx& c) {
  const int64_t n = c.a().get_int("n"), m = c.a().get_int("m", n), kk = c.a().get_int("k", 0);
  Tensor t(out_dtype(c), {n, m});
  for (int64_t i = 0; i < n; ++i)
    if (i + kk >= 0 && i + kk < m) t.set_from_double(i * m + i + kk, 1);
  c.b.node("Identity", {c.b.initializer(c.label() + "/value", t)}, c.out);
}

void range(Ctx& c) {
  const DType dt = out_dtype(c);
  const std::string base = c.label();
  c.b.node("Range",
           {c.b.scalar(base + "/start", c.a().get_float("start", 0), dt), c.b.scalar(base + "/limit", c.a().get_float("limit"), dt),
            c.b.scalar(base + "/delta", c.a().get_float("delta", 1), dt)},
           c.out);
}

void broadcast_like(Ctx& c) { c.b.node("Expand", {c.in[0], c.b.tmp("Shape", {c.in[1]}, c.label() + "/shape")}, c.out); }
void reshape_like(Ctx& c) { c.b.node("Reshape", {c.in[0], c.b.tmp("Shape", {c.in[1]}, c.label() + "/shape")}, c.out); }

// Sum of a broadcast value back to the shape of `like`: the broadcast axes must be known.
void sum_to(Ctx& c) {
  const TensorType& g = c.n.inputs[0].type();
  const TensorType& like = c.n.inputs[1].type();
  if (!g.known() || !like.known()) c.unsupported("both shapes must be known when it is exported");
  const size_t lead = g.shape.size() - like.shape.size();
  std::vector<int64_t> axes;
  for (size_t d = 0; d < g.shape.size(); ++d)
    if (d < lead || (like.shape[d - lead] == 1 && g.shape[d] != 1)) axes.push_back(static_cast<int64_t>(d));
  std::string s = c.in[0];
  if (!axes.empty())
    s = c.b.tmp("ReduceSum", {s, c.b.ints(c.label() + "/axes", axes)}, c.label() + "/sum", {attr_i("keepdims", 1)});
  c.b.node("Reshape", {s, c.b.ints(c.label() + "/shape", like.shape)}, c.out);
}

// Random ops draw from ONNX Runtime's generator, not symnet's: same distribution,
// different numbers.
std::vector<Attribute> random_attrs(const Ctx& c, const char* lo_key, const char* hi_key, const char* lo_onnx,
                                    const char* hi_onnx, double lo_def, double hi_def) {
  std::vector<Attribute> at = {attr_i("dtype", elem_type_of(out_dtype(c))),
                               attr_f(lo_onnx, c.a().get_float(lo_key, lo_def)),
                               attr_f(hi_onnx, c.a().get_float(hi_key, hi_def))};
  if (c.a().has("seed")) at.push_back(attr_f("seed", static_cast<double>(c.a().get_int("seed"))));
  return at;
}

OpExporter random_op(const char* op_type, bool normal, bool like) {
  return [op_type, normal, like](Ctx& c) {
    std::vector<Attribute> at = normal ? random_attrs(c, "mean", "std", "mean", "scale", 0, 1)
                                       : random_attrs(c, "low", "high", "low", "high", 0, 1);
    if (!like) at.push_back(attr_ints("shape", c.a().get_ints("shape")));
    c.b.node(op_type, c.in, c.out, at);
  };
}

void bernoulli(Ctx& c) {
  std::vector<Attribute> at = {attr_i("dtype", elem_type_of(out_dtype(c)))};
  if (c.a().has("seed")) at.push_back(attr_f("seed", static_cast<double>(c.a().get_int("seed"))));
  c.b.node("Bernoulli", c.in, c.out, at);
}

// --- control flow -------------------------------------------------------------------------

// cond(pred, args...) -> If: ONNX branches take no inputs and read the arguments by name.
void cond(Ctx& c) {
  std::vector<std::string> args(c.in.begin() + 1, c.in.end());
  std::string pred = c.in[0];
  if (in_dtype(c, 0) != DType::boolean) pred = c.b.tmp("Cast", {pred}, c.label() + "/pred", {attr_i("to", kBool)});
  auto then_g = export_body(c.b, *c.a().get_graph("then_branch"), args, c.label() + "/then");
  auto else_g = export_body(c.b, *c.a().get_graph("else_branch"), args, c.label() + "/else");
  c.b.node("If", {pred}, c.out, {attr_g("then_branch", then_g), attr_g("else_branch", else_g)});
}

// scan([states, sequences, non-sequences]) -> Scan: the body declares the states and the
// slices as its inputs and reads the non-sequences by name.
void scan(Ctx& c) {
  const int64_t S = c.a().get_int("n_states"), Q = c.a().get_int("n_sequences");
  if (Q == 0) c.unsupported("a scan without sequences (n_steps only) is not exported");
  std::vector<std::string> bound(static_cast<size_t>(S + Q), "");
  for (size_t i = static_cast<size_t>(S + Q); i < c.in.size(); ++i) bound.push_back(c.in[i]);
  auto body = export_body(c.b, *c.a().get_graph("body"), bound, c.label() + "/body");
  std::vector<Attribute> at = {attr_g("body", body), attr_i("num_scan_inputs", Q)};
  if (c.a().get_int("reverse", 0)) {
    // Sequences walked from their end; each stacked output still in sequence order.
    const size_t n_out = c.out.size() - static_cast<size_t>(S);
    at.push_back(attr_ints("scan_input_directions", std::vector<int64_t>(static_cast<size_t>(Q), 1)));
    at.push_back(attr_ints("scan_output_directions", std::vector<int64_t>(n_out, 1)));
  }
  std::vector<std::string> ins(c.in.begin(), c.in.begin() + S + Q);
  c.b.node("Scan", ins, c.out, at);
}

// A closed graph applying `g` (closed, inputs of `types`) through an inlined call: the
// composition of bodies below is built as engine ops, then flattened.
std::vector<Value> apply_body(const GraphPtr& g, const std::vector<Value>& ins) {
  return make_node("call", ins, {{"body", g}});
}

Value as_bool(const Value& v) { return v.dtype() == DType::boolean ? v : op::cast(v, DType::boolean); }

// while_loop -> Loop. ONNX tests the condition before each iteration from the value the
// previous iteration computed: the first from the initial variables (written inline),
// the others at the end of the body (the engine's body followed by its cond).
void while_loop(Ctx& c) {
  const AttrMap& a = c.a();
  if (a.get_int("error_at_max", 0)) c.unsupported("error_at_max has no ONNX equivalent");
  if (a.get_int("record", 0)) c.unsupported("a recording loop (made by gradients) has no ONNX equivalent");
  const int64_t V = a.get_int("n_vars");
  GraphPtr cond = a.get_graph("cond"), body = a.get_graph("body");
  // The first test, in the enclosing graph.
  std::vector<Value> formal;
  for (const Value& v : c.n.inputs) {
    if (!v.rank_known()) c.unsupported("the loop's values must have a known rank");
    formal.push_back(op::input("arg" + std::to_string(formal.size()), v.dtype(), v.shape()));
  }
  Graph first = inline_calls(Graph::from_outputs({as_bool(apply_body(cond, formal)[0])}));
  first.inputs = formal;
  const std::string cond0 = export_inline(c.b, first, c.in)[0];
  // The body: (iteration, condition, variables...) -> (condition, new variables...), the
  // non-loop values read by name.
  std::vector<Value> vars, outer;
  for (int64_t i = 0; i < V; ++i) vars.push_back(formal[static_cast<size_t>(i)]);
  for (size_t i = static_cast<size_t>(V); i < formal.size(); ++i) outer.push_back(formal[i]);
  std::vector<Value> next = apply_body(body, formal);
  std::vector<Value> cond_in = next;
  cond_in.insert(cond_in.end(), outer.begin(), outer.end());
  std::vector<Value> outs = {op::reshape(as_bool(apply_body(cond, cond_in)[0]), std::vector<int64_t>{})};
  outs.insert(outs.end(), next.begin(), next.end());
  Graph loop = inline_calls(Graph::from_outputs(outs));
  Value iter = op::input("iteration", DType::i64, {}), keep_going = op::input("condition", DType::boolean, {});
  loop.inputs = {iter, keep_going};
  loop.inputs.insert(loop.inputs.end(), formal.begin(), formal.end());
  std::vector<std::string> bound = {"", ""};
  for (int64_t i = 0; i < V; ++i) bound.push_back("");
  for (size_t i = static_cast<size_t>(V); i < c.in.size(); ++i) bound.push_back(c.in[i]);
  auto g = export_body(c.b, loop, bound, c.label() + "/body");
  const std::string max_iter =
      a.has("max_iterations") ? c.b.int_scalar(c.label() + "/max_iterations", a.get_int("max_iterations")) : std::string();
  std::vector<std::string> ins = {max_iter, cond0};
  ins.insert(ins.end(), c.in.begin(), c.in.begin() + V);
  c.b.node("Loop", ins, c.out, {attr_g("body", g)});
}

std::map<std::string, OpExporter> make_table() {
  std::map<std::string, OpExporter> t;
  const std::pair<const char*, const char*> plain[] = {
      {"abs", "Abs"},         {"acos", "Acos"},       {"asin", "Asin"},         {"atan", "Atan"},
      {"ceil", "Ceil"},       {"cos", "Cos"},         {"cosh", "Cosh"},         {"erf", "Erf"},
      {"exp", "Exp"},         {"floor", "Floor"},     {"identity", "Identity"}, {"stop_gradient", "Identity"},
      {"isnan", "IsNaN"},     {"isinf", "IsInf"},     {"log", "Log"},           {"neg", "Neg"},
      {"reciprocal", "Reciprocal"}, {"relu", "Relu"}, {"round", "Round"},       {"sigmoid", "Sigmoid"},
      {"sign", "Sign"},       {"sin", "Sin"},         {"sinh", "Sinh"},         {"sqrt", "Sqrt"},
      {"tan", "Tan"},         {"tanh", "Tanh"},       {"softplus", "Softplus"}, {"softsign", "Softsign"},
      {"logical_not", "Not"}, {"add", "Add"},         {"sub", "Sub"},           {"mul", "Mul"},
      {"div", "Div"},         {"pow", "Pow"},         {"maximum", "Max"},       {"minimum", "Min"},
      {"equal", "Equal"},     {"greater", "Greater"}, {"greater_equal", "GreaterOrEqual"},
      {"less", "Less"},       {"less_equal", "LessOrEqual"}, {"logical_and", "And"}, {"logical_or", "Or"},
      {"logical_xor", "Xor"}, {"matmul", "MatMul"},   {"where", "Where"},       {"global_avg_pool", "GlobalAveragePool"},
      {"global_max_pool", "GlobalMaxPool"}};
  for (const auto& p : plain) t[p.first] = same(p.second);
  t["leaky_relu"] = with_alpha("LeakyRelu", 0.01);
  t["elu"] = with_alpha("Elu", 1.0);
  t["celu"] = with_alpha("Celu", 1.0);
  t["selu"] = selu;
  t["hard_sigmoid"] = hard_sigmoid;
  t["gelu"] = gelu;
  t["expm1"] = expm1;
  t["log1p"] = log1p;
  t["square"] = square;
  t["rsqrt"] = rsqrt;
  t["not_equal"] = not_equal;
  t["mod"] = mod;
  t["cast"] = cast;
  t["clip"] = clip;
  t["softmax"] = [](Ctx& c) { with_axis(c, "Softmax", -1); };
  t["log_softmax"] = [](Ctx& c) { with_axis(c, "LogSoftmax", -1); };
  t["argmax"] = [](Ctx& c) { arg_reduce(c, "ArgMax"); };
  t["argmin"] = [](Ctx& c) { arg_reduce(c, "ArgMin"); };
  const std::pair<const char*, const char*> reductions[] = {
      {"reduce_sum", "ReduceSum"}, {"reduce_mean", "ReduceMean"}, {"reduce_max", "ReduceMax"},
      {"reduce_min", "ReduceMin"}, {"reduce_prod", "ReduceProd"}, {"reduce_l1", "ReduceL1"},
      {"reduce_l2", "ReduceL2"},   {"reduce_logsumexp", "ReduceLogSumExp"}};
  for (const auto& p : reductions) t[p.first] = reduce(p.second);
  t["reduce_variance"] = reduce_variance;
  t["cumsum"] = cumsum;
  t["gemm"] = gemm;
  t["conv"] = conv;
  t["conv_transpose"] = conv_transpose;
  t["max_pool"] = max_pool;
  t["avg_pool"] = avg_pool;
  t["batch_norm"] = batch_norm;
  t["layer_norm"] = layer_norm;
  t["dropout"] = dropout;
  t["lrn"] = lrn;
  t["rnn"] = recurrent("RNN", 1);
  t["lstm"] = recurrent("LSTM", 2);
  t["gru"] = recurrent("GRU", 1);
  t["reshape"] = reshape;
  t["flatten"] = flatten;
  t["transpose"] = transpose;
  t["squeeze"] = squeeze;
  t["unsqueeze"] = unsqueeze;
  t["expand"] = expand;
  t["tile"] = tile;
  t["concat"] = concat;
  t["split"] = split;
  t["split_like"] = split;
  t["slice"] = slice;
  t["stack"] = stack;
  t["pad"] = pad;
  t["gather"] = gather("Gather");
  t["gather_elements"] = gather("GatherElements");
  t["scatter_elements"] = scatter_elements;
  t["one_hot"] = one_hot;
  t["fill"] = fill;
  t["fill_like"] = fill_like;
  t["eye"] = eye;
  t["range"] = range;
  t["broadcast_like"] = broadcast_like;
  t["reshape_like"] = reshape_like;
  t["sum_to"] = sum_to;
  t["random_uniform"] = random_op("RandomUniform", false, false);
  t["random_normal"] = random_op("RandomNormal", true, false);
  t["random_uniform_like"] = random_op("RandomUniformLike", false, true);
  t["random_normal_like"] = random_op("RandomNormalLike", true, true);
  t["random_bernoulli"] = bernoulli;
  t["cond"] = cond;
  t["scan"] = scan;
  t["while_loop"] = while_loop;
  return t;
}

}  // namespace

const std::map<std::string, OpExporter>& op_exporters() {
  static const std::map<std::string, OpExporter> table = make_table();
  return table;
}

}  // namespace onnx
}  // namespace symnet
