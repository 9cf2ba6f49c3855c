// Collective ops: tensors reduced, broadcast or gathered across the processes of a
// distributed run (dist/communicator.h). Every rank must run the same collectives in the
// same order, so they are kStateful (never folded, merged or dropped) and kCollective (a
// backend places them only where its communicator lives). With one process each is the
// identity (allgather and reduce_scatter with world_size 1).
// CPU kernels: kernels/cpu/collective.cpp.
#include "engine/base/error.h"
#include "engine/dist/communicator.h"
#include "engine/ops/builder.h"
#include "engine/ops/infer_util.h"

namespace symnet {

namespace {

using Types = std::vector<TensorType>;
constexpr unsigned kCollectiveFlags = kStateful | kCollective;

void require_comm_dtype(const InferContext& c) {
  const DType t = c.in(0).dtype;
  SN_CHECK(comm_supports_dtype(t), ErrorKind::dtype,
           c.op << " supports float32, float64, int32, int64, uint8 and bool, not " << dtype_name(t));
}

std::string reduction_of(const AttrMap& a, bool allow_extrema) {
  const std::string r = a.get_string("reduction", "sum");
  const bool ok = r == "sum" || r == "mean" || (allow_extrema && (r == "max" || r == "min"));
  SN_CHECK(ok, ErrorKind::attr,
           "'reduction' must be " << (allow_extrema ? "\"sum\", \"mean\", \"max\" or \"min\"" : "\"sum\" or \"mean\"")
                                  << ", got \"" << r << "\"");
  return r;
}

int64_t world_size_of(const AttrMap& a) {
  const int64_t n = a.get_int("world_size");
  SN_CHECK(n >= 1 && n <= (1 << 24), ErrorKind::attr, "'world_size' must be at least 1, got " << n);
  return n;
}

void require_mean_float(const InferContext& c, const std::string& reduction) {
  SN_CHECK(reduction != "mean" || is_float(c.in(0).dtype), ErrorKind::dtype,
           c.op << " with reduction \"mean\" needs a floating-point tensor, not " << dtype_name(c.in(0).dtype));
}

Types infer_allreduce(const InferContext& c) {
  require_comm_dtype(c);
  require_mean_float(c, reduction_of(c.attrs, true));
  return same_as_input(c);
}

Types infer_broadcast(const InferContext& c) {
  require_comm_dtype(c);
  SN_CHECK(c.attrs.get_int("root", 0) >= 0, ErrorKind::attr, "'root' must be a rank (>= 0)");
  return same_as_input(c);
}

// Along axis 0: world_size blocks of the input's first dimension.
Types infer_allgather(const InferContext& c) {
  require_comm_dtype(c);
  const int64_t n = world_size_of(c.attrs);
  TensorType t = c.in(0);
  if (t.unknown_rank) return {t};
  SN_CHECK(!t.shape.empty(), ErrorKind::shape, "allgather needs a tensor of rank 1 or more (it joins axis 0)");
  if (t.shape[0] >= 0) t.shape[0] *= n;
  return {t};
}

Types infer_reduce_scatter(const InferContext& c) {
  require_comm_dtype(c);
  require_mean_float(c, reduction_of(c.attrs, false));
  const int64_t n = world_size_of(c.attrs);
  TensorType t = c.in(0);
  if (t.unknown_rank) return {t};
  SN_CHECK(!t.shape.empty(), ErrorKind::shape, "reduce_scatter needs a tensor of rank 1 or more (it splits axis 0)");
  if (t.shape[0] >= 0) {
    SN_CHECK(t.shape[0] % n == 0, ErrorKind::shape,
             "reduce_scatter splits axis 0 into world_size = " << n << " equal blocks, but it has " << t.shape[0]);
    t.shape[0] /= n;
  }
  return {t};
}

Value allreduce(const Value& x, const std::string& reduction) {
  return op::apply("allreduce", {x}, {{"reduction", reduction}});
}

// d(sum over ranks)/dx_r = the sum of every rank's output gradient, mean likewise; for max
// and min the gradient goes to the ranks holding the extremum.
std::vector<Value> allreduce_grad(const GradContext& c) {
  const std::string r = c.node.attrs.get_string("reduction", "sum");
  if (r == "sum" || r == "mean") return {allreduce(c.grad(), r)};
  Value total = allreduce(c.grad(), "sum");
  return {op::where(op::equal(c.in(0), c.out()), total, op::zeros_like(total))};
}

// Every rank's output is root's input: root's gradient is the sum of all output gradients.
std::vector<Value> broadcast_grad(const GradContext& c) {
  const int64_t root = c.node.attrs.get_int("root", 0);
  Value total = allreduce(c.grad(), "sum");
  Value is_root = op::equal(op::apply("comm_rank", {}), op::scalar(static_cast<double>(root), DType::i32));
  return {op::where(is_root, total, op::zeros_like(total))};
}

std::vector<Value> allgather_grad(const GradContext& c) {
  return {op::apply("reduce_scatter", {c.grad()},
                    {{"reduction", std::string("sum")}, {"world_size", c.node.attrs.get_int("world_size")}})};
}

std::vector<Value> reduce_scatter_grad(const GradContext& c) {
  const int64_t n = c.node.attrs.get_int("world_size");
  Value g = op::apply("allgather", {c.grad()}, {{"world_size", n}});
  if (c.node.attrs.get_string("reduction", "sum") == "mean") g = op::mul(g, op::scalar_like(1.0 / n, g));
  return {g};
}

OpSchema def(const std::string& name, int n_in, InferFn infer, GradFn grad, std::vector<AttrSpec> attrs) {
  OpSchema d;
  d.name = name;
  d.min_inputs = d.max_inputs = n_in;
  d.flags = kCollectiveFlags;
  d.infer = std::move(infer);
  d.grad = std::move(grad);
  d.with_attrs(std::move(attrs));
  return d;
}

}  // namespace

void register_collective_ops(Registry& r) {
  const AttrSpec kWorld{"world_size", AttrKind::int_, true,
                        "number of processes (fixed when the graph is built: it sets the output shape)"};
  r.add(def("allreduce", 1, infer_allreduce, allreduce_grad,
            {{"reduction", AttrKind::string, false, "\"sum\" (default), \"mean\", \"max\" or \"min\" over ranks"}}));
  r.add(def("broadcast", 1, infer_broadcast, broadcast_grad,
            {{"root", AttrKind::int_, false, "the rank whose value every rank receives (default 0)"}}));
  r.add(def("allgather", 1, infer_allgather, allgather_grad, {kWorld}));
  r.add(def("reduce_scatter", 1, infer_reduce_scatter, reduce_scatter_grad,
            {kWorld, {"reduction", AttrKind::string, false, "\"sum\" (default) or \"mean\" over ranks"}}));
  // This process's rank, read when the graph runs (a saved graph runs on any rank).
  r.add(def("comm_rank", 0, [](const InferContext&) { return Types{{DType::i32, {}}}; }, nullptr, {}));
}

}  // namespace symnet
