// Converters of Caffe's layers without weights: activations, Softmax, Concat, Eltwise,
// Flatten, Reshape, Split.
#include "engine/io/caffe/caffe_import_context.h"

namespace symnet {
namespace caffe {

namespace {

std::vector<Value> relu(LayerContext& c) {
  c.allow({"relu_param.negative_slope", "relu_param.engine"});
  c.expect_bottoms(1, 1);
  const double slope = c.real_param("relu_param.negative_slope", 0.0);
  if (slope == 0) return {op::apply("relu", {c.bottom(0)}, {}, c.node_name("relu"))};
  return {op::apply("leaky_relu", {c.bottom(0)}, {{"alpha", slope}}, c.node_name("leaky_relu"))};
}

Converter unary(const char* param, const char* engine_op) {
  const std::string engine = std::string(param) + ".engine", name = engine_op;
  return [engine, name](LayerContext& c) {
    c.allow({engine});
    c.expect_bottoms(1, 1);
    return std::vector<Value>{op::apply(name, {c.bottom(0)}, {}, c.node_name(name))};
  };
}

std::vector<Value> softmax(LayerContext& c) {
  c.allow({"softmax_param.axis", "softmax_param.engine"});
  c.expect_bottoms(1, 1);
  Value x = c.bottom(0);
  if (!x.rank_known()) c.unsupported("the rank of its bottom must be known when the model is imported");
  return {op::apply("softmax", {x}, {{"axis", c.axis(c.int_param("softmax_param.axis", 1), x.rank())}},
                    c.node_name("softmax"))};
}

std::vector<Value> concat(LayerContext& c) {
  c.allow({"concat_param.axis", "concat_param.concat_dim"});
  c.expect_bottoms(1, SIZE_MAX);
  std::vector<Value> ins;
  for (size_t i = 0; i < c.num_bottoms(); ++i) ins.push_back(c.bottom(i));
  if (!ins[0].rank_known()) c.unsupported("the rank of its bottoms must be known when the model is imported");
  // concat_dim is the old name of axis (which wins when both are given).
  const int64_t axis = c.has("concat_param.axis") ? c.int_param("concat_param.axis", 1)
                                                  : c.int_param("concat_param.concat_dim", 1);
  return {op::apply("concat", ins, {{"axis", c.axis(axis, ins[0].rank())}}, c.node_name("concat"))};
}

std::vector<Value> eltwise(LayerContext& c) {
  c.allow({"eltwise_param.operation", "eltwise_param.coeff", "eltwise_param.stable_prod_grad"});
  c.expect_bottoms(2, SIZE_MAX);
  const int64_t operation = c.int_param("eltwise_param.operation", 1);
  const std::vector<double> coeff = c.reals_param("eltwise_param.coeff");
  if (!coeff.empty() && operation != 1) c.invalid("coefficients are for the SUM operation only");
  if (!coeff.empty() && coeff.size() != c.num_bottoms())
    c.invalid("gives " + std::to_string(coeff.size()) + " coefficients for " + std::to_string(c.num_bottoms()) + " bottoms");
  auto term = [&](size_t i) {
    Value x = c.bottom(i);
    if (coeff.empty() || coeff[i] == 1.0) return x;
    return op::apply("mul", {x, op::scalar_like(coeff[i], x)}, {}, c.node_name("coeff" + std::to_string(i)));
  };
  const char* ops[] = {"mul", "add", "maximum"};
  if (operation < 0 || operation > 2)
    c.invalid("operation " + std::to_string(operation) + " does not exist (PROD 0, SUM 1, MAX 2)");
  const std::string engine_op = ops[operation];
  Value y = term(0);
  for (size_t i = 1; i < c.num_bottoms(); ++i)
    y = op::apply(engine_op, {y, operation == 1 ? term(i) : c.bottom(i)}, {}, c.node_name(engine_op + std::to_string(i)));
  return {y};
}

// Dims [axis, end_axis] merged into one; the dims before stay (copied by the reshape),
// the dims after are given explicitly.
std::vector<Value> flatten(LayerContext& c) {
  c.allow({"flatten_param.axis", "flatten_param.end_axis"});
  c.expect_bottoms(1, 1);
  Value x = c.bottom(0);
  if (!x.rank_known()) c.unsupported("the rank of its bottom must be known when the model is imported");
  const int64_t rank = x.rank();
  const int64_t a = c.axis(c.int_param("flatten_param.axis", 1), rank);
  const int64_t e = c.axis(c.int_param("flatten_param.end_axis", -1), rank);
  if (e < a) c.invalid("end_axis comes before axis");
  std::vector<int64_t> shape(static_cast<size_t>(a), 0);
  shape.push_back(-1);
  for (int64_t d = e + 1; d < rank; ++d) shape.push_back(c.static_dim(x, d, "bottom"));
  return {op::apply("reshape", {x}, {{"shape", shape}}, c.node_name("flatten"))};
}

// Dims [axis, axis + num_axes) replaced by `shape` (0 copies the bottom's dim there, -1
// infers one); the engine's reshape copies by position, which is where Caffe copies from.
std::vector<Value> reshape(LayerContext& c) {
  c.allow({"reshape_param.shape.dim", "reshape_param.axis", "reshape_param.num_axes"});
  c.expect_bottoms(1, 1);
  Value x = c.bottom(0);
  if (!x.rank_known()) c.unsupported("the rank of its bottom must be known when the model is imported");
  const int64_t rank = x.rank();
  const int64_t a0 = c.int_param("reshape_param.axis", 0);
  const int64_t axis = a0 >= 0 ? a0 : rank + a0 + 1;
  if (axis < 0 || axis > rank) c.invalid("axis " + std::to_string(a0) + " is out of range for rank " + std::to_string(rank));
  int64_t n_axes = c.int_param("reshape_param.num_axes", -1);
  if (n_axes == -1) n_axes = rank - axis;
  if (n_axes < 0 || axis + n_axes > rank) c.invalid("num_axes " + std::to_string(n_axes) + " does not fit the bottom");
  const std::vector<int64_t> dims = c.ints_param("reshape_param.shape.dim");
  if (static_cast<int64_t>(dims.size()) + rank - n_axes > kMaxRank) c.invalid("gives too many dims");
  std::vector<int64_t> shape(static_cast<size_t>(axis), 0);
  int inferred = 0;
  for (int64_t d : dims) {
    if (d < -1 || d > (int64_t{1} << 40)) c.invalid("dimension " + std::to_string(d) + " is not a size, 0 or -1");
    if (d == -1 && ++inferred > 1) c.invalid("more than one dimension is -1");
    shape.push_back(d);
  }
  const bool same_place = static_cast<int64_t>(dims.size()) == n_axes;
  for (int64_t d = axis + n_axes; d < rank; ++d) shape.push_back(same_place ? 0 : c.static_dim(x, d, "bottom"));
  return {op::apply("reshape", {x}, {{"shape", shape}}, c.node_name("reshape"))};
}

// The same blob under several names.
std::vector<Value> split(LayerContext& c) {
  c.allow({});
  c.expect_bottoms(1, 1);
  return std::vector<Value>(c.layer().tops.size(), c.bottom(0));
}

}  // namespace

void add_tensor_converters(ConverterTable& t) {
  t["ReLU"] = relu;
  t["Sigmoid"] = unary("sigmoid_param", "sigmoid");
  t["TanH"] = unary("tanh_param", "tanh");
  t["Softmax"] = softmax;
  t["Concat"] = concat;
  t["Eltwise"] = eltwise;
  t["Flatten"] = flatten;
  t["Reshape"] = reshape;
  t["Split"] = split;
}

}  // namespace caffe
}  // namespace symnet
