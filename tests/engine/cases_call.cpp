// call: bodies built by hand, checked against the same math in double; the gradient check
// (test_ops.cpp) differentiates through the call's rule.
#include <cmath>
#include <memory>

#include "harness.h"

namespace symnet::test {

namespace {

// y = tanh(a) * b + a, z = sum(exp(b)) with a [rows, 3] and b [3] (broadcast inside).
GraphPtr two_output_body(int64_t rows) {
  auto body = std::make_shared<Graph>();
  Value a = op::input("a", DType::f64, {rows, 3});
  Value b = op::input("b", DType::f64, {3});
  body->inputs = {a, b};
  body->outputs = {op::add(op::mul(op::tanh(a), b), a), op::reduce_sum(op::exp(b))};
  body->output_names = {"y", "z"};
  return body;
}

std::vector<Tensor> two_output_reference(const std::vector<Tensor>& in) {
  const Tensor &a = in[0], &b = in[1];
  Tensor y(DType::f64, a.shape()), z(DType::f64, {});
  for (int64_t i = 0; i < a.numel(); ++i) {
    double av = a.get_as_double(i), bv = b.get_as_double(i % 3);
    y.set_from_double(i, std::tanh(av) * bv + av);
  }
  double s = 0;
  for (int64_t j = 0; j < 3; ++j) s += std::exp(b.get_as_double(j));
  z.set_from_double(0, s);
  return {y, z};
}

// A body holding another call: sigmoid(call(inner, x)) * x, inner(u) = u * u - 1.
GraphPtr nested_body(DType t) {
  auto inner = std::make_shared<Graph>();
  Value u = op::input("u", t, {-1});
  inner->inputs = {u};
  inner->outputs = {op::sub(op::mul(u, u), op::scalar(1, t))};
  auto outer = std::make_shared<Graph>();
  Value x = op::input("x", t, {-1});
  Value c = make_node("call", {x}, {{"body", GraphPtr(inner)}}, "inner").at(0);
  outer->inputs = {x};
  outer->outputs = {op::mul(op::sigmoid(c), x)};
  return outer;
}

}  // namespace

void add_call_cases(std::vector<OpCase>& cases) {
  {
    OpCase c;
    c.op = "call";
    c.label = "two outputs";
    c.attrs.set("body", two_output_body(2));
    c.inputs = {random_tensor(DType::f64, {2, 3}, 51), random_tensor(DType::f64, {3}, 52)};
    c.tol = 1e-12;
    c.reference = two_output_reference;
    cases.push_back(c);
  }
  {
    // A body declared for any number of rows, called on 4: inferred again on the arguments.
    OpCase c;
    c.op = "call";
    c.label = "body of unknown rows";
    c.attrs.set("body", two_output_body(-1));
    c.inputs = {random_tensor(DType::f64, {4, 3}, 53), random_tensor(DType::f64, {3}, 54)};
    c.tol = 1e-12;
    c.reference = two_output_reference;
    cases.push_back(c);
  }
  for (DType t : {DType::f32, DType::f64}) {
    OpCase c;
    c.op = "call";
    c.label = std::string("nested call ") + dtype_name(t);
    c.attrs.set("body", nested_body(t));
    c.inputs = {random_tensor(t, {5}, 55, -2, 2)};
    c.tol = t == DType::f32 ? 1e-6 : 1e-12;
    // The gradient check feeds float64, which a float32 body does not take; the float64
    // case checks the rule.
    c.grad = t == DType::f64;
    c.reference = [t](const std::vector<Tensor>& in) {
      Tensor out(t, in[0].shape());
      for (int64_t i = 0; i < out.numel(); ++i) {
        double x = in[0].get_as_double(i), u = x * x - 1;
        out.set_from_double(i, x / (1 + std::exp(-u)));
      }
      return std::vector<Tensor>{out};
    };
    cases.push_back(c);
  }
}

}  // namespace symnet::test
