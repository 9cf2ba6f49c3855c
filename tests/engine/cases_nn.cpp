// Cases for softmax, log_softmax and the classification losses; references in double.
#include <cmath>
#include <limits>

#include "harness.h"

namespace symnet::test {

namespace {

struct Split {
  int64_t outer, n, inner;
};
Split split(const Shape& s, int64_t axis) {
  Split p{1, s[axis], 1};
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
    if (d < axis) p.outer *= s[d];
    if (d > axis) p.inner *= s[d];
  }
  return p;
}

Tensor ref_softmax(const Tensor& x, int64_t axis, bool log) {
  if (axis < 0) axis += static_cast<int64_t>(x.shape().size());
  Split p = split(x.shape(), axis);
  Tensor y(x.dtype(), x.shape());
  for (int64_t o = 0; o < p.outer; ++o)
    for (int64_t i = 0; i < p.inner; ++i) {
      auto at = [&](int64_t k) { return (o * p.n + k) * p.inner + i; };
      double m = -std::numeric_limits<double>::infinity(), s = 0;
      for (int64_t k = 0; k < p.n; ++k) m = std::max(m, x.get_as_double(at(k)));
      for (int64_t k = 0; k < p.n; ++k) s += std::exp(x.get_as_double(at(k)) - m);
      for (int64_t k = 0; k < p.n; ++k) {
        double z = x.get_as_double(at(k)) - m;
        y.set_from_double(at(k), log ? z - std::log(s) : std::exp(z) / s);
      }
    }
  return y;
}

double row_lse(const Tensor& z, int64_t row, int64_t C) {
  double m = -std::numeric_limits<double>::infinity(), s = 0;
  for (int64_t c = 0; c < C; ++c) m = std::max(m, z.get_as_double(row * C + c));
  for (int64_t c = 0; c < C; ++c) s += std::exp(z.get_as_double(row * C + c) - m);
  return m + std::log(s);
}

Shape lead(const Shape& s) { return Shape(s.begin(), s.end() - 1); }

Tensor ref_xent(const Tensor& z, const Tensor& labels, int64_t ignore) {
  const int64_t C = z.shape().back();
  Tensor y(z.dtype(), lead(z.shape()));
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t l = static_cast<int64_t>(labels.get_as_double(i));
    y.set_from_double(i, l == ignore ? 0.0 : row_lse(z, i, C) - z.get_as_double(i * C + l));
  }
  return y;
}

Tensor ref_xent_grad(const Tensor& z, const Tensor& labels, const Tensor& g, int64_t ignore) {
  const int64_t C = z.shape().back();
  Tensor y(z.dtype(), z.shape());
  for (int64_t i = 0; i < labels.numel(); ++i) {
    int64_t l = static_cast<int64_t>(labels.get_as_double(i));
    if (l == ignore) continue;
    double lse = row_lse(z, i, C);
    for (int64_t c = 0; c < C; ++c)
      y.set_from_double(i * C + c, (std::exp(z.get_as_double(i * C + c) - lse) - (c == l)) * g.get_as_double(i));
  }
  return y;
}

Tensor ref_xent_prob(const Tensor& z, const Tensor& t) {
  const int64_t C = z.shape().back();
  Tensor y(z.dtype(), lead(z.shape()));
  for (int64_t i = 0; i < y.numel(); ++i) {
    double lse = row_lse(z, i, C), s = 0;
    for (int64_t c = 0; c < C; ++c) s -= t.get_as_double(i * C + c) * (z.get_as_double(i * C + c) - lse);
    y.set_from_double(i, s);
  }
  return y;
}

// Rows of non-negative weights summing to one.
Tensor random_probs(DType t, Shape s, uint64_t seed) {
  Tensor p = random_tensor(t, s, seed, 0.05, 1);
  const int64_t C = s.back();
  for (int64_t i = 0; i < p.numel() / C; ++i) {
    double sum = 0;
    for (int64_t c = 0; c < C; ++c) sum += p.get_as_double(i * C + c);
    for (int64_t c = 0; c < C; ++c) p.set_from_double(i * C + c, p.get_as_double(i * C + c) / sum);
  }
  return p;
}

OpCase softmax_case(const std::string& op, Tensor x, int64_t axis, bool set_axis = true) {
  OpCase c;
  c.op = op;
  c.inputs = {x};
  if (set_axis) c.attrs.set("axis", axis);
  c.label = set_axis ? "axis " + std::to_string(axis) : "default axis";
  bool log = op == "log_softmax";
  c.reference = [axis, log](const std::vector<Tensor>& in) { return std::vector<Tensor>{ref_softmax(in[0], axis, log)}; };
  return c;
}

}  // namespace

void add_nn_cases(std::vector<OpCase>& cases) {
  using D = DType;
  for (const char* op : {"softmax", "log_softmax"}) {
    cases.push_back(softmax_case(op, random_tensor(D::f32, {3, 5}, 1, -2, 2), -1, false));
    cases.push_back(softmax_case(op, random_tensor(D::f64, {3, 5}, 2, -2, 2), 0));
    cases.push_back(softmax_case(op, random_tensor(D::f64, {2, 3, 4}, 3, -2, 2), 1));
    cases.push_back(softmax_case(op, random_tensor(D::f64, {2, 3, 4}, 4, -2, 2), -1));
    cases.push_back(softmax_case(op, random_tensor(D::f64, {5}, 5, -2, 2), 0));
    OpCase big = softmax_case(op, make_tensor(D::f32, {2, 3}, {1000, 1001, 1002, -1000, -1001, -1002}), -1);
    big.label = "large magnitudes";
    big.grad = false;
    cases.push_back(big);
    OpCase wide = softmax_case(op, random_tensor(D::f32, {64, 300, 3}, 6, -5, 5), 1);
    wide.label = "strided, large";
    wide.grad = false;
    cases.push_back(wide);
    wide = softmax_case(op, random_tensor(D::f32, {500, 100}, 7, -5, 5), -1);
    wide.label = "rows, large";
    wide.grad = false;
    cases.push_back(wide);
  }

  auto xent = [&](Tensor z, Tensor labels, int64_t ignore, std::string label) {
    OpCase c;
    c.op = "softmax_cross_entropy";
    c.inputs = {z, labels};
    if (ignore != -100) c.attrs.set("ignore_index", ignore);
    c.label = std::move(label);
    c.reference = [ignore](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{ref_xent(in[0], in[1], ignore)};
    };
    cases.push_back(c);
  };
  xent(random_tensor(D::f64, {4, 5}, 10, -2, 2), make_tensor(D::i64, {4}, {0, 4, 2, 2}), -100, "int64 labels");
  xent(random_tensor(D::f32, {4, 5}, 11, -2, 2), make_tensor(D::i32, {4}, {1, -100, 3, 0}), -100, "ignored row");
  xent(random_tensor(D::f64, {2, 3, 4}, 12, -2, 2), make_tensor(D::i32, {2, 3}, {0, 1, 2, 3, 3, 1}), 3,
       "rank 3, ignore_index 3");
  xent(random_tensor(D::f32, {256, 40}, 13, -8, 8), random_tensor(D::i64, {256}, 14, 0, 40), -100, "large");
  xent(make_tensor(D::f32, {2, 3}, {1000, 0, -1000, 50, 60, 70}), make_tensor(D::i64, {2}, {2, 0}), -100,
       "large magnitudes");

  auto xgrad = [&](Tensor z, Tensor labels, Tensor g, int64_t ignore, std::string label) {
    OpCase c;
    c.op = "softmax_cross_entropy_grad";
    c.inputs = {z, labels, g};
    c.attrs.set("ignore_index", ignore);
    c.label = std::move(label);
    c.reference = [ignore](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{ref_xent_grad(in[0], in[1], in[2], ignore)};
    };
    cases.push_back(c);
  };
  xgrad(random_tensor(D::f64, {4, 5}, 20, -2, 2), make_tensor(D::i64, {4}, {0, -1, 2, 4}),
        random_tensor(D::f64, {4}, 21, 0.5, 1.5), -1, "ignored row");
  xgrad(random_tensor(D::f32, {2, 2, 3}, 22, -2, 2), make_tensor(D::i32, {2, 2}, {0, 1, 2, 1}),
        random_tensor(D::f32, {2, 2}, 23, -1, 1), -100, "rank 3");

  auto xprob = [&](Tensor z, Tensor t, std::string label) {
    OpCase c;
    c.op = "softmax_cross_entropy_prob";
    c.inputs = {z, t};
    c.label = std::move(label);
    c.reference = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{ref_xent_prob(in[0], in[1])}; };
    cases.push_back(c);
  };
  xprob(random_tensor(D::f64, {4, 5}, 30, -2, 2), random_probs(D::f64, {4, 5}, 31), "probabilities");
  xprob(random_tensor(D::f32, {2, 3, 4}, 32, -2, 2), random_probs(D::f32, {2, 3, 4}, 33), "rank 3");
  xprob(random_tensor(D::f64, {3, 4}, 34, -2, 2), random_tensor(D::f64, {3, 4}, 35, 0, 2), "unnormalized targets");

  auto sig = [&](Tensor x, Tensor t, std::string label, bool grad = true) {
    OpCase c;
    c.op = "sigmoid_cross_entropy";
    c.inputs = {x, t};
    c.label = std::move(label);
    c.grad = grad;
    c.reference = [](const std::vector<Tensor>& in) {
      Tensor y(in[0].dtype(), in[0].shape());
      for (int64_t i = 0; i < y.numel(); ++i) {
        double x = in[0].get_as_double(i), t = in[1].get_as_double(i);
        double p = 1 / (1 + std::exp(-x));
        // Direct form, accurate for moderate x.
        y.set_from_double(i, -(t * std::log(p) + (1 - t) * std::log1p(-p)));
      }
      return std::vector<Tensor>{y};
    };
    cases.push_back(c);
  };
  sig(random_tensor(D::f64, {3, 4}, 40, -3, 3), random_tensor(D::f64, {3, 4}, 41, 0, 1), "soft targets");
  sig(random_tensor(D::f32, {2, 3}, 42, -3, 3), make_tensor(D::f32, {2, 3}, {0, 1, 1, 0, 0, 1}), "hard targets");
  sig(random_tensor(D::f32, {100000}, 43, -10, 10), random_tensor(D::f32, {100000}, 44, 0, 1), "large", false);
}

namespace {

using symnet::test::kind_of;

}  // namespace

TEST_CASE("softmax and losses reject bad inputs", "[nn]") {
  using D = DType;
  auto x = [](const char* n, D t, Shape s) { return op::input(n, t, s); };
  CHECK(kind_of([&] { op::softmax(x("a", D::f32, {2, 3}), 2); }) == ErrorKind::attr);
  CHECK(kind_of([&] { op::log_softmax(x("a", D::f32, {2, 3}), -3); }) == ErrorKind::attr);
  CHECK(kind_of([&] { op::softmax(x("a", D::i32, {2, 3})); }) == ErrorKind::dtype);
  CHECK(kind_of([&] { op::apply("softmax_cross_entropy", {x("z", D::f32, {4, 3}), x("l", D::f32, {4})}); }) ==
        ErrorKind::dtype);
  CHECK(kind_of([&] { op::apply("softmax_cross_entropy", {x("z", D::f32, {4, 3}), x("l", D::i64, {5})}); }) ==
        ErrorKind::shape);
  CHECK(kind_of([&] { op::apply("softmax_cross_entropy", {x("z", D::f32, {4, 3}), x("l", D::i64, {4, 3})}); }) ==
        ErrorKind::shape);
  CHECK(kind_of([&] {
          op::apply("softmax_cross_entropy_prob", {x("z", D::f32, {4, 3}), x("t", D::f32, {4, 2})});
        }) == ErrorKind::shape);
  CHECK(kind_of([&] { op::apply("sigmoid_cross_entropy", {x("z", D::f32, {4, 3}), x("t", D::f64, {4, 3})}); }) ==
        ErrorKind::dtype);
  CHECK(kind_of([&] { op::apply("sigmoid_cross_entropy", {x("z", D::f32, {4, 3}), x("t", D::f32, {3})}); }) ==
        ErrorKind::shape);
}

TEST_CASE("softmax_cross_entropy rejects labels out of range at run time", "[nn]") {
  Tensor z = random_tensor(DType::f32, {3, 4}, 1);
  const Tensor g = make_tensor(DType::f32, {3}, {1, 1, 1});
  for (double bad : {4.0, -1.0}) {
    Tensor labels = make_tensor(DType::i64, {3}, {0, bad, 1});
    CHECK(kind_of([&] { run_op("softmax_cross_entropy", {z, labels}); }) == ErrorKind::index);
    CHECK(kind_of([&] { run_op("softmax_cross_entropy_grad", {z, labels, g}); }) == ErrorKind::index);
  }
  // 1-based labels: 1..4 are valid, 0 and 5 are not
  const AttrMap base1{{"index_base", int64_t(1)}};
  Tensor one_based = make_tensor(DType::i64, {3}, {1, 4, 2});
  Tensor zero_based = make_tensor(DType::i64, {3}, {0, 3, 1});
  CHECK(run_op("softmax_cross_entropy", {z, one_based}, base1)[0].get_as_double(1) ==
        Approx(run_op("softmax_cross_entropy", {z, zero_based})[0].get_as_double(1)));
  for (double bad : {0.0, 5.0}) {
    Tensor labels = make_tensor(DType::i64, {3}, {1, bad, 2});
    CHECK(kind_of([&] { run_op("softmax_cross_entropy", {z, labels}, base1); }) == ErrorKind::index);
    CHECK(kind_of([&] { run_op("softmax_cross_entropy_grad", {z, labels, g}, base1); }) == ErrorKind::index);
  }
}

TEST_CASE("softmax_cross_entropy keeps unknown batch dims", "[nn]") {
  Value z = op::input("z", DType::f32, {-1, 10});
  Value l = op::input("l", DType::i32, {-1});
  CHECK(op::apply("softmax_cross_entropy", {z, l}).shape() == Shape{-1});
  Value loss = op::reduce_mean(op::apply("softmax_cross_entropy", {z, l}));
  Value gz = gradients(loss, {z})[0];
  CHECK(gz.shape() == Shape{-1, 10});
  Graph g = Graph::from_outputs({loss, gz});
  g.inputs = {z, l};
  Tensor zv = random_tensor(DType::f32, {6, 10}, 3), lv = make_tensor(DType::i32, {6}, {0, 1, 2, 3, 4, 9});
  std::vector<Tensor> out = run_graph(g, {zv, lv}, true);
  Tensor want = ref_xent(zv, lv, -100);
  double m = 0;
  for (int64_t i = 0; i < 6; ++i) m += want.get_as_double(i) / 6;
  check_close(out[0], make_tensor(DType::f32, {}, {m}), 1e-5);
  Tensor gw = ref_xent_grad(zv, lv, make_tensor(DType::f32, {6}, std::vector<double>(6, 1.0 / 6)), -100);
  check_close(out[1], gw, 1e-5);
}

}  // namespace symnet::test
