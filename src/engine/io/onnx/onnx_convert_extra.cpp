// Converters composed from several engine ops: the loss operators, Trilu, Hardmax,
// EyeLike, Shrink, DepthToSpace / SpaceToDepth, LayerNormalization with its statistics.
#include <cmath>

#include "engine/io/onnx/onnx_import_context.h"

namespace symnet {
namespace onnx {

namespace {

Value zero_like_scalar(const Value& x) { return op::scalar_like(0, x); }

// NegativeLogLikelihoodLoss on log-probabilities [N, C, d...] and targets [N, d...].
Value nll(ImportContext& c, const Value& logp, const Value& target_in, const Value* weight) {
  Value target = target_in.dtype() == DType::i64 ? target_in : op::cast(target_in, DType::i64);
  const bool has_ii = c.has_attr("ignore_index");
  Value valid, safe = target;
  if (has_ii) {
    valid = op::not_equal(target, op::scalar_like(double(c.attr_int("ignore_index", 0)), target));
    safe = op::where(valid, target, op::scalar_like(0, target));
  }
  Value picked = op::squeeze(op::apply("gather_elements", {logp, op::unsqueeze(safe, {1})}, {{"axis", int64_t{1}}}), {1});
  Value w = weight ? op::apply("gather", {*weight, safe}, {{"axis", int64_t{0}}}) : op::ones_like(picked);
  if (has_ii) w = op::where(valid, w, zero_like_scalar(w));
  Value loss = op::mul(op::neg(picked), w);
  const std::string red = c.attr_string("reduction", "mean");
  if (red == "none") return loss;
  if (red == "sum") return op::reduce_sum(loss);
  if (red != "mean") c.invalid("reduction must be none, sum or mean, not '" + red + "'");
  if (!weight && !has_ii) return op::reduce_mean(loss);
  return op::div(op::reduce_sum(loss), op::reduce_sum(w));
}

std::vector<Value> nll_loss(ImportContext& c) {
  Value w;
  if (c.has(2)) w = c.in(2);
  return {nll(c, c.in(0), c.in(1), c.has(2) ? &w : nullptr)};
}

std::vector<Value> softmax_ce_loss(ImportContext& c) {
  Value logp = op::log_softmax(c.in(0), 1);
  Value w;
  if (c.has(2)) w = c.in(2);
  return {nll(c, logp, c.in(1), c.has(2) ? &w : nullptr), logp};
}

// Keeps the upper (or lower) triangle of the last two dims from diagonal k on.
std::vector<Value> trilu(ImportContext& c) {
  Value x = c.in(0);
  const Shape& s = c.static_shape(x, "input");
  if (s.size() < 2) c.invalid("needs an input of rank 2 or more");
  const int64_t k = c.has(1) ? c.known_ints(1, "k").at(0) : 0;
  const bool upper = c.attr_int("upper", 1) != 0;
  const int64_t rows = s[s.size() - 2], cols = s[s.size() - 1];
  Tensor mask(DType::boolean, {rows, cols});
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) mask.ptr<bool>()[i * cols + j] = upper ? j - i >= k : j - i <= k;
  return {op::where(op::constant(mask), x, zero_like_scalar(x))};
}

std::vector<Value> hardmax(ImportContext& c) {
  Value x = c.in(0);
  const Shape& s = c.static_shape(x, "input");
  const int64_t r = static_cast<int64_t>(s.size());
  if (c.opset() >= 13) {
    const int64_t axis = norm_axis(c.attr_int("axis", -1), r, c);
    Value idx = op::apply("argmax", {x}, {{"axis", axis}, {"keepdims", int64_t{0}}});
    return {op::apply("one_hot", {idx}, {{"depth", s[static_cast<size_t>(axis)]}, {"axis", axis},
                                        {"dtype", std::string(dtype_name(x.dtype()))}})};
  }
  const int64_t axis = norm_axis(c.attr_int("axis", 1), r, c);
  int64_t rows = 1, cols = 1;
  for (int64_t d = 0; d < r; ++d) (d < axis ? rows : cols) *= s[static_cast<size_t>(d)];
  Value idx = op::apply("argmax", {op::reshape(x, {rows, cols})}, {{"axis", int64_t{1}}, {"keepdims", int64_t{0}}});
  Value y = op::apply("one_hot", {idx}, {{"depth", cols}, {"axis", int64_t{1}}, {"dtype", std::string(dtype_name(x.dtype()))}});
  return {op::reshape(y, s)};
}

std::vector<Value> eye_like(ImportContext& c) {
  Value x = c.in(0);
  const Shape& s = c.static_shape(x, "input");
  if (s.size() != 2) c.invalid("needs a 2-D input");
  DType dt = c.has_attr("dtype") ? dtype_of_elem(static_cast<int>(c.attr_int("dtype", 1)), c) : x.dtype();
  return {op::apply("eye", {}, {{"n", s[0]}, {"m", s[1]}, {"k", c.attr_int("k", 0)}, {"dtype", std::string(dtype_name(dt))}})};
}

std::vector<Value> shrink(ImportContext& c) {
  Value x = c.in(0);
  const double lambd = c.attr_float("lambd", 0.5), bias = c.attr_float("bias", 0.0);
  Value lo = op::less(x, op::scalar_like(-lambd, x)), hi = op::greater(x, op::scalar_like(lambd, x));
  return {op::where(lo, op::add(x, op::scalar_like(bias, x)),
                    op::where(hi, op::sub(x, op::scalar_like(bias, x)), zero_like_scalar(x)))};
}

std::vector<Value> depth_to_space(ImportContext& c) {
  Value x = c.in(0);
  const Shape& s = c.static_shape(x, "input");
  if (s.size() != 4) c.invalid("needs a 4-D input [N, C, H, W]");
  const int64_t b = c.attr_int("blocksize", 0), n = s[0], ch = s[1], h = s[2], w = s[3];
  if (b <= 0 || ch % (b * b)) c.invalid("blocksize must divide the channels into blocksize^2 groups");
  const bool crd = c.attr_string("mode", "DCR") == "CRD";
  Value t = crd ? op::transpose(op::reshape(x, {n, ch / (b * b), b, b, h, w}), {0, 1, 4, 2, 5, 3})
                : op::transpose(op::reshape(x, {n, b, b, ch / (b * b), h, w}), {0, 3, 4, 1, 5, 2});
  return {op::reshape(t, {n, ch / (b * b), h * b, w * b})};
}

std::vector<Value> space_to_depth(ImportContext& c) {
  Value x = c.in(0);
  const Shape& s = c.static_shape(x, "input");
  if (s.size() != 4) c.invalid("needs a 4-D input [N, C, H, W]");
  const int64_t b = c.attr_int("blocksize", 0), n = s[0], ch = s[1], h = s[2], w = s[3];
  if (b <= 0 || h % b || w % b) c.invalid("blocksize must divide the height and width");
  Value t = op::transpose(op::reshape(x, {n, ch, h / b, b, w / b, b}), {0, 3, 5, 1, 2, 4});
  return {op::reshape(t, {n, ch * b * b, h / b, w / b})};
}

// With its Mean and InvStdDev outputs requested, composed from reductions.
std::vector<Value> layer_norm_with_stats(ImportContext& c) {
  Value x = c.in(0), scale = c.in(1);
  const int64_t r = x.rank();
  const int64_t axis = norm_axis(c.attr_int("axis", -1), r, c);
  const bool stats = c.node().outputs.size() > 1;
  if (!stats) {
    std::vector<Value> ins = {x, scale};
    if (c.has(2)) ins.push_back(c.in(2));
    return {op::apply("layer_norm", ins, {{"epsilon", c.attr_float("epsilon", 1e-5)}, {"axis", axis}})};
  }
  std::vector<int64_t> axes;
  for (int64_t d = axis; d < r; ++d) axes.push_back(d);
  Value mean = op::reduce_mean(x, axes, true);
  Value centered = op::sub(x, mean);
  Value var = op::reduce_mean(op::square(centered), axes, true);
  Value inv = op::rsqrt(op::add(var, op::scalar_like(c.attr_float("epsilon", 1e-5), x)));
  Value y = op::mul(op::mul(centered, inv), scale);
  if (c.has(2)) y = op::add(y, c.in(2));
  return {y, mean, inv};
}

// (x - mean) / (sqrt(E[x^2] - mean^2) + 1e-9), the specification's function body.
std::vector<Value> mean_variance_normalization(ImportContext& c) {
  Value x = c.in(0);
  const std::vector<int64_t> axes = c.attr_ints("axes", {0, 2, 3});
  Value mean = op::reduce_mean(x, axes, true);
  Value ex2 = op::reduce_mean(op::square(x), axes, true);
  Value sd = op::sqrt(op::sub(ex2, op::square(mean)));
  return {op::div(op::sub(x, mean), op::add(sd, op::scalar_like(1e-9, x)))};
}

// Integer shifts through double arithmetic (exact below 2^53), wrapped to the declared
// width of the unsigned type.
std::vector<Value> bit_shift(ImportContext& c) {
  Value x = c.in(0), y = c.in(1);
  const std::string dir = c.attr_string("direction", "");
  if (dir != "LEFT" && dir != "RIGHT") c.invalid("direction must be LEFT or RIGHT");
  int bits = 0;
  switch (c.declared_type(0)) {
    case kUint8: bits = 8; break;
    case kUint16: bits = 16; break;
    case kUint32: bits = 32; break;
    case kUint64: bits = 64; break;
    default: c.unsupported("shifts of this element type are not supported (ONNX defines them for unsigned integers)");
  }
  Value xd = op::cast(x, DType::f64), p = op::pow(op::scalar_like(2, xd), op::cast(y, DType::f64));
  Value r = dir == "LEFT" ? op::mul(xd, p) : op::floor(op::div(xd, p));
  if (bits < 64 && dir == "LEFT") r = op::apply("mod", {r, op::scalar_like(std::ldexp(1.0, bits), r)}, {{"fmod", int64_t{1}}});
  return {op::cast(r, x.dtype())};
}

}  // namespace

void add_extra_converters(ConverterTable& t) {
  t["MeanVarianceNormalization"] = mean_variance_normalization;
  t["BitShift"] = bit_shift;
  t["NegativeLogLikelihoodLoss"] = nll_loss;
  t["SoftmaxCrossEntropyLoss"] = softmax_ce_loss;
  t["Trilu"] = trilu;
  t["Hardmax"] = hardmax;
  t["EyeLike"] = eye_like;
  t["Shrink"] = shrink;
  t["DepthToSpace"] = depth_to_space;
  t["SpaceToDepth"] = space_to_depth;
  t["LayerNormalization"] = layer_norm_with_stats;
}

}  // namespace onnx
}  // namespace symnet
