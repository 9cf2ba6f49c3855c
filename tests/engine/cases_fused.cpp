// fused_elementwise: a hand-built body (what the fusion pass would make for
// y = exp(a) * b + 0.5, z = y - a) checked against the same math in double.
#include <cmath>
#include <memory>

#include "harness.h"

namespace symnet::test {

namespace {

GraphPtr fused_body(const Shape& shape) {
  auto body = std::make_shared<Graph>();
  Value a = op::input("in0", DType::f32, shape);
  Value b = op::input("in1", DType::f32, {});
  Value y = op::add(op::mul(op::exp(a), b), op::scalar(0.5, DType::f32));
  Value z = op::sub(y, a);
  body->inputs = {a, b};
  body->outputs = {y, z};
  body->output_names = {"y", "z"};
  return body;
}

}  // namespace

void add_fused_cases(std::vector<OpCase>& cases) {
  // 5000 elements: several chunks, the last one partial.
  for (Shape shape : {Shape{3, 4}, Shape{5, 1000}}) {
    OpCase c;
    c.op = "fused_elementwise";
    c.label = "exp*b+0.5, -a";
    c.attrs.set("body", fused_body(shape));
    c.inputs = {random_tensor(DType::f32, shape, 7), make_tensor(DType::f32, {}, {1.5})};
    c.grad = false;  // fusion runs after autodiff; the op has no gradient rule
    c.reference = [](const std::vector<Tensor>& in) {
      Tensor y(DType::f32, in[0].shape()), z(DType::f32, in[0].shape());
      double b = in[1].get_as_double(0);
      for (int64_t i = 0; i < in[0].numel(); ++i) {
        double a = in[0].get_as_double(i);
        double yv = std::exp(a) * b + 0.5;
        y.set_from_double(i, yv);
        z.set_from_double(i, yv - a);
      }
      return std::vector<Tensor>{y, z};
    };
    cases.push_back(c);
  }
}

}  // namespace symnet::test
