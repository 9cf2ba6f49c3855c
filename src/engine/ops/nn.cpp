// softmax, log_softmax and the fused classification losses. CPU kernels: kernels/cpu/softmax.cpp.
//
// softmax_cross_entropy's gradient w.r.t. the logits is the internal op
// softmax_cross_entropy_grad(logits, labels, g) = (softmax(logits) - one_hot(labels)) * g[..., None]
// (zero rows for ignored labels), a fused kernel that avoids materializing one_hot. Its own
// gradient is built from softmax/reduce ops, so second derivatives of the loss work too.
#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/ops/infer_util.h"

namespace symnet {

namespace {

int64_t softmax_axis(const AttrMap& a, int64_t rank) { return normalize_axis(a.get_int("axis", -1), rank); }

std::vector<TensorType> softmax_infer(const InferContext& c) {
  require_float(c, 0);
  require_rank(c, 0, 1);
  softmax_axis(c.attrs, static_cast<int64_t>(c.in(0).shape.size()));
  return same_as_input(c);
}

// Leading dims of logits [..., C] merged with a per-row tensor's dims (unknowns filled in).
Shape row_shape(const InferContext& c, size_t rows_input, const char* what) {
  const Shape& z = c.in(0).shape;
  const Shape& r = c.in(rows_input).shape;
  Shape lead(z.begin(), z.end() - 1);
  SN_CHECK(shapes_compatible(lead, r), ErrorKind::shape,
           what << " of shape " << shape_str(r) << " do not match logits " << shape_str(z)
                << " (expected the logits' shape without its last axis, " << shape_str(lead) << ")");
  for (size_t i = 0; i < lead.size(); ++i)
    if (lead[i] < 0) lead[i] = r[i];
  return lead;
}

Shape merge_known(const Shape& a, const Shape& b) {
  Shape out = a;
  for (size_t i = 0; i < out.size(); ++i)
    if (out[i] < 0) out[i] = b[i];
  return out;
}

std::vector<TensorType> xent_infer(const InferContext& c) {
  require_float(c, 0);
  require_rank(c, 0, 1);
  require_integer_index(c, 1);
  c.attrs.get_int("ignore_index", -100);
  const int64_t base = c.attrs.get_int("index_base", 0);
  SN_CHECK(base == 0 || base == 1, ErrorKind::attr, "'index_base' must be 0 or 1, got " << base);
  return {{c.in(0).dtype, row_shape(c, 1, "labels")}};
}

Value xent_grad_op(const Value& z, const Value& labels, const Value& g, const AttrMap& a) {
  return op::apply("softmax_cross_entropy_grad", {z, labels, g},
                   {{"ignore_index", a.get_int("ignore_index", -100)}, {"index_base", a.get_int("index_base", 0)}});
}

// g [...] -> g [..., 1] so it broadcasts against logits [..., C].
Value per_row(const Value& g) { return op::unsqueeze(g, {g.rank()}); }

std::vector<Value> xent_grad_grad(const GradContext& c) {
  const Value& z = c.in(0);
  const Value& labels = c.in(1);
  const Value& g = c.in(2);
  const Value& G = c.grad();
  // d/dg: sum_c G * (p - y) (masked), i.e. the same kernel with unit row weights.
  Value dg = op::reduce_sum(op::mul(G, xent_grad_op(z, labels, op::ones_like(g), c.node.attrs)), {-1});
  // d/dz: softmax vector-Jacobian product with upstream G * g * mask.
  Value keep = op::cast(
      op::not_equal(labels, op::scalar_like(static_cast<double>(c.node.attrs.get_int("ignore_index", -100)), labels)),
      z.dtype());
  Value h = op::mul(G, per_row(op::mul(g, keep)));
  Value p = op::softmax(z, -1);
  Value dz = op::mul(p, op::sub(h, op::reduce_sum(op::mul(h, p), {-1}, true)));
  return {dz, Value{}, dg};
}

}  // namespace

void register_nn_ops(Registry& r) {
  OpSchema s;
  s.name = "softmax";
  s.min_inputs = s.max_inputs = 1;
  s.infer = softmax_infer;
  s.grad = [](const GradContext& c) {
    int64_t axis = softmax_axis(c.node.attrs, c.in(0).rank());
    const Value& y = c.out();
    Value gy = op::mul(c.grad(), y);
    return std::vector<Value>{op::sub(gy, op::mul(y, op::reduce_sum(gy, {axis}, true)))};
  };
  s.with_attrs({{"axis", AttrKind::int_, false, "axis of the classes (default -1)"}});
  r.add(std::move(s));

  OpSchema ls;
  ls.name = "log_softmax";
  ls.min_inputs = ls.max_inputs = 1;
  ls.infer = softmax_infer;
  ls.grad = [](const GradContext& c) {
    int64_t axis = softmax_axis(c.node.attrs, c.in(0).rank());
    const Value& g = c.grad();
    return std::vector<Value>{op::sub(g, op::mul(op::exp(c.out()), op::reduce_sum(g, {axis}, true)))};
  };
  ls.with_attrs({{"axis", AttrKind::int_, false, "axis of the classes (default -1)"}});
  ls.decompose = [](const Node& n, const std::vector<Value>& in) {
    const int64_t axis = softmax_axis(n.attrs, in[0].rank());
    return std::vector<Value>{op::sub(in[0], op::reduce("reduce_logsumexp", in[0], {axis}, true))};
  };
  r.add(std::move(ls));

  OpSchema x;
  x.name = "softmax_cross_entropy";
  x.min_inputs = x.max_inputs = 2;
  x.infer = xent_infer;
  x.grad = [](const GradContext& c) {
    return std::vector<Value>{xent_grad_op(c.in(0), c.in(1), c.grad(), c.node.attrs), Value{}};
  };
  x.with_attrs({{"ignore_index", AttrKind::int_, false, "label whose rows count 0 (default -100)"},
                 {"index_base", AttrKind::int_, false, "labels count from 0 (default) or 1"}});
  r.add(std::move(x));

  OpSchema xg;
  xg.name = "softmax_cross_entropy_grad";
  xg.min_inputs = xg.max_inputs = 3;
  xg.infer = [](const InferContext& c) {
    std::vector<TensorType> t = xent_infer(c);
    require_same_dtype(c, 0, 2);
    row_shape(c, 2, "upstream gradients");
    Shape z = c.in(0).shape;
    for (size_t i = 0; i + 1 < z.size(); ++i)
      if (z[i] < 0) z[i] = t[0].shape[i];
    return std::vector<TensorType>{{c.in(0).dtype, z}};
  };
  xg.grad = xent_grad_grad;
  xg.with_attrs({{"ignore_index", AttrKind::int_, false, "label whose rows count 0 (default -100)"},
                 {"index_base", AttrKind::int_, false, "labels count from 0 (default) or 1"}});
  r.add(std::move(xg));

  OpSchema xp;
  xp.name = "softmax_cross_entropy_prob";
  xp.min_inputs = xp.max_inputs = 2;
  xp.infer = [](const InferContext& c) {
    require_float(c, 0);
    require_rank(c, 0, 1);
    require_same_dtype(c, 0, 1);
    SN_CHECK(shapes_compatible(c.in(0).shape, c.in(1).shape), ErrorKind::shape,
             "target probabilities of shape " << shape_str(c.in(1).shape) << " do not match logits "
                                              << shape_str(c.in(0).shape));
    Shape z = merge_known(c.in(0).shape, c.in(1).shape);
    z.pop_back();
    return std::vector<TensorType>{{c.in(0).dtype, z}};
  };
  xp.grad = [](const GradContext& c) {
    const Value& z = c.in(0);
    const Value& t = c.in(1);
    Value lsm = op::log_softmax(z, -1);
    Value gk = per_row(c.grad());
    Value dz = op::mul(gk, op::sub(op::mul(op::exp(lsm), op::reduce_sum(t, {-1}, true)), t));
    Value dt = op::mul(op::neg(lsm), gk);
    return std::vector<Value>{dz, dt};
  };
  xp.with_attrs({});
  r.add(std::move(xp));

  OpSchema sx;
  sx.name = "sigmoid_cross_entropy";
  sx.min_inputs = sx.max_inputs = 2;
  sx.flags = kPure | kElementwise;
  sx.infer = [](const InferContext& c) {
    require_float(c, 0);
    require_same_dtype(c, 0, 1);
    SN_CHECK(shapes_compatible(c.in(0).shape, c.in(1).shape), ErrorKind::shape,
             "targets of shape " << shape_str(c.in(1).shape) << " do not match logits "
                                 << shape_str(c.in(0).shape));
    return std::vector<TensorType>{{c.in(0).dtype, merge_known(c.in(0).shape, c.in(1).shape)}};
  };
  sx.grad = [](const GradContext& c) {
    const Value& x = c.in(0);
    const Value& g = c.grad();
    return std::vector<Value>{op::mul(op::sub(op::sigmoid(x), c.in(1)), g), op::mul(op::neg(x), g)};
  };
  sx.with_attrs({});
  r.add(std::move(sx));
}

}  // namespace symnet
