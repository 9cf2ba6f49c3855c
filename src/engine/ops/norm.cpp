// Normalization and dropout. CPU kernels: kernels/cpu/norm.cpp, kernels/cpu/dropout.cpp.
//
// batch_norm(x [N, C, ...], scale, bias, mean, var [C]); attrs epsilon = 1e-5, training = 0,
//   momentum = 0.9. training = 0: one output y = scale (x - mean) / sqrt(var + eps) + bias.
//   training = 1: (y, batch_mean, batch_var, running_mean_new, running_var_new), y normalized
//   with the batch statistics (population variance); running_* = running * momentum +
//   batch * (1 - momentum) with the unbiased batch variance (PyTorch), so a caller can feed
//   its running-statistics variables as mean/var and register outputs 3 and 4 as updates.
// layer_norm(x, scale[, bias]); attrs axis = -1, epsilon = 1e-5: normalizes over the dims
//   [axis, rank); outputs (y, mean, inv_std), the statistics shaped [x dims before axis, 1...].
// dropout(x); attrs ratio = 0.5, training = 0, seed (optional): outputs (y, mask[bool]);
//   training = 1 keeps elements with probability 1 - ratio and scales them by 1 / (1 - ratio);
//   training = 0 is the identity with an all-true mask.
//
// Gradients: inference-mode batch_norm is composed from ops (differentiable again).
// Training-mode batch_norm and layer_norm use the closed-form kernels batch_norm_grad and
// layer_norm_grad for the main output, plus composed terms for the statistics outputs when
// their gradients are not zero. batch_norm_grad and layer_norm_grad have no gradient rule
// themselves, so second derivatives through these two modes raise an error.
#include <cmath>

#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/ops/infer_util.h"

namespace symnet {

namespace {

using Types = std::vector<TensorType>;

void require_param(const InferContext& c, size_t i, const Shape& want, const char* what) {
  require_same_dtype(c, 0, i);
  SN_CHECK(shapes_compatible(c.in(i).shape, want), ErrorKind::shape,
           "input " << i + 1 << " (" << what << ") must have shape " << shape_str(want) << ", got "
                    << shape_str(c.in(i).shape));
}

bool flag_attr(const AttrMap& a, const char* k, int64_t def = 0) {
  int64_t v = a.get_int(k, def);
  SN_CHECK(v == 0 || v == 1, ErrorKind::attr, "'" << k << "' must be 0 or 1, got " << v);
  return v == 1;
}

double epsilon_attr(const AttrMap& a) {
  double e = a.get_float("epsilon", 1e-5);
  SN_CHECK(std::isfinite(e) && e >= 0, ErrorKind::attr, "'epsilon' must be finite and >= 0, got " << e);
  return e;
}

// Gradients that autodiff filled in as zeros_like: their terms can be skipped.
bool is_zero(const Value& v) {
  return !v.defined() ||
         (v.node->op_name() == "fill_like" && v.node->attrs.get_float("value", 1.0) == 0.0);
}

Value k(double v, const Value& like) { return op::scalar_like(v, like); }

// ---- batch_norm ----------------------------------------------------------------------------

// Axes reduced per channel: all but 1.
std::vector<int64_t> bn_axes(const Value& x) {
  std::vector<int64_t> ax{0};
  for (int64_t d = 2; d < x.rank(); ++d) ax.push_back(d);
  return ax;
}

// A [C] vector shaped to broadcast against x [N, C, ...].
Value per_channel(const Value& v, const Value& x) {
  if (x.rank() <= 2) return v;
  std::vector<int64_t> ax;
  for (int64_t d = 1; d + 1 < x.rank(); ++d) ax.push_back(d);
  return op::unsqueeze(v, ax);
}

// Values per channel (N * spatial): a constant when known, else a [C] tensor.
Value bn_count(const Value& x) {
  int64_t m = 1;
  for (int64_t d : bn_axes(x)) m = (m < 0 || x.shape()[d] < 0) ? -1 : m * x.shape()[d];
  if (m >= 0) return k(static_cast<double>(m), x);
  return op::reduce_sum(op::ones_like(x), bn_axes(x), false);
}

Types infer_batch_norm(const InferContext& c) {
  require_float(c, 0);
  require_rank(c, 0, 2);
  const Shape& xs = c.in(0).shape;
  const Shape cs{xs[1]};
  const char* names[] = {"scale", "bias", "mean", "var"};
  for (size_t i = 1; i < 5; ++i) require_param(c, i, cs, names[i - 1]);
  epsilon_attr(c.attrs);
  const bool training = flag_attr(c.attrs, "training");
  const double mom = c.attrs.get_float("momentum", 0.9);
  SN_CHECK(std::isfinite(mom), ErrorKind::attr, "'momentum' must be finite, got " << mom);
  if (!training) return {c.in(0)};
  int64_t m = xs[0];
  for (size_t d = 2; d < xs.size(); ++d) m = (m < 0 || xs[d] < 0) ? -1 : m * xs[d];
  SN_CHECK(m != 0 && m != 1, ErrorKind::shape,
           "batch_norm in training mode needs more than one value per channel, got input shape " << shape_str(xs));
  TensorType stat{c.in(0).dtype, cs};
  return {c.in(0), stat, stat, stat, stat};
}

std::vector<Value> batch_norm_inference_grad(const GradContext& g) {
  const Value &x = g.in(0), &scale = g.in(1), &mean = g.in(3), &var = g.in(4), &gy = g.grad();
  const double eps = epsilon_attr(g.node.attrs);
  const std::vector<int64_t> ax = bn_axes(x);
  Value inv = op::rsqrt(op::add(var, k(eps, var)));
  Value a = op::mul(scale, inv);
  Value gx = op::mul(gy, per_channel(a, x));
  Value sum_g = op::reduce_sum(gy, ax);
  Value sum_gxc = op::reduce_sum(op::mul(gy, op::sub(x, per_channel(mean, x))), ax);
  Value gscale = op::mul(sum_gxc, inv);
  Value gmean = op::neg(op::mul(sum_g, a));
  Value gvar = op::mul(op::mul(sum_gxc, op::mul(a, op::square(inv))), k(-0.5, x));
  return {gx, gscale, sum_g, gmean, gvar};
}

std::vector<Value> batch_norm_training_grad(const GradContext& g) {
  const Value &x = g.in(0), &scale = g.in(1);
  const Value &bm = g.out(1), &bv = g.out(2);
  const double mom = g.node.attrs.get_float("momentum", 0.9);
  std::vector<Value> res(5);
  AttrMap ga{{"epsilon", epsilon_attr(g.node.attrs)}};
  std::vector<Value> gr = make_node("batch_norm_grad", {x, scale, bm, bv, g.grad(0)}, ga);
  Value gx = gr[0];
  res[1] = gr[1];
  res[2] = gr[2];
  // batch_mean and batch_var also reach the loss directly and through the running statistics
  // (running_var_new uses the unbiased variance m / (m - 1) * batch_var).
  Value m = bn_count(x);
  Value gm = is_zero(g.grad(1)) ? Value{} : g.grad(1);
  Value gv = is_zero(g.grad(2)) ? Value{} : g.grad(2);
  if (!is_zero(g.grad(3))) {
    gm = op::add_grad(gm, op::mul(g.grad(3), k(1 - mom, x)));
    res[3] = op::mul(g.grad(3), k(mom, x));
  }
  if (!is_zero(g.grad(4))) {
    Value unbiased = op::div(m, op::sub(m, k(1, x)));
    gv = op::add_grad(gv, op::mul(g.grad(4), op::mul(unbiased, k(1 - mom, x))));
    res[4] = op::mul(g.grad(4), k(mom, x));
  }
  if (gm.defined()) gx = op::add(gx, per_channel(op::div(gm, m), x));
  if (gv.defined()) {
    Value coef = op::div(op::mul(gv, k(2, x)), m);
    gx = op::add(gx, op::mul(op::sub(x, per_channel(bm, x)), per_channel(coef, x)));
  }
  res[0] = gx;
  return res;
}

// ---- layer_norm ----------------------------------------------------------------------------

int64_t ln_axis(const AttrMap& a, int64_t rank) { return normalize_axis(a.get_int("axis", -1), rank); }

Types infer_layer_norm(const InferContext& c) {
  require_float(c, 0);
  require_rank(c, 0, 1);
  const Shape& xs = c.in(0).shape;
  const int64_t axis = ln_axis(c.attrs, static_cast<int64_t>(xs.size()));
  epsilon_attr(c.attrs);
  const Shape norm(xs.begin() + axis, xs.end());
  require_param(c, 1, norm, "scale");
  if (c.num_inputs() > 2) require_param(c, 2, norm, "bias");
  Shape stat(xs.begin(), xs.begin() + axis);
  stat.resize(xs.size(), 1);
  return {c.in(0), {c.in(0).dtype, stat}, {c.in(0).dtype, stat}};
}

std::vector<Value> layer_norm_grad(const GradContext& g) {
  const Value &x = g.in(0), &scale = g.in(1), &mean = g.out(1), &istd = g.out(2);
  const int64_t axis = ln_axis(g.node.attrs, x.rank());
  AttrMap ga{{"axis", axis}};
  std::vector<Value> gr = make_node("layer_norm_grad", {x, scale, mean, istd, g.grad(0)}, ga);
  Value gx = gr[0];
  if (!is_zero(g.grad(1)) || !is_zero(g.grad(2))) {
    int64_t d = 1;
    std::vector<int64_t> ax;
    for (int64_t i = axis; i < x.rank(); ++i) {
      ax.push_back(i);
      d = (d < 0 || x.shape()[i] < 0) ? -1 : d * x.shape()[i];
    }
    Value cnt = d >= 0 ? k(static_cast<double>(d), x) : op::reduce_sum(op::ones_like(x), ax, true);
    // d mean / dx = 1 / D; d inv_std / dx = -inv_std^3 (x - mean) / D.
    if (!is_zero(g.grad(1))) gx = op::add(gx, op::div(g.grad(1), cnt));
    if (!is_zero(g.grad(2))) {
      Value coef = op::div(op::mul(g.grad(2), op::mul(istd, op::square(istd))), cnt);
      gx = op::sub(gx, op::mul(op::sub(x, mean), coef));
    }
  }
  std::vector<Value> res{gx, gr[1]};
  if (g.node.inputs.size() > 2) res.push_back(gr[2]);
  return res;
}

// ---- dropout -------------------------------------------------------------------------------

double ratio_attr(const AttrMap& a) {
  double r = a.get_float("ratio", 0.5);
  SN_CHECK(r >= 0 && r <= 1, ErrorKind::attr, "'ratio' must be in [0, 1], got " << r);
  return r;
}

OpSchema def(const std::string& name, int min_in, int max_in, unsigned flags, InferFn infer, GradFn grad,
             std::vector<AttrSpec> attrs) {
  OpSchema d;
  d.name = name;
  d.min_inputs = min_in;
  d.max_inputs = max_in;
  d.flags = flags;
  d.infer = std::move(infer);
  d.grad = std::move(grad);
  d.with_attrs(std::move(attrs));
  return d;
}

}  // namespace

void register_norm_ops(Registry& r) {
  const AttrSpec kEps{"epsilon", AttrKind::float_, false, "added to the variance (default 1e-5)"};
  const AttrSpec kTraining{"training", AttrKind::int_, false, "1 in training mode (set by the compiler; default 0)"};
  OpSchema bn = def("batch_norm", 5, 5, kPure, infer_batch_norm,
                 [](const GradContext& g) {
                   return flag_attr(g.node.attrs, "training") ? batch_norm_training_grad(g)
                                                              : batch_norm_inference_grad(g);
                 },
                 {kEps, {"momentum", AttrKind::float_, false, "running-statistics momentum (default 0.9)"}, kTraining});
  r.add(bn);

  OpSchema bng = def(
      "batch_norm_grad", 5, 5, kPure,
      [](const InferContext& c) {
        require_float(c, 0);
        require_rank(c, 0, 2);
        const Shape cs{c.in(0).shape[1]};
        const char* names[] = {"scale", "batch_mean", "batch_var"};
        for (size_t i = 1; i < 4; ++i) require_param(c, i, cs, names[i - 1]);
        require_param(c, 4, c.in(0).shape, "output gradient");
        epsilon_attr(c.attrs);
        TensorType stat{c.in(0).dtype, cs};
        return Types{c.in(0), stat, stat};
      },
      nullptr, {kEps});
  r.add(bng);

  const AttrSpec kAxis{"axis", AttrKind::int_, false, "first normalized axis (default -1)"};
  OpSchema ln = def("layer_norm", 2, 3, kPure, infer_layer_norm, layer_norm_grad, {kEps, kAxis});
  r.add(ln);

  OpSchema lng = def(
      "layer_norm_grad", 5, 5, kPure,
      [](const InferContext& c) {
        require_float(c, 0);
        require_rank(c, 0, 1);
        const Shape& xs = c.in(0).shape;
        const int64_t axis = ln_axis(c.attrs, static_cast<int64_t>(xs.size()));
        const Shape norm(xs.begin() + axis, xs.end());
        Shape stat(xs.begin(), xs.begin() + axis);
        stat.resize(xs.size(), 1);
        require_param(c, 1, norm, "scale");
        require_param(c, 2, stat, "mean");
        require_param(c, 3, stat, "inv_std");
        require_param(c, 4, xs, "output gradient");
        return Types{c.in(0), c.in(1), c.in(1)};
      },
      nullptr, {kEps, kAxis});
  r.add(lng);

  OpSchema dr = def(
      "dropout", 1, 1, kRandom,
      [](const InferContext& c) {
        require_float(c, 0);
        ratio_attr(c.attrs);
        flag_attr(c.attrs, "training");
        if (c.attrs.has("seed")) c.attrs.get_int("seed");
        return Types{c.in(0), {DType::boolean, c.in(0).shape}};
      },
      [](const GradContext& g) {
        const double ratio = ratio_attr(g.node.attrs);
        const Value& gy = g.grad(0);
        if (!flag_attr(g.node.attrs, "training") || ratio <= 0) return std::vector<Value>{gy};
        const double scale = ratio < 1 ? 1.0 / (1.0 - ratio) : 0.0;
        return std::vector<Value>{op::where(g.out(1), op::mul(gy, k(scale, gy)), k(0, gy))};
      },
      {{"ratio", AttrKind::float_, false, "probability of dropping (default 0.5)"}, kTraining,
       {"seed", AttrKind::int_, false, "fixes the mask stream (default: the function's seed)"}});
  r.add(dr);
}

}  // namespace symnet
