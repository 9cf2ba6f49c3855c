// Converters of ONNX's neural-network operators: convolution, pooling, normalization,
// dropout, LRN and the recurrent cells.
#include <cctype>

#include "engine/io/onnx/onnx_import_context.h"

namespace symnet {
namespace onnx {

namespace {

// The attributes ONNX convolutions and pools share with the engine's ops, under the same
// names and meanings (pads [begin..., end...], auto_pad strings).
void copy_window_attrs(const ImportContext& c, AttrMap& a, bool conv) {
  for (const char* ints : {"strides", "pads", "dilations", "kernel_shape"})
    if (c.has_attr(ints)) a.set(ints, c.attr_ints(ints));
  const std::string auto_pad = c.attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET") a.set("auto_pad", auto_pad);
  if (conv) {
    a.set("group", c.attr_int("group", 1));
  } else if (c.attr_int("ceil_mode", 0)) {
    a.set("ceil_mode", int64_t{1});
  }
}

std::vector<Value> conv(ImportContext& c) {
  AttrMap a;
  copy_window_attrs(c, a, true);
  std::vector<Value> ins = {c.in(0), c.in(1)};
  if (c.has(2)) ins.push_back(c.in(2));
  return {op::apply("conv", ins, a)};
}

std::vector<Value> conv_transpose(ImportContext& c) {
  AttrMap a;
  copy_window_attrs(c, a, true);
  std::vector<int64_t> out_pad = c.attr_ints("output_padding");
  if (c.has_attr("output_shape")) {
    // The pads (and, where the shape is one longer than any padding gives, the output
    // padding) that produce the requested spatial shape, split as the specification says.
    Value x = c.in(0), w = c.in(1);
    const Shape& xs = c.static_shape(x, "input");
    const Shape& ws = c.static_shape(w, "weights");
    std::vector<int64_t> out = c.attr_ints("output_shape");
    const size_t nd = xs.size() - 2;
    if (out.size() > nd) out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(out.size() - nd));
    if (out.size() != nd) c.invalid("output_shape must give every spatial dimension");
    std::vector<int64_t> strides = c.attr_ints("strides", std::vector<int64_t>(nd, 1));
    std::vector<int64_t> dil = c.attr_ints("dilations", std::vector<int64_t>(nd, 1));
    out_pad.resize(nd, 0);
    std::vector<int64_t> pads(2 * nd, 0);
    const bool upper = c.attr_string("auto_pad", "NOTSET") == "SAME_UPPER";
    for (size_t i = 0; i < nd; ++i) {
      const int64_t total = strides[i] * (xs[i + 2] - 1) + out_pad[i] + (ws[i + 2] - 1) * dil[i] + 1 - out[i];
      if (total < 0) {
        out_pad[i] -= total;
        continue;
      }
      pads[i] = upper ? total / 2 : total - total / 2;
      pads[i + nd] = upper ? total - total / 2 : total / 2;
    }
    a.set("pads", pads);
    a.erase("auto_pad");
  }
  if (!out_pad.empty()) a.set("output_padding", out_pad);
  std::vector<Value> ins = {c.in(0), c.in(1)};
  if (c.has(2)) ins.push_back(c.in(2));
  return {op::apply("conv_transpose", ins, a)};
}

std::vector<Value> max_pool(ImportContext& c) {
  if (c.node().outputs.size() > 1 && !c.node().outputs[1].empty())
    c.unsupported("the Indices output of MaxPool is not supported");
  if (c.attr_int("storage_order", 0) != 0) c.unsupported("storage_order 1 is not supported");
  AttrMap a;
  copy_window_attrs(c, a, false);
  Value x = c.in(0);
  // Integer pooling through float32, exact for 8-bit values.
  if (x.dtype() == DType::u8) return {op::cast(op::apply("max_pool", {op::cast(x, DType::f32)}, a), DType::u8)};
  return {op::apply("max_pool", {x}, a)};
}

std::vector<Value> avg_pool(ImportContext& c) {
  AttrMap a;
  copy_window_attrs(c, a, false);
  a.set("count_include_pad", c.attr_int("count_include_pad", 0));
  return {op::apply("avg_pool", {c.in(0)}, a)};
}

std::vector<Value> global_pool(ImportContext& c, const char* engine_op) { return {op::apply(engine_op, {c.in(0)})}; }

std::vector<Value> batch_norm(ImportContext& c) {
  if (c.opset() < 9 && c.attr_int("spatial", 1) == 0) c.unsupported("spatial 0 (per-activation statistics) is not supported");
  if (c.attr_int("training_mode", 0) != 0 || c.node().outputs.size() > 1)
    c.unsupported("training_mode outputs are not supported; symnet updates the running statistics itself when a model is fitted");
  c.mark_running_state(3);
  c.mark_running_state(4);
  AttrMap a;
  a.set("epsilon", c.attr_float("epsilon", 1e-5));
  a.set("momentum", c.attr_float("momentum", 0.9));
  // Declared (inference), so fitting switches it to training mode (passes/training.cpp).
  a.set("training", int64_t{0});
  return {op::apply("batch_norm", {c.in(0), c.in(1), c.in(2), c.in(3), c.in(4)}, a)};
}

// y = scale * (x - mean) / sqrt(var + eps) + bias over each sample's channel.
std::vector<Value> instance_norm(ImportContext& c) {
  Value x = c.in(0), scale = c.in(1), bias = c.in(2);
  const int64_t rank = x.rank();
  if (rank < 3) c.invalid("needs an input of rank 3 or more [N, C, ...]");
  std::vector<int64_t> axes;
  for (int64_t d = 2; d < rank; ++d) axes.push_back(d);
  Value mean = op::reduce_mean(x, axes, true);
  Value centered = op::sub(x, mean);
  Value var = op::reduce_mean(op::square(centered), axes, true);
  Value eps = op::scalar_like(c.attr_float("epsilon", 1e-5), x);
  std::vector<int64_t> bshape = {-1};
  for (int64_t d = 2; d < rank; ++d) bshape.push_back(1);
  Value y = op::div(centered, op::sqrt(op::add(var, eps)));
  return {op::add(op::mul(y, op::reshape(scale, bshape)), op::reshape(bias, bshape))};
}

std::vector<Value> lrn(ImportContext& c) {
  if (!c.has_attr("size")) c.invalid("attribute size is required");
  return {op::apply("lrn", {c.in(0)}, {{"size", c.attr_int("size", 1)}, {"alpha", c.attr_float("alpha", 1e-4)},
                                        {"beta", c.attr_float("beta", 0.75)}, {"bias", c.attr_float("bias", 1.0)}})};
}

// Inference graphs run Dropout as the identity; a fitted model drops (the engine's
// dropout switches with the training mode).
std::vector<Value> dropout(ImportContext& c) {
  double ratio = 0.5;
  if (c.opset() < 12) {
    ratio = c.attr_float("ratio", 0.5);
  } else if (c.has(1)) {
    ratio = c.known_doubles(1, "ratio").at(0);
  }
  if (c.has(2) && c.is_known(2) && c.known_ints(2, "training_mode").at(0) != 0)
    c.unsupported("training_mode true is not supported; symnet applies dropout when a model is fitted");
  // The mask of an inference run keeps everything.
  Value x = c.in(0);
  Value mask = op::cast(op::ones_like(x), DType::boolean);
  if (ratio <= 0) return {op::identity(x), mask};
  if (c.node().outputs.size() > 1 && !c.node().outputs[1].empty())
    c.unsupported("the mask output of a Dropout that drops is not supported");
  return {op::apply("dropout", {x}, {{"ratio", ratio}, {"training", int64_t{0}}}), mask};
}

// RNN, LSTM, GRU: the engine's ops follow ONNX-14 semantics; optional inputs are flagged.
Converter recurrent(const char* engine_op, int n_state_outputs) {
  return [engine_op, n_state_outputs](ImportContext& c) {
    AttrMap a;
    a.set("hidden_size", c.attr_int("hidden_size", 0));
    a.set("direction", c.attr_string("direction", "forward"));
    a.set("layout", c.attr_int("layout", 0));
    if (c.has_attr("clip")) a.set("clip", c.attr_float("clip", 0));
    if (c.has_attr("activations")) {
      const Attribute* act = c.attr("activations");
      std::vector<std::string> names = act->strings_value;
      for (std::string& s : names)
        for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      a.set("activations", names);
    }
    if (c.has_attr("activation_alpha")) a.set("activation_alpha", c.attr_floats("activation_alpha"));
    if (c.has_attr("activation_beta")) a.set("activation_beta", c.attr_floats("activation_beta"));
    if (std::string(engine_op) == "gru") a.set("linear_before_reset", c.attr_int("linear_before_reset", 0));
    if (std::string(engine_op) == "lstm") a.set("input_forget", c.attr_int("input_forget", 0));
    std::vector<Value> ins = {c.in(0), c.in(1), c.in(2)};
    // ONNX order: X W R B sequence_lens initial_h (initial_c P for LSTM).
    const char* flags[] = {"has_bias", "has_sequence_lens", "has_initial_h", "has_initial_c", "has_peepholes"};
    const size_t n_opt = std::string(engine_op) == "lstm" ? 5 : 3;
    for (size_t k = 0; k < n_opt; ++k) {
      if (!c.has(3 + k)) continue;
      a.set(flags[k], int64_t{1});
      ins.push_back(c.in(3 + k));
    }
    std::vector<Value> outs = make_node(engine_op, ins, a);
    // Y, Y_h (, Y_c); the trailing reserve output is internal.
    outs.resize(static_cast<size_t>(1 + n_state_outputs));
    return outs;
  };
}

}  // namespace

void add_nn_converters(ConverterTable& t) {
  t["Conv"] = conv;
  t["ConvTranspose"] = conv_transpose;
  t["MaxPool"] = max_pool;
  t["AveragePool"] = avg_pool;
  t["GlobalAveragePool"] = [](ImportContext& c) { return global_pool(c, "global_avg_pool"); };
  t["GlobalMaxPool"] = [](ImportContext& c) { return global_pool(c, "global_max_pool"); };
  t["BatchNormalization"] = batch_norm;
  t["InstanceNormalization"] = instance_norm;
  t["LRN"] = lrn;
  t["Dropout"] = dropout;
  t["RNN"] = recurrent("rnn", 1);
  t["LSTM"] = recurrent("lstm", 2);
  t["GRU"] = recurrent("gru", 1);
}

}  // namespace onnx
}  // namespace symnet
