// Converters of ONNX's elementwise, activation, reduction and matrix-product operators.
#include <cmath>

#include "engine/io/onnx/onnx_import_context.h"

namespace symnet {
namespace onnx {

namespace {

Value scalar_as(double v, const Value& like) { return op::scalar_like(v, like); }

Converter unary(const char* engine_op) {
  return [engine_op](ImportContext& c) { return std::vector<Value>{op::apply(engine_op, {c.in(0)})}; };
}

// uint8 arithmetic runs in int32 and narrows back (wrapping as uint8 does).
Value apply_binary(const char* engine_op, Value a, Value b) {
  if (a.dtype() != DType::u8 && b.dtype() != DType::u8) return op::apply(engine_op, {a, b});
  const bool narrow = a.dtype() == DType::u8 && b.dtype() == DType::u8;
  Value y = op::apply(engine_op, {op::cast(a, DType::i32), op::cast(b, DType::i32)});
  return narrow && y.dtype() == DType::i32 ? op::cast(y, DType::u8) : y;
}

Converter binary(const char* engine_op) {
  return [engine_op](ImportContext& c) {
    if (c.num_inputs() != 2) c.invalid("takes 2 inputs, not " + std::to_string(c.num_inputs()));
    return std::vector<Value>{apply_binary(engine_op, c.in(0), c.in(1))};
  };
}

// Pow's result has the base's type; mixed types compute in double.
std::vector<Value> pow_op(ImportContext& c) {
  Value x = c.in(0), y = c.in(1);
  if (x.dtype() == y.dtype()) return {op::pow(x, y)};
  if (is_float(x.dtype())) return {op::pow(x, op::cast(y, x.dtype()))};
  return {op::cast(op::pow(op::cast(x, DType::f64), op::cast(y, DType::f64)), x.dtype())};
}

// Sum, Max, Min, Mean: n-ary with broadcasting, folded pairwise.
Converter variadic(const char* engine_op, bool mean) {
  return [engine_op, mean](ImportContext& c) {
    if (c.num_inputs() == 0) c.invalid("needs at least one input");
    Value acc = c.in(0);
    for (size_t i = 1; i < c.num_inputs(); ++i) acc = apply_binary(engine_op, acc, c.in(i));
    if (mean && c.num_inputs() > 1) acc = op::div(acc, scalar_as(double(c.num_inputs()), acc));
    if (c.num_inputs() == 1) acc = op::identity(acc);
    return std::vector<Value>{acc};
  };
}

Converter with_alpha(const char* engine_op, double alpha_default) {
  return [engine_op, alpha_default](ImportContext& c) {
    return std::vector<Value>{op::apply(engine_op, {c.in(0)}, {{"alpha", c.attr_float("alpha", alpha_default)}})};
  };
}

// Softmax, LogSoftmax, Hardmax before opset 13: the input is flattened to 2-D at `axis`
// (default 1) and normalized over the second dimension.
Converter softmax_like(const char* engine_op) {
  return [engine_op](ImportContext& c) {
    Value x = c.in(0);
    if (c.opset() >= 13) {
      return std::vector<Value>{op::apply(engine_op, {x}, {{"axis", c.attr_int("axis", -1)}})};
    }
    const Shape& s = c.static_shape(x, "input");
    const int64_t axis = norm_axis(c.attr_int("axis", 1), static_cast<int64_t>(s.size()), c);
    int64_t rows = 1, cols = 1;
    for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) (d < axis ? rows : cols) *= s[static_cast<size_t>(d)];
    Value y = op::apply(engine_op, {op::reshape(x, {rows, cols})}, {{"axis", int64_t{1}}});
    return std::vector<Value>{op::reshape(y, s)};
  };
}

// Reduce*: axes from the attribute (before the opset that made it an input) or input 2.
Converter reduce(const char* engine_op, int64_t axes_input_since, const char* post = nullptr) {
  return [engine_op, axes_input_since, post](ImportContext& c) {
    Value x = c.in(0);
    std::vector<int64_t> axes;
    bool noop = c.attr_int("noop_with_empty_axes", 0) != 0;
    if (c.opset() >= axes_input_since) {
      if (c.has(1)) axes = c.known_ints(1, "axes");
    } else {
      axes = c.attr_ints("axes");
    }
    if (axes.empty() && noop) return std::vector<Value>{op::identity(x)};
    const bool keep = c.attr_int("keepdims", 1) != 0;
    Value in = x;
    std::string eop = engine_op;
    if (eop == "sum_square") {
      in = op::square(x);
      eop = "reduce_sum";
    }
    Value y = op::apply(eop, {in}, {{"axes", axes}, {"keepdims", int64_t(keep)}});
    if (post && std::string(post) == "log") y = op::log(y);
    return std::vector<Value>{y};
  };
}

Converter arg_reduce(const char* engine_op) {
  return [engine_op](ImportContext& c) {
    Value y = op::apply(engine_op, {c.in(0)},
                        {{"axis", c.attr_int("axis", 0)},
                         {"keepdims", c.attr_int("keepdims", 1)},
                         {"select_last_index", c.attr_int("select_last_index", 0)}});
    if (y.dtype() != DType::i64) y = op::cast(y, DType::i64);
    return std::vector<Value>{y};
  };
}

std::vector<Value> clip(ImportContext& c) {
  Value x = c.in(0);
  if (c.opset() < 11) {
    AttrMap a;
    a.set("min", c.attr_float("min", -INFINITY));
    a.set("max", c.attr_float("max", INFINITY));
    return {op::apply("clip", {x}, a)};
  }
  // Bounds are inputs: constants become attributes, computed ones elementwise min/max.
  // Both constant and in order (ReLU6): one node. (With min > max ONNX sets everything to
  // max, which the two steps below do and one clip would not.)
  if (c.has(1) && c.has(2) && c.is_known(1) && c.is_known(2)) {
    const double lo = c.known_doubles(1, "min")[0], hi = c.known_doubles(2, "max")[0];
    if (lo <= hi) return {op::apply("clip", {x}, {{"min", lo}, {"max", hi}})};
  }
  Value y = x;
  if (c.has(1)) y = c.is_known(1) ? op::apply("clip", {y}, {{"min", c.known_doubles(1, "min")[0]}})
                                  : op::maximum(y, c.in(1));
  if (c.has(2)) y = c.is_known(2) ? op::apply("clip", {y}, {{"max", c.known_doubles(2, "max")[0]}})
                                  : op::minimum(y, c.in(2));
  if (!c.has(1) && !c.has(2)) y = op::identity(y);
  return {y};
}

std::vector<Value> gemm(ImportContext& c) {
  AttrMap a;
  a.set("alpha", c.attr_float("alpha", 1.0));
  a.set("beta", c.attr_float("beta", 1.0));
  a.set("transA", c.attr_int("transA", 0));
  a.set("transB", c.attr_int("transB", 0));
  std::vector<Value> ins = {c.in(0), c.in(1)};
  if (c.has(2)) ins.push_back(c.in(2));
  return {op::apply("gemm", ins, a)};
}

std::vector<Value> prelu(ImportContext& c) {
  Value x = c.in(0), slope = c.in(1);
  Value zero = scalar_as(0, x);
  return {op::where(op::less(x, zero), op::mul(slope, x), x)};
}

std::vector<Value> thresholded_relu(ImportContext& c) {
  Value x = c.in(0);
  return {op::where(op::greater(x, scalar_as(c.attr_float("alpha", 1.0), x)), x, scalar_as(0, x))};
}

std::vector<Value> hard_swish(ImportContext& c) {
  Value x = c.in(0);
  Value hs = op::apply("hard_sigmoid", {x}, {{"alpha", 1.0 / 6.0}, {"beta", 0.5}});
  return {op::mul(x, hs)};
}

std::vector<Value> mish(ImportContext& c) {
  Value x = c.in(0);
  return {op::mul(x, op::tanh(op::softplus(x)))};
}

std::vector<Value> is_inf(ImportContext& c) {
  Value x = c.in(0);
  const bool neg = c.attr_int("detect_negative", 1) != 0, pos = c.attr_int("detect_positive", 1) != 0;
  Value inf = op::isinf(x);
  if (neg && pos) return {inf};
  if (!neg && !pos) return {op::logical_and(inf, op::logical_not(inf))};
  Value side = pos ? op::greater(x, scalar_as(0, x)) : op::less(x, scalar_as(0, x));
  return {op::logical_and(inf, side)};
}

std::vector<Value> mod(ImportContext& c) {
  Value a = c.in(0), b = c.in(1);
  const bool u8 = a.dtype() == DType::u8;
  if (u8) a = op::cast(a, DType::i32), b = op::cast(b, DType::i32);
  Value y = op::apply("mod", {a, b}, {{"fmod", c.attr_int("fmod", 0)}});
  return {u8 ? op::cast(y, DType::u8) : y};
}

// Inverse hyperbolic functions through logarithms (the engine has no kernels for them).
std::vector<Value> asinh(ImportContext& c) {
  Value x = c.in(0);
  return {op::log(op::add(x, op::sqrt(op::add(op::square(x), scalar_as(1, x)))))};
}
std::vector<Value> acosh(ImportContext& c) {
  Value x = c.in(0);
  return {op::log(op::add(x, op::sqrt(op::sub(op::square(x), scalar_as(1, x)))))};
}
std::vector<Value> atanh(ImportContext& c) {
  Value x = c.in(0);
  Value one = scalar_as(1, x);
  return {op::mul(scalar_as(0.5, x), op::log(op::div(op::add(one, x), op::sub(one, x))))};
}

// float16/bfloat16 values compute in float32 (onnx_model.h); a cast *to* them would have
// to round to their precision, which the engine cannot express: refused, not approximated.
void refuse_half_target(ImportContext& c, int elem_type) {
  if (elem_type == kFloat16 || elem_type == kBfloat16)
    c.unsupported(std::string("casting to ") + elem_type_name(elem_type) +
                  " is not supported (symnet computes it in float32 and cannot round to its precision)");
}

std::vector<Value> cast(ImportContext& c) {
  const int to = static_cast<int>(c.attr_int("to", 0));
  refuse_half_target(c, to);
  return {op::cast(c.in(0), dtype_of_elem(to, c))};
}

std::vector<Value> cast_like(ImportContext& c) {
  refuse_half_target(c, c.declared_type(1));
  return {op::cast(c.in(0), c.in(1).dtype())};
}

std::vector<Value> gelu(ImportContext& c) {
  return {op::apply("gelu", {c.in(0)}, {{"approximate", c.attr_string("approximate", "none")}})};
}

std::vector<Value> selu(ImportContext& c) {
  return {op::apply("selu", {c.in(0)}, {{"alpha", c.attr_float("alpha", 1.67326319217681884765625)},
                                         {"gamma", c.attr_float("gamma", 1.05070102214813232421875)}})};
}

std::vector<Value> hard_sigmoid(ImportContext& c) {
  return {op::apply("hard_sigmoid", {c.in(0)}, {{"alpha", c.attr_float("alpha", 0.2)}, {"beta", c.attr_float("beta", 0.5)}})};
}

std::vector<Value> cumsum(ImportContext& c) {
  const int64_t axis = c.known_ints(1, "axis").at(0);
  return {op::apply("cumsum", {c.in(0)}, {{"axis", axis}, {"exclusive", c.attr_int("exclusive", 0)},
                                           {"reverse", c.attr_int("reverse", 0)}})};
}

std::vector<Value> where(ImportContext& c) { return {op::where(c.in(0), c.in(1), c.in(2))}; }

std::vector<Value> not_op(ImportContext& c) { return {op::logical_not(c.in(0))}; }

}  // namespace

void add_math_converters(ConverterTable& t) {
  const std::pair<const char*, const char*> unaries[] = {
      {"Abs", "abs"},   {"Acos", "acos"},     {"Asin", "asin"},       {"Atan", "atan"},       {"Ceil", "ceil"},
      {"Cos", "cos"},   {"Cosh", "cosh"},     {"Erf", "erf"},         {"Exp", "exp"},         {"Floor", "floor"},
      {"Identity", "identity"}, {"IsNaN", "isnan"}, {"Log", "log"},   {"Neg", "neg"},         {"Reciprocal", "reciprocal"},
      {"Relu", "relu"}, {"Round", "round"},   {"Sigmoid", "sigmoid"}, {"Sign", "sign"},       {"Sin", "sin"},
      {"Sinh", "sinh"}, {"Softplus", "softplus"}, {"Softsign", "softsign"}, {"Sqrt", "sqrt"}, {"Tan", "tan"},
      {"Tanh", "tanh"}};
  for (const auto& u : unaries) t[u.first] = unary(u.second);
  const std::pair<const char*, const char*> binaries[] = {
      {"Add", "add"},       {"Sub", "sub"},         {"Mul", "mul"},           {"Div", "div"},
      {"Equal", "equal"},     {"Greater", "greater"},   {"GreaterOrEqual", "greater_equal"},
      {"Less", "less"},     {"LessOrEqual", "less_equal"}, {"And", "logical_and"}, {"Or", "logical_or"},
      {"Xor", "logical_xor"}, {"MatMul", "matmul"}};
  for (const auto& b : binaries) t[b.first] = binary(b.second);
  t["Sum"] = variadic("add", false);
  t["Mean"] = variadic("add", true);
  t["Max"] = variadic("maximum", false);
  t["Min"] = variadic("minimum", false);
  t["Not"] = not_op;
  t["Pow"] = pow_op;
  t["Mod"] = mod;
  t["Where"] = where;
  t["Asinh"] = asinh;
  t["Acosh"] = acosh;
  t["Atanh"] = atanh;
  t["IsInf"] = is_inf;
  t["LeakyRelu"] = with_alpha("leaky_relu", 0.01);
  t["Elu"] = with_alpha("elu", 1.0);
  t["Celu"] = with_alpha("celu", 1.0);
  t["Selu"] = selu;
  t["HardSigmoid"] = hard_sigmoid;
  t["HardSwish"] = hard_swish;
  t["ThresholdedRelu"] = thresholded_relu;
  t["PRelu"] = prelu;
  t["Mish"] = mish;
  t["Gelu"] = gelu;
  t["Softmax"] = softmax_like("softmax");
  t["LogSoftmax"] = softmax_like("log_softmax");
  t["Clip"] = clip;
  t["Gemm"] = gemm;
  t["Cast"] = cast;
  t["CastLike"] = cast_like;
  t["CumSum"] = cumsum;
  t["ArgMax"] = arg_reduce("argmax");
  t["ArgMin"] = arg_reduce("argmin");
  t["ReduceSum"] = reduce("reduce_sum", 13);
  t["ReduceMean"] = reduce("reduce_mean", 18);
  t["ReduceMax"] = reduce("reduce_max", 18);
  t["ReduceMin"] = reduce("reduce_min", 18);
  t["ReduceProd"] = reduce("reduce_prod", 18);
  t["ReduceL1"] = reduce("reduce_l1", 18);
  t["ReduceL2"] = reduce("reduce_l2", 18);
  t["ReduceLogSumExp"] = reduce("reduce_logsumexp", 18);
  t["ReduceSumSquare"] = reduce("sum_square", 18);
  t["ReduceLogSum"] = reduce("reduce_sum", 18, "log");
}

}  // namespace onnx
}  // namespace symnet
