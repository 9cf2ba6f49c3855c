// Internal ops used by gradient rules: they take shapes from a second input ("like"),
// so gradients stay correct when dimensions are only known at compile time.
#include <cstring>

#include "engine/base/error.h"
#include "engine/kernels/cpu/broadcast.h"
#include "engine/kernels/cpu/parallel.h"
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

void sum_to_kernel(KernelContext& k) {
  const TensorView& x = k.in[0];
  const TensorView& y = k.out[0];
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      SN_THROW(ErrorKind::dtype, "sum_to is not defined for bool");
    } else {
      const T* xp = x.ptr<T>();
      T* yp = y.ptr<T>();
      int64_t ny = y.numel();
      std::fill(yp, yp + ny, T(0));
      BroadcastPlan p = make_broadcast_plan(x.shape, {y.shape});
      // Parallelize over output elements only when rows map to distinct outputs is not
      // guaranteed; accumulate serially per row (rows are long for bias-like reductions).
      broadcast_rows(p, 0, p.rows, [&](int64_t xo, const int64_t* yo, int64_t n, const int64_t* ys) {
        const T* xr = xp + xo;
        T* yr = yp + yo[0];
        if (ys[0] == 0) {
          T acc = 0;
          for (int64_t i = 0; i < n; ++i) acc += xr[i];
          *yr += acc;
        } else {
          for (int64_t i = 0; i < n; ++i) yr[i] += xr[i];
        }
      });
    }
  });
}

void broadcast_like_kernel(KernelContext& k) {
  const TensorView& x = k.in[0];
  const TensorView& y = k.out[0];
  size_t es = dtype_size(x.dtype);
  BroadcastPlan p = make_broadcast_plan(y.shape, {x.shape});
  auto* xp = static_cast<const char*>(x.data);
  auto* yp = static_cast<char*>(y.data);
  parallel_for(p.rows, 64, [&](int64_t b, int64_t e) {
    broadcast_rows(p, b, e, [&](int64_t yo, const int64_t* xo, int64_t n, const int64_t* xs) {
      if (xs[0] == 1) {
        std::memcpy(yp + yo * es, xp + xo[0] * es, n * es);
      } else {
        for (int64_t i = 0; i < n; ++i) std::memcpy(yp + (yo + i) * es, xp + xo[0] * es, es);
      }
    });
  });
}

void copy_kernel(KernelContext& k) {
  if (k.out[0].data != k.in[0].data) std::memcpy(k.out[0].data, k.in[0].data, k.out[0].bytes());
}

void fill_like_kernel(KernelContext& k) {
  const TensorView& y = k.out[0];
  double v = k.node.attrs.get_float("value");
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* yp = y.ptr<T>();
    T tv = static_cast<T>(v);
    std::fill(yp, yp + y.numel(), tv);
  });
}

}  // namespace

void register_internal_ops(Registry& r) {
  OpDef s;
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
  s.kernels[0] = sum_to_kernel;
  r.add(s);

  OpDef b;
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
  b.kernels[0] = broadcast_like_kernel;
  r.add(b);

  OpDef rl;
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
  rl.inplace = {{0, 0}};
  rl.kernels[0] = copy_kernel;
  r.add(rl);

  OpDef f;
  f.name = "fill_like";
  f.min_inputs = f.max_inputs = 1;
  f.flags = kPure | kZeroGrad;
  f.infer = [](const InferContext& c) {
    c.attrs.get_float("value");
    return std::vector<TensorType>{c.in(0)};
  };
  f.grad = [](const GradContext&) { return std::vector<Value>{Value{}}; };
  f.kernels[0] = fill_like_kernel;
  r.add(f);
}

}  // namespace symnet
