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
