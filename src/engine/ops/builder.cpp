#include "engine/ops/builder.h"

#include "engine/ops/registry.h"

namespace symnet::op {

Value input(const std::string& name, DType dtype, const Shape& shape) {
  return apply("input", {},
               {{"name", name}, {"dtype", std::string(dtype_name(dtype))}, {"shape", shape}}, name);
}

Value constant(const Tensor& t, const std::string& name) {
  return apply("constant", {}, {{"value", std::make_shared<Tensor>(t)}}, name);
}

Value scalar(double v, DType dtype) { return constant(Tensor::scalar(dtype, v)); }

Value scalar_like(double v, const Value& like) { return scalar(v, like.dtype()); }

Value variable(const VariablePtr& var) {
  return apply("variable", {}, {{"var", var}}, var->name);
}

Value add_grad(const Value& a, const Value& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  return add(a, b);
}

}  // namespace symnet::op
