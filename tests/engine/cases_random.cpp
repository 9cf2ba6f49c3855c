// Generators (fill, eye, range) and Philox random ops: statistics, ranges, and the
// determinism contract (same key and run -> same numbers for any thread count).
#include <cmath>
#include <cstring>

#include "engine/kernels/cpu/parallel.h"
#include "engine/kernels/cpu/philox.h"
#include "harness.h"

namespace symnet::test {

namespace {

using Idx = std::vector<int64_t>;

struct Moments {
  double mean = 0, sd = 0, lo = INFINITY, hi = -INFINITY;
};
Moments moments(const Tensor& t) {
  Moments m;
  double s = 0, s2 = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = t.get_as_double(i);
    s += v;
    s2 += v * v;
    m.lo = std::min(m.lo, v);
    m.hi = std::max(m.hi, v);
  }
  double n = static_cast<double>(t.numel());
  m.mean = s / n;
  m.sd = std::sqrt(std::max(0.0, s2 / n - m.mean * m.mean));
  return m;
}

OpCase gen(const std::string& op, AttrMap attrs, std::string label, Tensor want) {
  OpCase c;
  c.op = op;
  c.attrs = std::move(attrs);
  c.label = std::move(label);
  c.reference = [want](const std::vector<Tensor>&) { return std::vector<Tensor>{want}; };
  return c;
}

OpCase rnd(const std::string& op, AttrMap attrs, std::vector<Tensor> in, std::string label,
           std::function<void(const std::vector<Tensor>&)> check) {
  OpCase c;
  c.op = op;
  c.attrs = std::move(attrs);
  c.inputs = std::move(in);
  c.label = std::move(label);
  c.check = std::move(check);
  c.grad = false;
  return c;
}

void add_generators(std::vector<OpCase>& cases) {
  cases.push_back(gen("fill", {{"shape", Idx{2, 3}}, {"value", 2.5}}, "float32 2.5",
                      make_tensor(DType::f32, {2, 3}, {2.5, 2.5, 2.5, 2.5, 2.5, 2.5})));
  cases.push_back(gen("fill", {{"shape", Idx{}}, {"value", int64_t(-3)}, {"dtype", std::string("int64")}}, "int64 scalar",
                      make_tensor(DType::i64, {}, {-3})));
  cases.push_back(gen("fill", {{"shape", Idx{0, 4}}, {"value", 1.0}}, "empty", Tensor(DType::f32, {0, 4})));
  cases.push_back(gen("eye", {{"n", int64_t(3)}}, "3x3", make_tensor(DType::f32, {3, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 1})));
  cases.push_back(gen("eye", {{"n", int64_t(2)}, {"m", int64_t(4)}, {"k", int64_t(1)}, {"dtype", std::string("float64")}},
                      "2x4 k=1", make_tensor(DType::f64, {2, 4}, {0, 1, 0, 0, 0, 0, 1, 0})));
  cases.push_back(gen("eye", {{"n", int64_t(3)}, {"m", int64_t(2)}, {"k", int64_t(-1)}, {"dtype", std::string("int32")}},
                      "3x2 k=-1", make_tensor(DType::i32, {3, 2}, {0, 0, 1, 0, 0, 1})));
  cases.push_back(gen("range", {{"start", 1.0}, {"limit", 2.0}, {"delta", 0.25}}, "fractional",
                      make_tensor(DType::f32, {4}, {1, 1.25, 1.5, 1.75})));
  cases.push_back(gen("range", {{"start", int64_t(10)}, {"limit", int64_t(3)}, {"delta", int64_t(-3)},
                                {"dtype", std::string("int64")}},
                      "negative delta, count = ceil(7/3)", make_tensor(DType::i64, {3}, {10, 7, 4})));
  cases.push_back(gen("range", {{"limit", int64_t(5)}, {"dtype", std::string("int32")}}, "defaults",
                      make_tensor(DType::i32, {5}, {0, 1, 2, 3, 4})));
  cases.push_back(gen("range", {{"start", 3.0}, {"limit", 1.0}}, "empty", Tensor(DType::f32, {0})));
}

void add_random(std::vector<OpCase>& cases) {
  const int64_t n = 100000;
  cases.push_back(rnd("random_uniform", {{"shape", Idx{n}}, {"low", -2.0}, {"high", 3.0}}, {}, "float32 [-2, 3)",
                      [](const std::vector<Tensor>& out) {
                        REQUIRE(out[0].dtype() == DType::f32);
                        Moments m = moments(out[0]);
                        CHECK(m.lo >= -2.0);
                        CHECK(m.hi < 3.0);
                        CHECK(m.mean == Approx(0.5).margin(0.03));
                        CHECK(m.sd == Approx(5.0 / std::sqrt(12.0)).margin(0.02));
                      }));
  cases.push_back(rnd("random_uniform", {{"shape", Idx{n / 4, 4}}, {"dtype", std::string("float64")}, {"seed", int64_t(7)}},
                      {}, "float64 [0, 1)", [](const std::vector<Tensor>& out) {
                        REQUIRE(out[0].dtype() == DType::f64);
                        Moments m = moments(out[0]);
                        CHECK(m.lo >= 0.0);
                        CHECK(m.hi < 1.0);
                        CHECK(m.mean == Approx(0.5).margin(0.006));
                        CHECK(m.sd == Approx(1.0 / std::sqrt(12.0)).margin(0.004));
                      }));
  cases.push_back(rnd("random_normal", {{"shape", Idx{n + 3}}, {"mean", 1.0}, {"std", 2.0}}, {}, "float32 N(1, 2)",
                      [](const std::vector<Tensor>& out) {
                        Moments m = moments(out[0]);
                        CHECK(m.mean == Approx(1.0).margin(0.03));
                        CHECK(m.sd == Approx(2.0).margin(0.03));
                        CHECK(std::isfinite(m.lo));
                        CHECK(std::isfinite(m.hi));
                      }));
  cases.push_back(rnd("random_normal", {{"shape", Idx{n + 1}}, {"dtype", std::string("float64")}}, {}, "float64 N(0, 1)",
                      [](const std::vector<Tensor>& out) {
                        REQUIRE(out[0].dtype() == DType::f64);
                        Moments m = moments(out[0]);
                        CHECK(m.mean == Approx(0.0).margin(0.015));
                        CHECK(m.sd == Approx(1.0).margin(0.015));
                        // Fraction within one sd of the mean: 0.6827.
                        int64_t inside = 0;
                        for (int64_t i = 0; i < out[0].numel(); ++i) inside += std::abs(out[0].get_as_double(i)) < 1;
                        CHECK(inside / double(out[0].numel()) == Approx(0.6827).margin(0.01));
                      }));
  cases.push_back(rnd("random_uniform_like", {{"low", 5.0}, {"high", 6.0}}, {Tensor(DType::f64, {300, 7})},
                      "shape and dtype of the input", [](const std::vector<Tensor>& out) {
                        REQUIRE(out[0].dtype() == DType::f64);
                        REQUIRE(out[0].shape() == Shape{300, 7});
                        Moments m = moments(out[0]);
                        CHECK(m.lo >= 5.0);
                        CHECK(m.hi < 6.0);
                        CHECK(m.mean == Approx(5.5).margin(0.03));
                      }));
  cases.push_back(rnd("random_normal_like", {{"std", 0.5}}, {Tensor(DType::i32, {n})}, "integer input -> float32",
                      [](const std::vector<Tensor>& out) {
                        REQUIRE(out[0].dtype() == DType::f32);
                        Moments m = moments(out[0]);
                        CHECK(m.mean == Approx(0.0).margin(0.01));
                        CHECK(m.sd == Approx(0.5).margin(0.01));
                      }));
  Tensor p(DType::f32, {n});
  for (int64_t i = 0; i < n; ++i) p.set_from_double(i, i % 3 == 0 ? 0.0 : i % 3 == 1 ? 1.0 : 0.3);
  cases.push_back(rnd("random_bernoulli", {}, {p}, "p in {0, 1, 0.3}", [p](const std::vector<Tensor>& out) {
    REQUIRE(out[0].dtype() == DType::f32);
    int64_t ones = 0, k = 0;
    for (int64_t i = 0; i < p.numel(); ++i) {
      double v = out[0].get_as_double(i);
      REQUIRE((v == 0.0 || v == 1.0));
      if (i % 3 == 0) REQUIRE(v == 0.0);
      if (i % 3 == 1) REQUIRE(v == 1.0);
      if (i % 3 == 2) {
        ones += v == 1.0;
        ++k;
      }
    }
    CHECK(ones / double(k) == Approx(0.3).margin(0.015));
  }));
  cases.push_back(rnd("random_bernoulli", {{"dtype", std::string("bool")}},
                      {make_tensor(DType::f64, {2, 2}, {1, 0, 1, 0})}, "bool output",
                      [](const std::vector<Tensor>& out) {
                        REQUIRE(out[0].dtype() == DType::boolean);
                        CHECK(out[0].get_as_double(0) == 1);
                        CHECK(out[0].get_as_double(1) == 0);
                        CHECK(out[0].get_as_double(2) == 1);
                        CHECK(out[0].get_as_double(3) == 0);
                      }));
}

}  // namespace

void add_random_cases(std::vector<OpCase>& cases) {
  add_generators(cases);
  add_random(cases);
}

}  // namespace symnet::test

using namespace symnet;
using namespace symnet::test;

namespace {

// One executable of a single named random node; each Executable starts at run_index 0.
std::unique_ptr<Executable> compile_random(const std::string& op, const AttrMap& attrs, const std::string& name,
                                           uint64_t exec_seed = 0) {
  Value v = op::apply(op, {}, attrs, name);
  Graph g = Graph::from_outputs({v});
  CompileOptions o;
  o.seed = exec_seed;
  return compile_on_target(g, {}, o);
}

Tensor run_once(Executable& ex) {
  ex.run({});
  return to_tensor(ex.output(0));
}

bool same(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.data(), b.data(), a.bytes()) == 0;
}

struct ThreadsGuard {
  ~ThreadsGuard() { set_engine_num_threads(0); }
};

}  // namespace

TEST_CASE("Philox4x32-10 matches the Random123 known-answer vectors", "[random]") {
  using philox::philox4x32_10;
  auto eq = [](philox::Block b, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3) {
    return b.v[0] == a0 && b.v[1] == a1 && b.v[2] == a2 && b.v[3] == a3;
  };
  CHECK(eq(philox4x32_10(0, 0, 0, 0, 0, 0), 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8));
  CHECK(eq(philox4x32_10(~0u, ~0u, ~0u, ~0u, ~0u, ~0u), 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd));
  CHECK(eq(philox4x32_10(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0), 0xd16cfe09,
           0x94fdcceb, 0x5001e420, 0x24126ea1));
}

TEST_CASE("random ops give the same numbers for any thread count", "[random]") {
  ThreadsGuard guard;
  for (std::string op : {"random_uniform", "random_normal"}) {
    for (std::string dt : {"float32", "float64"}) {
      INFO(op << " " << dt);
      AttrMap a{{"shape", std::vector<int64_t>{200003}}, {"dtype", dt}, {"seed", int64_t(42)}};
      set_engine_num_threads(1);
      Tensor t1 = run_once(*compile_random(op, a, "rng"));
      set_engine_num_threads(2);
      Tensor t2 = run_once(*compile_random(op, a, "rng"));
      set_engine_num_threads(3);
      Tensor t3 = run_once(*compile_random(op, a, "rng"));
      CHECK(same(t1, t2));
      CHECK(same(t1, t3));
    }
  }
  // A prefix of a longer draw equals the shorter draw: values depend only on the index.
  AttrMap small{{"shape", std::vector<int64_t>{5}}, {"seed", int64_t(1)}};
  AttrMap big{{"shape", std::vector<int64_t>{1000}}, {"seed", int64_t(1)}};
  Tensor s = run_once(*compile_random("random_normal", small, "rng"));
  Tensor b = run_once(*compile_random("random_normal", big, "rng"));
  for (int i = 0; i < 5; ++i) CHECK(s.get_as_double(i) == b.get_as_double(i));
}

TEST_CASE("random ops draw fresh numbers every run and follow seeds and names", "[random]") {
  AttrMap a{{"shape", std::vector<int64_t>{64}}};
  auto ex = compile_random("random_uniform", a, "noise", 3);
  Tensor r0 = run_once(*ex);
  Tensor r1 = run_once(*ex);
  CHECK_FALSE(same(r0, r1));
  // Same graph, name and executable seed in a new executable: same sequence of runs.
  auto ex2 = compile_random("random_uniform", a, "noise", 3);
  CHECK(same(run_once(*ex2), r0));
  CHECK(same(run_once(*ex2), r1));
  // Another executable seed, another node name, or a seed attribute change the stream.
  CHECK_FALSE(same(run_once(*compile_random("random_uniform", a, "noise", 4)), r0));
  CHECK_FALSE(same(run_once(*compile_random("random_uniform", a, "other", 3)), r0));
  AttrMap s1 = a, s2 = a;
  s1.set("seed", int64_t(1));
  s2.set("seed", int64_t(2));
  Tensor a1 = run_once(*compile_random("random_uniform", s1, "noise", 3));
  CHECK_FALSE(same(a1, run_once(*compile_random("random_uniform", s2, "noise", 3))));
  // With a seed attribute the executable seed does not matter.
  CHECK(same(a1, run_once(*compile_random("random_uniform", s1, "noise", 99))));
}

TEST_CASE("random ops are never merged or folded, and validate attributes", "[random]") {
  // Two identical random nodes stay distinct after optimization (different names).
  AttrMap a{{"shape", std::vector<int64_t>{16}}};
  Value u1 = op::apply("random_uniform", {}, a), u2 = op::apply("random_uniform", {}, a);
  Graph g = Graph::from_outputs({u1, u2});
  std::vector<Tensor> out = run_graph(g, {}, true);
  CHECK_FALSE(same(out[0], out[1]));
  CHECK_FALSE(registry().get("random_uniform").has(kPure));
  CHECK(registry().get("random_bernoulli").has(kRandom));

  auto err = [](const std::string& op, const AttrMap& at, std::vector<Value> in = {}) {
    try {
      op::apply(op, std::move(in), at);
    } catch (const Error& e) {
      return e.kind();
    }
    return ErrorKind::internal;
  };
  using Idx = std::vector<int64_t>;
  CHECK(err("random_uniform", {{"shape", Idx{2}}, {"low", 1.0}, {"high", 1.0}}) == ErrorKind::attr);
  CHECK(err("random_uniform", {{"shape", Idx{-1}}}) == ErrorKind::attr);
  CHECK(err("random_uniform", {{"shape", Idx{2}}, {"dtype", std::string("int32")}}) == ErrorKind::dtype);
  CHECK(err("random_normal", {{"shape", Idx{2}}, {"std", -1.0}}) == ErrorKind::attr);
  CHECK(err("random_bernoulli", {}, {op::input("p", DType::i32, {2})}) == ErrorKind::dtype);
  CHECK(err("range", {{"limit", 3.0}, {"delta", 0.0}}) == ErrorKind::attr);
  CHECK(err("range", {{"start", 1.0}}) == ErrorKind::attr);
  CHECK(err("eye", {{"n", int64_t(-1)}}) == ErrorKind::attr);
  CHECK(err("fill", {{"shape", Idx{2}}}) == ErrorKind::attr);
  // Shape taken from an input whose dims are only known at compile time.
  Value x = op::input("x", DType::f32, {-1, 3});
  CHECK(op::apply("random_normal_like", {x}).shape() == Shape{-1, 3});
  Graph gl = Graph::from_outputs({op::apply("random_normal_like", {x})});
  gl.inputs = {x};
  CHECK(run_graph(gl, {Tensor(DType::f32, {4, 3})})[0].shape() == Shape{4, 3});
}

TEST_CASE("gradients do not flow through random ops", "[random]") {
  Value p = op::input("p", DType::f64, {3});
  Value y = op::reduce_sum(op::mul(op::apply("random_bernoulli", {p}), p));
  Value g = gradients(y, {p})[0];
  Graph gg = Graph::from_outputs({g});
  gg.inputs = {p};
  Tensor pv = make_tensor(DType::f64, {3}, {1, 0, 1});
  Tensor out = run_graph(gg, {pv})[0];
  // Only the direct use of p contributes: d/dp (b * p) with b held fixed = b.
  CHECK(out.get_as_double(0) == 1);
  CHECK(out.get_as_double(1) == 0);
  CHECK(out.get_as_double(2) == 1);
}
