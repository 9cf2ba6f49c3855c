#include <cmath>

#include "harness.h"

#include "engine/passes/passes.h"

using namespace symnet;
using namespace symnet::test;

TEST_CASE("grad of grad: d2/dx2 of x^3 is 6x", "[autodiff]") {
  Value x = op::input("x", DType::f64, {3});
  Value y = op::reduce_sum(op::mul(op::mul(x, x), x));
  Value dx = gradients(y, {x})[0];
  Value d2x = gradients(op::reduce_sum(dx), {x})[0];
  Graph g = Graph::from_outputs({dx, d2x});
  auto out = run_graph(g, {make_tensor(DType::f64, {3}, {1, 2, -3})});
  CHECK(out[0].get_as_double(2) == Approx(27));
  CHECK(out[1].get_as_double(0) == Approx(6));
  CHECK(out[1].get_as_double(1) == Approx(12));
  CHECK(out[1].get_as_double(2) == Approx(-18));
}

TEST_CASE("a value y does not depend on gets a zero gradient", "[autodiff]") {
  Value x = op::input("x", DType::f32, {2});
  Value z = op::input("z", DType::f32, {2});
  Value g = gradients(op::reduce_sum(op::exp(x)), {z})[0];
  Graph gr = Graph::from_outputs({g});
  gr.inputs = {z};
  auto out = run_graph(gr, {make_tensor(DType::f32, {2}, {1, 2})});
  CHECK(out[0].get_as_double(0) == 0);
}

TEST_CASE("stop_gradient blocks gradients", "[autodiff]") {
  Value x = op::input("x", DType::f64, {2});
  Value y = op::reduce_sum(op::mul(op::stop_gradient(x), x));
  Graph g = Graph::from_outputs({gradients(y, {x})[0]});
  auto out = run_graph(g, {make_tensor(DType::f64, {2}, {3, 4})});
  CHECK(out[0].get_as_double(0) == 3);
  CHECK(out[0].get_as_double(1) == 4);
}

TEST_CASE("gradients of a non-scalar output are refused", "[autodiff]") {
  Value x = op::input("x", DType::f32, {2});
  REQUIRE_THROWS_AS(gradients(op::exp(x), {x}), Error);
}

TEST_CASE("vjp takes non-scalar outputs with given cotangents", "[autodiff][vjp]") {
  // y1 = x * w (elementwise, [2, 3]), y2 = sum(x, axis 1) ([2]); cotangents c1, c2:
  // d/dx = c1 * w + c2 broadcast over axis 1; d/dw = c1 * x.
  Value x = op::input("x", DType::f64, {2, 3});
  Value w = op::input("w", DType::f64, {2, 3});
  Value c1 = op::input("c1", DType::f64, {2, 3});
  Value c2 = op::input("c2", DType::f64, {2});
  Value y1 = op::mul(x, w);
  Value y2 = op::reduce_sum(x, {1});
  std::vector<Value> g = vjp({y1, y2}, {c1, c2}, {x, w});
  Graph gr = graph_of({x, w, c1, c2}, {g[0], g[1]});
  Tensor xv = random_tensor(DType::f64, {2, 3}, 1), wv = random_tensor(DType::f64, {2, 3}, 2);
  Tensor c1v = random_tensor(DType::f64, {2, 3}, 3), c2v = random_tensor(DType::f64, {2}, 4);
  std::vector<Tensor> out = run_graph(gr, {xv, wv, c1v, c2v});
  for (int64_t i = 0; i < 6; ++i) {
    CHECK(out[0].get_as_double(i) ==
          Approx(c1v.get_as_double(i) * wv.get_as_double(i) + c2v.get_as_double(i / 3)));
    CHECK(out[1].get_as_double(i) == Approx(c1v.get_as_double(i) * xv.get_as_double(i)));
  }
  // With a scalar output and cotangent 1 it is the gradient.
  Value s = op::reduce_sum(y1);
  std::vector<Value> a = vjp({s}, {op::scalar(1.0, DType::f64)}, {x});
  std::vector<Value> b = gradients(s, {x});
  check_close(run_graph(graph_of({x, w}, {a[0]}), {xv, wv})[0], run_graph(graph_of({x, w}, {b[0]}), {xv, wv})[0], 0);
  // Mismatched cotangents are errors.
  CHECK_THROWS_AS(vjp({y1}, {}, {x}), Error);
  CHECK_THROWS_AS(vjp({y1}, {c2}, {x}), Error);
  CHECK_THROWS_AS(vjp({y1}, {op::cast(c1, DType::f32)}, {x}), Error);
}
