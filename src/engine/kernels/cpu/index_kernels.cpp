#include "engine/kernels/cpu/index_kernels.h"

#include <algorithm>
#include <cstring>
#include <sstream>
#include <string>

#include "engine/base/error.h"
#include "engine/kernels/cpu/parallel.h"

namespace symnet {

namespace {

// Calls f(const I* indices) with I = int32_t or int64_t.
template <typename F>
void with_indices(const TensorView& v, F&& f) {
  if (v.dtype == DType::i32) f(v.ptr<const int32_t>());
  else if (v.dtype == DType::i64) f(v.ptr<const int64_t>());
  else SN_THROW(ErrorKind::dtype, "indices must be int32 or int64, not " << dtype_name(v.dtype));
}

// Indices count from `base` (0 or 1, the op's index_base attribute): valid ones lie in
// [base, n + base). Anything else -- negative indices included -- is an index error naming
// the value as the user wrote it; nothing wraps around.
template <typename I>
void check_indices(const I* ip, int64_t m, int64_t n, int64_t base, const char* what) {
  for (int64_t j = 0; j < m; ++j) {
    const int64_t i = static_cast<int64_t>(ip[j]);
    if (i >= base && i < n + base) continue;
    std::ostringstream msg;
    msg << "index " << i << " (element " << j + 1 << " of the indices) is out of range for " << what
        << " of size " << n << ": valid indices are " << base << ".." << n - 1 + base;
    if (base == 1 && i == 0) msg << " (0-based data? give index_base = 0)";
    else if (base == 0 && i == n) msg << " (1-based data? give index_base = 1)";
    throw Error(ErrorKind::index, msg.str());
  }
}

template <typename F>
void dispatch_numeric(DType t, const char* op, F&& f) {
  dispatch_dtype(t, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      SN_THROW(ErrorKind::dtype, op << " is not defined for bool");
    } else {
      f(tag);
    }
  });
}

int64_t prod(const Shape& s, size_t b, size_t e) {
  int64_t p = 1;
  for (size_t d = b; d < e; ++d) p *= s[d];
  return p;
}

// Walks the elements of `shape` in order, keeping the offset into a tensor whose strides
// along every dimension but `axis` are `strides` (the axis is added by the caller).
struct AxisWalker {
  const Shape& shape;
  std::vector<int64_t> strides;  // 0 at axis
  std::vector<int64_t> c;
  int64_t off = 0;
  AxisWalker(const Shape& s, const Shape& data, int64_t axis, int64_t start) : shape(s) {
    std::vector<int64_t> ds = shape_strides(data);
    strides = ds;
    if (!strides.empty()) strides[axis] = 0;
    c.assign(s.size(), 0);
    for (int64_t d = static_cast<int64_t>(s.size()) - 1; d >= 0; --d) {
      c[d] = s[d] > 0 ? start % s[d] : 0;
      start = s[d] > 0 ? start / s[d] : 0;
      off += c[d] * strides[d];
    }
  }
  void next() {
    for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
      off += strides[d];
      if (++c[d] < shape[d]) return;
      off -= strides[d] * shape[d];
      c[d] = 0;
    }
  }
};

}  // namespace

void gather_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &ind = k.in[1], &y = k.out[0];
  const int64_t r = static_cast<int64_t>(x.shape.size());
  const IndexParams& p = k.param<IndexParams>();
  const int64_t axis = p.axis;
  const int64_t outer = prod(x.shape, 0, axis), n = x.shape[axis], inner = prod(x.shape, axis + 1, r);
  const int64_t m = ind.numel();
  const size_t row = static_cast<size_t>(inner) * dtype_size(x.dtype);
  auto* xp = static_cast<const char*>(x.data);
  auto* yp = static_cast<char*>(y.data);
  const int64_t base = p.index_base;
  with_indices(ind, [&](auto* ip) {
    check_indices(ip, m, n, base, "the gather axis");
    parallel_for(outer * m, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        int64_t o = t / m, j = t % m;
        std::memcpy(yp + t * row, xp + (o * n + (ip[j] - base)) * row, row);
      }
    });
  });
}

void gather_grad_kernel(KernelContext& k) {
  const TensorView &g = k.in[0], &ind = k.in[1], &y = k.out[0];
  const int64_t r = static_cast<int64_t>(y.shape.size());
  const IndexParams& p = k.param<IndexParams>();
  const int64_t axis = p.axis;
  const int64_t outer = prod(y.shape, 0, axis), n = y.shape[axis], inner = prod(y.shape, axis + 1, r);
  const int64_t m = ind.numel();
  std::memset(y.data, 0, y.bytes());
  const int64_t base = p.index_base;
  with_indices(ind, [&](auto* ip) {
    check_indices(ip, m, n, base, "the gather axis");
    dispatch_numeric(y.dtype, "gather_grad", [&](auto tag) {
      using T = decltype(tag);
      const T* gp = g.ptr<T>();
      T* yp = y.ptr<T>();
      // Outer slices are disjoint; repeated indices within one slice accumulate serially.
      parallel_for(outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(m * inner, 1)), [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o)
          for (int64_t j = 0; j < m; ++j) {
            const T* gr = gp + (o * m + j) * inner;
            T* yr = yp + (o * n + (ip[j] - base)) * inner;
            for (int64_t i = 0; i < inner; ++i) yr[i] += gr[i];
          }
      });
    });
  });
}

void gather_elements_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &ind = k.in[1], &y = k.out[0];
  const IndexParams& p = k.param<IndexParams>();
  const int64_t axis = p.axis;
  const int64_t n = x.shape[axis], ax_stride = shape_strides(x.shape)[axis], m = ind.numel();
  const size_t es = dtype_size(x.dtype);
  auto* xp = static_cast<const char*>(x.data);
  auto* yp = static_cast<char*>(y.data);
  const int64_t base = p.index_base;
  with_indices(ind, [&](auto* ip) {
    check_indices(ip, m, n, base, "the gather_elements axis");
    parallel_for(m, 8192, [&](int64_t b, int64_t e) {
      AxisWalker w(ind.shape, x.shape, axis, b);
      for (int64_t t = b; t < e; ++t, w.next())
        std::memcpy(yp + t * es, xp + (w.off + (ip[t] - base) * ax_stride) * int64_t(es), es);
    });
  });
}

void scatter_elements_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &ind = k.in[1], &u = k.in[2], &y = k.out[0];
  const IndexParams& p = k.param<IndexParams>();
  const int64_t axis = p.axis;
  const int64_t n = x.shape[axis], ax_stride = shape_strides(x.shape)[axis], m = ind.numel();
  const int red = p.reduction;
  const int64_t base = p.index_base;
  // Checked before the copy: an in-place scatter must not half-update its input.
  with_indices(ind, [&](auto* ip) { check_indices(ip, m, n, base, "the scatter axis"); });
  if (y.data != x.data) std::memcpy(y.data, x.data, y.bytes());
  with_indices(ind, [&](auto* ip) {
    dispatch_dtype(y.dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* up = u.ptr<T>();
      T* yp = y.ptr<T>();
      // Serial: repeated indices must apply in order ("none": last write wins).
      AxisWalker w(ind.shape, x.shape, axis, 0);
      for (int64_t t = 0; t < m; ++t, w.next()) {
        T& dst = yp[w.off + (ip[t] - base) * ax_stride];
        if constexpr (std::is_same_v<T, bool>) {
          dst = up[t];
        } else {
          if (red == 1) dst += up[t];
          else if (red == 2) dst *= up[t];
          else dst = up[t];
        }
      }
    });
  });
}

void one_hot_kernel(KernelContext& k) {
  const TensorView &ind = k.in[0], &y = k.out[0];
  const IndexParams& p = k.param<IndexParams>();
  const int64_t depth = p.depth;
  const int64_t axis = p.axis;
  const int64_t outer = prod(ind.shape, 0, axis), inner = prod(ind.shape, axis, ind.shape.size());
  const double on = p.on_value, off = p.off_value;
  const int64_t base = p.index_base;
  with_indices(ind, [&](auto* ip) {
    check_indices(ip, ind.numel(), depth, base, "one_hot depth");
    dispatch_dtype(y.dtype, [&](auto tag) {
      using T = decltype(tag);
      T* yp = y.ptr<T>();
      const T von = static_cast<T>(on), voff = static_cast<T>(off);
      parallel_for(outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(depth * inner, 1)), [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) {
          T* yo = yp + o * depth * inner;
          std::fill(yo, yo + depth * inner, voff);
          for (int64_t i = 0; i < inner; ++i) yo[(ip[o * inner + i] - base) * inner + i] = von;
        }
      });
    });
  });
}

}  // namespace symnet
