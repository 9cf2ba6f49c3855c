// Shape manipulation: reshape family, transpose, expand, slice, concat/split/stack, tile,
// pad, plus the internal ops their gradients need (slice_grad, split_like, tile_grad,
// pad_grad). CPU kernels: kernels/cpu/shape_kernels.cpp.
#include <algorithm>
#include <numeric>

#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/ops/infer_util.h"
#include "engine/ops/shape_attrs.h"

namespace symnet {

namespace {

using Types = std::vector<TensorType>;

int64_t rank_of(const TensorType& t) { return static_cast<int64_t>(t.shape.size()); }

// Product of dims [b, e); -1 when one is unknown.
int64_t prod_range(const Shape& s, int64_t b, int64_t e) {
  return shape_numel(Shape(s.begin() + b, s.begin() + e));
}

// Merges two dims that must agree; unknown yields to known.
int64_t merge_dim(int64_t a, int64_t b, const char* what, size_t i, size_t d) {
  SN_CHECK(a < 0 || b < 0 || a == b, ErrorKind::shape,
           what << ": input " << i + 1 << " has " << b << " at dimension " << d + 1 << ", expected " << a);
  return a >= 0 ? a : b;
}

Value reshape_grad_value(const GradContext& g) { return op::reshape_like(g.grad(), g.in(0)); }

std::vector<Value> grad_reshape(const GradContext& g) { return {reshape_grad_value(g)}; }

// ---- reshape family ------------------------------------------------------------------------

Types infer_reshape(const InferContext& c) {
  const Shape& in = c.in(0).shape;
  std::vector<int64_t> tgt = c.attrs.get_ints("shape");
  Shape out;
  int64_t infer_at = -1;
  for (size_t i = 0; i < tgt.size(); ++i) {
    int64_t d = tgt[i];
    if (d == 0) {
      SN_CHECK(i < in.size(), ErrorKind::attr,
               "'shape' entry " << i + 1 << " is 0 (copy the input dimension) but the input has rank " << in.size());
      out.push_back(in[i]);
    } else if (d == -1) {
      SN_CHECK(infer_at < 0, ErrorKind::attr, "'shape' may contain at most one -1, got " << shape_str(tgt));
      infer_at = static_cast<int64_t>(i);
      out.push_back(-1);
    } else {
      SN_CHECK(d > 0, ErrorKind::attr, "'shape' entries must be positive, 0 or -1, got " << d);
      out.push_back(d);
    }
  }
  int64_t n = shape_numel(in);
  if (infer_at >= 0) {
    // Dims copied with 0 appear on both sides and cancel, so reshape(x, {0, -1}) with an
    // unknown batch dim still infers the -1.
    Shape in_rest, out_rest;
    for (size_t i = 0; i < in.size(); ++i)
      if (i >= tgt.size() || tgt[i] != 0) in_rest.push_back(in[i]);
    for (size_t i = 0; i < tgt.size(); ++i)
      if (tgt[i] != 0 && static_cast<int64_t>(i) != infer_at) out_rest.push_back(out[i]);
    int64_t have = shape_numel(in_rest), known = shape_numel(out_rest);
    if (known >= 0 && have >= 0) {
      SN_CHECK(known > 0 && have % known == 0, ErrorKind::shape,
               "cannot reshape " << shape_str(in) << " (" << n << " elements) to " << shape_str(tgt));
      out[infer_at] = have / known;
    }
  } else {
    int64_t m = shape_numel(out);
    SN_CHECK(n < 0 || m < 0 || n == m, ErrorKind::shape,
             "cannot reshape " << shape_str(in) << " (" << n << " elements) to " << shape_str(tgt) << " ("
                               << m << " elements)");
  }
  return {{c.in(0).dtype, out}};
}

Types infer_flatten(const InferContext& c) {
  const Shape& in = c.in(0).shape;
  int64_t r = rank_of(c.in(0)), axis = c.attrs.get_int("axis", 1);
  int64_t a = axis < 0 ? axis + r : axis;
  SN_CHECK(a >= 0 && a <= r, ErrorKind::attr, "'axis' " << axis << " is out of range for rank " << r);
  return {{c.in(0).dtype, {prod_range(in, 0, a), prod_range(in, a, r)}}};
}

Types infer_squeeze(const InferContext& c) {
  const Shape& in = c.in(0).shape;
  int64_t r = rank_of(c.in(0));
  std::vector<int64_t> axes = c.attrs.get_ints("axes", {});
  std::vector<bool> drop(r, false);
  if (axes.empty()) {
    SN_CHECK(shape_known(in), ErrorKind::shape,
             "squeeze without 'axes' needs every dimension known, got " << shape_str(in) << "; give 'axes'");
    for (int64_t d = 0; d < r; ++d) drop[d] = in[d] == 1;
  } else {
    for (int64_t a : axes) {
      int64_t d = normalize_axis(a, r);
      // normalize_axis lets axis 0 through for a scalar (reductions over it); a scalar has no axis to drop
      SN_CHECK(d < r, ErrorKind::attr, "axis " << a << " is out of range for a tensor of rank " << r);
      SN_CHECK(in[d] == 1 || in[d] < 0, ErrorKind::shape,
               "cannot squeeze axis " << a << " of size " << in[d] << " in " << shape_str(in));
      drop[d] = true;
    }
  }
  Shape out;
  for (int64_t d = 0; d < r; ++d)
    if (!drop[d]) out.push_back(in[d]);
  return {{c.in(0).dtype, out}};
}

Types infer_unsqueeze(const InferContext& c) {
  const Shape& in = c.in(0).shape;
  std::vector<int64_t> axes = c.attrs.get_ints("axes");
  SN_CHECK(!axes.empty(), ErrorKind::attr, "'axes' must not be empty");
  int64_t ro = rank_of(c.in(0)) + static_cast<int64_t>(axes.size());
  std::vector<bool> ins(ro, false);
  for (int64_t a : axes) {
    int64_t d = normalize_axis(a, ro);
    SN_CHECK(!ins[d], ErrorKind::attr, "axis " << a << " appears twice in 'axes'");
    ins[d] = true;
  }
  Shape out;
  size_t j = 0;
  for (int64_t d = 0; d < ro; ++d) out.push_back(ins[d] ? 1 : in[j++]);
  return {{c.in(0).dtype, out}};
}

// ---- transpose / expand --------------------------------------------------------------------

Types infer_transpose(const InferContext& c) {
  std::vector<int64_t> perm = resolve_perm(c.attrs, rank_of(c.in(0)));
  Shape out;
  for (int64_t p : perm) out.push_back(c.in(0).shape[p]);
  return {{c.in(0).dtype, out}};
}

std::vector<Value> grad_transpose(const GradContext& g) {
  std::vector<int64_t> perm = resolve_perm(g.node.attrs, g.in(0).rank()), inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = static_cast<int64_t>(i);
  return {op::transpose(g.grad(), inv)};
}

Types infer_expand(const InferContext& c) {
  std::vector<int64_t> tgt = c.attrs.get_ints("shape");
  for (int64_t d : tgt) SN_CHECK(d >= 0, ErrorKind::attr, "'shape' entries must be non-negative, got " << d);
  return {{c.in(0).dtype, broadcast_shapes(c.in(0).shape, tgt)}};
}

// ---- slice ---------------------------------------------------------------------------------

Types infer_slice(const InferContext& c) {
  return {{c.in(0).dtype, resolve_slice(c.in(0).shape, c.attrs).len}};
}

Types infer_slice_grad(const InferContext& c) {
  Shape want = resolve_slice(c.in(1).shape, c.attrs).len;
  SN_CHECK(shapes_compatible(c.in(0).shape, want), ErrorKind::shape,
           "gradient of shape " << shape_str(c.in(0).shape) << " does not match the slice shape " << shape_str(want));
  return {{c.in(0).dtype, c.in(1).shape}};
}

// ---- concat / split / stack ----------------------------------------------------------------

Types infer_concat(const InferContext& c) {
  const TensorType& t0 = c.in(0);
  int64_t r = rank_of(t0);
  SN_CHECK(r >= 1, ErrorKind::shape, "concat needs inputs of rank 1 or more");
  int64_t axis = normalize_axis(c.attrs.get_int("axis", 0), r);
  Shape out = t0.shape;
  for (size_t i = 1; i < c.num_inputs(); ++i) {
    const TensorType& t = c.in(i);
    require_same_dtype(c, 0, i);
    SN_CHECK(rank_of(t) == r, ErrorKind::shape,
             "concat: input " << i + 1 << " has rank " << rank_of(t) << ", input 1 has rank " << r);
    for (int64_t d = 0; d < r; ++d) {
      if (d == axis) out[d] = out[d] < 0 || t.shape[d] < 0 ? -1 : out[d] + t.shape[d];
      else out[d] = merge_dim(out[d], t.shape[d], "concat", i, d);
    }
  }
  return {{t0.dtype, out}};
}

std::vector<Value> grad_concat(const GradContext& g) {
  std::vector<Value> in{g.grad()};
  for (const Value& x : g.node.inputs) in.push_back(x);
  return make_node("split_like", in, {{"axis", g.node.attrs.get_int("axis", 0)}});
}

Types infer_split(const InferContext& c) {
  int64_t r = rank_of(c.in(0));
  SN_CHECK(r >= 1, ErrorKind::shape, "split needs an input of rank 1 or more");
  int64_t axis = normalize_axis(c.attrs.get_int("axis", 0), r);
  Types out;
  for (int64_t s : resolve_split(c.in(0).shape[axis], c.attrs)) {
    TensorType t = c.in(0);
    t.shape[axis] = s;
    out.push_back(t);
  }
  return out;
}

std::vector<Value> grad_split(const GradContext& g) {
  return {op::apply("concat", g.out_grads, {{"axis", g.node.attrs.get_int("axis", 0)}})};
}

Types infer_split_like(const InferContext& c) {
  int64_t r = rank_of(c.in(0));
  SN_CHECK(r >= 1, ErrorKind::shape, "split_like needs an input of rank 1 or more");
  int64_t axis = normalize_axis(c.attrs.get_int("axis", 0), r);
  Types out;
  int64_t sum = 0;
  for (size_t i = 1; i < c.num_inputs(); ++i) {
    SN_CHECK(rank_of(c.in(i)) == r, ErrorKind::shape, "split_like: input " << i + 1 << " has another rank");
    int64_t d = c.in(i).shape[axis];
    sum = sum < 0 || d < 0 ? -1 : sum + d;
    TensorType t = c.in(0);
    t.shape[axis] = d;
    out.push_back(t);
  }
  int64_t total = c.in(0).shape[axis];
  SN_CHECK(sum < 0 || total < 0 || sum == total, ErrorKind::shape,
           "split_like: parts sum to " << sum << " but the axis has length " << total);
  return out;
}

std::vector<Value> grad_split_like(const GradContext& g) {
  std::vector<Value> out(g.node.inputs.size());
  out[0] = op::apply("concat", g.out_grads, {{"axis", g.node.attrs.get_int("axis", 0)}});
  return out;
}

Types infer_stack(const InferContext& c) {
  Shape s = c.in(0).shape;
  for (size_t i = 1; i < c.num_inputs(); ++i) {
    require_same_dtype(c, 0, i);
    SN_CHECK(c.in(i).shape.size() == s.size(), ErrorKind::shape,
             "stack: input " << i + 1 << " has shape " << shape_str(c.in(i).shape) << ", input 1 has "
                             << shape_str(c.in(0).shape));
    for (size_t d = 0; d < s.size(); ++d) s[d] = merge_dim(s[d], c.in(i).shape[d], "stack", i, d);
  }
  int64_t axis = normalize_axis(c.attrs.get_int("axis", 0), static_cast<int64_t>(s.size()) + 1);
  s.insert(s.begin() + axis, static_cast<int64_t>(c.num_inputs()));
  return {{c.in(0).dtype, s}};
}

std::vector<Value> grad_stack(const GradContext& g) {
  int64_t n = static_cast<int64_t>(g.node.inputs.size());
  std::vector<Value> parts =
      make_node("split", {g.grad()}, {{"axis", g.node.attrs.get_int("axis", 0)}, {"num_outputs", n}});
  std::vector<Value> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(op::reshape_like(parts[i], g.in(i)));
  return out;
}

// ---- tile / pad ----------------------------------------------------------------------------

std::vector<int64_t> checked_repeats(const AttrMap& a, int64_t r) {
  std::vector<int64_t> reps = a.get_ints("repeats");
  SN_CHECK(static_cast<int64_t>(reps.size()) == r, ErrorKind::attr,
           "'repeats' has " << reps.size() << " entries for a tensor of rank " << r);
  for (int64_t x : reps) SN_CHECK(x >= 0, ErrorKind::attr, "'repeats' must be non-negative, got " << x);
  return reps;
}

Shape tiled_shape(const Shape& in, const std::vector<int64_t>& reps) {
  Shape out;
  for (size_t d = 0; d < in.size(); ++d) out.push_back(reps[d] == 0 ? 0 : in[d] < 0 ? -1 : in[d] * reps[d]);
  return out;
}

Types infer_tile(const InferContext& c) {
  return {{c.in(0).dtype, tiled_shape(c.in(0).shape, checked_repeats(c.attrs, rank_of(c.in(0))))}};
}

Types infer_tile_grad(const InferContext& c) {
  SN_CHECK(c.in(0).dtype != DType::boolean, ErrorKind::dtype, "tile_grad is not defined for bool");
  Shape want = tiled_shape(c.in(1).shape, checked_repeats(c.attrs, rank_of(c.in(1))));
  SN_CHECK(shapes_compatible(c.in(0).shape, want), ErrorKind::shape,
           "gradient of shape " << shape_str(c.in(0).shape) << " does not match the tiled shape " << shape_str(want));
  return {{c.in(0).dtype, c.in(1).shape}};
}

Shape padded_shape(const Shape& in, const AttrMap& a) {
  PadSpec p = resolve_pad(static_cast<int64_t>(in.size()), a);
  a.get_float("value", 0.0);
  Shape out;
  for (size_t d = 0; d < in.size(); ++d) {
    int64_t n = in[d], b = p.begin[d], e = p.end[d];
    if (n < 0) {
      out.push_back(-1);
      continue;
    }
    SN_CHECK(n + b + e >= 0, ErrorKind::shape,
             "pads " << b << ", " << e << " crop dimension " << d + 1 << " of size " << n << " below zero");
    if (p.mode == 1)
      SN_CHECK(b < n && e < n, ErrorKind::shape,
               "reflect padding needs pads smaller than the dimension (dimension " << d + 1 << " has size " << n
                                                                                  << ", pads " << b << ", " << e << ")");
    if (p.mode == 2)
      SN_CHECK(n > 0 || (b <= 0 && e <= 0), ErrorKind::shape, "edge padding of an empty dimension " << d + 1);
    out.push_back(n + b + e);
  }
  return out;
}

Types infer_pad(const InferContext& c) { return {{c.in(0).dtype, padded_shape(c.in(0).shape, c.attrs)}}; }

std::vector<Value> grad_pad(const GradContext& g) {
  const AttrMap& a = g.node.attrs;
  if (a.get_string("mode", "constant") == "constant") {
    std::vector<int64_t> neg = a.get_ints("pads");
    for (auto& p : neg) p = -p;
    return {op::apply("pad", {g.grad()}, {{"pads", neg}, {"mode", std::string("constant")}})};
  }
  return {op::apply("pad_grad", {g.grad(), g.in(0)}, {{"pads", a.get_ints("pads")}, {"mode", a.get_string("mode")}})};
}

Types infer_pad_grad(const InferContext& c) {
  SN_CHECK(c.in(0).dtype != DType::boolean, ErrorKind::dtype, "pad_grad is not defined for bool");
  Shape want = padded_shape(c.in(1).shape, c.attrs);
  SN_CHECK(shapes_compatible(c.in(0).shape, want), ErrorKind::shape,
           "gradient of shape " << shape_str(c.in(0).shape) << " does not match the padded shape " << shape_str(want));
  return {{c.in(0).dtype, c.in(1).shape}};
}

OpSchema def(const std::string& name, int min_in, int max_in, InferFn infer, GradFn grad, std::vector<AttrSpec> attrs) {
  OpSchema d;
  d.name = name;
  d.min_inputs = min_in;
  d.max_inputs = max_in;
  d.flags = kPure;
  d.infer = std::move(infer);
  d.grad = std::move(grad);
  d.with_attrs(std::move(attrs));
  return d;
}

}  // namespace

void register_shape_ops(Registry& r) {
  const AttrSpec kAxis{"axis", AttrKind::int_, false, "default 0"};
  const std::vector<AttrSpec> kSlice = {{"starts", AttrKind::ints, true, "first index per sliced axis"},
                                        {"ends", AttrKind::ints, true, "end (excluded) per sliced axis"},
                                        {"axes", AttrKind::ints, false, "sliced axes (default 0, 1, ...)"},
                                        {"steps", AttrKind::ints, false, "default 1s"}};
  const std::vector<AttrSpec> kSplit = {kAxis, {"sizes", AttrKind::ints, false, "part sizes"},
                                        {"num_outputs", AttrKind::int_, false, "equal parts (ONNX Split-18)"}};
  const std::vector<AttrSpec> kTile = {{"repeats", AttrKind::ints, true, "copies per axis"}};
  const std::vector<AttrSpec> kPad = {{"pads", AttrKind::ints, true, "[begin..., end...]"},
                                      {"mode", AttrKind::string, false, "constant (default), reflect or edge"},
                                      {"value", AttrKind::float_, false, "constant mode fill (default 0)"}};
  for (const char* name : {"reshape", "flatten", "squeeze", "unsqueeze"}) {
    std::string n = name;
    InferFn f = n == "reshape" ? InferFn(infer_reshape)
                : n == "flatten" ? InferFn(infer_flatten)
                : n == "squeeze" ? InferFn(infer_squeeze)
                                 : InferFn(infer_unsqueeze);
    std::vector<AttrSpec> attrs;
    if (n == "reshape") attrs = {{"shape", AttrKind::ints, true, "target shape; 0 copies, -1 infers a dim"}};
    if (n == "flatten") attrs = {{"axis", AttrKind::int_, false, "dims before it form the rows (default 1)"}};
    if (n == "squeeze") attrs = {{"axes", AttrKind::ints, false, "size-1 axes removed (default: all)"}};
    if (n == "unsqueeze") attrs = {{"axes", AttrKind::ints, true, "axes inserted, in output positions"}};
    r.add(def(n, 1, 1, f, grad_reshape, attrs));
  }
  r.add(def("transpose", 1, 1, infer_transpose, grad_transpose, {{"perm", AttrKind::ints, false, "output axis i is input axis perm[i] (default: reversed)"}}));
  r.add(def("expand", 1, 1, infer_expand,
            [](const GradContext& g) { return std::vector<Value>{op::sum_to(g.grad(), g.in(0))}; },
            {{"shape", AttrKind::ints, true, "target shape (NumPy broadcasting)"}}));
  r.add(def("slice", 1, 1, infer_slice,
            [](const GradContext& g) {
              return std::vector<Value>{op::apply("slice_grad", {g.grad(), g.in(0)}, g.node.attrs)};
            },
            kSlice));
  r.add(def("slice_grad", 2, 2, infer_slice_grad,
            [](const GradContext& g) {
              return std::vector<Value>{op::apply("slice", {g.grad()}, g.node.attrs), Value{}};
            },
            kSlice));
  r.add(def("concat", 1, -1, infer_concat, grad_concat, {kAxis}));
  r.add(def("split", 1, 1, infer_split, grad_split, kSplit));
  r.add(def("split_like", 2, -1, infer_split_like, grad_split_like, {kAxis}));
  r.add(def("stack", 1, -1, infer_stack, grad_stack, {kAxis}));
  r.add(def("tile", 1, 1, infer_tile,
            [](const GradContext& g) {
              return std::vector<Value>{op::apply("tile_grad", {g.grad(), g.in(0)}, g.node.attrs)};
            },
            kTile));
  r.add(def("tile_grad", 2, 2, infer_tile_grad,
            [](const GradContext& g) {
              return std::vector<Value>{op::apply("tile", {g.grad()}, g.node.attrs), Value{}};
            },
            kTile));
  r.add(def("pad", 1, 1, infer_pad, grad_pad, kPad));
  r.add(def("pad_grad", 2, 2, infer_pad_grad,
            [](const GradContext& g) {
              return std::vector<Value>{op::apply("pad", {g.grad()}, g.node.attrs), Value{}};
            },
            kPad));
}

}  // namespace symnet
