// Small helpers to build nodes from C++ (gradient rules, passes, tests, the R glue).
// These are the op catalog's names and attributes: one place to look them up.
#pragma once
#include <string>
#include <vector>

#include "engine/ir/node.h"

namespace symnet::op {

inline Value apply(const std::string& op, std::vector<Value> in, AttrMap attrs = {},
                   std::string name = "") {
  return make_node(op, std::move(in), std::move(attrs), std::move(name)).at(0);
}

// Sources
Value input(const std::string& name, DType dtype, const Shape& shape);
Value constant(const Tensor& t, const std::string& name = "");
Value scalar(double v, DType dtype);
Value scalar_like(double v, const Value& like);  // 0-d constant of like's dtype
Value variable(const VariablePtr& var);

// Elementwise (NumPy broadcasting for binary ops)
#define SN_UNARY(fn) inline Value fn(const Value& x) { return apply(#fn, {x}); }
SN_UNARY(neg) SN_UNARY(abs) SN_UNARY(sign) SN_UNARY(reciprocal) SN_UNARY(exp) SN_UNARY(log)
SN_UNARY(log1p) SN_UNARY(expm1) SN_UNARY(sqrt) SN_UNARY(rsqrt) SN_UNARY(square) SN_UNARY(sin)
SN_UNARY(cos) SN_UNARY(tan) SN_UNARY(asin) SN_UNARY(acos) SN_UNARY(atan) SN_UNARY(sinh)
SN_UNARY(cosh) SN_UNARY(tanh) SN_UNARY(sigmoid) SN_UNARY(relu) SN_UNARY(softplus)
SN_UNARY(softsign) SN_UNARY(erf) SN_UNARY(floor) SN_UNARY(ceil) SN_UNARY(round)
SN_UNARY(isnan) SN_UNARY(isinf) SN_UNARY(logical_not) SN_UNARY(identity) SN_UNARY(stop_gradient)
#undef SN_UNARY
// Attributes: hard_sigmoid(alpha=0.2, beta=0.5), leaky_relu(alpha=0.01), elu(alpha=1),
// selu(alpha=1.6732632423543772, gamma=1.0507009873554805), celu(alpha=1),
// gelu(approximate="none"|"tanh"), clip(min=-inf, max=inf), cast(dtype="float32").
inline Value cast(const Value& x, DType t) {
  return apply("cast", {x}, {{"dtype", std::string(dtype_name(t))}});
}

#define SN_BINARY(fn) \
  inline Value fn(const Value& a, const Value& b) { return apply(#fn, {a, b}); }
SN_BINARY(add) SN_BINARY(sub) SN_BINARY(mul) SN_BINARY(div) SN_BINARY(pow) SN_BINARY(mod)
SN_BINARY(minimum) SN_BINARY(maximum) SN_BINARY(equal) SN_BINARY(not_equal) SN_BINARY(less)
SN_BINARY(less_equal) SN_BINARY(greater) SN_BINARY(greater_equal) SN_BINARY(logical_and)
SN_BINARY(logical_or) SN_BINARY(logical_xor) SN_BINARY(matmul)
#undef SN_BINARY
inline Value where(const Value& c, const Value& a, const Value& b) { return apply("where", {c, a, b}); }

// Gradient plumbing (internal ops)
// sum_to(x, like): sums x over broadcast dimensions down to like's shape.
inline Value sum_to(const Value& x, const Value& like) { return apply("sum_to", {x, like}); }
// broadcast_like(x, like): broadcasts x up to like's shape.
inline Value broadcast_like(const Value& x, const Value& like) { return apply("broadcast_like", {x, like}); }
// reshape_like(x, like): x with like's shape (same element count).
inline Value reshape_like(const Value& x, const Value& like) { return apply("reshape_like", {x, like}); }
// fill_like(like, v): tensor of like's shape and dtype filled with v.
inline Value fill_like(const Value& like, double v) {
  return apply("fill_like", {like}, {{"value", v}});
}
inline Value zeros_like(const Value& like) { return fill_like(like, 0.0); }
inline Value ones_like(const Value& like) { return fill_like(like, 1.0); }

// Reductions: attrs axes (ints, empty = all), keepdims (0/1).
inline Value reduce(const std::string& op, const Value& x, std::vector<int64_t> axes, bool keepdims) {
  return apply(op, {x}, {{"axes", axes}, {"keepdims", int64_t(keepdims)}});
}
inline Value reduce_sum(const Value& x, std::vector<int64_t> axes = {}, bool keepdims = false) {
  return reduce("reduce_sum", x, std::move(axes), keepdims);
}
inline Value reduce_mean(const Value& x, std::vector<int64_t> axes = {}, bool keepdims = false) {
  return reduce("reduce_mean", x, std::move(axes), keepdims);
}
inline Value reduce_max(const Value& x, std::vector<int64_t> axes = {}, bool keepdims = false) {
  return reduce("reduce_max", x, std::move(axes), keepdims);
}

// Shape ops
inline Value reshape(const Value& x, std::vector<int64_t> shape) {
  return apply("reshape", {x}, {{"shape", shape}});
}
inline Value transpose(const Value& x, std::vector<int64_t> perm) {
  return apply("transpose", {x}, {{"perm", perm}});
}
inline Value expand(const Value& x, std::vector<int64_t> shape) {
  return apply("expand", {x}, {{"shape", shape}});
}
inline Value unsqueeze(const Value& x, std::vector<int64_t> axes) {
  return apply("unsqueeze", {x}, {{"axes", axes}});
}
inline Value squeeze(const Value& x, std::vector<int64_t> axes) {
  return apply("squeeze", {x}, {{"axes", axes}});
}

// NN
inline Value softmax(const Value& x, int64_t axis = -1) { return apply("softmax", {x}, {{"axis", axis}}); }
inline Value log_softmax(const Value& x, int64_t axis = -1) {
  return apply("log_softmax", {x}, {{"axis", axis}});
}

// Sums two possibly undefined gradient contributions.
Value add_grad(const Value& a, const Value& b);

}  // namespace symnet::op
