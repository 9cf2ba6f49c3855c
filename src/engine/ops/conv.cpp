// conv and conv_transpose (ONNX semantics, NCHW, 1 to 3 spatial dims), plus the internal
// products their gradients are built from. Kernels: kernels/cpu/conv.cpp.
//
// Every op here is one of three products of a convolution "frame" (big = conv input side,
// small = conv output side, w = [Cs, Cb/group, k...]):
//   conv, conv_forward_like   small = conv(big, w)
//   conv_transpose, conv_grad_input   big = conv^T(small, w)
//   conv_grad_weight          w = corr(big, small)
// The frame's padding is resolved from the attributes and concrete shapes at kernel time,
// so the internal ops carry the public op's attributes plus transposed = 0 (conv's
// attributes) or 1 (conv_transpose's). Each product's gradient is another product of the
// same frame, so gradients of any order exist.
#include <algorithm>
#include <cmath>
#include <string>

#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/ops/conv_attrs.h"
#include "engine/ops/infer_util.h"

namespace symnet {

namespace {

using namespace conv_attrs;

bool known(int64_t d) { return d >= 0; }

// Shared checks of (big-side tensor, weight): rank, dtype, kernel_shape, group.
int check_frame_inputs(const InferContext& c, size_t xi, size_t wi, const char* xname) {
  require_float(c, xi);
  require_same_dtype(c, xi, wi);
  const Shape& x = c.in(xi).shape;
  const Shape& w = c.in(wi).shape;
  SN_CHECK(x.size() >= 3 && x.size() <= 5, ErrorKind::shape,
           xname << " must have rank 3 to 5 ([N, C, spatial...], 1 to 3 spatial dims), got shape " << shape_str(x));
  SN_CHECK(w.size() == x.size(), ErrorKind::shape,
           "weight must have the rank of " << xname << " (" << x.size() << "), got shape " << shape_str(w));
  const int nsp = static_cast<int>(x.size()) - 2;
  if (c.attrs.has("kernel_shape")) {
    std::vector<int64_t> ks = c.attrs.get_ints("kernel_shape");
    SN_CHECK(ks.size() == static_cast<size_t>(nsp), ErrorKind::attr,
             "attribute 'kernel_shape' needs " << nsp << " values, got " << ks.size());
    for (int i = 0; i < nsp; ++i)
      SN_CHECK(!known(w[2 + i]) || ks[i] == w[2 + i], ErrorKind::shape,
               "attribute 'kernel_shape' " << shape_str(ks) << " does not match the weight shape " << shape_str(w));
  }
  for (int i = 0; i < nsp; ++i)
    SN_CHECK(!known(w[2 + i]) || w[2 + i] >= 1, ErrorKind::shape,
             "weight spatial sizes must be positive, got shape " << shape_str(w));
  return nsp;
}

void check_bias(const InferContext& c, size_t bi, int64_t channels) {
  if (c.num_inputs() <= bi) return;
  require_same_dtype(c, 0, bi);
  const Shape& b = c.in(bi).shape;
  SN_CHECK(b.size() == 1 && (!known(b[0]) || !known(channels) || b[0] == channels), ErrorKind::shape,
           "bias must have shape [" << channels << "], got " << shape_str(b));
}

// Channel consistency of a frame: big channels Cb, small channels Cs, w [Cs, Cb/G, ...].
void check_channels(const ConvAttrs& a, int64_t Cb, int64_t Cs, const Shape& w, const char* big_name,
                    const char* small_name) {
  const int64_t G = a.group;
  SN_CHECK(!known(Cb) || Cb % G == 0, ErrorKind::shape,
           "group " << G << " does not divide the " << Cb << " channels of " << big_name);
  SN_CHECK(!known(w[0]) || w[0] % G == 0, ErrorKind::shape,
           "group " << G << " does not divide the " << w[0] << " channels of " << small_name << " (weight dim 1)");
  SN_CHECK(!known(Cb) || !known(w[1]) || w[1] * G == Cb, ErrorKind::shape,
           big_name << " has " << Cb << " channels but the weight expects " << w[1] << " x group " << G << " = "
                    << w[1] * G << " (weight shape " << shape_str(w) << ")");
  SN_CHECK(!known(Cs) || !known(w[0]) || w[0] == Cs, ErrorKind::shape,
           small_name << " has " << Cs << " channels but the weight has " << w[0] << " (weight shape "
                      << shape_str(w) << ")");
}

std::vector<TensorType> conv_infer(const InferContext& c) {
  const int nsp = check_frame_inputs(c, 0, 1, "input");
  ConvAttrs a = parse_attrs(c.attrs, nsp, false);
  const Shape& x = c.in(0).shape;
  const Shape& w = c.in(1).shape;
  check_channels(a, x[1], -1, w, "input", "output");
  check_bias(c, 2, w[0]);
  Shape y{x[0], w[0]};
  for (int i = 0; i < nsp; ++i) y.push_back(conv_out_dim(a, i, x[2 + i], w[2 + i]));
  return {{c.in(0).dtype, y}};
}

std::vector<TensorType> conv_transpose_infer(const InferContext& c) {
  const int nsp = check_frame_inputs(c, 0, 1, "input");
  ConvAttrs a = parse_attrs(c.attrs, nsp, true);
  const Shape& x = c.in(0).shape;
  const Shape& w = c.in(1).shape;
  // Frame: small = x (Cs = C), big = y (Cb = w[1] * group).
  SN_CHECK(!known(x[1]) || !known(w[0]) || x[1] == w[0], ErrorKind::shape,
           "input has " << x[1] << " channels but the weight expects " << w[0] << " (weight shape " << shape_str(w)
                        << ", [C, M/group, k...])");
  SN_CHECK(!known(w[0]) || w[0] % a.group == 0, ErrorKind::shape,
           "group " << a.group << " does not divide the " << w[0] << " input channels");
  const int64_t M = known(w[1]) ? w[1] * a.group : -1;
  check_bias(c, 2, M);
  Shape y{x[0], M};
  for (int i = 0; i < nsp; ++i) y.push_back(conv_transpose_out_dim(a, i, x[2 + i], w[2 + i]));
  return {{c.in(0).dtype, y}};
}


// Internal products: role of each input in the frame.
enum class Role { big, small, weight };

struct Product {
  const char* name;
  Role in0, in1, like;  // like = the role of the output
};
constexpr Product kForwardLike{"conv_forward_like", Role::big, Role::weight, Role::small};
constexpr Product kGradInput{"conv_grad_input", Role::small, Role::weight, Role::big};
constexpr Product kGradWeight{"conv_grad_weight", Role::big, Role::small, Role::weight};

InferFn product_infer(Product p) {
  return [p](const InferContext& c) {
    require_float(c, 0);
    require_same_dtype(c, 0, 1);
    require_same_dtype(c, 0, 2);
    const Shape* sh[3] = {nullptr, nullptr, nullptr};
    sh[static_cast<int>(p.in0)] = &c.in(0).shape;
    sh[static_cast<int>(p.in1)] = &c.in(1).shape;
    sh[static_cast<int>(p.like)] = &c.in(2).shape;
    const Shape& big = *sh[0];
    const Shape& small = *sh[1];
    const Shape& w = *sh[2];
    SN_CHECK(big.size() >= 3 && big.size() <= 5 && small.size() == big.size() && w.size() == big.size(),
             ErrorKind::shape,
             "conv frame tensors must share a rank of 3 to 5, got big " << shape_str(big) << ", small "
                                                                        << shape_str(small) << ", weight "
                                                                        << shape_str(w));
    const int nsp = static_cast<int>(big.size()) - 2;
    ConvAttrs a = parse_attrs(c.attrs, nsp, transposed_attr(c.attrs));
    check_channels(a, big[1], small[1], w, "the conv input", "the conv output");
    SN_CHECK(!known(big[0]) || !known(small[0]) || big[0] == small[0], ErrorKind::shape,
             "batch sizes differ: " << shape_str(big) << " vs " << shape_str(small));
    for (int i = 0; i < nsp; ++i)
      SN_CHECK(!known(w[2 + i]) || w[2 + i] >= 1, ErrorKind::shape, "weight spatial sizes must be positive");
    return std::vector<TensorType>{{c.in(0).dtype, c.in(2).shape}};
  };
}

AttrMap frame_attrs(const AttrMap& a, bool transposed) {
  AttrMap f = a;
  f.set("transposed", int64_t(transposed));
  return f;
}

Value forward_like(const Value& big, const Value& w, const Value& small_like, const AttrMap& f) {
  return op::apply(kForwardLike.name, {big, w, small_like}, f);
}
Value grad_input(const Value& small, const Value& w, const Value& big_like, const AttrMap& f) {
  return op::apply(kGradInput.name, {small, w, big_like}, f);
}
Value grad_weight(const Value& big, const Value& small, const Value& w_like, const AttrMap& f) {
  return op::apply(kGradWeight.name, {big, small, w_like}, f);
}

Value bias_grad(const Value& gy) {
  std::vector<int64_t> axes{0};
  for (int64_t i = 2; i < gy.rank(); ++i) axes.push_back(i);
  return op::reduce_sum(gy, axes, false);
}

}  // namespace

void register_conv_ops(Registry& r) {
  const std::vector<AttrSpec> kConvAttrs = {
      {"strides", AttrKind::ints, false, "default 1s"},
      {"dilations", AttrKind::ints, false, "default 1s"},
      {"pads", AttrKind::ints, false, "[begin..., end...], default 0s"},
      {"group", AttrKind::int_, false, "channel groups (default 1)"},
      {"auto_pad", AttrKind::string, false, "NOTSET (default), SAME_UPPER, SAME_LOWER or VALID"},
      {"kernel_shape", AttrKind::ints, false, "checked against the weights when given"}};
  std::vector<AttrSpec> kTransposeAttrs = kConvAttrs;
  kTransposeAttrs.push_back({"output_padding", AttrKind::ints, false, "extra size at the end (default 0s)"});
  kTransposeAttrs.push_back({"output_shape", AttrKind::ints, false, "spatial output sizes (pads follow)"});
  // The products of a frame carry the attributes of the op they came from.
  std::vector<AttrSpec> kFrameAttrs = kTransposeAttrs;
  kFrameAttrs.push_back({"transposed", AttrKind::int_, false, "1: the frame of a conv_transpose"});
  OpSchema c;
  c.name = "conv";
  c.min_inputs = 2;
  c.max_inputs = 3;
  c.flags = kPure | kBatchwise;
  c.infer = conv_infer;
  c.grad = [](const GradContext& g) {
    const AttrMap f = frame_attrs(g.node.attrs, false);
    std::vector<Value> out{grad_input(g.grad(), g.in(1), g.in(0), f), grad_weight(g.in(0), g.grad(), g.in(1), f)};
    if (g.node.inputs.size() > 2) out.push_back(bias_grad(g.grad()));
    return out;
  };
  c.with_attrs(kConvAttrs);
  r.add(c);

  // conv_clip: conv, then clip to [clip_min, clip_max] (relu: clip_min = 0; ReLU6: 0 and 6)
  // as one node, so that a kernel can bound the values in the convolution's own output pass
  // instead of a second pass over memory. Made from inference graphs by the CPU's lowering
  // (cpu/fuse_conv_clip.cpp), after autodiff: it has no gradient.
  OpSchema cc;
  cc.name = "conv_clip";
  cc.min_inputs = 2;
  cc.max_inputs = 3;
  cc.flags = kPure | kBatchwise;
  cc.infer = [](const InferContext& ic) {
    const double lo = ic.attrs.get_float("clip_min", -HUGE_VAL), hi = ic.attrs.get_float("clip_max", HUGE_VAL);
    SN_CHECK(!std::isnan(lo) && !std::isnan(hi) && lo <= hi, ErrorKind::attr,
             "conv_clip: attribute 'clip_min' (" << lo << ") must not exceed 'clip_max' (" << hi << ")");
    return conv_infer(ic);
  };
  std::vector<AttrSpec> kClipAttrs = kConvAttrs;
  kClipAttrs.push_back({"clip_min", AttrKind::float_, false, "lower bound of the output (default -Inf)"});
  kClipAttrs.push_back({"clip_max", AttrKind::float_, false, "upper bound of the output (default Inf)"});
  cc.with_attrs(kClipAttrs);
  r.add(cc);

  OpSchema t;
  t.name = "conv_transpose";
  t.flags = kPure | kBatchwise;
  t.min_inputs = 2;
  t.max_inputs = 3;
  t.infer = conv_transpose_infer;
  t.grad = [](const GradContext& g) {
    const AttrMap f = frame_attrs(g.node.attrs, true);
    // Frame: big = y (the output), small = x.
    std::vector<Value> out{forward_like(g.grad(), g.in(1), g.in(0), f), grad_weight(g.grad(), g.in(0), g.in(1), f)};
    if (g.node.inputs.size() > 2) out.push_back(bias_grad(g.grad()));
    return out;
  };
  t.with_attrs(kTransposeAttrs);
  r.add(t);

  OpSchema fl;
  fl.name = kForwardLike.name;
  fl.min_inputs = fl.max_inputs = 3;
  fl.infer = product_infer(kForwardLike);
  fl.grad = [](const GradContext& g) {
    const AttrMap& f = g.node.attrs;
    return std::vector<Value>{grad_input(g.grad(), g.in(1), g.in(0), f), grad_weight(g.in(0), g.grad(), g.in(1), f),
                              Value{}};
  };
  fl.with_attrs(kFrameAttrs);
  r.add(fl);

  OpSchema gi;
  gi.name = kGradInput.name;
  gi.min_inputs = gi.max_inputs = 3;
  gi.infer = product_infer(kGradInput);
  gi.grad = [](const GradContext& g) {
    const AttrMap& f = g.node.attrs;
    return std::vector<Value>{forward_like(g.grad(), g.in(1), g.in(0), f), grad_weight(g.grad(), g.in(0), g.in(1), f),
                              Value{}};
  };
  gi.with_attrs(kFrameAttrs);
  r.add(gi);

  OpSchema gw;
  gw.name = kGradWeight.name;
  gw.min_inputs = gw.max_inputs = 3;
  gw.infer = product_infer(kGradWeight);
  gw.grad = [](const GradContext& g) {
    const AttrMap& f = g.node.attrs;
    return std::vector<Value>{grad_input(g.in(1), g.grad(), g.in(0), f), forward_like(g.in(0), g.grad(), g.in(1), f),
                              Value{}};
  };
  gw.with_attrs(kFrameAttrs);
  r.add(gw);
}

}  // namespace symnet
