// Converters of Caffe's layers with weights or windows: Convolution, Pooling,
// InnerProduct, LRN, Dropout, BatchNorm (with a folded Scale) and Scale.
#include <algorithm>
#include <cmath>

#include "engine/io/caffe/caffe_import_context.h"

namespace symnet {
namespace caffe {

namespace {

// A window size given as `name` (one value for every spatial dim, or one per dim) or as
// name_h/name_w (2-D only); `def` when neither is set (-1: required).
std::vector<int64_t> window(const LayerContext& c, const std::string& prefix, const std::string& name,
                            const std::string& hw, int64_t nd, int64_t def) {
  const bool has_h = c.has(prefix + hw + "_h"), has_w = c.has(prefix + hw + "_w");
  if (has_h || has_w) {
    if (nd != 2) c.unsupported(hw + "_h/" + hw + "_w are for 2-D inputs only");
    if (!has_h || !has_w) c.invalid("gives only one of " + hw + "_h and " + hw + "_w");
    if (c.has(prefix + name)) c.invalid("gives both " + name + " and " + hw + "_h/" + hw + "_w");
    return {c.int_param(prefix + hw + "_h", 0), c.int_param(prefix + hw + "_w", 0)};
  }
  std::vector<int64_t> v = c.ints_param(prefix + name);
  if (v.empty()) {
    if (def < 0) c.invalid("needs " + name);
    return std::vector<int64_t>(static_cast<size_t>(nd), def);
  }
  if (v.size() == 1) return std::vector<int64_t>(static_cast<size_t>(nd), v[0]);
  if (static_cast<int64_t>(v.size()) != nd)
    c.invalid("gives " + std::to_string(v.size()) + " values of " + name + " for " + std::to_string(nd) + " spatial dims");
  return v;
}

std::vector<int64_t> doubled(const std::vector<int64_t>& p) {
  std::vector<int64_t> out = p;
  out.insert(out.end(), p.begin(), p.end());
  return out;
}

const std::string kConv = "convolution_param.";

std::vector<Value> convolution(LayerContext& c) {
  c.allow({kConv + "num_output", kConv + "bias_term", kConv + "pad", kConv + "kernel_size", kConv + "group",
           kConv + "stride", kConv + "pad_h", kConv + "pad_w", kConv + "kernel_h", kConv + "kernel_w",
           kConv + "stride_h", kConv + "stride_w", kConv + "dilation", kConv + "axis", kConv + "engine",
           kConv + "force_nd_im2col", kConv + "weight_filler.*", kConv + "bias_filler.*"});
  if (c.int_param(kConv + "axis", 1) != 1) c.unsupported("only axis 1 (channels after the batch) is supported");
  c.expect_bottoms(1, 1);
  Value x = c.bottom(0);
  const int64_t channels = c.static_dim(x, 1, "bottom");
  const int64_t nd = x.rank() - 2;
  if (nd < 1 || nd > 3) c.unsupported("bottoms of rank " + std::to_string(x.rank()) + " are not supported (1-D to 3-D)");
  const std::vector<int64_t> kernel = window(c, kConv, "kernel_size", "kernel", nd, -1);
  const std::vector<int64_t> pad = window(c, kConv, "pad", "pad", nd, 0);
  const std::vector<int64_t> stride = window(c, kConv, "stride", "stride", nd, 1);
  std::vector<int64_t> dilation = c.ints_param(kConv + "dilation");
  if (dilation.empty()) dilation = {1};
  if (dilation.size() == 1) dilation.assign(static_cast<size_t>(nd), dilation[0]);
  if (static_cast<int64_t>(dilation.size()) != nd) c.invalid("gives a dilation per dim for another number of dims");
  const int64_t n_out = c.int_param(kConv + "num_output", 0), group = c.int_param(kConv + "group", 1);
  if (n_out <= 0 || n_out > (int64_t{1} << 31)) c.invalid("needs num_output between 1 and 2^31");
  if (group <= 0 || n_out % group || channels % group)
    c.invalid("group " + std::to_string(group) + " must divide num_output (" + std::to_string(n_out) +
              ") and the input channels (" + std::to_string(channels) + ")");
  for (int64_t k : kernel)
    if (k <= 0 || k > (int64_t{1} << 20)) c.invalid("kernel sizes must be between 1 and 2^20");
  Shape wshape = {n_out, channels / group};
  wshape.insert(wshape.end(), kernel.begin(), kernel.end());
  std::vector<Value> ins = {x, c.parameter(0, wshape, "weight")};
  if (c.int_param(kConv + "bias_term", 1)) ins.push_back(c.parameter(1, {n_out}, "bias"));
  AttrMap a;
  a.set("kernel_shape", kernel);
  a.set("strides", stride);
  a.set("pads", doubled(pad));
  a.set("dilations", dilation);
  a.set("group", group);
  return {op::apply("conv", ins, a, c.node_name("conv"))};
}

const std::string kPool = "pooling_param.";

// Caffe's pooled size: rounded up, then one less where the last window would start in
// the trailing padding, but only when there is padding.
int64_t caffe_pooled(int64_t in, int64_t k, int64_t s, int64_t p) {
  int64_t out = (in + 2 * p - k + s - 1) / s + 1;
  if (p > 0 && (out - 1) * s >= in + p) --out;
  return out;
}
// The engine's (PyTorch's, ONNX's) ceil-mode size: clipped whether or not there is padding.
int64_t engine_pooled(int64_t in, int64_t k, int64_t s, int64_t p) {
  int64_t out = (in + 2 * p - k + s - 1) / s + 1;
  if ((out - 1) * s >= in + p) --out;
  return out;
}

std::vector<Value> pooling(LayerContext& c) {
  c.allow({kPool + "pool", kPool + "kernel_size", kPool + "stride", kPool + "pad", kPool + "kernel_h",
           kPool + "kernel_w", kPool + "stride_h", kPool + "stride_w", kPool + "pad_h", kPool + "pad_w",
           kPool + "engine", kPool + "global_pooling"});
  c.expect_bottoms(1, 1);
  Value x = c.bottom(0);
  if (x.rank_known() && x.rank() != 4) c.invalid("pools 4-D bottoms [N, C, H, W]; this one has rank " + std::to_string(x.rank()));
  const int64_t method = c.int_param(kPool + "pool", 0);
  if (method == 2) c.unsupported("STOCHASTIC pooling is not supported");
  if (method != 0 && method != 1) c.invalid("pool method " + std::to_string(method) + " does not exist");
  const bool max = method == 0;
  if (c.int_param(kPool + "global_pooling", 0)) {
    if (c.has(kPool + "kernel_size") || c.has(kPool + "kernel_h") || c.has(kPool + "kernel_w"))
      c.invalid("global pooling cannot have a kernel size");
    return {op::apply(max ? "global_max_pool" : "global_avg_pool", {x}, {}, c.node_name("pool"))};
  }
  const std::vector<int64_t> kernel = window(c, kPool, "kernel_size", "kernel", 2, -1);
  const std::vector<int64_t> pad = window(c, kPool, "pad", "pad", 2, 0);
  const std::vector<int64_t> stride = window(c, kPool, "stride", "stride", 2, 1);
  for (int d = 0; d < 2; ++d) {
    if (kernel[d] <= 0 || stride[d] <= 0) c.invalid("kernel sizes and strides must be positive");
    if (pad[d] >= kernel[d]) c.invalid("padding must be smaller than the kernel");
    const int64_t in = c.static_dim(x, 2 + d, "bottom");
    if (in + 2 * pad[d] < kernel[d]) continue;  // the engine's shape error names it
    if (caffe_pooled(in, kernel[d], stride[d], pad[d]) != engine_pooled(in, kernel[d], stride[d], pad[d]))
      c.unsupported("its last window starts past the input (a kernel smaller than the stride, without padding); "
                    "Caffe pools it as an empty window, which symnet does not");
  }
  AttrMap a;
  a.set("kernel_shape", kernel);
  a.set("strides", stride);
  a.set("pads", doubled(pad));
  a.set("ceil_mode", int64_t{1});
  // Caffe divides by the window clipped to the padded input: the engine's count_include_pad.
  if (!max) a.set("count_include_pad", int64_t{1});
  return {op::apply(max ? "max_pool" : "avg_pool", {x}, a, c.node_name("pool"))};
}

const std::string kIP = "inner_product_param.";

std::vector<Value> inner_product(LayerContext& c) {
  c.allow({kIP + "num_output", kIP + "bias_term", kIP + "axis", kIP + "transpose", kIP + "weight_filler.*",
           kIP + "bias_filler.*"});
  c.expect_bottoms(1, 1);
  Value x = c.bottom(0);
  if (!x.rank_known()) c.unsupported("the rank of its bottom must be known when the model is imported");
  const int64_t rank = x.rank(), axis = c.axis(c.int_param(kIP + "axis", 1), rank);
  int64_t k = 1;
  for (int64_t d = axis; d < rank; ++d) k *= c.static_dim(x, d, "bottom");
  const int64_t n = c.int_param(kIP + "num_output", 0);
  if (n <= 0 || n > (int64_t{1} << 31)) c.invalid("needs num_output between 1 and 2^31");
  const bool transpose = c.int_param(kIP + "transpose", 0) != 0;
  Value w = c.parameter(0, transpose ? Shape{k, n} : Shape{n, k}, "weight");
  // Rows: the dims before axis, flattened.
  Value rows = axis == 1 && rank == 2
                   ? x
                   : axis == 1 ? op::apply("flatten", {x}, {{"axis", int64_t{1}}}, c.node_name("flatten"))
                               : op::apply("reshape", {x}, {{"shape", std::vector<int64_t>{-1, k}}}, c.node_name("rows"));
  AttrMap a;
  a.set("transB", int64_t{transpose ? 0 : 1});
  std::vector<Value> ins = {rows, w};
  if (c.int_param(kIP + "bias_term", 1)) ins.push_back(c.parameter(1, {n}, "bias"));
  Value y = op::apply("gemm", ins, a, c.node_name("gemm"));
  if (axis == 1) return {y};
  std::vector<int64_t> shape;
  for (int64_t d = 0; d < axis; ++d) shape.push_back(x.shape()[static_cast<size_t>(d)] < 0 ? -1 : x.shape()[static_cast<size_t>(d)]);
  shape.push_back(n);
  return {op::apply("reshape", {y}, {{"shape", shape}}, c.node_name("reshape"))};
}

const std::string kLRN = "lrn_param.";

std::vector<Value> lrn(LayerContext& c) {
  c.allow({kLRN + "local_size", kLRN + "alpha", kLRN + "beta", kLRN + "norm_region", kLRN + "k", kLRN + "engine"});
  c.expect_bottoms(1, 1);
  if (c.int_param(kLRN + "norm_region", 0) != 0) c.unsupported("only ACROSS_CHANNELS normalization is supported");
  const int64_t size = c.int_param(kLRN + "local_size", 5);
  if (size <= 0 || size % 2 == 0 || size > (int64_t{1} << 20)) c.invalid("local_size must be odd and positive");
  // Caffe, like ONNX, divides alpha by local_size.
  return {op::apply("lrn", {c.bottom(0)}, {{"size", size}, {"alpha", c.real_param(kLRN + "alpha", 1.0)},
                                          {"beta", c.real_param(kLRN + "beta", 0.75)},
                                          {"bias", c.real_param(kLRN + "k", 1.0)}},
                        c.node_name("lrn"))};
}

std::vector<Value> dropout(LayerContext& c) {
  c.allow({"dropout_param.dropout_ratio", "dropout_param.scale_train"});
  c.expect_bottoms(1, 1);
  if (c.int_param("dropout_param.scale_train", 1) == 0)
    c.unsupported("scale_train false (scaling at test time) is not supported");
  const double ratio = c.real_param("dropout_param.dropout_ratio", 0.5);
  if (!(ratio >= 0 && ratio < 1)) c.invalid("dropout_ratio must be in [0, 1)");
  // Identity when predicting; drops while a model is fitted.
  if (ratio == 0) return {op::apply("identity", {c.bottom(0)}, {}, c.node_name("identity"))};
  return {op::apply("dropout", {c.bottom(0)}, {{"ratio", ratio}, {"training", int64_t{0}}}, c.node_name("dropout"))};
}

const std::string kBN = "batch_norm_param.";
const std::string kScale = "scale_param.";

Tensor filled(int64_t n, float v) {
  Tensor t(DType::f32, {n});
  std::fill(t.ptr<float>(), t.ptr<float>() + n, v);
  return t;
}

// Blobs: mean * f, variance * f, f (Caffe's moving-average normalizer; f == 0: zeros).
std::vector<Value> batch_norm(LayerContext& c) {
  c.allow({kBN + "use_global_stats", kBN + "moving_average_fraction", kBN + "eps"});
  c.expect_bottoms(1, 1);
  Value x = c.bottom(0);
  const int64_t ch = c.static_dim(x, 1, "bottom");
  Tensor mean = c.blob(0, {ch}, "mean"), var = c.blob(1, {ch}, "variance");
  const float f = c.blob(2, {1}, "moving-average factor").ptr<float>()[0];
  if (!std::isfinite(f)) c.invalid("its moving-average factor is not finite");
  const float inv = f == 0 ? 0.0f : 1.0f / f;
  for (int64_t i = 0; i < ch; ++i) {
    mean.ptr<float>()[i] *= inv;
    var.ptr<float>()[i] *= inv;
  }
  Value gamma, beta;
  if (const Layer* s = c.fused_scale()) {
    c.allow(*s, {kScale + "axis", kScale + "num_axes", kScale + "bias_term", kScale + "filler.*", kScale + "bias_filler.*"});
    gamma = c.parameter(*s, 0, {ch}, "weight");
    beta = c.int_param(*s, kScale + "bias_term", 0) ? c.parameter(*s, 1, {ch}, "bias")
                                                    : op::constant(filled(ch, 0.0f), s->name + "/bias");
  } else {
    // Caffe's BatchNorm has no affine part.
    gamma = op::constant(filled(ch, 1.0f), c.layer().name + "/gamma");
    beta = op::constant(filled(ch, 0.0f), c.layer().name + "/beta");
  }
  Value m = c.variable(c.layer().name + "/mean", mean, false);
  Value v = c.variable(c.layer().name + "/variance", var, false);
  AttrMap a;
  a.set("epsilon", c.real_param(kBN + "eps", 1e-5));
  a.set("momentum", c.real_param(kBN + "moving_average_fraction", 0.999));
  // Declared (inference), so fitting switches it to training mode (passes/training.cpp).
  a.set("training", int64_t{0});
  return {op::apply("batch_norm", {x, gamma, beta, m, v}, a, c.node_name("batch_norm"))};
}

// y = x * scale (+ bias), the blobs covering dims [axis, axis + num_axes) of x.
std::vector<Value> scale(LayerContext& c) {
  c.allow({kScale + "axis", kScale + "num_axes", kScale + "bias_term", kScale + "filler.*", kScale + "bias_filler.*"});
  if (c.num_bottoms() == 2) c.unsupported("a scale taken from a second bottom is not supported");
  c.expect_bottoms(1, 1);
  Value x = c.bottom(0);
  if (!x.rank_known()) c.unsupported("the rank of its bottom must be known when the model is imported");
  const int64_t rank = x.rank();
  const int64_t a0 = c.int_param(kScale + "axis", 1);
  const int64_t axis = a0 == rank ? rank : c.axis(a0, rank);
  int64_t n_axes = c.int_param(kScale + "num_axes", 1);
  if (n_axes == -1) n_axes = rank - axis;
  if (n_axes < 0 || axis + n_axes > rank) c.invalid("num_axes " + std::to_string(n_axes) + " does not fit the bottom");
  Shape s;
  for (int64_t d = axis; d < axis + n_axes; ++d) s.push_back(c.static_dim(x, d, "bottom"));
  std::vector<int64_t> b = s;
  for (int64_t d = axis + n_axes; d < rank; ++d) b.push_back(1);
  Value y = op::apply("mul", {x, op::reshape(c.parameter(0, s, "weight"), b)}, {}, c.node_name("mul"));
  if (c.int_param(kScale + "bias_term", 0))
    y = op::apply("add", {y, op::reshape(c.parameter(1, s, "bias"), b)}, {}, c.node_name("add"));
  return {y};
}

}  // namespace

void add_nn_converters(ConverterTable& t) {
  t["Convolution"] = convolution;
  t["Pooling"] = pooling;
  t["InnerProduct"] = inner_product;
  t["LRN"] = lrn;
  t["Dropout"] = dropout;
  t["BatchNorm"] = batch_norm;
  t["Scale"] = scale;
}

}  // namespace caffe
}  // namespace symnet
