// Internal ops used by gradient rules: they take shapes from a second input ("like"),
// so gradients stay correct when dimensions are only known at compile time.
#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/ops/infer_util.h"

namespace symnet {

namespace {

// True when `from` broadcasts to `to` (unknown dims allowed).
bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  size_t off = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i) {
    int64_t f = from[i], t = to[off + i];
    if (f == 1 || f < 0 || t < 0 || f == t) continue;
    return false;
  }
  return true;
}

}  // namespace

void register_internal_ops(Registry& r) {
  OpSchema s;
  s.name = "sum_to";
  s.min_inputs = s.max_inputs = 2;
  s.infer = [](const InferContext& c) {
    SN_CHECK(broadcasts_to(c.in(1).shape, c.in(0).shape), ErrorKind::shape,
             "cannot sum " << shape_str(c.in(0).shape) << " down to " << shape_str(c.in(1).shape));
    return std::vector<TensorType>{{c.in(0).dtype, c.in(1).shape}};
  };
  s.grad = [](const GradContext& g) {
    return std::vector<Value>{op::broadcast_like(g.grad(), g.in(0)), Value{}};
  };
  s.with_attrs({});
  r.add(s);

  OpSchema b;
  b.name = "broadcast_like";
  b.min_inputs = b.max_inputs = 2;
  b.infer = [](const InferContext& c) {
    SN_CHECK(broadcasts_to(c.in(0).shape, c.in(1).shape), ErrorKind::shape,
             "cannot broadcast " << shape_str(c.in(0).shape) << " to " << shape_str(c.in(1).shape));
    return std::vector<TensorType>{{c.in(0).dtype, c.in(1).shape}};
  };
  b.grad = [](const GradContext& g) {
    return std::vector<Value>{op::sum_to(g.grad(), g.in(0)), Value{}};
  };
  b.with_attrs({});
  r.add(b);

  OpSchema rl;
  rl.name = "reshape_like";
  rl.min_inputs = rl.max_inputs = 2;
  rl.infer = [](const InferContext& c) {
    int64_t a = shape_numel(c.in(0).shape), bb = shape_numel(c.in(1).shape);
    SN_CHECK(a < 0 || bb < 0 || a == bb, ErrorKind::shape,
             "cannot reshape " << shape_str(c.in(0).shape) << " to " << shape_str(c.in(1).shape));
    return std::vector<TensorType>{{c.in(0).dtype, c.in(1).shape}};
  };
  rl.grad = [](const GradContext& g) {
    return std::vector<Value>{op::reshape_like(g.grad(), g.in(0)), Value{}};
  };
  rl.with_attrs({});
  r.add(rl);

  OpSchema f;
  f.name = "fill_like";
  f.min_inputs = f.max_inputs = 1;
  f.flags = kPure | kZeroGrad;
  f.infer = [](const InferContext& c) {
    c.attrs.get_float("value");
    return std::vector<TensorType>{c.in(0)};
  };
  f.grad = [](const GradContext&) { return std::vector<Value>{Value{}}; };
  f.with_attrs({{"value", AttrKind::float_, true, "the fill value"}});
  r.add(f);
}

}  // namespace symnet
