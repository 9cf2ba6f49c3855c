// Pooling (ONNX MaxPool/AveragePool/GlobalAveragePool/GlobalMaxPool, NCHW, 1-D to 3-D) and
// LRN. CPU kernels: kernels/cpu/pool.cpp, kernels/cpu/lrn.cpp.
//
// max_pool / avg_pool attrs: kernel_shape (required), strides (1s), pads ([begin..., end...],
// 0s), dilations (1s), ceil_mode (0), auto_pad (NOTSET | VALID | SAME_UPPER | SAME_LOWER);
// avg_pool also count_include_pad (0). lrn attrs: size (required), alpha = 1e-4,
// beta = 0.75, bias = 1 (ONNX LRN across channels).
//
// Gradients close under differentiation:
//   max_pool        -> max_pool_grad(x, g)      (g scattered to each window's argmax)
//   max_pool_grad   -> max_pool_gather(x, g)    (its adjoint: g read at each argmax)
//   max_pool_gather -> max_pool_grad(x, g)
//   avg_pool        -> avg_pool_grad(g, x)      (x only gives the shape)
//   avg_pool_grad   -> avg_pool(g)
// The argmax positions are piecewise constant in x, so none of these has a gradient w.r.t. x
// beyond the first one. LRN's gradient is composed from elementwise ops and the linear
// lrn_window_sum (whose adjoint is the mirrored window).
#include <cmath>

#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/ops/infer_util.h"
#include "engine/ops/pool_geometry.h"

namespace symnet {

namespace {

using Types = std::vector<TensorType>;

void require_shape(const InferContext& c, size_t i, const Shape& want, const char* what) {
  SN_CHECK(shapes_compatible(c.in(i).shape, want), ErrorKind::shape,
           "input " << i + 1 << " (" << what << ") must have shape " << shape_str(want) << ", got "
                    << shape_str(c.in(i).shape));
}

Shape pooled(const AttrMap& a, const Shape& x, bool is_max) { return pool_geometry(a, x, is_max).out_shape(); }

std::vector<AttrSpec> pool_attrs(bool is_max) {
  std::vector<AttrSpec> a = {
      {"kernel_shape", AttrKind::ints, true, "window size per spatial dim"},
      {"strides", AttrKind::ints, false, "default 1s"},
      {"pads", AttrKind::ints, false, "[begin..., end...], default 0s"},
      {"dilations", AttrKind::ints, false, "default 1s"},
      {"ceil_mode", AttrKind::int_, false, "1 rounds the output size up (default 0)"},
      {"auto_pad", AttrKind::string, false, "NOTSET (default), VALID, SAME_UPPER or SAME_LOWER"}};
  if (!is_max) a.push_back({"count_include_pad", AttrKind::int_, false, "1 divides by the full window (default 0)"});
  return a;
}

OpSchema def(const std::string& name, int n_in, InferFn infer, GradFn grad, std::vector<AttrSpec> attrs) {
  OpSchema d;
  d.name = name;
  d.min_inputs = d.max_inputs = n_in;
  d.flags = kPure;
  d.infer = std::move(infer);
  d.grad = std::move(grad);
  d.with_attrs(std::move(attrs));
  return d;
}

// Forward pools and LRN work on each sample alone.
OpSchema batchwise(OpSchema d) {
  d.flags |= kBatchwise;
  return d;
}

Value with_attrs(const std::string& op, std::vector<Value> in, const Node& like) {
  return op::apply(op, std::move(in), like.attrs);
}

// Spatial axes [2, rank) and their element count (a constant when known, else computed).
std::vector<int64_t> spatial_axes(const Value& x) {
  std::vector<int64_t> ax;
  for (int64_t d = 2; d < x.rank(); ++d) ax.push_back(d);
  return ax;
}

Value spatial_count(const Value& x) {
  int64_t n = 1;
  for (int64_t d = 2; d < x.rank(); ++d) n = (n < 0 || x.shape()[d] < 0) ? -1 : n * x.shape()[d];
  if (n >= 0) return op::scalar_like(static_cast<double>(n), x);
  return op::reduce_sum(op::ones_like(x), spatial_axes(x), true);
}

Types infer_global(const InferContext& c) {
  require_float(c, 0);
  require_rank(c, 0, 3);
  Shape s = c.in(0).shape;
  for (size_t d = 2; d < s.size(); ++d) s[d] = 1;
  return {{c.in(0).dtype, s}};
}

struct LrnAttrs {
  int64_t size;
  double alpha, beta, bias;
};

LrnAttrs lrn_attrs(const AttrMap& a) {
  LrnAttrs r{a.get_int("size"), a.get_float("alpha", 1e-4), a.get_float("beta", 0.75), a.get_float("bias", 1.0)};
  SN_CHECK(r.size >= 1, ErrorKind::attr, "'size' must be >= 1, got " << r.size);
  SN_CHECK(std::isfinite(r.alpha) && std::isfinite(r.beta) && std::isfinite(r.bias), ErrorKind::attr,
           "'alpha', 'beta' and 'bias' must be finite");
  return r;
}

Types infer_lrn(const InferContext& c) {
  require_float(c, 0);
  require_rank(c, 0, 2);
  lrn_attrs(c.attrs);
  return {c.in(0)};
}

}  // namespace

void register_pool_ops(Registry& r) {
  r.add(batchwise(def(
      "max_pool", 1,
      [](const InferContext& c) {
        require_float(c, 0);
        return Types{{c.in(0).dtype, pooled(c.attrs, c.in(0).shape, true)}};
      },
      [](const GradContext& g) { return std::vector<Value>{with_attrs("max_pool_grad", {g.in(0), g.grad()}, g.node)}; },
      pool_attrs(true))));

  r.add(def(
      "max_pool_grad", 2,
      [](const InferContext& c) {
        require_float(c, 0);
        require_same_dtype(c, 0, 1);
        require_shape(c, 1, pooled(c.attrs, c.in(0).shape, true), "output gradient");
        return Types{c.in(0)};
      },
      [](const GradContext& g) {
        return std::vector<Value>{Value{}, with_attrs("max_pool_gather", {g.in(0), g.grad()}, g.node)};
      },
      pool_attrs(true)));

  r.add(def(
      "max_pool_gather", 2,
      [](const InferContext& c) {
        require_float(c, 0);
        require_same_dtype(c, 0, 1);
        require_shape(c, 1, c.in(0).shape, "values to gather");
        return Types{{c.in(0).dtype, pooled(c.attrs, c.in(0).shape, true)}};
      },
      [](const GradContext& g) {
        return std::vector<Value>{Value{}, with_attrs("max_pool_grad", {g.in(0), g.grad()}, g.node)};
      },
      pool_attrs(true)));

  r.add(batchwise(def(
      "avg_pool", 1,
      [](const InferContext& c) {
        require_float(c, 0);
        return Types{{c.in(0).dtype, pooled(c.attrs, c.in(0).shape, false)}};
      },
      [](const GradContext& g) { return std::vector<Value>{with_attrs("avg_pool_grad", {g.grad(), g.in(0)}, g.node)}; },
      pool_attrs(false))));

  r.add(def(
      "avg_pool_grad", 2,
      [](const InferContext& c) {
        require_float(c, 0);
        require_shape(c, 0, pooled(c.attrs, c.in(1).shape, false), "output gradient");
        return Types{{c.in(0).dtype, c.in(1).shape}};
      },
      [](const GradContext& g) { return std::vector<Value>{with_attrs("avg_pool", {g.grad()}, g.node), Value{}}; },
      pool_attrs(false)));

  r.add(batchwise(def(
      "global_avg_pool", 1, infer_global,
      [](const GradContext& g) {
        const Value& x = g.in(0);
        return std::vector<Value>{op::broadcast_like(op::div(g.grad(), spatial_count(x)), x)};
      },
      {})));

  r.add(batchwise(def(
      "global_max_pool", 1, infer_global,
      [](const GradContext& g) {
        // Ties share the gradient equally, as reduce_max does.
        const Value& x = g.in(0);
        Value mask = op::cast(op::equal(x, g.out()), x.dtype());
        Value ties = op::reduce_sum(mask, spatial_axes(x), true);
        return std::vector<Value>{op::mul(mask, op::div(g.grad(), ties))};
      },
      {})));

  r.add(batchwise(def(
      "lrn", 1, infer_lrn,
      [](const GradContext& g) {
        // d = bias + alpha/size * W(x^2), y = x d^-beta:
        // gx = g d^-beta - (2 alpha beta / size) x W'(g y / d), W' the adjoint window sum.
        const LrnAttrs a = lrn_attrs(g.node.attrs);
        const Value &x = g.in(0), &y = g.out(), &gy = g.grad();
        auto k = [&](double v) { return op::scalar_like(v, x); };
        AttrMap fw{{"size", a.size}}, bw{{"size", a.size}, {"reverse", int64_t(1)}};
        Value s = op::apply("lrn_window_sum", {op::square(x)}, fw);
        Value d = op::add(op::mul(s, k(a.alpha / static_cast<double>(a.size))), k(a.bias));
        Value back = op::apply("lrn_window_sum", {op::div(op::mul(gy, y), d)}, bw);
        Value gx = op::sub(op::mul(gy, op::pow(d, k(-a.beta))),
                           op::mul(op::mul(x, back), k(2 * a.alpha * a.beta / static_cast<double>(a.size))));
        return std::vector<Value>{gx};
      },
      {{"size", AttrKind::int_, true, "channels in the window"}, {"alpha", AttrKind::float_, false, "default 1e-4"},
       {"beta", AttrKind::float_, false, "default 0.75"}, {"bias", AttrKind::float_, false, "default 1"}})));

  r.add(def(
      "lrn_window_sum", 1,
      [](const InferContext& c) {
        require_float(c, 0);
        require_rank(c, 0, 2);
        int64_t size = c.attrs.get_int("size"), rev = c.attrs.get_int("reverse", 0);
        SN_CHECK(size >= 1, ErrorKind::attr, "'size' must be >= 1, got " << size);
        SN_CHECK(rev == 0 || rev == 1, ErrorKind::attr, "'reverse' must be 0 or 1, got " << rev);
        return Types{c.in(0)};
      },
      [](const GradContext& g) {
        AttrMap a = g.node.attrs;
        a.set("reverse", int64_t(1 - g.node.attrs.get_int("reverse", 0)));
        return std::vector<Value>{op::apply("lrn_window_sum", {g.grad()}, a)};
      },
      {{"size", AttrKind::int_, true, "channels in the window"},
       {"reverse", AttrKind::int_, false, "1: the adjoint (mirrored) window (default 0)"}}));
}

}  // namespace symnet
