// Elementwise op family: unary math, binary arithmetic with NumPy broadcasting,
// comparisons, logic, where, cast and identity. Each op is one table row here (dtypes,
// attribute checks, gradient rule); the math itself is a functor in
// math/elementwise_functors.h, whose fields also hold the attribute defaults.
#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "engine/base/error.h"
#include "engine/math/elementwise_functors.h"
#include "engine/ops/builder.h"
#include "engine/ops/infer_util.h"

namespace symnet {

namespace {

using namespace op;

// ---- dtype and attribute checks ---------------------------------------------------------

enum class Accept { floats, numeric, any, boolean };

bool accepts(DType t, Accept a) {
  switch (a) {
    // Half types are part of the IR: inference accepts them and each backend's supports()
    // says whether it computes in them (the CPU does not; a GPU backend will).
    case Accept::floats: return is_float(t);
    case Accept::numeric: return is_float(t) || t == DType::i32 || t == DType::i64;
    case Accept::boolean: return t == DType::boolean;
    case Accept::any: return true;
  }
  return false;
}

const char* accept_str(Accept a) {
  switch (a) {
    case Accept::floats: return "a floating-point type";
    case Accept::numeric: return "a floating-point type, int32 or int64";
    case Accept::boolean: return "bool";
    case Accept::any: return "any type";
  }
  return "?";
}

void check_input(const InferContext& c, size_t i, Accept a) {
  SN_CHECK(accepts(c.in(i).dtype, a), ErrorKind::dtype,
           "input " << i + 1 << " must be " << accept_str(a) << ", not " << dtype_name(c.in(i).dtype));
}

using AttrCheck = void (*)(const AttrMap&);

void check_finite(const AttrMap& a, const char* key, double def) {
  double v = a.get_float(key, def);
  SN_CHECK(std::isfinite(v), ErrorKind::attr, "attribute '" << key << "' must be finite, got " << v);
}

// ---- gradient helpers ---------------------------------------------------------------------

Value k(double v, const Value& like) { return scalar_like(v, like); }

// Undoes broadcasting. Skipped only when both shapes are known and equal: an unknown
// dimension may still turn out to be broadcast at run time.
Value reduce_to(const Value& g, const Value& x) {
  if (g.shape() == x.shape() && shape_known(x.shape())) return g;
  return sum_to(g, x);
}

// g where mask holds, 0 elsewhere.
Value keep(const Value& mask, const Value& g) { return where(mask, g, k(0, g)); }
Value drop(const Value& mask, const Value& g) { return where(mask, k(0, g), g); }

std::vector<Value> no_grad(const GradContext& c) {
  return std::vector<Value>(c.node.inputs.size(), Value{});
}

double fattr(const AttrMap& a, const char* key, double def) { return a.get_float(key, def); }

Value gelu_grad(const Value& x, const Value& g, const AttrMap& a) {
  if (a.get_string("approximate", "none") == "tanh") {
    // y = x/2 (1 + tanh(u)), u = c (x + 0.044715 x^3)
    // y' = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 * 0.044715 x^2)
    const double c = 0.79788456080286535588, b = 0.044715;
    Value x2 = square(x);
    Value t = tanh(mul(k(c, x), add(x, mul(k(b, x), mul(x2, x)))));
    Value du = mul(k(c, x), add(k(1, x), mul(k(3 * b, x), x2)));
    Value d = add(mul(k(0.5, x), add(k(1, x), t)),
                  mul(mul(k(0.5, x), x), mul(sub(k(1, x), square(t)), du)));
    return mul(g, d);
  }
  // y' = Phi(x) + x phi(x)
  Value cdf = mul(k(0.5, x), add(k(1, x), erf(mul(x, k(0.70710678118654752440, x)))));
  Value pdf = mul(k(0.39894228040143267794, x), exp(mul(k(-0.5, x), square(x))));
  return mul(g, add(cdf, mul(x, pdf)));
}

Value clip_grad(const Value& x, const Value& g, const AttrMap& a) {
  fn::ClipF d;
  double lo = fattr(a, "min", d.lo), hi = fattr(a, "max", d.hi);
  Value m;
  if (lo > -INFINITY) m = greater(x, k(lo, x));
  if (hi < INFINITY) m = m.defined() ? logical_and(m, less(x, k(hi, x))) : less(x, k(hi, x));
  return m.defined() ? keep(m, g) : g;
}

// ---- unary ops --------------------------------------------------------------------------

using UnaryGrad = Value (*)(const Value& x, const Value& y, const Value& g, const AttrMap& a);

struct UnarySpec {
  const char* name;
  Accept types;
  UnaryGrad grad;  // nullptr: piecewise constant (kZeroGrad)
  AttrCheck check = nullptr;
};

#define SN_GRAD                                                                    \
  []([[maybe_unused]] const Value& x, [[maybe_unused]] const Value& y, const Value& g, \
     [[maybe_unused]] const AttrMap& a) -> Value

const UnarySpec kUnary[] = {
    {"neg", Accept::numeric, SN_GRAD { return neg(g); }},
    {"abs", Accept::numeric, SN_GRAD { return mul(g, sign(x)); }},
    {"sign", Accept::numeric, nullptr},
    {"reciprocal", Accept::floats, SN_GRAD { return neg(mul(g, square(y))); }},
    {"exp", Accept::floats, SN_GRAD { return mul(g, y); }},
    {"log", Accept::floats, SN_GRAD { return div(g, x); }},
    {"log1p", Accept::floats, SN_GRAD { return div(g, add(x, k(1, x))); }},
    {"expm1", Accept::floats, SN_GRAD { return mul(g, add(y, k(1, y))); }},
    {"sqrt", Accept::floats, SN_GRAD { return div(g, mul(y, k(2, y))); }},
    // d/dx x^(-1/2) = -y^3 / 2
    {"rsqrt", Accept::floats, SN_GRAD { return mul(g, mul(k(-0.5, y), mul(y, square(y)))); }},
    {"square", Accept::numeric, SN_GRAD { return mul(g, mul(x, k(2, x))); }},
    {"sin", Accept::floats, SN_GRAD { return mul(g, cos(x)); }},
    {"cos", Accept::floats, SN_GRAD { return neg(mul(g, sin(x))); }},
    {"tan", Accept::floats, SN_GRAD { return mul(g, add(k(1, y), square(y))); }},
    {"asin", Accept::floats, SN_GRAD { return mul(g, rsqrt(sub(k(1, x), square(x)))); }},
    {"acos", Accept::floats, SN_GRAD { return neg(mul(g, rsqrt(sub(k(1, x), square(x))))); }},
    {"atan", Accept::floats, SN_GRAD { return div(g, add(k(1, x), square(x))); }},
    {"sinh", Accept::floats, SN_GRAD { return mul(g, cosh(x)); }},
    {"cosh", Accept::floats, SN_GRAD { return mul(g, sinh(x)); }},
    {"tanh", Accept::floats, SN_GRAD { return mul(g, sub(k(1, y), square(y))); }},
    {"sigmoid", Accept::floats, SN_GRAD { return mul(g, mul(y, sub(k(1, y), y))); }},
    {"hard_sigmoid", Accept::floats,
     SN_GRAD {
       double alpha = fattr(a, "alpha", fn::HardSigmoidF{}.alpha);
       return keep(logical_and(greater(y, k(0, y)), less(y, k(1, y))), mul(g, k(alpha, g)));
     },
     [](const AttrMap& a) {
       check_finite(a, "alpha", fn::HardSigmoidF{}.alpha);
       check_finite(a, "beta", fn::HardSigmoidF{}.beta);
     }},
    {"relu", Accept::numeric, SN_GRAD { return keep(greater(x, k(0, x)), g); }},
    {"leaky_relu", Accept::floats,
     SN_GRAD {
       double alpha = fattr(a, "alpha", fn::LeakyReluF{}.alpha);
       return where(greater(x, k(0, x)), g, mul(g, k(alpha, g)));
     },
     [](const AttrMap& a) { check_finite(a, "alpha", fn::LeakyReluF{}.alpha); }},
    {"elu", Accept::floats,
     SN_GRAD {
       double alpha = fattr(a, "alpha", fn::EluF{}.alpha);
       return where(greater(x, k(0, x)), g, mul(g, add(y, k(alpha, y))));
     },
     [](const AttrMap& a) { check_finite(a, "alpha", fn::EluF{}.alpha); }},
    {"selu", Accept::floats,
     SN_GRAD {
       fn::SeluF d;
       double alpha = fattr(a, "alpha", d.alpha), gamma = fattr(a, "gamma", d.gamma);
       return where(greater(x, k(0, x)), mul(g, k(gamma, g)), mul(g, add(y, k(gamma * alpha, y))));
     },
     [](const AttrMap& a) {
       check_finite(a, "alpha", fn::SeluF{}.alpha);
       check_finite(a, "gamma", fn::SeluF{}.gamma);
     }},
    {"celu", Accept::floats,
     SN_GRAD {
       double alpha = fattr(a, "alpha", fn::CeluF{}.alpha);
       return where(greater(x, k(0, x)), g, mul(g, exp(div(x, k(alpha, x)))));
     },
     [](const AttrMap& a) {
       check_finite(a, "alpha", fn::CeluF{}.alpha);
       SN_CHECK(a.get_float("alpha", 1.0) != 0, ErrorKind::attr, "celu: attribute 'alpha' must not be 0");
     }},
    {"softplus", Accept::floats, SN_GRAD { return mul(g, sigmoid(x)); }},
    {"softsign", Accept::floats, SN_GRAD { return div(g, square(add(k(1, x), abs(x)))); }},
    {"gelu", Accept::floats, SN_GRAD { return gelu_grad(x, g, a); },
     [](const AttrMap& a) {
       std::string m = a.get_string("approximate", "none");
       SN_CHECK(m == "none" || m == "tanh", ErrorKind::attr,
                "gelu: attribute 'approximate' must be \"none\" or \"tanh\", got \"" << m << "\"");
     }},
    {"erf", Accept::floats,
     SN_GRAD { return mul(g, mul(k(1.12837916709551257390, x), exp(neg(square(x))))); }},
    {"floor", Accept::floats, nullptr},
    {"ceil", Accept::floats, nullptr},
    {"round", Accept::floats, nullptr},
    {"clip", Accept::numeric, SN_GRAD { return clip_grad(x, g, a); },
     [](const AttrMap& a) {
       fn::ClipF d;
       double lo = a.get_float("min", d.lo), hi = a.get_float("max", d.hi);
       SN_CHECK(!std::isnan(lo) && !std::isnan(hi) && lo <= hi, ErrorKind::attr,
                "clip: attribute 'min' (" << lo << ") must not exceed 'max' (" << hi << ")");
     }},
    {"identity", Accept::any, SN_GRAD { return g; }},
};

#undef SN_GRAD

OpSchema elementwise_def(const std::string& name, int n_inputs, unsigned flags) {
  OpSchema d;
  d.name = name;
  d.min_inputs = d.max_inputs = n_inputs;
  d.flags = flags;
  return d;
}

void add_unary(Registry& r, const UnarySpec& s) {
  OpSchema d = elementwise_def(s.name, 1, kPure | kElementwise | (s.grad ? 0u : kZeroGrad));
  Accept types = s.types;
  AttrCheck check = s.check;
  d.infer = [types, check](const InferContext& c) {
    check_input(c, 0, types);
    if (check) check(c.attrs);
    return same_as_input(c);
  };
  if (UnaryGrad gr = s.grad) {
    d.grad = [gr](const GradContext& c) {
      return std::vector<Value>{gr(c.in(0), c.out(), c.grad(), c.node.attrs)};
    };
  } else {
    d.grad = no_grad;
  }
  r.add(std::move(d));
}

// Unary ops with a bool result: isnan, isinf (float in), logical_not (bool in).
void add_predicate(Registry& r, const char* name, Accept types) {
  OpSchema d = elementwise_def(name, 1, kPure | kElementwise | kZeroGrad);
  d.infer = [types](const InferContext& c) {
    check_input(c, 0, types);
    return std::vector<TensorType>{{DType::boolean, c.in(0).shape}};
  };
  d.grad = no_grad;
  r.add(std::move(d));
}

// ---- binary ops ---------------------------------------------------------------------------

// Gradients w.r.t. a and b at the broadcast output shape; reduce_to() finishes them.
using BinaryGrad = std::pair<Value, Value> (*)(const Value& a, const Value& b, const Value& y,
                                                const Value& g);

struct BinarySpec {
  const char* name;
  Accept types;
  BinaryGrad grad;  // nullptr: piecewise constant (kZeroGrad)
  bool to_bool = false;
  AttrCheck check = nullptr;
};

#define SN_GRAD2                                                                  \
  []([[maybe_unused]] const Value& a, [[maybe_unused]] const Value& b,               \
     [[maybe_unused]] const Value& y, const Value& g) -> std::pair<Value, Value>

const BinarySpec kBinary[] = {
    {"add", Accept::numeric, SN_GRAD2 { return {g, g}; }},
    {"sub", Accept::numeric, SN_GRAD2 { return {g, neg(g)}; }},
    {"mul", Accept::numeric, SN_GRAD2 { return {mul(g, b), mul(g, a)}; }},
    // d/db a/b = -a/b^2 = -y/b
    {"div", Accept::numeric, SN_GRAD2 { return {div(g, b), neg(div(mul(g, y), b))}; }},
    // d/db a^b = y log(a); at a = 0 that is 0 * -inf, taken as 0 (as torch does).
    {"pow", Accept::numeric,
     SN_GRAD2 {
       Value da = mul(g, mul(b, pow(a, sub(b, k(1, b)))));
       Value db = drop(equal(a, k(0, a)), mul(g, mul(y, log(a))));
       return {da, db};
     }},
    // y = a - q b with q = floor(a/b) (or trunc for fmod), so dy/db = -q = (y - a) / b.
    {"mod", Accept::numeric, SN_GRAD2 { return {g, mul(g, div(sub(y, a), b))}; }, false,
     [](const AttrMap& a) {
       int64_t f = a.get_int("fmod", 0);
       SN_CHECK(f == 0 || f == 1, ErrorKind::attr, "mod: attribute 'fmod' must be 0 or 1, got " << f);
     }},
    // Ties go to the first input, matching the forward functors.
    {"minimum", Accept::numeric,
     SN_GRAD2 {
       Value m = less_equal(a, b);
       return {keep(m, g), drop(m, g)};
     }},
    {"maximum", Accept::numeric,
     SN_GRAD2 {
       Value m = greater_equal(a, b);
       return {keep(m, g), drop(m, g)};
     }},
    {"equal", Accept::any, nullptr, true},
    {"not_equal", Accept::any, nullptr, true},
    {"less", Accept::any, nullptr, true},
    {"less_equal", Accept::any, nullptr, true},
    {"greater", Accept::any, nullptr, true},
    {"greater_equal", Accept::any, nullptr, true},
    {"logical_and", Accept::boolean, nullptr, true},
    {"logical_or", Accept::boolean, nullptr, true},
    {"logical_xor", Accept::boolean, nullptr, true},
};

#undef SN_GRAD2

void add_binary(Registry& r, const BinarySpec& s) {
  OpSchema d = elementwise_def(s.name, 2, kPure | kElementwise | (s.grad ? 0u : kZeroGrad));
  Accept types = s.types;
  AttrCheck check = s.check;
  bool to_bool = s.to_bool;
  d.infer = [types, check, to_bool](const InferContext& c) {
    require_same_dtype(c, 0, 1);
    check_input(c, 0, types);
    if (check) check(c.attrs);
    Shape out = broadcast_shapes(c.in(0).shape, c.in(1).shape);
    return std::vector<TensorType>{{to_bool ? DType::boolean : c.in(0).dtype, out}};
  };
  if (BinaryGrad gr = s.grad) {
    d.grad = [gr](const GradContext& c) {
      auto [ga, gb] = gr(c.in(0), c.in(1), c.out(), c.grad());
      return std::vector<Value>{reduce_to(ga, c.in(0)), reduce_to(gb, c.in(1))};
    };
  } else {
    d.grad = no_grad;
  }
  r.add(std::move(d));
}

// ---- where, cast, stop_gradient ---------------------------------------------------------

void add_where(Registry& r) {
  OpSchema d = elementwise_def("where", 3, kPure | kElementwise);
  d.infer = [](const InferContext& c) {
    SN_CHECK(c.in(0).dtype == DType::boolean, ErrorKind::dtype,
             "input 1 (condition) must be bool, not " << dtype_name(c.in(0).dtype));
    require_same_dtype(c, 1, 2);
    check_input(c, 1, Accept::any);
    Shape out = broadcast_shapes(broadcast_shapes(c.in(0).shape, c.in(1).shape), c.in(2).shape);
    return std::vector<TensorType>{{c.in(1).dtype, out}};
  };
  d.grad = [](const GradContext& c) {
    const Value& cond = c.in(0);
    return std::vector<Value>{Value{}, reduce_to(keep(cond, c.grad()), c.in(1)),
                              reduce_to(drop(cond, c.grad()), c.in(2))};
  };
  r.add(std::move(d));
}

void add_cast(Registry& r) {
  OpSchema d = elementwise_def("cast", 1, kPure | kElementwise);
  d.infer = [](const InferContext& c) {
    check_input(c, 0, Accept::any);
    DType t = dtype_from_name(c.attrs.get_string("dtype"));
    return std::vector<TensorType>{{t, c.in(0).shape}};
  };
  // Casting to an integer or bool is piecewise constant, and nothing flows into one.
  d.grad = [](const GradContext& c) {
    const Value& x = c.in(0);
    if (!is_float(x.dtype()) || !is_float(c.out().dtype())) return std::vector<Value>{Value{}};
    return std::vector<Value>{cast(c.grad(), x.dtype())};
  };
  r.add(std::move(d));
}

void add_stop_gradient(Registry& r) {
  OpSchema d = elementwise_def("stop_gradient", 1, kPure | kElementwise | kZeroGrad);
  d.infer = [](const InferContext& c) {
    check_input(c, 0, Accept::any);
    return same_as_input(c);
  };
  d.grad = no_grad;
  r.add(std::move(d));
}

// The family's attributes (defaults are the functors', math/elementwise_functors.h); every
// other op of the family takes none.
void declare_attrs(Registry& r, const std::vector<std::string>& family) {
  const AttrSpec alpha{"alpha", AttrKind::float_, false, "slope/scale"};
  const std::map<std::string, std::vector<AttrSpec>> attrs = {
      {"hard_sigmoid", {alpha, {"beta", AttrKind::float_, false, "offset"}}},
      {"leaky_relu", {alpha}},
      {"elu", {alpha}},
      {"selu", {alpha, {"gamma", AttrKind::float_, false, "scale"}}},
      {"celu", {alpha}},
      {"gelu", {{"approximate", AttrKind::string, false, "\"none\" (default) or \"tanh\""}}},
      {"clip", {{"min", AttrKind::float_, false, "default -Inf"}, {"max", AttrKind::float_, false, "default Inf"}}},
      {"mod", {{"fmod", AttrKind::int_, false, "1: sign of the dividend (C fmod); default 0 (floor)"}}},
      {"cast", {{"dtype", AttrKind::string, true, "the target element type"}}},
  };
  for (const std::string& name : family) {
    auto it = attrs.find(name);
    r.find_mutable(name)->with_attrs(it == attrs.end() ? std::vector<AttrSpec>{} : it->second);
  }
}

// Ops composed of other ops: a backend without their kernels runs the composition.
void declare_decompositions(Registry& r) {
  auto set = [&](const char* name, DecomposeFn f) { r.find_mutable(name)->decompose = std::move(f); };
  using Ins = const std::vector<Value>&;
  set("sub", [](const Node&, Ins in) { return std::vector<Value>{add(in[0], neg(in[1]))}; });
  set("square", [](const Node&, Ins in) { return std::vector<Value>{mul(in[0], in[0])}; });
  set("reciprocal", [](const Node&, Ins in) { return std::vector<Value>{div(k(1, in[0]), in[0])}; });
  set("rsqrt", [](const Node&, Ins in) { return std::vector<Value>{reciprocal(sqrt(in[0]))}; });
  set("softsign", [](const Node&, Ins in) {
    return std::vector<Value>{div(in[0], add(k(1, in[0]), abs(in[0])))};
  });
  set("hard_sigmoid", [](const Node& n, Ins in) {
    fn::HardSigmoidF d;
    const Value& x = in[0];
    Value v = add(mul(x, k(n.attrs.get_float("alpha", d.alpha), x)), k(n.attrs.get_float("beta", d.beta), x));
    return std::vector<Value>{apply("clip", {v}, {{"min", 0.0}, {"max", 1.0}})};
  });
  // The rectifier family from relu: x+ = relu(x) and x- = -relu(-x) split x at zero.
  auto neg_part = [](const Value& x) { return neg(relu(neg(x))); };
  set("leaky_relu", [=](const Node& n, Ins in) {
    const Value& x = in[0];
    const double alpha = n.attrs.get_float("alpha", fn::LeakyReluF{}.alpha);
    return std::vector<Value>{add(relu(x), mul(k(alpha, x), neg_part(x)))};
  });
  // alpha * expm1(x- / scale) + x+: elu (scale 1), celu (scale alpha); selu scales elu.
  auto exp_linear = [=](const Value& x, double alpha, double scale) {
    Value inner = scale == 1 ? neg_part(x) : div(neg_part(x), k(scale, x));
    return add(relu(x), mul(k(alpha, x), expm1(inner)));
  };
  set("elu", [=](const Node& n, Ins in) {
    return std::vector<Value>{exp_linear(in[0], n.attrs.get_float("alpha", fn::EluF{}.alpha), 1)};
  });
  set("celu", [=](const Node& n, Ins in) {
    const double alpha = n.attrs.get_float("alpha", fn::CeluF{}.alpha);
    return std::vector<Value>{exp_linear(in[0], alpha, alpha)};
  });
  set("selu", [=](const Node& n, Ins in) {
    fn::SeluF d;
    const double gamma = n.attrs.get_float("gamma", d.gamma);
    return std::vector<Value>{mul(k(gamma, in[0]), exp_linear(in[0], n.attrs.get_float("alpha", d.alpha), 1))};
  });
  set("softplus", [](const Node&, Ins in) {
    const Value& x = in[0];
    return std::vector<Value>{add(relu(x), log1p(exp(neg(abs(x)))))};
  });
}

}  // namespace

void register_elementwise_ops(Registry& r) {
  const std::vector<std::string> before = r.names();
  for (const UnarySpec& s : kUnary) add_unary(r, s);
  add_predicate(r, "isnan", Accept::floats);
  add_predicate(r, "isinf", Accept::floats);
  add_predicate(r, "logical_not", Accept::boolean);
  for (const BinarySpec& s : kBinary) add_binary(r, s);
  add_where(r);
  add_cast(r);
  add_stop_gradient(r);
  std::vector<std::string> family;
  for (const std::string& n : r.names())
    if (std::find(before.begin(), before.end(), n) == before.end()) family.push_back(n);
  declare_attrs(r, family);
  declare_decompositions(r);
}

}  // namespace symnet
