// Converters of ONNX's tensor-manipulation operators: constants, shapes, reshapes,
// slicing, gathering, padding. Shape-like inputs (shape, axes, pads, repeats, sizes) must
// be known at import time; the driver folds what is computed from constants and static
// shapes, so Shape -> Gather -> Concat -> Reshape chains qualify.
#include "engine/io/onnx/onnx_import_context.h"

namespace symnet {
namespace onnx {

namespace {

Tensor tensor_of_ints(const std::vector<int64_t>& v, bool scalar = false) {
  Tensor t(DType::i64, scalar ? Shape{} : Shape{static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) t.ptr<int64_t>()[i] = v[i];
  return t;
}

std::vector<Value> constant(ImportContext& c) {
  const Node& n = c.node();
  if (n.attributes.size() != 1) c.invalid("needs exactly one value attribute");
  const Attribute& a = n.attributes[0];
  Tensor t;
  if (a.name == "value") {
    t = a.t_value.value;
  } else if (a.name == "value_float") {
    t = Tensor::scalar(DType::f32, a.f_value);
  } else if (a.name == "value_floats") {
    t = Tensor(DType::f32, {static_cast<int64_t>(a.floats_value.size())});
    for (size_t i = 0; i < a.floats_value.size(); ++i) t.ptr<float>()[i] = a.floats_value[i];
  } else if (a.name == "value_int") {
    t = tensor_of_ints({a.i_value}, true);
  } else if (a.name == "value_ints") {
    t = tensor_of_ints(a.ints_value);
  } else {
    c.unsupported("a constant given as '" + a.name + "' is not supported");
  }
  if (!t.defined()) c.invalid("the constant has no value");
  return {op::constant(t)};
}

std::vector<Value> constant_of_shape(ImportContext& c) {
  const std::vector<int64_t> shape = c.known_ints(0, "shape");
  DType dt = DType::f32;
  double v = 0;
  if (const Attribute* a = c.attr("value")) {
    if (a->t_value.value.numel() != 1) c.invalid("value must hold one element");
    dt = a->t_value.value.dtype();
    v = a->t_value.value.get_as_double(0);
  }
  return {op::apply("fill", {}, {{"shape", shape}, {"dtype", std::string(dtype_name(dt))}, {"value", v}})};
}

std::vector<Value> shape_op(ImportContext& c) {
  Value x = c.in(0);
  const Shape& s = c.static_shape(x, "input");
  const int64_t r = static_cast<int64_t>(s.size());
  int64_t start = c.attr_int("start", 0), end = c.attr_int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::min(std::max<int64_t>(start, 0), r);
  end = std::min(std::max<int64_t>(end, 0), r);
  std::vector<int64_t> dims;
  for (int64_t d = start; d < end; ++d) dims.push_back(s[static_cast<size_t>(d)]);
  return {op::constant(tensor_of_ints(dims))};
}

std::vector<Value> size_op(ImportContext& c) {
  const Shape& s = c.static_shape(c.in(0), "input");
  return {op::constant(tensor_of_ints({shape_numel(s)}, true))};
}

std::vector<Value> reshape(ImportContext& c) {
  std::vector<int64_t> shape = c.opset() < 5 ? c.attr_ints("shape") : c.known_ints(1, "shape");
  Value x = c.in(0);
  if (c.attr_int("allowzero", 0) != 0) {
    for (int64_t d : shape)
      if (d == 0) c.unsupported("allowzero with a zero in the shape is not supported");
  }
  return {op::reshape(x, shape)};
}

std::vector<Value> flatten(ImportContext& c) {
  Value x = c.in(0);
  int64_t axis = c.attr_int("axis", 1);
  if (x.rank_known() && axis < 0) axis += x.rank();
  return {op::apply("flatten", {x}, {{"axis", axis}})};
}

std::vector<Value> transpose(ImportContext& c) {
  Value x = c.in(0);
  std::vector<int64_t> perm = c.attr_ints("perm");
  if (perm.empty()) {
    for (int64_t d = x.rank() - 1; d >= 0; --d) perm.push_back(d);
  }
  return {op::transpose(x, perm)};
}

std::vector<int64_t> axes_of(ImportContext& c, int64_t input_since, const char* what) {
  if (c.opset() >= input_since) return c.has(1) ? c.known_ints(1, what) : std::vector<int64_t>{};
  return c.attr_ints("axes");
}

std::vector<Value> squeeze(ImportContext& c) {
  const std::vector<int64_t> axes = axes_of(c, 13, "axes");
  return {op::apply("squeeze", {c.in(0)}, axes.empty() ? AttrMap{} : AttrMap{{"axes", axes}})};
}

std::vector<Value> unsqueeze(ImportContext& c) {
  const std::vector<int64_t> axes = axes_of(c, 13, "axes");
  if (axes.empty()) c.invalid("needs axes");
  return {op::unsqueeze(c.in(0), axes)};
}

std::vector<Value> concat(ImportContext& c) {
  std::vector<Value> ins;
  for (size_t i = 0; i < c.num_inputs(); ++i)
    if (c.has(i)) ins.push_back(c.in(i));
  if (ins.empty()) c.invalid("needs at least one input");
  if (!c.has_attr("axis")) c.invalid("attribute axis is required");
  return {op::apply("concat", ins, {{"axis", c.attr_int("axis", 0)}})};
}

std::vector<Value> split(ImportContext& c) {
  Value x = c.in(0);
  const int64_t n_out = static_cast<int64_t>(c.node().outputs.size());
  AttrMap a;
  a.set("axis", c.attr_int("axis", 0));
  std::vector<int64_t> sizes = c.opset() >= 13 ? (c.has(1) ? c.known_ints(1, "split") : std::vector<int64_t>{})
                                                : c.attr_ints("split");
  if (!sizes.empty()) {
    a.set("sizes", sizes);
  } else if (c.has_attr("num_outputs")) {
    a.set("num_outputs", c.attr_int("num_outputs", n_out));
  } else {
    a.set("num_outputs", n_out);
  }
  return make_node("split", {x}, a);
}

std::vector<Value> slice(ImportContext& c) {
  std::vector<int64_t> starts, ends, axes, steps;
  if (c.opset() < 10) {
    starts = c.attr_ints("starts");
    ends = c.attr_ints("ends");
    axes = c.attr_ints("axes");
  } else {
    starts = c.known_ints(1, "starts");
    ends = c.known_ints(2, "ends");
    if (c.has(3)) axes = c.known_ints(3, "axes");
    if (c.has(4)) steps = c.known_ints(4, "steps");
  }
  AttrMap a{{"starts", starts}, {"ends", ends}};
  if (!axes.empty()) a.set("axes", axes);
  if (!steps.empty()) a.set("steps", steps);
  return {op::apply("slice", {c.in(0)}, a)};
}

// ONNX indices may count from the end of the axis (-1 is the last): wrapped here when
// the axis length is known (the engine's kernels take 0-based indices and check them).
Value wrap_indices(ImportContext& c, const Value& data, Value idx, int64_t& axis) {
  if (!data.rank_known()) return idx;
  axis = norm_axis(axis, data.rank(), c);
  const int64_t n = data.shape()[static_cast<size_t>(axis)];
  if (n < 0) return idx;
  if (c.is_known(1)) {
    bool negative = false;
    for (double v : c.known_doubles(1, "indices")) negative = negative || v < 0;
    if (!negative) return idx;
  }
  return op::where(op::less(idx, op::scalar_like(0, idx)), op::add(idx, op::scalar_like(double(n), idx)), idx);
}

std::vector<Value> gather(ImportContext& c) {
  Value data = c.in(0);
  int64_t axis = c.attr_int("axis", 0);
  Value idx = wrap_indices(c, data, c.in(1), axis);
  return {op::apply("gather", {data, idx}, {{"axis", axis}})};
}

std::vector<Value> gather_elements(ImportContext& c) {
  Value data = c.in(0);
  int64_t axis = c.attr_int("axis", 0);
  Value idx = wrap_indices(c, data, c.in(1), axis);
  return {op::apply("gather_elements", {data, idx}, {{"axis", axis}})};
}

std::vector<Value> scatter_elements(ImportContext& c) {
  Value data = c.in(0);
  int64_t axis = c.attr_int("axis", 0);
  Value idx = wrap_indices(c, data, c.in(1), axis);
  AttrMap a{{"axis", axis}};
  const std::string red = c.attr_string("reduction", "none");
  if (red != "none") a.set("reduction", red);
  return {op::apply("scatter_elements", {data, idx, c.in(2)}, a)};
}

std::vector<Value> expand(ImportContext& c) { return {op::expand(c.in(0), c.known_ints(1, "shape"))}; }

std::vector<Value> tile(ImportContext& c) {
  return {op::apply("tile", {c.in(0)}, {{"repeats", c.known_ints(1, "repeats")}})};
}

std::vector<Value> pad(ImportContext& c) {
  Value x = c.in(0);
  std::vector<int64_t> pads;
  double value = 0;
  if (c.opset() < 11) {
    pads = c.attr_ints("pads");
    value = c.attr_float("value", 0);
  } else {
    pads = c.known_ints(1, "pads");
    if (c.has(2)) value = c.known_doubles(2, "constant_value").at(0);
    if (c.has(3)) {
      // Pads for the listed axes only: spread them over all axes.
      const std::vector<int64_t> axes = c.known_ints(3, "axes");
      const int64_t r = x.rank();
      std::vector<int64_t> full(static_cast<size_t>(2 * r), 0);
      if (pads.size() != 2 * axes.size()) c.invalid("pads must hold two values per axis");
      for (size_t k = 0; k < axes.size(); ++k) {
        const int64_t ax = norm_axis(axes[k], r, c);
        full[static_cast<size_t>(ax)] = pads[k];
        full[static_cast<size_t>(ax + r)] = pads[k + axes.size()];
      }
      pads = full;
    }
  }
  std::string mode = c.attr_string("mode", "constant");
  return {op::apply("pad", {x}, {{"pads", pads}, {"mode", mode}, {"value", value}})};
}

std::vector<Value> range(ImportContext& c) {
  const double start = c.known_doubles(0, "start").at(0), limit = c.known_doubles(1, "limit").at(0),
               delta = c.known_doubles(2, "delta").at(0);
  const DType dt = c.known(0, "start").dtype();
  return {op::apply("range", {}, {{"start", start}, {"limit", limit}, {"delta", delta}, {"dtype", std::string(dtype_name(dt))}})};
}

std::vector<Value> one_hot(ImportContext& c) {
  const int64_t depth = static_cast<int64_t>(c.known_doubles(1, "depth").at(0));
  const std::vector<double> values = c.known_doubles(2, "values");
  if (values.size() != 2) c.invalid("values must hold [off_value, on_value]");
  const DType dt = c.known(2, "values").dtype();
  Value idx = c.in(0);
  if (is_float(idx.dtype())) idx = op::cast(idx, DType::i64);
  // Negative indices count from the end of the depth.
  Value wrapped = op::where(op::less(idx, op::scalar_like(0, idx)), op::add(idx, op::scalar_like(double(depth), idx)), idx);
  return {op::apply("one_hot", {wrapped}, {{"depth", depth}, {"axis", c.attr_int("axis", -1)}, {"off_value", values[0]},
                                            {"on_value", values[1]}, {"dtype", std::string(dtype_name(dt))}})};
}

}  // namespace

void add_tensor_converters(ConverterTable& t) {
  t["Constant"] = constant;
  t["ConstantOfShape"] = constant_of_shape;
  t["Shape"] = shape_op;
  t["Size"] = size_op;
  t["Reshape"] = reshape;
  t["Flatten"] = flatten;
  t["Transpose"] = transpose;
  t["Squeeze"] = squeeze;
  t["Unsqueeze"] = unsqueeze;
  t["Concat"] = concat;
  t["Split"] = split;
  t["Slice"] = slice;
  t["Gather"] = gather;
  t["GatherElements"] = gather_elements;
  t["ScatterElements"] = scatter_elements;
  t["Scatter"] = scatter_elements;
  t["Expand"] = expand;
  t["Tile"] = tile;
  t["Pad"] = pad;
  t["Range"] = range;
  t["OneHot"] = one_hot;
}

}  // namespace onnx
}  // namespace symnet
