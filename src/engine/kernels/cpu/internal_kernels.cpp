// CPU kernels of the internal ops that gradient rules use (ops/internal.cpp).
#include "engine/kernels/cpu/internal_kernels.h"

#include <algorithm>
#include <cstring>

#include "engine/base/error.h"
#include "engine/kernels/cpu/broadcast.h"
#include "engine/kernels/cpu/parallel.h"

namespace symnet {

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

namespace {
// y[0..n) = the one element at x, as a typed fill of the element's width (a memcpy call per
// element made the per-channel broadcast of a pooling gradient ten times slower than memory).
template <class T>
void fill_typed(char* y, const char* x, int64_t n) {
  T v;
  std::memcpy(&v, x, sizeof v);
  std::fill(reinterpret_cast<T*>(y), reinterpret_cast<T*>(y) + n, v);
}

void fill_bytes(char* y, const char* x, int64_t n, size_t es) {
  switch (es) {
    case 1: return fill_typed<uint8_t>(y, x, n);
    case 2: return fill_typed<uint16_t>(y, x, n);
    case 4: return fill_typed<uint32_t>(y, x, n);
    case 8: return fill_typed<uint64_t>(y, x, n);
    default:
      for (int64_t i = 0; i < n; ++i) std::memcpy(y + i * es, x, es);
  }
}
}  // namespace

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
        fill_bytes(yp + yo * es, xp + xo[0] * es, n, es);
      }
    });
  });
}

void copy_like_kernel(KernelContext& k) {
  if (k.out[0].data != k.in[0].data) std::memcpy(k.out[0].data, k.in[0].data, k.out[0].bytes());
}

void fill_like_kernel(KernelContext& k) {
  const TensorView& y = k.out[0];
  const double v = k.param<FillParams>().value;
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* yp = y.ptr<T>();
    T tv = static_cast<T>(v);
    std::fill(yp, yp + y.numel(), tv);
  });
}

}  // namespace symnet
