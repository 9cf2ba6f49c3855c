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

// What fuse_per_sample makes of pool(tanh(conv(x * 0.5, w, b)) + c): the body takes one
// chunk of samples; the node maps a whole batch.
Value lenet_block(const Value& x, const Value& w, const Value& b, const Value& c) {
  AttrMap pool{{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}};
  Value h = op::mul(x, op::scalar(0.5, x.dtype()));
  h = op::tanh(op::apply("conv", {h, w, b}, AttrMap{{"pads", std::vector<int64_t>{1, 1, 1, 1}}}));
  return op::apply("max_pool", {op::add(h, c)}, pool);
}

GraphPtr per_sample_body(DType t, const Shape& sample, const Shape& w, const Shape& c) {
  auto body = std::make_shared<Graph>();
  Value x = op::input("x", t, sample), wv = op::input("p0", t, w), bv = op::input("p1", t, {w[0]});
  Value cv = op::input("p2", t, c);
  body->inputs = {x, wv, bv, cv};
  body->outputs = {lenet_block(x, wv, bv, cv)};
  body->output_names = {"y"};
  return body;
}

}  // namespace

void add_fused_cases(std::vector<OpCase>& cases) {
  // fused_per_sample against the same ops run unfused on the whole batch.
  for (DType t : {DType::f32, DType::f64}) {
    OpCase c;
    c.op = "fused_per_sample";
    c.label = std::string("conv-tanh-add-pool ") + dtype_name(t);
    const Shape w{4, 3, 3, 3}, bc{4, 1, 1};
    c.attrs.set("body", per_sample_body(t, {2, 3, 9, 8}, w, bc));  // chunks of 2: the last is short
    c.inputs = {random_tensor(t, {5, 3, 9, 8}, 31), random_tensor(t, w, 32), random_tensor(t, {4}, 33),
                random_tensor(t, bc, 34)};
    c.grad = false;  // made after autodiff, for forward chains only; it has no gradient rule
    c.tol = t == DType::f32 ? 1e-5 : 1e-12;
    c.reference = [t, w, bc](const std::vector<Tensor>& in) {
      Value x = op::input("x", t, in[0].shape()), wv = op::input("w", t, w), bv = op::input("b", t, {w[0]});
      Value cv = op::input("c", t, bc);
      Graph g;
      g.inputs = {x, wv, bv, cv};
      g.outputs = {lenet_block(x, wv, bv, cv)};
      g.output_names = {"y"};
      return run_graph(g, in, false);
    };
    cases.push_back(c);
  }
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
