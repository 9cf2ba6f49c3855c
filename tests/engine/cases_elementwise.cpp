// Cases for the elementwise family: references computed in double with their own
// broadcasting, gradient inputs kept away from kinks, plus edge cases and error paths.
#include <cmath>
#include <cstring>
#include <limits>

#include "harness.h"
#include "engine/passes/passes.h"

namespace symnet::test {

namespace {

using Fn = std::function<double(const std::vector<double>&)>;
using Fn1 = std::function<double(double)>;
using Fn2 = std::function<double(double, double)>;
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

// out[i] = f(inputs at i's broadcast position), in the reference's own index arithmetic.
Tensor ref_map(DType out_t, const std::vector<Tensor>& in, const Fn& f) {
  size_t rank = 0;
  for (const Tensor& t : in) rank = std::max(rank, t.shape().size());
  Shape out(rank, 1);
  for (const Tensor& t : in)
    for (size_t d = 0; d < t.shape().size(); ++d) {
      int64_t& o = out[rank - t.shape().size() + d];
      int64_t v = t.shape()[d];
      o = (v == 1) ? o : (o == 1 ? v : o);
    }
  Tensor y(out_t, out);
  std::vector<double> args(in.size());
  std::vector<int64_t> idx(rank);
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t r = i;
    for (int64_t d = static_cast<int64_t>(rank) - 1; d >= 0; --d) {
      idx[d] = r % out[d];
      r /= out[d];
    }
    for (size_t k = 0; k < in.size(); ++k) {
      const Shape& s = in[k].shape();
      int64_t off = 0;
      for (size_t d = 0; d < s.size(); ++d) off = off * s[d] + (s[d] == 1 ? 0 : idx[rank - s.size() + d]);
      args[k] = in[k].get_as_double(off);
    }
    y.set_from_double(i, f(args));
  }
  return y;
}

OpCase ew_case(const std::string& op, std::vector<Tensor> inputs, DType out_t, Fn f, AttrMap attrs = {},
               std::string label = "") {
  OpCase c;
  c.op = op;
  c.attrs = std::move(attrs);
  c.inputs = std::move(inputs);
  c.label = std::move(label);
  c.reference = [out_t, f](const std::vector<Tensor>& in) { return std::vector<Tensor>{ref_map(out_t, in, f)}; };
  bool any_float = false;
  for (const Tensor& t : c.inputs) any_float = any_float || is_float(t.dtype());
  c.grad = any_float;
  return c;
}

OpCase unary(const std::string& op, const Tensor& x, Fn1 f, AttrMap attrs = {}, std::string label = "") {
  return ew_case(op, {x}, x.dtype(), [f](const std::vector<double>& v) { return f(v[0]); }, std::move(attrs),
                 std::move(label));
}

OpCase binary(const std::string& op, const Tensor& a, const Tensor& b, Fn2 f, DType out_t, AttrMap attrs = {},
              std::string label = "") {
  return ew_case(op, {a, b}, out_t, [f](const std::vector<double>& v) { return f(v[0], v[1]); },
                 std::move(attrs), std::move(label));
}

double sigmoid_ref(double x) { return 1 / (1 + std::exp(-x)); }
double floor_mod_ref(double a, double b) {
  double r = std::fmod(a, b);
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
double int_div_ref(double a, double b) { return b == 0 ? 0 : std::trunc(a / b); }

void add_unary_cases(std::vector<OpCase>& cases) {
  const Shape s{3, 4};
  Tensor sym = random_tensor(DType::f32, s, 11, -2, 2);      // both signs
  Tensor pos = random_tensor(DType::f32, s, 12, 0.5, 2);     // log, sqrt, ...
  Tensor unit = random_tensor(DType::f64, s, 13, -0.9, 0.9);  // asin, acos
  Tensor sym64 = random_tensor(DType::f64, {2, 3, 2}, 14, -2, 2);

  cases.push_back(unary("neg", sym, [](double x) { return -x; }));
  cases.push_back(unary("abs", sym, [](double x) { return std::fabs(x); }));
  cases.push_back(unary("reciprocal", pos, [](double x) { return 1 / x; }));
  cases.push_back(unary("reciprocal", sym64, [](double x) { return 1 / x; }));
  cases.push_back(unary("exp", sym, [](double x) { return std::exp(x); }));
  cases.push_back(unary("exp", sym64, [](double x) { return std::exp(x); }));
  cases.push_back(unary("log", pos, [](double x) { return std::log(x); }));
  cases.push_back(unary("log1p", random_tensor(DType::f64, s, 15, -0.5, 2), [](double x) { return std::log1p(x); }));
  cases.push_back(unary("expm1", sym, [](double x) { return std::expm1(x); }));
  cases.push_back(unary("sqrt", pos, [](double x) { return std::sqrt(x); }));
  cases.push_back(unary("rsqrt", pos, [](double x) { return 1 / std::sqrt(x); }));
  cases.push_back(unary("square", sym, [](double x) { return x * x; }));
  cases.push_back(unary("sin", sym, [](double x) { return std::sin(x); }));
  cases.push_back(unary("cos", sym64, [](double x) { return std::cos(x); }));
  cases.push_back(unary("tan", random_tensor(DType::f32, s, 16, -1.2, 1.2), [](double x) { return std::tan(x); }));
  cases.push_back(unary("asin", unit, [](double x) { return std::asin(x); }));
  cases.push_back(unary("acos", unit, [](double x) { return std::acos(x); }));
  cases.push_back(unary("atan", sym, [](double x) { return std::atan(x); }));
  cases.push_back(unary("sinh", sym, [](double x) { return std::sinh(x); }));
  cases.push_back(unary("cosh", sym64, [](double x) { return std::cosh(x); }));
  cases.push_back(unary("tanh", sym, [](double x) { return std::tanh(x); }));
  cases.push_back(unary("sigmoid", sym, sigmoid_ref));
  cases.push_back(unary("sigmoid", sym64, sigmoid_ref));
  {
    OpCase c = unary("sigmoid", make_tensor(DType::f32, {5}, {-100, -30, 0, 30, 100}), sigmoid_ref, {}, "saturated");
    c.grad = false;
    cases.push_back(c);
  }
  cases.push_back(unary("hard_sigmoid", random_tensor(DType::f32, s, 17, -4, 4),
                        [](double x) { return std::min(1.0, std::max(0.0, 0.2 * x + 0.5)); }));
  cases.push_back(unary("hard_sigmoid", sym64, [](double x) { return std::min(1.0, std::max(0.0, 0.5 * x + 0.25)); },
                        {{"alpha", 0.5}, {"beta", 0.25}}, "alpha=0.5 beta=0.25"));
  cases.push_back(unary("relu", sym, [](double x) { return x > 0 ? x : 0; }));
  cases.push_back(unary("leaky_relu", sym, [](double x) { return x > 0 ? x : 0.01 * x; }));
  cases.push_back(unary("leaky_relu", sym64, [](double x) { return x > 0 ? x : 0.2 * x; }, {{"alpha", 0.2}}, "alpha=0.2"));
  cases.push_back(unary("elu", sym, [](double x) { return x > 0 ? x : std::exp(x) - 1; }));
  cases.push_back(unary("elu", sym64, [](double x) { return x > 0 ? x : 0.5 * (std::exp(x) - 1); }, {{"alpha", 0.5}},
                        "alpha=0.5"));
  cases.push_back(unary("selu", sym, [](double x) {
    const double a = 1.6732632423543772, g = 1.0507009873554805;
    return g * (x > 0 ? x : a * (std::exp(x) - 1));
  }));
  cases.push_back(unary("celu", sym, [](double x) { return x > 0 ? x : std::exp(x) - 1; }));
  cases.push_back(unary("celu", sym64, [](double x) { return x > 0 ? x : 2 * (std::exp(x / 2) - 1); }, {{"alpha", 2.0}},
                        "alpha=2"));
  cases.push_back(unary("softplus", sym, [](double x) { return std::log(1 + std::exp(x)); }));
  {
    OpCase c = unary("softplus", make_tensor(DType::f32, {4}, {-100, -20, 20, 100}),
                     [](double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }, {},
                     "large |x|");
    c.grad = false;
    cases.push_back(c);
  }
  cases.push_back(unary("softsign", sym, [](double x) { return x / (1 + std::fabs(x)); }));
  cases.push_back(unary("gelu", sym, [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }));
  cases.push_back(unary("gelu", sym64, [](double x) {
    const double c = std::sqrt(2 / M_PI);
    return 0.5 * x * (1 + std::tanh(c * (x + 0.044715 * x * x * x)));
  }, {{"approximate", std::string("tanh")}}, "tanh"));
  cases.push_back(unary("erf", sym, [](double x) { return std::erf(x); }));
  cases.push_back(unary("identity", sym64, [](double x) { return x; }));
  cases.push_back(unary("identity", make_tensor(DType::i64, {3}, {1, -2, 3}), [](double x) { return x; }));
  cases.push_back(unary("stop_gradient", sym, [](double x) { return x; }));

  // Piecewise constant, on values that exercise halves and signs.
  Tensor halves = make_tensor(DType::f32, {8}, {-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.2, -0.7});
  auto lit = [](const std::string& op, const Tensor& x, std::vector<double> want) {
    OpCase c;
    c.op = op;
    c.inputs = {x};
    Tensor w = make_tensor(x.dtype(), x.shape(), std::move(want));
    c.reference = [w](const std::vector<Tensor>&) { return std::vector<Tensor>{w}; };
    return c;
  };
  cases.push_back(lit("round", halves, {-2, -2, -0.0, 0, 2, 2, 0, -1}));
  cases.push_back(lit("floor", halves, {-3, -2, -1, 0, 1, 2, 0, -1}));
  cases.push_back(lit("ceil", halves, {-2, -1, -0.0, 1, 2, 3, 1, -0.0}));
  cases.push_back(lit("sign", make_tensor(DType::f64, {5}, {-3, 0, 2.5, kNaN, -kInf}), {-1, 0, 1, kNaN, -1}));
  cases.push_back(lit("sign", make_tensor(DType::i32, {3}, {-7, 0, 9}), {-1, 0, 1}));

  // Integer variants.
  Tensor i32 = make_tensor(DType::i32, {2, 3}, {-3, -1, 0, 1, 2, 7});
  Tensor i64 = make_tensor(DType::i64, {4}, {-5, 0, 4, 3000000000});
  for (const Tensor& t : {i32, i64}) {
    cases.push_back(unary("neg", t, [](double x) { return -x; }));
    cases.push_back(unary("abs", t, [](double x) { return std::fabs(x); }));
    cases.push_back(unary("relu", t, [](double x) { return x > 0 ? x : 0; }));
  }
  cases.push_back(unary("square", i32, [](double x) { return x * x; }));
  cases.push_back(unary("square", make_tensor(DType::i64, {2}, {-3000000, 7}), [](double x) { return x * x; }));

  // clip: both bounds, one bound, integers (gradient only strictly inside).
  cases.push_back(unary("clip", sym, [](double x) { return std::min(0.5, std::max(-0.5, x)); },
                        {{"min", -0.5}, {"max", 0.5}}, "[-0.5, 0.5]"));
  cases.push_back(unary("clip", sym64, [](double x) { return std::max(0.3, x); }, {{"min", 0.3}}, "min only"));
  cases.push_back(unary("clip", i32, [](double x) { return std::min(2.0, std::max(-1.0, x)); },
                        {{"min", -1.5}, {"max", 2.0}}, "int32"));
}

void add_binary_cases(std::vector<OpCase>& cases) {
  struct Bin {
    const char* op;
    Fn2 f;
    double alo, ahi, blo, bhi;  // input ranges for float cases, away from poles and kinks
  };
  const Bin bins[] = {
      {"add", [](double a, double b) { return a + b; }, -2, 2, -2, 2},
      {"sub", [](double a, double b) { return a - b; }, -2, 2, -2, 2},
      {"mul", [](double a, double b) { return a * b; }, -2, 2, -2, 2},
      {"div", [](double a, double b) { return a / b; }, -2, 2, 0.5, 2},
      {"pow", [](double a, double b) { return std::pow(a, b); }, 0.5, 2, -2, 2},
      {"mod", floor_mod_ref, -3, 3, 0.7, 1.9},
      {"minimum", [](double a, double b) { return std::min(a, b); }, -2, 2, -2, 2},
      {"maximum", [](double a, double b) { return std::max(a, b); }, -2, 2, -2, 2},
  };
  uint64_t seed = 100;
  for (const Bin& b : bins) {
    auto rt = [&](DType t, Shape s, bool first) {
      return random_tensor(t, std::move(s), ++seed, first ? b.alo : b.blo, first ? b.ahi : b.bhi);
    };
    cases.push_back(binary(b.op, rt(DType::f32, {2, 3}, true), rt(DType::f32, {2, 3}, false), b.f, DType::f32, {},
                           "same shape"));
    cases.push_back(binary(b.op, rt(DType::f64, {3, 1}, true), rt(DType::f64, {1, 4}, false), b.f, DType::f64, {},
                           "[3,1]x[1,4]"));
    cases.push_back(binary(b.op, rt(DType::f32, {}, true), rt(DType::f32, {2, 3}, false), b.f, DType::f32, {},
                           "rank-0 first"));
    cases.push_back(binary(b.op, rt(DType::f64, {2, 3, 4}, true), rt(DType::f64, {3, 1}, false), b.f, DType::f64, {},
                           "[2,3,4]x[3,1]"));
    cases.push_back(binary(b.op, rt(DType::f64, {4}, true), rt(DType::f64, {}, false), b.f, DType::f64, {},
                           "rank-0 second"));
  }
  // Integers: exact results, C-style truncating division, floor modulo.
  Tensor ia = make_tensor(DType::i32, {2, 3}, {7, -7, 7, -7, 0, 5});
  Tensor ib = make_tensor(DType::i32, {3}, {2, 3, -2});
  cases.push_back(binary("add", ia, ib, [](double a, double b) { return a + b; }, DType::i32));
  cases.push_back(binary("sub", ia, ib, [](double a, double b) { return a - b; }, DType::i32));
  cases.push_back(binary("mul", ia, ib, [](double a, double b) { return a * b; }, DType::i32));
  cases.push_back(binary("div", ia, ib, int_div_ref, DType::i32));
  cases.push_back(binary("mod", ia, ib, floor_mod_ref, DType::i32));
  cases.push_back(binary("mod", ia, ib, [](double a, double b) { return std::fmod(a, b); }, DType::i32,
                         {{"fmod", int64_t(1)}}, "fmod=1"));
  cases.push_back(binary("minimum", ia, ib, [](double a, double b) { return std::min(a, b); }, DType::i32));
  cases.push_back(binary("maximum", ia, ib, [](double a, double b) { return std::max(a, b); }, DType::i32));
  Tensor la = make_tensor(DType::i64, {3, 1}, {2, -3, 10});
  Tensor lb = make_tensor(DType::i64, {1, 4}, {0, 1, 3, 5});
  cases.push_back(binary("pow", la, lb, [](double a, double b) { return std::pow(a, b); }, DType::i64));
  cases.push_back(binary("add", la, lb, [](double a, double b) { return a + b; }, DType::i64, {}, "[3,1]x[1,4]"));
  cases.push_back(binary("div", la, make_tensor(DType::i64, {}, {-3}), int_div_ref, DType::i64, {}, "rank-0"));
  // Float mod with negative divisors, and C fmod.
  Tensor ma = make_tensor(DType::f64, {4}, {5.5, -5.5, 5.5, -5.5});
  Tensor mb = make_tensor(DType::f64, {4}, {2, 2, -2, -2});
  cases.push_back(binary("mod", ma, mb, floor_mod_ref, DType::f64, {}, "signs"));
  cases.push_back(binary("mod", ma, mb, [](double a, double b) { return std::fmod(a, b); }, DType::f64,
                         {{"fmod", int64_t(1)}}, "fmod=1 signs"));

  // Comparisons -> bool, with ties.
  struct Cmp {
    const char* op;
    Fn2 f;
  };
  const Cmp cmps[] = {
      {"equal", [](double a, double b) { return a == b; }},
      {"not_equal", [](double a, double b) { return a != b; }},
      {"less", [](double a, double b) { return a < b; }},
      {"less_equal", [](double a, double b) { return a <= b; }},
      {"greater", [](double a, double b) { return a > b; }},
      {"greater_equal", [](double a, double b) { return a >= b; }},
  };
  Tensor ca = make_tensor(DType::f32, {2, 3}, {1, 2, 3, 4, 5, kNaN});
  Tensor cb = make_tensor(DType::f32, {3}, {1, 3, 2});
  Tensor ka = make_tensor(DType::i64, {3, 1}, {1, 2, 3});
  Tensor kb = make_tensor(DType::i64, {1, 2}, {2, 3});
  Tensor cs = make_tensor(DType::f64, {}, {0.5});
  for (const Cmp& c : cmps) {
    cases.push_back(binary(c.op, ca, cb, c.f, DType::boolean));
    cases.push_back(binary(c.op, ka, kb, c.f, DType::boolean, {}, "[3,1]x[1,2]"));
    cases.push_back(binary(c.op, random_tensor(DType::f64, {2, 2}, 200, 0, 1), cs, c.f, DType::boolean, {}, "rank-0"));
  }
  Tensor ba = make_tensor(DType::boolean, {2, 2}, {1, 0, 1, 0});
  Tensor bb = make_tensor(DType::boolean, {2}, {1, 0});
  cases.push_back(binary("equal", ba, bb, [](double a, double b) { return a == b; }, DType::boolean, {}, "bool"));
  cases.push_back(binary("logical_and", ba, bb, [](double a, double b) { return a && b; }, DType::boolean));
  cases.push_back(binary("logical_or", ba, bb, [](double a, double b) { return a || b; }, DType::boolean));
  cases.push_back(binary("logical_xor", ba, bb, [](double a, double b) { return (a != 0) != (b != 0); }, DType::boolean));
  cases.push_back(unary("logical_not", ba, [](double a) { return !a; }));

  Tensor special = make_tensor(DType::f32, {2, 2}, {1, kNaN, kInf, -kInf});
  auto pred = [&](const char* op, Fn1 f) {
    return ew_case(op, {special}, DType::boolean, [f](const std::vector<double>& v) { return f(v[0]); });
  };
  cases.push_back(pred("isnan", [](double x) { return std::isnan(x); }));
  cases.push_back(pred("isinf", [](double x) { return std::isinf(x); }));
}

void add_other_cases(std::vector<OpCase>& cases) {
  auto where_f = [](const std::vector<double>& v) { return v[0] != 0 ? v[1] : v[2]; };
  Tensor cond = make_tensor(DType::boolean, {3, 1}, {1, 0, 1});
  cases.push_back(ew_case("where", {cond, random_tensor(DType::f64, {1, 4}, 300), random_tensor(DType::f64, {}, 301)},
                          DType::f64, where_f, {}, "[3,1],[1,4],[]"));
  cases.push_back(ew_case("where",
                          {make_tensor(DType::boolean, {2, 2}, {1, 0, 0, 1}), random_tensor(DType::f32, {2, 2}, 302),
                           random_tensor(DType::f32, {2, 2}, 303)},
                          DType::f32, where_f, {}, "same shape"));
  cases.push_back(ew_case("where",
                          {make_tensor(DType::boolean, {2, 3}, {1, 0, 0, 1, 1, 0}),
                           make_tensor(DType::i32, {3}, {1, 2, 3}), make_tensor(DType::i32, {2, 1}, {-1, -2})},
                          DType::i32, where_f, {}, "int32"));

  auto cast_case = [](const Tensor& x, const char* to, DType t, Fn1 f) {
    return ew_case("cast", {x}, t, [f](const std::vector<double>& v) { return f(v[0]); },
                   {{"dtype", std::string(to)}}, to);
  };
  auto same = [](double x) { return x; };
  Tensor fx = make_tensor(DType::f32, {2, 3}, {-1.7, -0.2, 0, 0.4, 2.9, 3});
  cases.push_back(cast_case(fx, "float64", DType::f64, same));
  {
    // Finite differences cannot see through float32 rounding; float32 -> float64 covers the rule.
    OpCase c = cast_case(random_tensor(DType::f64, {3}, 304), "float32", DType::f32, same);
    c.grad = false;
    cases.push_back(c);
  }
  cases.push_back(cast_case(fx, "int32", DType::i32, [](double x) { return std::trunc(x); }));
  cases.push_back(cast_case(fx, "bool", DType::boolean, [](double x) { return x != 0; }));
  cases.push_back(cast_case(make_tensor(DType::i64, {2}, {-4, 9}), "float32", DType::f32, same));
  cases.push_back(cast_case(make_tensor(DType::boolean, {2}, {1, 0}), "float64", DType::f64, same));
}

}  // namespace

void add_elementwise_cases(std::vector<OpCase>& cases) {
  add_unary_cases(cases);
  add_binary_cases(cases);
  add_other_cases(cases);
}

}  // namespace symnet::test

// ---- edge cases and error paths ----------------------------------------------------------

using namespace symnet;
using namespace symnet::test;

TEST_CASE("elementwise ops reject mismatched dtypes and shapes", "[elementwise]") {
  Value a = op::input("a", DType::f32, {2, 3});
  Value b = op::input("b", DType::f64, {2, 3});
  Value c = op::input("c", DType::f32, {4});
  Value i = op::input("i", DType::i32, {2, 3});
  Value m = op::input("m", DType::boolean, {2, 3});
  auto kind_of = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.kind();
    }
    return ErrorKind::internal;
  };
  REQUIRE_THROWS_AS(op::add(a, b), Error);
  CHECK(kind_of([&] { op::add(a, b); }) == ErrorKind::dtype);
  CHECK(kind_of([&] { op::less(a, i); }) == ErrorKind::dtype);
  REQUIRE_THROWS_AS(op::mul(a, c), Error);
  CHECK(kind_of([&] { op::mul(a, c); }) == ErrorKind::shape);
  CHECK(kind_of([&] { op::where(m, a, c); }) == ErrorKind::shape);
  CHECK(kind_of([&] { op::where(a, a, a); }) == ErrorKind::dtype);
  CHECK(kind_of([&] { op::where(m, a, b); }) == ErrorKind::dtype);
  CHECK(kind_of([&] { op::log(i); }) == ErrorKind::dtype);
  CHECK(kind_of([&] { op::add(m, m); }) == ErrorKind::dtype);
  CHECK(kind_of([&] { op::logical_and(a, a); }) == ErrorKind::dtype);
  CHECK(kind_of([&] { op::isnan(i); }) == ErrorKind::dtype);
  // Unknown dims propagate instead of failing.
  Value u = op::input("u", DType::f32, {-1, 3});
  CHECK(op::add(u, op::input("v", DType::f32, {2, 1})).shape() == Shape{2, 3});
  CHECK(op::add(u, op::input("w", DType::f32, {3})).shape() == Shape{-1, 3});
}

TEST_CASE("elementwise attributes are validated", "[elementwise]") {
  Value x = op::input("x", DType::f32, {3});
  REQUIRE_THROWS_AS(op::apply("cast", {x}, {{"dtype", std::string("float128")}}), Error);
  // float16 is an IR type: the cast builds, and compiling it names the backend lacking it.
  Value h = op::apply("cast", {x}, {{"dtype", std::string("float16")}});
  CHECK(h.dtype() == DType::f16);
  try {
    Executable::compile(graph_of({x}, {h}), {{DType::f32, {3}}});
    FAIL("a float16 cast compiled for the cpu");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::unsupported);
    CHECK(std::string(e.what()).find("cpu") != std::string::npos);
  }
  REQUIRE_THROWS_AS(op::apply("cast", {x}), Error);
  REQUIRE_THROWS_AS(op::apply("gelu", {x}, {{"approximate", std::string("erf")}}), Error);
  REQUIRE_THROWS_AS(op::apply("clip", {x}, {{"min", 1.0}, {"max", 0.0}}), Error);
  REQUIRE_THROWS_AS(op::apply("celu", {x}, {{"alpha", 0.0}}), Error);
  REQUIRE_THROWS_AS(op::apply("leaky_relu", {x}, {{"alpha", std::string("big")}}), Error);
  REQUIRE_THROWS_AS(op::apply("mod", {x, x}, {{"fmod", int64_t(2)}}), Error);
  REQUIRE_THROWS_AS(make_node("add", {x}), Error);
  try {
    op::apply("cast", {x}, {{"dtype", std::string("float128")}});
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("float128") != std::string::npos);
  }
}

TEST_CASE("integer division and modulo never trap", "[elementwise]") {
  const double mn = std::numeric_limits<int32_t>::min();
  Tensor a = make_tensor(DType::i32, {5}, {7, -7, mn, mn, 3});
  Tensor b = make_tensor(DType::i32, {5}, {0, 0, -1, -1, -2});
  Tensor d = run_op("div", {a, b})[0];
  Tensor m = run_op("mod", {a, b})[0];
  Tensor f = run_op("mod", {a, b}, {{"fmod", int64_t(1)}})[0];
  check_close(d, make_tensor(DType::i32, {5}, {0, 0, mn, mn, -1}), 0);
  check_close(m, make_tensor(DType::i32, {5}, {0, 0, 0, 0, -1}), 0);
  check_close(f, make_tensor(DType::i32, {5}, {0, 0, 0, 0, 1}), 0);
  Tensor p = run_op("pow", {make_tensor(DType::i32, {4}, {2, 1, -1, 0}), make_tensor(DType::i32, {4}, {-1, -3, -3, -2})})[0];
  check_close(p, make_tensor(DType::i32, {4}, {0, 1, -1, 0}), 0);
}

TEST_CASE("elementwise kernels handle empty and large tensors", "[elementwise]") {
  Tensor e = run_op("add", {Tensor(DType::f32, {0, 3}), Tensor(DType::f32, {3})})[0];
  CHECK(e.shape() == Shape{0, 3});
  CHECK(run_op("exp", {Tensor(DType::f64, {0})})[0].numel() == 0);
  CHECK(run_op("where", {Tensor(DType::boolean, {2, 0}), Tensor(DType::f32, {0}), Tensor(DType::f32, {})})[0].shape() ==
        Shape{2, 0});

  // Big enough to take the parallel paths (flat, scalar and broadcast rows).
  Tensor a = random_tensor(DType::f32, {300, 257}, 400);
  Tensor b = random_tensor(DType::f32, {257}, 401);
  Tensor s = random_tensor(DType::f32, {}, 402);
  Tensor col = random_tensor(DType::f32, {300, 1}, 403);
  auto plus = [](const std::vector<double>& v) { return v[0] + v[1]; };
  check_close(run_op("add", {a, b})[0], ref_map(DType::f32, {a, b}, plus), 1e-6);
  check_close(run_op("add", {a, s})[0], ref_map(DType::f32, {a, s}, plus), 1e-6);
  check_close(run_op("add", {col, a})[0], ref_map(DType::f32, {col, a}, plus), 1e-6);
  check_close(run_op("add", {a, a})[0], ref_map(DType::f32, {a, a}, plus), 1e-6);
  Tensor c = run_op("greater", {a, col})[0];
  check_close(c, ref_map(DType::boolean, {a, col}, [](const std::vector<double>& v) { return v[0] > v[1]; }), 0);
  Tensor w = run_op("where", {c, a, col})[0];
  check_close(w, ref_map(DType::f32, {c, a, col}, [](const std::vector<double>& v) { return v[0] ? v[1] : v[2]; }), 0);
  check_close(run_op("tanh", {a})[0], ref_map(DType::f32, {a}, [](const std::vector<double>& v) { return std::tanh(v[0]); }),
              1e-6);
  Tensor big = run_op("cast", {a}, {{"dtype", std::string("float64")}})[0];
  check_close(big, ref_map(DType::f64, {a}, [](const std::vector<double>& v) { return v[0]; }), 0);
}

TEST_CASE("elementwise kernels accept flat chunks of any rank", "[elementwise]") {
  // The fusion pass runs kernels on views whose ranks differ from the node's: operands of
  // the output's element count are flat, numel-1 operands broadcast.
  Value a = op::input("a", DType::f64, {2, 3});
  Value s = op::input("s", DType::f64, {});
  for (const char* name : {"add", "pow", "maximum"}) {
    Value y = op::apply(name, {a, s});
    Tensor x = random_tensor(DType::f64, {6}, 500, 0.5, 2);
    Tensor sv = make_tensor(DType::f64, {1, 1}, {1.5});
    Tensor out(DType::f64, {3, 2});
    run_cpu_kernel(*y.node, {x.view(), sv.view()}, {out.view()});
    Tensor want = run_op(name, {make_tensor(DType::f64, {2, 3}, std::vector<double>(x.ptr<double>(), x.ptr<double>() + 6)),
                                make_tensor(DType::f64, {}, {1.5})})[0];
    for (int64_t i = 0; i < 6; ++i) CHECK(out.get_as_double(i) == want.get_as_double(i));
  }
  Value c = op::apply("where", {op::input("c", DType::boolean, {2, 3}), a, s});
  Tensor cv = make_tensor(DType::boolean, {6}, {1, 0, 1, 0, 0, 1});
  Tensor av = make_tensor(DType::f64, {6}, {1, 2, 3, 4, 5, 6});
  Tensor sv = make_tensor(DType::f64, {1}, {-1});
  Tensor out(DType::f64, {6});
  run_cpu_kernel(*c.node, {cv.view(), av.view(), sv.view()}, {out.view()});
  check_close(out, make_tensor(DType::f64, {6}, {1, -1, 3, -1, -1, 6}), 0);
}

TEST_CASE("elementwise in-place execution gives the same results", "[elementwise]") {
  Tensor a = random_tensor(DType::f32, {4, 5}, 600);
  Tensor b = random_tensor(DType::f32, {5}, 601);
  Value va = op::input("a", DType::f32, {4, 5});
  Value y = op::apply("mul", {va, op::input("b", DType::f32, {5})});
  Tensor out = a.clone();
  run_cpu_kernel(*y.node, {out.view(), b.view()}, {out.view()});
  check_close(out, ref_map(DType::f32, {a, b}, [](const std::vector<double>& v) { return v[0] * v[1]; }), 1e-6);
}

TEST_CASE("elementwise gradients flow and stop where they should", "[elementwise]") {
  // Second derivative through the gradient graph: d2/dx2 tanh = -2 y (1 - y^2).
  Value x = op::input("x", DType::f64, {});
  Value y = op::tanh(x);
  Value g1 = gradients(y, {x})[0];
  Value g2 = gradients(g1, {x})[0];
  Graph g = Graph::from_outputs({y, g1, g2});
  g.inputs = {x};
  std::vector<Tensor> r = run_graph(g, {make_tensor(DType::f64, {}, {0.3})});
  double t = std::tanh(0.3);
  CHECK(r[1].get_as_double(0) == Approx(1 - t * t));
  CHECK(r[2].get_as_double(0) == Approx(-2 * t * (1 - t * t)));

  // stop_gradient and comparisons pass nothing; cast to float64 and back passes g.
  Value z = op::add(op::mul(op::stop_gradient(x), x), op::cast(op::cast(x, DType::f32), DType::f64));
  Value gz = gradients(z, {x})[0];
  Graph gg = Graph::from_outputs({gz});
  gg.inputs = {x};
  CHECK(run_graph(gg, {make_tensor(DType::f64, {}, {2.0})})[0].get_as_double(0) == Approx(3.0));

  // pow's exponent gradient at a = 0 is 0, not NaN.
  Value b = op::input("b", DType::f64, {});
  Value p = op::pow(x, b);
  Value gb = gradients(p, {b})[0];
  Graph gp = Graph::from_outputs({gb});
  gp.inputs = {x, b};
  CHECK(run_graph(gp, {make_tensor(DType::f64, {}, {0.0}), make_tensor(DType::f64, {}, {2.0})})[0].get_as_double(0) == 0);
}

TEST_CASE("fused elementwise chains match unfused execution", "[elementwise]") {
  Value a = op::input("a", DType::f32, {64, 300});
  Value b = op::input("b", DType::f32, {64, 300});
  Value s = op::input("s", DType::f32, {});
  Value t = op::add(op::mul(op::sigmoid(a), b), s);
  Value u = op::apply("clip", {op::tanh(a)}, {{"min", -0.5}, {"max", 0.5}});
  Value y = op::where(op::greater(a, op::scalar_like(0, a)), t, op::maximum(u, op::neg(b)));
  Value z = op::cast(op::less(op::mod(y, op::scalar_like(0.3, y)), op::scalar_like(0.1, y)), DType::f32);
  Graph g = Graph::from_outputs({y, z});
  g.inputs = {a, b, s};
  std::vector<Tensor> feeds = {random_tensor(DType::f32, {64, 300}, 700), random_tensor(DType::f32, {64, 300}, 701),
                               make_tensor(DType::f32, {}, {0.25})};
  auto ex = compile_on_target(g, {{DType::f32, {64, 300}}, {DType::f32, {64, 300}}, {DType::f32, {}}});
  CHECK(ex->stats().fused_groups >= 1);
  std::vector<Tensor> plain = run_graph(g, feeds, false);
  std::vector<Tensor> fused = run_graph(g, feeds, true);
  check_close(fused[0], plain[0], 1e-6);
  check_close(fused[1], plain[1], 0);
}
