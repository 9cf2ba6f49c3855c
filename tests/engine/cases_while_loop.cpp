// while_loop: loops built by hand, each checked against the same loop written out in
// double; the gradient check (test_ops.cpp) differentiates through the recording loop and
// the reverse scan of the body's vjp, including loops that stop at their bound, loops
// whose trip count depends on the data, loops that never run, and a recording loop (whose
// recorded values get cotangents too, as when a gradient is differentiated again).
#include <cmath>
#include <memory>

#include "harness.h"

namespace symnet::test {

namespace {

AttrMap while_attrs(GraphPtr cond, GraphPtr body, int64_t vars, int64_t max_iterations = -1) {
  AttrMap a;
  a.set("cond", cond);
  a.set("body", body);
  a.set("n_vars", vars);
  if (max_iterations >= 0) a.set("max_iterations", max_iterations);
  return a;
}

// Loop variables (i int32, x f64 [3]), non-loop (a f64 [3], k int32):
// while i < k: i += 1, x = x * a + sin(x).
AttrMap counter_loop(int64_t max_iterations) {
  Value i = op::input("i", DType::i32, {}), x = op::input("x", DType::f64, {3});
  Value a = op::input("a", DType::f64, {3}), k = op::input("k", DType::i32, {});
  GraphPtr cond = body_of({i, x, a, k}, {op::less(i, k)});
  GraphPtr body = body_of({i, x, a, k}, {op::add(i, op::scalar(1, DType::i32)), op::add(op::mul(x, a), op::sin(x))});
  return while_attrs(cond, body, 2, max_iterations);
}

std::vector<Tensor> counter_reference(const std::vector<Tensor>& in, int64_t max_iterations) {
  int64_t i = static_cast<int64_t>(in[0].get_as_double(0));
  const int64_t k = static_cast<int64_t>(in[3].get_as_double(0));
  std::vector<double> x(3);
  for (int e = 0; e < 3; ++e) x[e] = in[1].get_as_double(e);
  for (int64_t it = 0; i < k && (max_iterations < 0 || it < max_iterations); ++it) {
    ++i;
    for (int e = 0; e < 3; ++e) x[e] = x[e] * in[2].get_as_double(e) + std::sin(x[e]);
  }
  Tensor fi(DType::i32, {}), fx(DType::f64, {3});
  fi.set_from_double(0, static_cast<double>(i));
  for (int e = 0; e < 3; ++e) fx.set_from_double(e, x[e]);
  return {fi, fx};
}

// sum(m * v, axis 1): a matrix [r, c] times a vector [c].
Value matvec(const Value& m, const Value& v) { return op::reduce_sum(op::mul(m, v), {1}); }

// Power iteration: (v f64 [3], n int64) with A [3, 3]: while n < 5: v = A v / |A v|, n += 1.
AttrMap power_loop() {
  Value v = op::input("v", DType::f64, {3}), n = op::input("n", DType::i64, {});
  Value a = op::input("A", DType::f64, {3, 3});
  Value av = matvec(a, v);
  GraphPtr cond = body_of({v, n, a}, {op::less(n, op::scalar(5, DType::i64))});
  GraphPtr body = body_of({v, n, a}, {op::div(av, op::sqrt(op::reduce_sum(op::mul(av, av)))),
                                      op::add(n, op::scalar(1, DType::i64))});
  return while_attrs(cond, body, 2, 8);
}

std::vector<Tensor> power_reference(const std::vector<Tensor>& in) {
  std::vector<double> v(3);
  for (int e = 0; e < 3; ++e) v[e] = in[0].get_as_double(e);
  int64_t n = static_cast<int64_t>(in[1].get_as_double(0));
  for (; n < 5; ++n) {
    std::vector<double> av(3, 0.0);
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) av[r] += in[2].get_as_double(r * 3 + c) * v[c];
    const double norm = std::sqrt(av[0] * av[0] + av[1] * av[1] + av[2] * av[2]);
    for (int e = 0; e < 3; ++e) v[e] = av[e] / norm;
  }
  Tensor fv(DType::f64, {3}), fn(DType::i64, {});
  for (int e = 0; e < 3; ++e) fv.set_from_double(e, v[e]);
  fn.set_from_double(0, static_cast<double>(n));
  return {fv, fn};
}

// A trip count set by the data: (x f64 [], y f64 [2]) with lim f64 []: while x < lim:
// x = 1.5 x + 0.25, y = y * x + sin(y) (the new x).
AttrMap threshold_loop(int64_t max_iterations) {
  Value x = op::input("x", DType::f64, {}), y = op::input("y", DType::f64, {2});
  Value lim = op::input("lim", DType::f64, {});
  Value x2 = op::add(op::mul(x, op::scalar(1.5, DType::f64)), op::scalar(0.25, DType::f64));
  GraphPtr cond = body_of({x, y, lim}, {op::less(x, lim)});
  GraphPtr body = body_of({x, y, lim}, {x2, op::add(op::mul(y, x2), op::sin(y))});
  return while_attrs(cond, body, 2, max_iterations);
}

// The loop above, also recording: [x, y, trip, x entering each iteration, y entering each].
std::vector<Tensor> threshold_reference(const std::vector<Tensor>& in, int64_t max_iterations, bool record) {
  double x = in[0].get_as_double(0), y[2] = {in[1].get_as_double(0), in[1].get_as_double(1)};
  const double lim = in[2].get_as_double(0);
  Tensor xs(DType::f64, {max_iterations}), ys(DType::f64, {max_iterations, 2});  // zero-filled
  int64_t it = 0;
  for (; x < lim && it < max_iterations; ++it) {
    xs.set_from_double(it, x);
    ys.set_from_double(2 * it, y[0]);
    ys.set_from_double(2 * it + 1, y[1]);
    x = 1.5 * x + 0.25;
    for (double& e : y) e = e * x + std::sin(e);
  }
  Tensor fx(DType::f64, {}), fy(DType::f64, {2}), trip(DType::i64, {});
  fx.set_from_double(0, x);
  fy.set_from_double(0, y[0]);
  fy.set_from_double(1, y[1]);
  trip.set_from_double(0, static_cast<double>(it));
  if (!record) return {fx, fy};
  return {fx, fy, trip, xs, ys};
}

}  // namespace

void add_while_loop_cases(std::vector<OpCase>& cases) {
  auto counter_inputs = [](double k) {
    return std::vector<Tensor>{make_tensor(DType::i32, {}, {0}), random_tensor(DType::f64, {3}, 91),
                               random_tensor(DType::f64, {3}, 92, 0.2, 0.6), make_tensor(DType::i32, {}, {k})};
  };
  {
    OpCase c;
    c.op = "while_loop";
    c.label = "x = x * a + sin(x) until a counter reaches k";
    c.attrs = counter_loop(10);
    c.inputs = counter_inputs(4);
    c.tol = 1e-12;
    c.reference = [](const std::vector<Tensor>& in) { return counter_reference(in, 10); };
    cases.push_back(c);
  }
  {
    OpCase c;
    c.op = "while_loop";
    c.label = "stopped at max_iterations 3 before the counter reaches k";
    c.attrs = counter_loop(3);
    c.inputs = counter_inputs(7);
    c.tol = 1e-12;
    c.reference = [](const std::vector<Tensor>& in) { return counter_reference(in, 3); };
    cases.push_back(c);
  }
  {
    OpCase c;
    c.op = "while_loop";
    c.label = "max_iterations 0: the body never runs";
    c.attrs = counter_loop(0);
    c.inputs = counter_inputs(4);
    c.tol = 0;
    c.reference = [](const std::vector<Tensor>& in) { return counter_reference(in, 0); };
    cases.push_back(c);
  }
  {
    OpCase c;
    c.op = "while_loop";
    c.label = "power iteration, a counter beside the vector";
    c.attrs = power_loop();
    c.inputs = {random_tensor(DType::f64, {3}, 93, 0.5, 1.5), make_tensor(DType::i64, {}, {1}),
                random_tensor(DType::f64, {3, 3}, 94, 0.2, 1)};
    c.tol = 1e-12;
    c.reference = power_reference;
    cases.push_back(c);
  }
  for (double x0 : {0.3, 5.0}) {  // five iterations; none (the cond is false at once)
    OpCase c;
    c.op = "while_loop";
    c.label = x0 < 1 ? "trip count set by the data" : "cond false at once: zero iterations";
    c.attrs = threshold_loop(8);
    c.inputs = {make_tensor(DType::f64, {}, {x0}), random_tensor(DType::f64, {2}, 95),
                make_tensor(DType::f64, {}, {4.0})};
    c.tol = 1e-12;
    c.reference = [](const std::vector<Tensor>& in) { return threshold_reference(in, 8, false); };
    cases.push_back(c);
  }
  {
    OpCase c;
    c.op = "while_loop";
    c.label = "record = 1: trip count and each iteration's variables";
    c.attrs = threshold_loop(7);
    c.attrs.set("record", int64_t(1));
    c.inputs = {make_tensor(DType::f64, {}, {0.3}), random_tensor(DType::f64, {2}, 96),
                make_tensor(DType::f64, {}, {4.0})};
    c.tol = 1e-12;
    c.reference = [](const std::vector<Tensor>& in) { return threshold_reference(in, 7, true); };
    cases.push_back(c);
  }
}

}  // namespace symnet::test
