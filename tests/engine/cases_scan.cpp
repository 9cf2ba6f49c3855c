// scan: bodies built by hand, each checked against the same loop written out in double;
// the gradient check (test_ops.cpp) differentiates through the recomputing forward scan
// and the backward scan of the body's vjp.
#include <cmath>
#include <memory>

#include "harness.h"

namespace symnet::test {

namespace {

AttrMap scan_attrs(GraphPtr body, int64_t states, int64_t sequences, int64_t reverse = 0) {
  AttrMap a;
  a.set("body", body);
  a.set("n_states", states);
  a.set("n_sequences", sequences);
  a.set("reverse", reverse);
  return a;
}

// (s, x) -> (s + x, s + x): a running sum, each partial sum emitted.
GraphPtr cumsum_body(int64_t width) {
  Value s = op::input("s", DType::f64, {width});
  Value x = op::input("x", DType::f64, {width});
  Value y = op::add(s, x);
  return body_of({s, x}, {y, y});
}

// Running sums of xs [T, n] from s0 [n], walking forward or backward; the stacked output
// is in sequence order either way.
std::vector<Tensor> cumsum_reference(const std::vector<Tensor>& in, bool reverse) {
  const Tensor &s0 = in[0], &xs = in[1];
  const int64_t T = xs.shape()[0], n = s0.numel();
  std::vector<double> s(n);
  for (int64_t i = 0; i < n; ++i) s[i] = s0.get_as_double(i);
  Tensor stacked(DType::f64, xs.shape()), final_s(DType::f64, s0.shape());
  for (int64_t step = 0; step < T; ++step) {
    const int64_t t = reverse ? T - 1 - step : step;
    for (int64_t i = 0; i < n; ++i) {
      s[i] += xs.get_as_double(t * n + i);
      stacked.set_from_double(t * n + i, s[i]);
    }
  }
  for (int64_t i = 0; i < n; ++i) final_s.set_from_double(i, s[i]);
  return {final_s, stacked};
}

// sum(m * v, axis 1): a matrix [r, c] times a vector [c], by broadcasting.
Value matvec(const Value& m, const Value& v) { return op::reduce_sum(op::mul(m, v), {1}); }

// h' = tanh(W x + U h), emitted each step; W [3, 2] and U [3, 3] are non-sequences.
GraphPtr rnn_body() {
  Value h = op::input("h", DType::f64, {3});
  Value x = op::input("x", DType::f64, {2});
  Value w = op::input("W", DType::f64, {3, 2});
  Value u = op::input("U", DType::f64, {3, 3});
  Value next = op::tanh(op::add(matvec(w, x), matvec(u, h)));
  return body_of({h, x, w, u}, {next, next});
}

std::vector<Tensor> rnn_reference(const std::vector<Tensor>& in) {
  const Tensor &h0 = in[0], &xs = in[1], &W = in[2], &U = in[3];
  const int64_t T = xs.shape()[0];
  std::vector<double> h(3);
  for (int i = 0; i < 3; ++i) h[i] = h0.get_as_double(i);
  Tensor hs(DType::f64, {T, 3}), last(DType::f64, {3});
  for (int64_t t = 0; t < T; ++t) {
    std::vector<double> next(3);
    for (int r = 0; r < 3; ++r) {
      double a = 0;
      for (int c = 0; c < 2; ++c) a += W.get_as_double(r * 2 + c) * xs.get_as_double(t * 2 + c);
      for (int c = 0; c < 3; ++c) a += U.get_as_double(r * 3 + c) * h[c];
      next[r] = std::tanh(a);
    }
    h = next;
    for (int r = 0; r < 3; ++r) hs.set_from_double(t * 3 + r, h[r]);
  }
  for (int r = 0; r < 3; ++r) last.set_from_double(r, h[r]);
  return {last, hs};
}

// Power iteration without sequences: v' = A v / |A v|, emitting the Rayleigh quotient v'.A v'.
GraphPtr power_body() {
  Value v = op::input("v", DType::f64, {3});
  Value a = op::input("A", DType::f64, {3, 3});
  Value av = matvec(a, v);
  Value next = op::div(av, op::sqrt(op::reduce_sum(op::mul(av, av))));
  return body_of({v, a}, {next, op::reduce_sum(op::mul(next, matvec(a, next)))});
}

std::vector<Tensor> power_reference(const std::vector<Tensor>& in, int64_t steps) {
  const Tensor &v0 = in[0], &A = in[1];
  auto mv = [&](const std::vector<double>& v) {
    std::vector<double> r(3, 0.0);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) r[i] += A.get_as_double(i * 3 + j) * v[j];
    return r;
  };
  std::vector<double> v(3);
  for (int i = 0; i < 3; ++i) v[i] = v0.get_as_double(i);
  Tensor q(DType::f64, {steps}), last(DType::f64, {3});
  for (int64_t t = 0; t < steps; ++t) {
    std::vector<double> av = mv(v);
    const double norm = std::sqrt(av[0] * av[0] + av[1] * av[1] + av[2] * av[2]);
    for (int i = 0; i < 3; ++i) v[i] = av[i] / norm;
    std::vector<double> a2 = mv(v);
    q.set_from_double(t, v[0] * a2[0] + v[1] * a2[1] + v[2] * a2[2]);
  }
  for (int i = 0; i < 3; ++i) last.set_from_double(i, v[i]);
  return {last, q};
}

// Two states a [2], b [] and two sequences x [T, 2], z [T]:
// a' = a * x + b, b' = b * z + sum(a); outputs y1 = a' * b' [2] and y2 = sum(x * x) [].
GraphPtr two_state_body() {
  Value a = op::input("a", DType::f64, {2});
  Value b = op::input("b", DType::f64, {});
  Value x = op::input("x", DType::f64, {2});
  Value z = op::input("z", DType::f64, {});
  Value a2 = op::add(op::mul(a, x), b);
  Value b2 = op::add(op::mul(b, z), op::reduce_sum(a));
  return body_of({a, b, x, z}, {a2, b2, op::mul(a2, b2), op::reduce_sum(op::mul(x, x))});
}

std::vector<Tensor> two_state_reference(const std::vector<Tensor>& in) {
  const Tensor &a0 = in[0], &b0 = in[1], &xs = in[2], &zs = in[3];
  const int64_t T = xs.shape()[0];
  double a[2] = {a0.get_as_double(0), a0.get_as_double(1)}, b = b0.get_as_double(0);
  Tensor y1(DType::f64, {T, 2}), y2(DType::f64, {T}), fa(DType::f64, {2}), fb(DType::f64, {});
  for (int64_t t = 0; t < T; ++t) {
    const double x0 = xs.get_as_double(t * 2), x1 = xs.get_as_double(t * 2 + 1);
    const double na0 = a[0] * x0 + b, na1 = a[1] * x1 + b;
    const double nb = b * zs.get_as_double(t) + a[0] + a[1];
    a[0] = na0;
    a[1] = na1;
    b = nb;
    y1.set_from_double(t * 2, a[0] * b);
    y1.set_from_double(t * 2 + 1, a[1] * b);
    y2.set_from_double(t, x0 * x0 + x1 * x1);
  }
  fa.set_from_double(0, a[0]);
  fa.set_from_double(1, a[1]);
  fb.set_from_double(0, b);
  return {fa, fb, y1, y2};
}

// An int32 step counter c beside a float state s [2], walking x [T, 2] backwards with a
// non-sequence k []: c' = c + 1, s' = s * x + c * k, emitting s'. Only the float inputs
// get gradients; the counter's stacked values still feed the backward pass.
GraphPtr counter_body() {
  Value c = op::input("c", DType::i32, {});
  Value s = op::input("s", DType::f64, {2});
  Value x = op::input("x", DType::f64, {2});
  Value k = op::input("k", DType::f64, {});
  Value s2 = op::add(op::mul(s, x), op::mul(op::cast(c, DType::f64), k));
  return body_of({c, s, x, k}, {op::add(c, op::scalar(1, DType::i32)), s2, s2});
}

std::vector<Tensor> counter_reference(const std::vector<Tensor>& in) {
  const Tensor &c0 = in[0], &s0 = in[1], &xs = in[2], &k = in[3];
  const int64_t T = xs.shape()[0];
  double c = c0.get_as_double(0), s[2] = {s0.get_as_double(0), s0.get_as_double(1)};
  Tensor ys(DType::f64, {T, 2}), fc(DType::i32, {}), fs(DType::f64, {2});
  for (int64_t step = 0; step < T; ++step) {
    const int64_t t = T - 1 - step;
    for (int i = 0; i < 2; ++i) {
      s[i] = s[i] * xs.get_as_double(t * 2 + i) + c * k.get_as_double(0);
      ys.set_from_double(t * 2 + i, s[i]);
    }
    c += 1;
  }
  fc.set_from_double(0, c);
  fs.set_from_double(0, s[0]);
  fs.set_from_double(1, s[1]);
  return {fc, fs, ys};
}

}  // namespace

void add_scan_cases(std::vector<OpCase>& cases) {
  for (int64_t reverse : {0, 1}) {
    OpCase c;
    c.op = "scan";
    c.label = reverse ? "running sum, reversed" : "running sum";
    c.attrs = scan_attrs(cumsum_body(3), 1, 1, reverse);
    c.inputs = {random_tensor(DType::f64, {3}, 71), random_tensor(DType::f64, {4, 3}, 72)};
    c.tol = 1e-12;
    c.reference = [reverse](const std::vector<Tensor>& in) { return cumsum_reference(in, reverse != 0); };
    cases.push_back(c);
  }
  {
    OpCase c;
    c.op = "scan";
    c.label = "rnn step tanh(W x + U h), W and U non-sequences";
    c.attrs = scan_attrs(rnn_body(), 1, 1);
    c.inputs = {random_tensor(DType::f64, {3}, 74), random_tensor(DType::f64, {5, 2}, 75),
                random_tensor(DType::f64, {3, 2}, 76), random_tensor(DType::f64, {3, 3}, 77, -0.8, 0.8)};
    c.tol = 1e-12;
    c.reference = rnn_reference;
    cases.push_back(c);
  }
  {
    OpCase c;
    c.op = "scan";
    c.label = "power iteration, no sequences, n_steps 4";
    c.attrs = scan_attrs(power_body(), 1, 0);
    c.attrs.set("n_steps", int64_t(4));
    c.inputs = {random_tensor(DType::f64, {3}, 78, 0.5, 1.5), random_tensor(DType::f64, {3, 3}, 79, 0.2, 1)};
    c.tol = 1e-12;
    c.reference = [](const std::vector<Tensor>& in) { return power_reference(in, 4); };
    cases.push_back(c);
  }
  {
    OpCase c;
    c.op = "scan";
    c.label = "int32 counter state beside a float state, reversed";
    c.attrs = scan_attrs(counter_body(), 2, 1, 1);
    c.inputs = {make_tensor(DType::i32, {}, {2}), random_tensor(DType::f64, {2}, 84),
                random_tensor(DType::f64, {3, 2}, 85), random_tensor(DType::f64, {}, 86)};
    c.tol = 1e-12;
    c.reference = counter_reference;
    cases.push_back(c);
  }
  {
    OpCase c;
    c.op = "scan";
    c.label = "two states, two sequences, two per-step outputs";
    c.attrs = scan_attrs(two_state_body(), 2, 2);
    c.inputs = {random_tensor(DType::f64, {2}, 80), random_tensor(DType::f64, {}, 81),
                random_tensor(DType::f64, {3, 2}, 82), random_tensor(DType::f64, {3}, 83)};
    c.tol = 1e-12;
    c.reference = two_state_reference;
    cases.push_back(c);
  }
}

}  // namespace symnet::test
