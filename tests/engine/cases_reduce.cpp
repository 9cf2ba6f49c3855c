// Cases for reductions, arg-reductions and cumsum: references computed in double by
// plain index arithmetic, gradient inputs kept away from ties and zeros.
#include <cmath>
#include <limits>

#include "harness.h"
#include "engine/kernels/cpu/parallel.h"

namespace symnet::test {

namespace {

using VecFn = std::function<double(const std::vector<double>&)>;

// Groups the elements of x by their output position and applies f to each group.
Tensor ref_reduce(const Tensor& x, std::vector<int64_t> axes, bool keepdims, const VecFn& f) {
  const Shape& s = x.shape();
  const int64_t rank = static_cast<int64_t>(s.size());
  std::vector<bool> red(rank, axes.empty());
  for (int64_t a : axes) red[a < 0 ? a + rank : a] = true;
  Shape out;
  for (int64_t d = 0; d < rank; ++d)
    if (!red[d]) out.push_back(s[d]);
    else if (keepdims) out.push_back(1);
  Tensor y(x.dtype(), out);
  std::vector<std::vector<double>> groups(static_cast<size_t>(y.numel()));
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t r = i, o = 0, mul = 1;
    for (int64_t d = rank - 1; d >= 0; --d) {
      int64_t id = r % s[d];
      r /= s[d];
      if (!red[d]) {
        o += id * mul;
        mul *= s[d];
      }
    }
    groups[o].push_back(x.get_as_double(i));
  }
  for (int64_t o = 0; o < y.numel(); ++o) y.set_from_double(o, f(groups[o]));
  return y;
}

double sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}
double mean(const std::vector<double>& v) { return sum(v) / v.size(); }

VecFn ref_fn(const std::string& op, double correction) {
  if (op == "reduce_sum") return sum;
  if (op == "reduce_mean") return mean;
  if (op == "reduce_prod")
    return [](const std::vector<double>& v) {
      double p = 1;
      for (double x : v) p *= x;
      return p;
    };
  if (op == "reduce_max") return [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); };
  if (op == "reduce_min") return [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); };
  if (op == "reduce_l1")
    return [](const std::vector<double>& v) {
      double s = 0;
      for (double x : v) s += std::abs(x);
      return s;
    };
  if (op == "reduce_l2")
    return [](const std::vector<double>& v) {
      double s = 0;
      for (double x : v) s += x * x;
      return std::sqrt(s);
    };
  if (op == "reduce_logsumexp")
    return [](const std::vector<double>& v) {
      double s = 0;
      for (double x : v) s += std::exp(x);
      return std::log(s);
    };
  return [correction](const std::vector<double>& v) {
    double m = mean(v), s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return s / (v.size() - correction);
  };
}

OpCase reduce_case(const std::string& op, Tensor x, std::vector<int64_t> axes, bool keepdims,
                   double correction = 0, std::string label = "") {
  OpCase c;
  c.op = op;
  c.inputs = {x};
  if (!axes.empty() || label.empty()) c.attrs.set("axes", axes);
  c.attrs.set("keepdims", int64_t(keepdims));
  if (op == "reduce_variance") c.attrs.set("correction", correction);
  c.label = label;
  if (c.label.empty()) {
    c.label = "axes {";
    for (size_t i = 0; i < axes.size(); ++i) c.label += (i ? "," : "") + std::to_string(axes[i]);
    c.label += "} keepdims " + std::to_string(keepdims);
  }
  VecFn f = ref_fn(op, correction);
  c.reference = [axes, keepdims, f](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{ref_reduce(in[0], axes, keepdims, f)};
  };
  if (x.dtype() == DType::f32) c.tol = 1e-5;
  c.grad = is_float(x.dtype());
  return c;
}

Tensor ref_arg(const Tensor& x, int64_t axis, bool keepdims, bool is_max, bool last) {
  const Shape& s = x.shape();
  int64_t outer = 1, n = s[axis], inner = 1;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
    if (d < axis) outer *= s[d];
    if (d > axis) inner *= s[d];
  }
  Shape out;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d)
    if (d != axis) out.push_back(s[d]);
    else if (keepdims) out.push_back(1);
  Tensor y(DType::i64, out);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      int64_t best = 0;
      for (int64_t k = 1; k < n; ++k) {
        double v = x.get_as_double((o * n + k) * inner + i), b = x.get_as_double((o * n + best) * inner + i);
        bool better = is_max ? (last ? v >= b : v > b) : (last ? v <= b : v < b);
        if (better) best = k;
      }
      y.set_from_double(o * inner + i, static_cast<double>(best));
    }
  return y;
}

Tensor ref_cumsum(const Tensor& x, int64_t axis, bool exclusive, bool reverse) {
  const Shape& s = x.shape();
  int64_t outer = 1, n = s[axis], inner = 1;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
    if (d < axis) outer *= s[d];
    if (d > axis) inner *= s[d];
  }
  Tensor y(x.dtype(), s);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i)
      for (int64_t k = 0; k < n; ++k) {
        double acc = 0;
        for (int64_t j = 0; j < n; ++j) {
          bool take = reverse ? (exclusive ? j > k : j >= k) : (exclusive ? j < k : j <= k);
          if (take) acc += x.get_as_double((o * n + j) * inner + i);
        }
        y.set_from_double((o * n + k) * inner + i, acc);
      }
  return y;
}

}  // namespace

void add_reduce_cases(std::vector<OpCase>& cases) {
  const char* float_ops[] = {"reduce_sum", "reduce_mean", "reduce_prod",      "reduce_max",     "reduce_min",
                             "reduce_l1",  "reduce_l2",   "reduce_logsumexp", "reduce_variance"};
  uint64_t seed = 100;
  for (const char* op : float_ops) {
    std::string o = op;
    // Products stay away from zero; everything else is continuous random data (no ties).
    double lo = o == "reduce_prod" ? 0.5 : -1, hi = o == "reduce_prod" ? 1.5 : 1;
    cases.push_back(reduce_case(o, random_tensor(DType::f64, {3, 4, 5}, ++seed, lo, hi), {1}, false));
    cases.push_back(reduce_case(o, random_tensor(DType::f32, {3, 4, 5}, ++seed, lo, hi), {0, 2}, true));
    cases.push_back(reduce_case(o, random_tensor(DType::f64, {4, 6}, ++seed, lo, hi), {}, false));
    cases.push_back(reduce_case(o, random_tensor(DType::f64, {5, 3}, ++seed, lo, hi), {0}, false));
    cases.push_back(reduce_case(o, random_tensor(DType::f32, {2, 3, 4}, ++seed, lo, hi), {-1}, true));
    cases.push_back(reduce_case(o, random_tensor(DType::f64, {2, 3, 2, 3}, ++seed, lo, hi), {1, 3}, false));
    cases.push_back(reduce_case(o, random_tensor(DType::f64, {2, 3, 4}, ++seed, lo, hi), {0, 1, 2}, true));
    cases.push_back(reduce_case(o, make_tensor(DType::f64, {}, {0.75}), {}, false, 0, "rank 0"));
  }
  cases.push_back(reduce_case("reduce_variance", random_tensor(DType::f64, {4, 5}, 7, -1, 1), {1}, false, 1,
                              "correction 1"));
  cases.push_back(reduce_case("reduce_variance", random_tensor(DType::f32, {6, 3}, 8, 1000, 1001), {0}, true, 1,
                              "large offset, correction 1"));
  // Ties: the gradient is shared equally (checked in a TEST_CASE below), forward here.
  {
    OpCase c = reduce_case("reduce_max", make_tensor(DType::f64, {2, 3}, {1, 3, 3, -2, -2, -5}), {1}, false, 0, "ties");
    c.grad = false;
    cases.push_back(c);
  }
  // Integer reductions.
  for (const char* op : {"reduce_sum", "reduce_prod", "reduce_max", "reduce_min"}) {
    cases.push_back(reduce_case(op, random_tensor(DType::i32, {3, 4}, ++seed, -4, 5), {1}, false));
    cases.push_back(reduce_case(op, random_tensor(DType::i64, {3, 4}, ++seed, -4, 5), {0}, true));
  }
  // Large inputs exercise the threaded paths (split long reductions, column blocks).
  {
    OpCase c = reduce_case("reduce_sum", random_tensor(DType::f32, {300000}, 21), {}, false, 0, "long vector");
    c.grad = false;
    c.tol = 1e-4;
    cases.push_back(c);
    c = reduce_case("reduce_logsumexp", random_tensor(DType::f32, {200000}, 22), {}, false, 0, "long vector");
    c.grad = false;
    cases.push_back(c);
    c = reduce_case("reduce_variance", random_tensor(DType::f64, {200000, 3}, 23), {0}, false, 0, "tall columns");
    c.grad = false;
    cases.push_back(c);
    c = reduce_case("reduce_mean", random_tensor(DType::f32, {500, 700}, 24), {0}, false, 0, "bias pattern");
    c.grad = false;
    cases.push_back(c);
    c = reduce_case("reduce_max", random_tensor(DType::f32, {40, 300, 30}, 25), {0, 2}, false, 0, "generic big");
    c.grad = false;
    cases.push_back(c);
  }

  // argmax / argmin
  for (bool is_max : {true, false}) {
    std::string op = is_max ? "argmax" : "argmin";
    struct Spec {
      Tensor x;
      int64_t axis;
      bool keepdims, last;
      std::string label;
    };
    std::vector<Spec> specs = {
        {random_tensor(DType::f32, {3, 4}, 31), 1, true, false, "axis 1"},
        {random_tensor(DType::f64, {3, 4, 2}, 32), 0, false, false, "axis 0 no keepdims"},
        {random_tensor(DType::f64, {3, 4, 2}, 33), -2, true, false, "axis -2"},
        {make_tensor(DType::f32, {2, 4}, {1, 5, 5, 0, -1, -1, 3, -1}), 1, false, false, "ties first"},
        {make_tensor(DType::f32, {2, 4}, {1, 5, 5, 0, -1, -1, 3, -1}), 1, false, true, "ties last"},
        {random_tensor(DType::i32, {5, 3}, 34, -10, 10), 0, true, false, "int32"},
    };
    for (const Spec& s : specs) {
      OpCase c;
      c.op = op;
      c.inputs = {s.x};
      c.label = s.label;
      c.attrs.set("axis", s.axis);
      c.attrs.set("keepdims", int64_t(s.keepdims));
      if (s.last) c.attrs.set("select_last_index", int64_t(1));
      int64_t axis = s.axis < 0 ? s.axis + static_cast<int64_t>(s.x.shape().size()) : s.axis;
      bool keep = s.keepdims, last = s.last;
      c.reference = [axis, keep, is_max, last](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{ref_arg(in[0], axis, keep, is_max, last)};
      };
      cases.push_back(c);
    }
  }

  // cumsum
  struct CumSpec {
    Tensor x;
    int64_t axis;
    bool exclusive, reverse;
  };
  std::vector<CumSpec> cums = {
      {random_tensor(DType::f64, {3, 4}, 41), 1, false, false}, {random_tensor(DType::f32, {3, 4}, 42), 0, true, false},
      {random_tensor(DType::f64, {3, 4}, 43), -1, false, true}, {random_tensor(DType::f64, {2, 3, 4}, 44), 1, true, true},
      {random_tensor(DType::f64, {2, 5, 3}, 45), 1, false, false}, {random_tensor(DType::i32, {3, 4}, 46, -5, 5), 1, false, false},
      {random_tensor(DType::i64, {4, 3}, 47, -5, 5), 0, true, true},
  };
  for (const CumSpec& s : cums) {
    OpCase c;
    c.op = "cumsum";
    c.inputs = {s.x};
    c.attrs.set("axis", s.axis);
    c.attrs.set("exclusive", int64_t(s.exclusive));
    c.attrs.set("reverse", int64_t(s.reverse));
    c.label = "axis " + std::to_string(s.axis) + (s.exclusive ? " exclusive" : "") + (s.reverse ? " reverse" : "");
    int64_t axis = s.axis < 0 ? s.axis + static_cast<int64_t>(s.x.shape().size()) : s.axis;
    bool ex = s.exclusive, rev = s.reverse;
    c.reference = [axis, ex, rev](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{ref_cumsum(in[0], axis, ex, rev)};
    };
    cases.push_back(c);
  }
}

namespace {

Value in(const std::string& name, DType t, Shape s) { return op::input(name, t, s); }

using symnet::test::kind_of;

}  // namespace

TEST_CASE("reductions reject bad axes, attributes and dtypes", "[reduce]") {
  Value x = in("x", DType::f32, {2, 3});
  CHECK(kind_of([&] { op::reduce_sum(x, {2}); }) == ErrorKind::attr);
  CHECK(kind_of([&] { op::reduce_sum(x, {-3}); }) == ErrorKind::attr);
  CHECK(kind_of([&] { op::apply("reduce_sum", {x}, {{"keepdims", int64_t(2)}}); }) == ErrorKind::attr);
  CHECK(kind_of([&] { op::reduce_mean(in("i", DType::i32, {2}), {}); }) == ErrorKind::dtype);
  CHECK(kind_of([&] { op::reduce_sum(in("b", DType::boolean, {2}), {}); }) == ErrorKind::dtype);
  CHECK(kind_of([&] { op::apply("reduce_variance", {x}, {{"correction", -1.0}}); }) == ErrorKind::attr);
  CHECK(kind_of([&] { op::apply("argmax", {x}, {{"axis", int64_t(2)}}); }) == ErrorKind::attr);
  CHECK(kind_of([&] { op::apply("argmin", {in("e", DType::f32, {0, 3})}, {{"axis", int64_t(0)}}); }) ==
        ErrorKind::shape);
  CHECK(kind_of([&] { op::apply("cumsum", {x}, {}); }) == ErrorKind::attr);
  CHECK(kind_of([&] { op::apply("cumsum", {x}, {{"axis", int64_t(-3)}}); }) == ErrorKind::attr);
}

TEST_CASE("reductions infer shapes with unknown dims", "[reduce]") {
  Value x = in("x", DType::f32, {-1, 3, 4});
  CHECK(op::reduce_sum(x, {1}).shape() == Shape{-1, 4});
  CHECK(op::reduce_sum(x, {0}, true).shape() == Shape{1, 3, 4});
  CHECK(op::reduce_sum(x).shape() == Shape{});
  CHECK(op::apply("argmax", {x}, {{"axis", int64_t(2)}}).shape() == Shape{-1, 3, 1});
  CHECK(op::apply("argmax", {x}, {{"axis", int64_t(2)}}).dtype() == DType::i64);
}

TEST_CASE("reduce_max/min share the gradient among ties", "[reduce]") {
  Value x = in("x", DType::f64, {2, 3});
  for (const char* name : {"reduce_max", "reduce_min"}) {
    Value y = op::reduce_sum(op::reduce(name, x, {1}, false));
    Graph g = Graph::from_outputs({gradients(y, {x})[0]});
    g.inputs = {x};
    Tensor xv = make_tensor(DType::f64, {2, 3}, {1, 3, 3, -2, -2, -5});
    Tensor gx = run_graph(g, {xv}, false)[0];
    Tensor want = std::string(name) == "reduce_max" ? make_tensor(DType::f64, {2, 3}, {0, 0.5, 0.5, 0.5, 0.5, 0})
                                                    : make_tensor(DType::f64, {2, 3}, {1, 0, 0, 0, 0, 1});
    check_close(gx, want, 1e-12);
  }
}

TEST_CASE("reductions give the same results for any thread count", "[reduce]") {
  Tensor x = random_tensor(DType::f32, {1000, 200}, 77);
  Tensor v = random_tensor(DType::f64, {400000}, 78);
  std::vector<std::vector<Tensor>> results;
  int saved = engine_num_threads();
  for (int t : {1, 3, 8}) {
    set_engine_num_threads(t);
    std::vector<Tensor> r;
    for (const char* name : {"reduce_sum", "reduce_variance", "reduce_logsumexp", "reduce_max"}) {
      for (std::vector<int64_t> axes : {std::vector<int64_t>{0}, std::vector<int64_t>{1}, std::vector<int64_t>{}})
        r.push_back(run_op(name, {x}, {{"axes", axes}})[0]);
      r.push_back(run_op(name, {v}, {})[0]);
    }
    r.push_back(run_op("cumsum", {x}, {{"axis", int64_t(0)}})[0]);
    r.push_back(run_op("argmax", {x}, {{"axis", int64_t(0)}})[0]);
    results.push_back(r);
  }
  set_engine_num_threads(saved);
  for (size_t k = 1; k < results.size(); ++k)
    for (size_t i = 0; i < results[0].size(); ++i) check_close(results[k][i], results[0][i], 1e-5);
}

TEST_CASE("reductions of empty tensors", "[reduce]") {
  Tensor e(DType::f32, {0, 3});
  check_close(run_op("reduce_sum", {e}, {{"axes", std::vector<int64_t>{0}}})[0], Tensor(DType::f32, {3}), 0);
  check_close(run_op("reduce_prod", {e}, {})[0], make_tensor(DType::f32, {}, {1}), 0);
  Tensor mx = run_op("reduce_max", {e}, {{"axes", std::vector<int64_t>{0}}})[0];
  CHECK(std::isinf(mx.get_as_double(0)));
  CHECK(run_op("reduce_sum", {e}, {{"axes", std::vector<int64_t>{1}}})[0].shape() == Shape{0});
}

TEST_CASE("reductions handle NaN and infinities", "[reduce]") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  Tensor x = make_tensor(DType::f64, {2, 3}, {1, nan, 2, -inf, -inf, -inf});
  Tensor mx = run_op("reduce_max", {x}, {{"axes", std::vector<int64_t>{1}}})[0];
  CHECK(std::isnan(mx.get_as_double(0)));
  CHECK(mx.get_as_double(1) == -inf);
  Tensor lse = run_op("reduce_logsumexp", {x}, {{"axes", std::vector<int64_t>{1}}})[0];
  CHECK(std::isnan(lse.get_as_double(0)));
  CHECK(lse.get_as_double(1) == -inf);
  Tensor big = make_tensor(DType::f32, {3}, {1000, 1000, -1000});
  check_close(run_op("reduce_logsumexp", {big}, {})[0], make_tensor(DType::f32, {}, {1000 + std::log(2.0)}), 1e-6);
}

}  // namespace symnet::test

namespace symnet::test {

TEST_CASE("reduction gradients work with unknown dims", "[reduce]") {
  // Built on [?, 3, ?]; the reduced counts are only known at compile time.
  Value x = op::input("x", DType::f64, {-1, 3, -1});
  Tensor xv = random_tensor(DType::f64, {2, 3, 4}, 5);
  for (const char* name : {"reduce_mean", "reduce_variance", "reduce_sum", "reduce_logsumexp"}) {
    for (std::vector<int64_t> axes : {std::vector<int64_t>{2}, std::vector<int64_t>{0, 2}, std::vector<int64_t>{}}) {
      INFO(name << " over " << axes.size() << " axes");
      AttrMap at{{"axes", axes}, {"keepdims", int64_t(0)}};
      Value y = op::reduce_sum(op::mul(op::apply(name, {x}, at), op::apply(name, {x}, at)));
      Graph g = Graph::from_outputs({gradients(y, {x})[0]});
      g.inputs = {x};
      Value xk = op::input("x", DType::f64, {2, 3, 4});
      Value yk = op::reduce_sum(op::mul(op::apply(name, {xk}, at), op::apply(name, {xk}, at)));
      Graph gk = Graph::from_outputs({gradients(yk, {xk})[0]});
      gk.inputs = {xk};
      check_close(run_graph(g, {xv}, true)[0], run_graph(gk, {xv}, false)[0], 1e-10);
    }
  }
}

}  // namespace symnet::test
