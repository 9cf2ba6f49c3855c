// cond: both branches built by hand and checked against the same math in double, for each
// value of the predicate; the gradient check (test_ops.cpp) differentiates through the
// cond of the branches' gradient bodies.
#include <cmath>
#include <memory>

#include "harness.h"

namespace symnet::test {

namespace {

// then: (a * b, sum(tanh(a))); else: (a - exp(b), sum(b * b)), a and b [rows, 3].
GraphPtr two_output_branch(bool then_branch, int64_t rows) {
  auto body = std::make_shared<Graph>();
  Value a = op::input("a", DType::f64, {rows, 3});
  Value b = op::input("b", DType::f64, {rows, 3});
  body->inputs = {a, b};
  if (then_branch)
    body->outputs = {op::mul(a, b), op::reduce_sum(op::tanh(a))};
  else
    body->outputs = {op::sub(a, op::exp(b)), op::reduce_sum(op::mul(b, b))};
  return body;
}

std::vector<Tensor> two_output_reference(const std::vector<Tensor>& in) {
  const bool take = in[0].get_as_double(0) != 0;
  const Tensor &a = in[1], &b = in[2];
  Tensor y(DType::f64, a.shape()), z(DType::f64, {});
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double av = a.get_as_double(i), bv = b.get_as_double(i);
    y.set_from_double(i, take ? av * bv : av - std::exp(bv));
    s += take ? std::tanh(av) : bv * bv;
  }
  z.set_from_double(0, s);
  return {y, z};
}

// then: x itself (an output that is an input); else: sigmoid(call(u -> u * u, x)).
GraphPtr passthrough_branch(bool then_branch) {
  auto body = std::make_shared<Graph>();
  Value x = op::input("x", DType::f64, {-1});
  body->inputs = {x};
  if (then_branch) {
    body->outputs = {x};
  } else {
    auto inner = std::make_shared<Graph>();
    Value u = op::input("u", DType::f64, {-1});
    inner->inputs = {u};
    inner->outputs = {op::mul(u, u)};
    body->outputs = {op::sigmoid(make_node("call", {x}, {{"body", GraphPtr(inner)}}, "square").at(0))};
  }
  return body;
}

}  // namespace

void add_control_flow_cases(std::vector<OpCase>& cases) {
  for (bool take : {true, false}) {
    OpCase c;
    c.op = "cond";
    c.label = std::string("two outputs, predicate ") + (take ? "true" : "false");
    c.attrs.set("then_branch", two_output_branch(true, 2));
    c.attrs.set("else_branch", two_output_branch(false, -1));  // inferred again on [2, 3]
    c.inputs = {make_tensor(DType::boolean, {}, {take ? 1.0 : 0.0}), random_tensor(DType::f64, {2, 3}, 61),
                random_tensor(DType::f64, {2, 3}, 62)};
    c.tol = 1e-12;
    c.reference = two_output_reference;
    cases.push_back(c);
  }
  for (int64_t p : {3, 0}) {
    OpCase c;
    c.op = "cond";
    c.label = "int32 predicate " + std::to_string(p) + ", a branch passing its input through";
    c.attrs.set("then_branch", passthrough_branch(true));
    c.attrs.set("else_branch", passthrough_branch(false));
    c.inputs = {make_tensor(DType::i32, {1}, {static_cast<double>(p)}), random_tensor(DType::f64, {5}, 63, -2, 2)};
    c.tol = 1e-12;
    c.reference = [](const std::vector<Tensor>& in) {
      const bool take = in[0].get_as_double(0) != 0;
      Tensor out(DType::f64, in[1].shape());
      for (int64_t i = 0; i < out.numel(); ++i) {
        const double x = in[1].get_as_double(i);
        out.set_from_double(i, take ? x : 1 / (1 + std::exp(-x * x)));
      }
      return std::vector<Tensor>{out};
    };
    cases.push_back(c);
  }
}

}  // namespace symnet::test
