// Indexing: gather (ONNX Gather), gather_elements, scatter_elements, one_hot, and the
// internal gather_grad (scatter-add into zeros). CPU kernels: kernels/cpu/index_kernels.cpp.
#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/ops/infer_util.h"

namespace symnet {

namespace {

using Types = std::vector<TensorType>;

int64_t rank_of(const TensorType& t) { return static_cast<int64_t>(t.shape.size()); }

// Every indexing op takes index_base: indices count from 0 (ONNX, C) or 1 (R).
void check_index_base(const InferContext& c) {
  const int64_t base = c.attrs.get_int("index_base", 0);
  SN_CHECK(base == 0 || base == 1, ErrorKind::attr, "'index_base' must be 0 or 1, got " << base);
}

Shape gather_shape(const Shape& data, const Shape& ind, int64_t axis) {
  Shape out(data.begin(), data.begin() + axis);
  out.insert(out.end(), ind.begin(), ind.end());
  out.insert(out.end(), data.begin() + axis + 1, data.end());
  return out;
}

Types infer_gather(const InferContext& c) {
  check_index_base(c);
  require_integer_index(c, 1);
  SN_CHECK(rank_of(c.in(0)) >= 1, ErrorKind::shape, "gather needs data of rank 1 or more");
  int64_t axis = normalize_axis(c.attrs.get_int("axis", 0), rank_of(c.in(0)));
  return {{c.in(0).dtype, gather_shape(c.in(0).shape, c.in(1).shape, axis)}};
}

// gather_grad(g, indices, data_like): zeros of data_like's shape with g scattered (added)
// at the gathered positions.
Types infer_gather_grad(const InferContext& c) {
  check_index_base(c);
  require_integer_index(c, 1);
  SN_CHECK(c.in(0).dtype != DType::boolean, ErrorKind::dtype, "gather_grad is not defined for bool");
  SN_CHECK(rank_of(c.in(2)) >= 1, ErrorKind::shape, "gather_grad needs data of rank 1 or more");
  int64_t axis = normalize_axis(c.attrs.get_int("axis", 0), rank_of(c.in(2)));
  Shape want = gather_shape(c.in(2).shape, c.in(1).shape, axis);
  SN_CHECK(shapes_compatible(c.in(0).shape, want), ErrorKind::shape,
           "gradient of shape " << shape_str(c.in(0).shape) << " does not match the gather shape " << shape_str(want));
  return {{c.in(0).dtype, c.in(2).shape}};
}

// Shared checks of gather_elements/scatter_elements: same rank, index dims within data.
int64_t check_elements(const InferContext& c, const Shape& data, const Shape& ind) {
  require_integer_index(c, 1);
  int64_t r = static_cast<int64_t>(data.size());
  SN_CHECK(r >= 1, ErrorKind::shape, "data must have rank 1 or more");
  SN_CHECK(static_cast<int64_t>(ind.size()) == r, ErrorKind::shape,
           "indices " << shape_str(ind) << " must have the rank of data " << shape_str(data));
  int64_t axis = normalize_axis(c.attrs.get_int("axis", 0), r);
  for (int64_t d = 0; d < r; ++d)
    SN_CHECK(d == axis || ind[d] < 0 || data[d] < 0 || ind[d] <= data[d], ErrorKind::shape,
             "indices " << shape_str(ind) << " exceed data " << shape_str(data) << " at dimension " << d + 1);
  return axis;
}

Types infer_gather_elements(const InferContext& c) {
  check_index_base(c);
  check_elements(c, c.in(0).shape, c.in(1).shape);
  return {{c.in(0).dtype, c.in(1).shape}};
}

Types infer_scatter_elements(const InferContext& c) {
  check_index_base(c);
  check_elements(c, c.in(0).shape, c.in(1).shape);
  require_same_dtype(c, 0, 2);
  SN_CHECK(shapes_compatible(c.in(1).shape, c.in(2).shape), ErrorKind::shape,
           "updates " << shape_str(c.in(2).shape) << " must have the shape of indices " << shape_str(c.in(1).shape));
  std::string red = c.attrs.get_string("reduction", "none");
  SN_CHECK(red == "none" || red == "add" || red == "mul", ErrorKind::attr,
           "'reduction' must be \"none\", \"add\" or \"mul\", not \"" << red << "\"");
  SN_CHECK(red == "none" || c.in(0).dtype != DType::boolean, ErrorKind::dtype,
           "reduction \"" << red << "\" is not defined for bool");
  return {c.in(0)};
}

// Gradients index with the same indices, so they keep the node's index base.
Value scatter(const Value& data, const Value& ind, const Value& upd, int64_t axis, const std::string& red,
              int64_t base) {
  return op::apply("scatter_elements", {data, ind, upd}, {{"axis", axis}, {"reduction", red}, {"index_base", base}});
}
Value gather_elements(const Value& data, const Value& ind, int64_t axis, int64_t base) {
  return op::apply("gather_elements", {data, ind}, {{"axis", axis}, {"index_base", base}});
}

std::vector<Value> grad_scatter_elements(const GradContext& g) {
  int64_t axis = g.node.attrs.get_int("axis", 0);
  int64_t base = g.node.attrs.get_int("index_base", 0);
  std::string red = g.node.attrs.get_string("reduction", "none");
  const Value &gy = g.grad(), &ind = g.in(1), &upd = g.in(2);
  if (red == "add") return {gy, Value{}, gather_elements(gy, ind, axis, base)};
  if (red == "mul") {
    // d out/d u_j = out / u_j at its position (undefined where u_j == 0).
    Value du = op::div(gather_elements(op::mul(gy, g.out()), ind, axis, base), upd);
    return {scatter(gy, ind, upd, axis, "mul", base), Value{}, du};
  }
  // "none": overwritten positions do not see data.
  return {scatter(gy, ind, op::zeros_like(upd), axis, "none", base), Value{}, gather_elements(gy, ind, axis, base)};
}

Types infer_one_hot(const InferContext& c) {
  check_index_base(c);
  require_integer_index(c, 0);
  int64_t depth = c.attrs.get_int("depth");
  SN_CHECK(depth >= 1, ErrorKind::attr, "'depth' must be at least 1, got " << depth);
  c.attrs.get_float("on_value", 1.0);
  c.attrs.get_float("off_value", 0.0);
  Shape s = c.in(0).shape;
  int64_t axis = normalize_axis(c.attrs.get_int("axis", -1), static_cast<int64_t>(s.size()) + 1);
  s.insert(s.begin() + axis, depth);
  DType t = dtype_from_name(c.attrs.get_string("dtype", "float32"));
  SN_CHECK(is_core_dtype(t), ErrorKind::dtype, "'dtype' " << dtype_name(t) << " is not supported");
  return {{t, s}};
}

const AttrSpec kAxis{"axis", AttrKind::int_, false, "axis indexed (default 0)"};
const AttrSpec kBase{"index_base", AttrKind::int_, false, "indices count from 0 (default) or 1"};

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

}  // namespace

void register_index_ops(Registry& r) {
  r.add(def("gather", 2, infer_gather,
            [](const GradContext& g) {
              return std::vector<Value>{op::apply("gather_grad", {g.grad(), g.in(1), g.in(0)}, g.node.attrs), Value{}};
            },
            {kAxis, kBase}));
  r.add(def("gather_grad", 3, infer_gather_grad,
            [](const GradContext& g) {
              return std::vector<Value>{op::apply("gather", {g.grad(), g.in(1)}, g.node.attrs), Value{}, Value{}};
            },
            {kAxis, kBase}));
  r.add(def("gather_elements", 2, infer_gather_elements,
            [](const GradContext& g) {
              int64_t axis = g.node.attrs.get_int("axis", 0);
              int64_t base = g.node.attrs.get_int("index_base", 0);
              return std::vector<Value>{scatter(op::zeros_like(g.in(0)), g.in(1), g.grad(), axis, "add", base), Value{}};
            },
            {kAxis, kBase}));
  r.add(def("scatter_elements", 3, infer_scatter_elements, grad_scatter_elements,
            {kAxis, kBase, {"reduction", AttrKind::string, false, "\"none\" (default), \"add\" or \"mul\""}}));
  OpSchema oh = def("one_hot", 1, infer_one_hot, [](const GradContext&) { return std::vector<Value>{Value{}}; },
                    {{"depth", AttrKind::int_, true, "number of classes"},
                     {"axis", AttrKind::int_, false, "axis of the classes in the output (default -1)"},
                     {"on_value", AttrKind::float_, false, "default 1"},
                     {"off_value", AttrKind::float_, false, "default 0"},
                     {"dtype", AttrKind::string, false, "default \"float32\""},
                     kBase});
  oh.flags = kPure | kZeroGrad;
  r.add(oh);
}

}  // namespace symnet
