// Reductions (reduce_*), arg-reductions and cumsum. CPU kernels: kernels/cpu/reduce.cpp.
//
// Gradients bring the reduced gradient back with `keep()` (re-inserting the reduced axes
// as size-1 dims when keepdims = 0) and rely on binary-op broadcasting or broadcast_like,
// so they stay valid when dimensions are only known at compile time.
#include <cmath>

#include "engine/base/error.h"
#include "engine/math/reduce_kind.h"
#include "engine/ops/builder.h"
#include "engine/ops/infer_util.h"

namespace symnet {

namespace {

struct ReduceSpec {
  ReduceKind kind;
  const char* name;
  bool ints;  // int32/int64 inputs accepted
};

constexpr ReduceSpec kReductions[] = {
    {ReduceKind::sum, "reduce_sum", true},        {ReduceKind::mean, "reduce_mean", false},
    {ReduceKind::prod, "reduce_prod", true},      {ReduceKind::max, "reduce_max", true},
    {ReduceKind::min, "reduce_min", true},        {ReduceKind::l1, "reduce_l1", false},
    {ReduceKind::l2, "reduce_l2", false},         {ReduceKind::logsumexp, "reduce_logsumexp", false},
    {ReduceKind::variance, "reduce_variance", false},
};

bool bool_attr(const AttrMap& a, const std::string& k, int64_t def) {
  int64_t v = a.get_int(k, def);
  SN_CHECK(v == 0 || v == 1, ErrorKind::attr, "attribute '" << k << "' must be 0 or 1, got " << v);
  return v == 1;
}

// Normalized reduced axes; a rank-0 input accepts axis 0 and reduces nothing.
std::vector<int64_t> reduce_axes(const AttrMap& a, int64_t rank) {
  std::vector<int64_t> axes = normalize_axes(a.get_ints("axes", {}), rank);
  if (rank == 0) axes.clear();
  return axes;
}

Shape reduced_shape(const Shape& s, const std::vector<int64_t>& axes, bool keepdims) {
  Shape out;
  size_t k = 0;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
    bool red = k < axes.size() && axes[k] == d;
    if (red) ++k;
    if (!red) out.push_back(s[d]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

struct RedInfo {
  std::vector<int64_t> axes;
  bool keepdims;
};

RedInfo red_info(const Node& n) {
  return {reduce_axes(n.attrs, n.inputs[0].rank()), bool_attr(n.attrs, "keepdims", 0)};
}

// v (a reduction result) with the reduced axes as size-1 dims, so it broadcasts against
// the input. Not needed when the axes are leading ones (NumPy broadcasting adds them).
Value keep(const Value& v, const RedInfo& r) {
  if (r.keepdims || r.axes.empty()) return v;
  bool leading = true;
  for (size_t i = 0; i < r.axes.size(); ++i) leading = leading && r.axes[i] == static_cast<int64_t>(i);
  if (leading) return v;
  return op::unsqueeze(v, r.axes);
}

// Number of reduced elements as a 0-d constant when known, else computed at run time
// (keepdims-shaped) from the input's shape.
Value reduced_count(const Value& x, const RedInfo& r, double minus = 0) {
  int64_t n = 1;
  for (int64_t a : r.axes) n = (n < 0 || x.shape()[a] < 0) ? -1 : n * x.shape()[a];
  if (n >= 0) return op::scalar_like(static_cast<double>(n) - minus, x);
  Value c = op::reduce_sum(op::ones_like(x), r.axes, true);
  return minus == 0 ? c : op::sub(c, op::scalar_like(minus, x));
}

std::vector<Value> reduce_grad(ReduceKind kind, const GradContext& c) {
  const Value& x = c.in(0);
  const Value& y = c.out();
  RedInfo r = red_info(c.node);
  Value g = keep(c.grad(), r);
  Value dx;
  switch (kind) {
    case ReduceKind::sum: dx = op::broadcast_like(g, x); break;
    case ReduceKind::mean: dx = op::broadcast_like(op::div(g, reduced_count(x, r)), x); break;
    case ReduceKind::prod:
      // out / x: undefined (inf/NaN) where x == 0.
      dx = op::div(op::mul(g, keep(y, r)), x);
      break;
    case ReduceKind::max:
    case ReduceKind::min: {
      // Ties share the gradient equally.
      Value mask = op::cast(op::equal(x, keep(y, r)), x.dtype());
      Value ties = op::reduce_sum(mask, r.axes, true);
      dx = op::mul(mask, op::div(g, ties));
      break;
    }
    case ReduceKind::l1: dx = op::mul(op::sign(x), g); break;
    case ReduceKind::l2: {
      // Subgradient 0 at the origin instead of 0/0.
      Value zero = op::equal(y, op::scalar_like(0, y));
      Value safe = op::where(zero, op::ones_like(y), y);
      dx = op::mul(x, keep(op::div(c.grad(), safe), r));
      break;
    }
    case ReduceKind::logsumexp: dx = op::mul(op::exp(op::sub(x, keep(y, r))), g); break;
    case ReduceKind::variance: {
      double corr = c.node.attrs.get_float("correction", 0);
      Value centered = op::sub(x, op::reduce_mean(x, r.axes, true));
      Value scale = op::div(op::scalar_like(2, x), reduced_count(x, r, corr));
      dx = op::mul(centered, op::mul(g, scale));
      break;
    }
  }
  return {dx};
}

// Reductions that are compositions of reduce_sum/reduce_max and elementwise ops, so a
// backend needs kernels for those two only. Computed with the reduced axes kept, then
// squeezed as the node asks.
DecomposeFn reduce_decomposition(ReduceKind kind) {
  auto finish = [](const Value& v, const RedInfo& r) {
    return (r.keepdims || r.axes.empty()) ? v : op::squeeze(v, r.axes);
  };
  auto sum = [](const Value& v, const RedInfo& r) { return op::reduce_sum(v, r.axes, true); };
  switch (kind) {
    case ReduceKind::mean:
      return [=](const Node& n, const std::vector<Value>& in) {
        RedInfo r = red_info(n);
        return std::vector<Value>{finish(op::div(sum(in[0], r), reduced_count(in[0], r)), r)};
      };
    case ReduceKind::l1:
      return [=](const Node& n, const std::vector<Value>& in) {
        RedInfo r = red_info(n);
        return std::vector<Value>{finish(sum(op::abs(in[0]), r), r)};
      };
    case ReduceKind::l2:
      return [=](const Node& n, const std::vector<Value>& in) {
        RedInfo r = red_info(n);
        return std::vector<Value>{finish(op::sqrt(sum(op::square(in[0]), r)), r)};
      };
    case ReduceKind::logsumexp:
      return [=](const Node& n, const std::vector<Value>& in) {
        // Shifted by the maximum so exp cannot overflow; an infinite maximum (all -inf, or
        // some +inf) is not subtracted, which gives -inf and +inf as the kernel does.
        RedInfo r = red_info(n);
        const Value& x = in[0];
        Value m = op::reduce_max(x, r.axes, true);
        m = op::where(op::isinf(m), op::zeros_like(m), m);
        return std::vector<Value>{finish(op::add(op::log(sum(op::exp(op::sub(x, m)), r)), m), r)};
      };
    case ReduceKind::variance:
      return [=](const Node& n, const std::vector<Value>& in) {
        RedInfo r = red_info(n);
        const Value& x = in[0];
        Value centered = op::sub(x, op::div(sum(x, r), reduced_count(x, r)));
        Value count = reduced_count(x, r, n.attrs.get_float("correction", 0));
        return std::vector<Value>{finish(op::div(sum(op::square(centered), r), count), r)};
      };
    default: return {};
  }
}

void add_reduction(Registry& reg, const ReduceSpec& spec) {
  OpSchema d;
  d.name = spec.name;
  d.min_inputs = d.max_inputs = 1;
  d.flags = kPure;
  const bool ints = spec.ints;
  const ReduceKind kind = spec.kind;
  d.infer = [ints, kind](const InferContext& c) {
    DType t = c.in(0).dtype;
    SN_CHECK(is_float(t) || (ints && (t == DType::i32 || t == DType::i64)), ErrorKind::dtype,
             c.op << " needs a floating-point" << (ints ? " or int32/int64" : "") << " input, not "
                  << dtype_name(t));
    const Shape& s = c.in(0).shape;
    std::vector<int64_t> axes = reduce_axes(c.attrs, static_cast<int64_t>(s.size()));
    bool keepdims = bool_attr(c.attrs, "keepdims", 0);
    if (kind == ReduceKind::variance) {
      double corr = c.attrs.get_float("correction", 0);
      SN_CHECK(std::isfinite(corr) && corr >= 0, ErrorKind::attr,
               "attribute 'correction' must be a non-negative number, got " << corr);
    }
    return std::vector<TensorType>{{t, reduced_shape(s, axes, keepdims)}};
  };
  d.grad = [kind](const GradContext& c) { return reduce_grad(kind, c); };
  d.with_attrs({{"axes", AttrKind::ints, false, "axes reduced (default: all)"},
                {"keepdims", AttrKind::int_, false, "1 keeps reduced axes as size 1 (default 0)"}});
  if (kind == ReduceKind::variance)
    d.attrs.push_back({"correction", AttrKind::float_, false, "divisor n - correction (default 0)"});
  d.decompose = reduce_decomposition(kind);
  reg.add(std::move(d));
}

void add_argreduce(Registry& reg, const char* name, bool is_max) {
  OpSchema d;
  d.name = name;
  d.min_inputs = d.max_inputs = 1;
  d.flags = kPure | kZeroGrad;
  d.infer = [](const InferContext& c) {
    DType t = c.in(0).dtype;
    SN_CHECK(is_float(t) || is_integer(t), ErrorKind::dtype,
             c.op << " needs a numeric input, not " << dtype_name(t));
    const Shape& s = c.in(0).shape;
    const int64_t rank = static_cast<int64_t>(s.size());
    int64_t axis = normalize_axis(c.attrs.get_int("axis", 0), rank);
    bool keepdims = bool_attr(c.attrs, "keepdims", 1);
    bool_attr(c.attrs, "select_last_index", 0);
    if (rank == 0) return std::vector<TensorType>{{DType::i64, {}}};
    SN_CHECK(s[axis] != 0, ErrorKind::shape,
             c.op << " over axis " << axis << " of size 0 (shape " << shape_str(s) << ")");
    return std::vector<TensorType>{{DType::i64, reduced_shape(s, {axis}, keepdims)}};
  };
  d.grad = [](const GradContext&) { return std::vector<Value>{Value{}}; };
  d.with_attrs({{"axis", AttrKind::int_, false, "default 0"},
                {"keepdims", AttrKind::int_, false, "default 1"},
                {"select_last_index", AttrKind::int_, false, "ties: 1 picks the last (default 0)"}});
  reg.add(std::move(d));
}

void add_cumsum(Registry& reg) {
  OpSchema d;
  d.name = "cumsum";
  d.min_inputs = d.max_inputs = 1;
  d.flags = kPure;
  d.infer = [](const InferContext& c) {
    DType t = c.in(0).dtype;
    SN_CHECK(is_float(t) || t == DType::i32 || t == DType::i64, ErrorKind::dtype,
             "cumsum needs a floating-point or int32/int64 input, not " << dtype_name(t));
    SN_CHECK(c.attrs.has("axis"), ErrorKind::attr, "cumsum needs the attribute 'axis'");
    normalize_axis(c.attrs.get_int("axis"), static_cast<int64_t>(c.in(0).shape.size()));
    bool_attr(c.attrs, "exclusive", 0);
    bool_attr(c.attrs, "reverse", 0);
    return same_as_input(c);
  };
  d.grad = [](const GradContext& c) {
    const AttrMap& a = c.node.attrs;
    AttrMap ga = a;
    ga.set("reverse", int64_t(a.get_int("reverse", 0) == 1 ? 0 : 1));
    return std::vector<Value>{op::apply("cumsum", {c.grad()}, ga)};
  };
  d.with_attrs({{"axis", AttrKind::int_, true, "axis summed along"},
                {"exclusive", AttrKind::int_, false, "1 excludes the element itself (default 0)"},
                {"reverse", AttrKind::int_, false, "1 sums from the end (default 0)"}});
  reg.add(std::move(d));
}

}  // namespace

void register_reduce_ops(Registry& r) {
  for (const ReduceSpec& s : kReductions) add_reduction(r, s);
  add_argreduce(r, "argmax", true);
  add_argreduce(r, "argmin", false);
  add_cumsum(r);
}

}  // namespace symnet
