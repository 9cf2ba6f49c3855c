#include "engine/kernels/cpu/shape_kernels.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "engine/base/error.h"
#include "engine/kernels/cpu/parallel.h"

namespace symnet {

namespace {

template <size_t N>
void copy_run(const char* s, int64_t ss, char* d, int64_t ds, int64_t n) {
  // Fixed-size memcpy compiles to a plain load/store without aliasing concerns.
  for (int64_t i = 0; i < n; ++i) std::memcpy(d + i * ds * int64_t(N), s + i * ss * int64_t(N), N);
}

void copy_run_es(const char* s, int64_t ss, char* d, int64_t ds, int64_t n, size_t es) {
  if (ss == 1 && ds == 1) {
    std::memcpy(d, s, static_cast<size_t>(n) * es);
    return;
  }
  switch (es) {
    case 1: copy_run<1>(s, ss, d, ds, n); break;
    case 2: copy_run<2>(s, ss, d, ds, n); break;
    case 4: copy_run<4>(s, ss, d, ds, n); break;
    case 8: copy_run<8>(s, ss, d, ds, n); break;
    default:
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(d + i * ds * int64_t(es), s + i * ss * int64_t(es), es);
  }
}

// Splits a flat index into coordinates of `shape` (last dim fastest).
void unravel(int64_t i, const Shape& shape, std::vector<int64_t>& c) {
  c.assign(shape.size(), 0);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    if (shape[d] > 0) {
      c[d] = i % shape[d];
      i /= shape[d];
    }
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

// Copies dims x inner where the source is contiguous along dim j and the destination
// along the last dim (a transpose): 32x32 tiles keep both sides in cache.
template <size_t N>
void tiled_copy(const char* sp, char* dp, const std::vector<int64_t>& dims, const std::vector<int64_t>& ss,
                const std::vector<int64_t>& ds, size_t j) {
  constexpr int64_t T = 32;
  const size_t nd = dims.size();
  const int64_t A = dims[j], B = dims[nd - 1], sb = ss[nd - 1], da = ds[j];
  const int64_t ta = (A + T - 1) / T, tb = (B + T - 1) / T;
  int64_t batch = 1;
  for (size_t d = 0; d + 1 < nd; ++d)
    if (d != j) batch *= dims[d];
  parallel_for(batch * ta * tb, 4, [&](int64_t b, int64_t e) {
    for (int64_t u = b; u < e; ++u) {
      int64_t rem = u / (ta * tb), t = u % (ta * tb), so = 0, dof = 0;
      for (int64_t d = static_cast<int64_t>(nd) - 2; d >= 0; --d) {
        if (d == static_cast<int64_t>(j)) continue;
        int64_t c = rem % dims[d];
        rem /= dims[d];
        so += c * ss[d];
        dof += c * ds[d];
      }
      const int64_t a0 = (t / tb) * T, b0 = (t % tb) * T;
      const int64_t a1 = std::min(A, a0 + T), b1 = std::min(B, b0 + T);
      for (int64_t a = a0; a < a1; ++a) {
        const char* s = sp + (so + a) * int64_t(N);
        char* dd = dp + (dof + a * da) * int64_t(N);
        for (int64_t x = b0; x < b1; ++x) std::memcpy(dd + x * int64_t(N), s + x * sb * int64_t(N), N);
      }
    }
  });
}

}  // namespace

void strided_copy(const void* src, int64_t src_off, const std::vector<int64_t>& src_strides,
                  void* dst, int64_t dst_off, const std::vector<int64_t>& dst_strides,
                  const Shape& shape, size_t es) {
  int64_t n = shape_numel(shape);
  if (n <= 0) return;
  // Drop size-1 dims and merge dims both layouts traverse contiguously, so the inner
  // runs are as long as possible (often one memcpy).
  std::vector<int64_t> dims, ss, ds;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!dims.empty() && ss.back() == src_strides[d] * shape[d] && ds.back() == dst_strides[d] * shape[d]) {
      dims.back() *= shape[d];
      ss.back() = src_strides[d];
      ds.back() = dst_strides[d];
      continue;
    }
    dims.push_back(shape[d]);
    ss.push_back(src_strides[d]);
    ds.push_back(dst_strides[d]);
  }
  if (dims.empty()) {
    dims = {1};
    ss = {1};
    ds = {1};
  }
  const int64_t nd = static_cast<int64_t>(dims.size());
  const int64_t inner = dims.back(), rows = n / inner;
  const int64_t sin = ss.back(), din = ds.back();
  auto* sp = static_cast<const char*>(src) + src_off * int64_t(es);
  auto* dp = static_cast<char*>(dst) + dst_off * int64_t(es);
  if (din == 1 && sin != 1 && inner >= 8) {
    for (int64_t j = nd - 2; j >= 0; --j) {
      if (ss[j] != 1 || dims[j] < 8) continue;
      switch (es) {
        case 1: return tiled_copy<1>(sp, dp, dims, ss, ds, j);
        case 2: return tiled_copy<2>(sp, dp, dims, ss, ds, j);
        case 4: return tiled_copy<4>(sp, dp, dims, ss, ds, j);
        case 8: return tiled_copy<8>(sp, dp, dims, ss, ds, j);
        default: break;
      }
      break;
    }
  }
  parallel_for(rows, std::max<int64_t>(1, 16384 / inner), [&](int64_t b, int64_t e) {
    std::vector<int64_t> idx(nd, 0);
    int64_t r = b, so = 0, dof = 0;
    for (int64_t d = nd - 2; d >= 0; --d) {
      idx[d] = r % dims[d];
      r /= dims[d];
      so += idx[d] * ss[d];
      dof += idx[d] * ds[d];
    }
    for (int64_t row = b; row < e; ++row) {
      copy_run_es(sp + so * int64_t(es), sin, dp + dof * int64_t(es), din, inner, es);
      for (int64_t d = nd - 2; d >= 0; --d) {
        so += ss[d];
        dof += ds[d];
        if (++idx[d] < dims[d]) break;
        so -= ss[d] * dims[d];
        dof -= ds[d] * dims[d];
        idx[d] = 0;
      }
    }
  });
}

std::vector<int64_t> pad_index_map(int64_t n, int64_t begin, int64_t end, int mode) {
  int64_t out = std::max<int64_t>(0, n + begin + end);
  std::vector<int64_t> m(out);
  for (int64_t o = 0; o < out; ++o) {
    int64_t i = o - begin;
    if (i >= 0 && i < n) {
      m[o] = i;
    } else if (mode == 0 || n == 0) {
      m[o] = -1;
    } else if (mode == 2 || n == 1) {
      m[o] = i < 0 ? 0 : n - 1;
    } else {
      int64_t p = 2 * (n - 1);  // reflection period (edge values not repeated)
      i = ((i % p) + p) % p;
      m[o] = i >= n ? p - i : i;
    }
  }
  return m;
}

void reshape_kernel(KernelContext& k) {
  if (k.out[0].data != k.in[0].data) std::memcpy(k.out[0].data, k.in[0].data, k.out[0].bytes());
}

void transpose_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &y = k.out[0];
  const int64_t r = static_cast<int64_t>(x.shape.size());
  const std::vector<int64_t>& perm = k.param<ShapeParams>().perm;
  std::vector<int64_t> xs = shape_strides(x.shape), src(r);
  for (int64_t i = 0; i < r; ++i) src[i] = xs[perm[i]];
  strided_copy(x.data, 0, src, y.data, 0, shape_strides(y.shape), y.shape, dtype_size(y.dtype));
}

void expand_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &y = k.out[0];
  const size_t ro = y.shape.size(), ri = x.shape.size();
  std::vector<int64_t> xs = shape_strides(x.shape), src(ro, 0);
  for (size_t i = ri; i-- > 0;) {
    size_t o = ro - ri + i;
    src[o] = x.shape[i] == 1 ? 0 : xs[i];
  }
  strided_copy(x.data, 0, src, y.data, 0, shape_strides(y.shape), y.shape, dtype_size(y.dtype));
}

namespace {
// Offset of the first element and per-dim strides of a slice inside `full`.
void slice_layout(const Shape& full, const SliceSpec& s, int64_t& off, std::vector<int64_t>& strides) {
  std::vector<int64_t> fs = shape_strides(full);
  off = 0;
  strides.assign(full.size(), 0);
  for (size_t d = 0; d < full.size(); ++d) {
    off += s.start[d] * fs[d];
    strides[d] = s.step[d] * fs[d];
  }
}
}  // namespace

void slice_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &y = k.out[0];
  int64_t off;
  std::vector<int64_t> src;
  slice_layout(x.shape, k.param<ShapeParams>().slice, off, src);
  strided_copy(x.data, off, src, y.data, 0, shape_strides(y.shape), y.shape, dtype_size(y.dtype));
}

void slice_grad_kernel(KernelContext& k) {
  const TensorView &g = k.in[0], &y = k.out[0];
  std::memset(y.data, 0, y.bytes());
  int64_t off;
  std::vector<int64_t> dst;
  slice_layout(y.shape, k.param<ShapeParams>().slice, off, dst);
  strided_copy(g.data, 0, shape_strides(g.shape), y.data, off, dst, g.shape, dtype_size(y.dtype));
}

void concat_kernel(KernelContext& k) {
  const TensorView& y = k.out[0];
  const int64_t axis = k.param<ShapeParams>().axis;
  std::vector<int64_t> ys = shape_strides(y.shape);
  int64_t off = 0;
  for (const TensorView& x : k.in) {
    strided_copy(x.data, 0, shape_strides(x.shape), y.data, off * ys[axis], ys, x.shape, dtype_size(y.dtype));
    off += x.shape[axis];
  }
}

void split_kernel(KernelContext& k) {
  const TensorView& x = k.in[0];
  const int64_t axis = k.param<ShapeParams>().axis;
  std::vector<int64_t> xs = shape_strides(x.shape);
  int64_t off = 0;
  for (const TensorView& y : k.out) {
    strided_copy(x.data, off * xs[axis], xs, y.data, 0, shape_strides(y.shape), y.shape, dtype_size(x.dtype));
    off += y.shape[axis];
  }
}

void stack_kernel(KernelContext& k) {
  const TensorView& y = k.out[0];
  const int64_t axis = k.param<ShapeParams>().axis;
  std::vector<int64_t> ys = shape_strides(y.shape);
  for (size_t i = 0; i < k.in.size(); ++i) {
    Shape s = k.in[i].shape;
    s.insert(s.begin() + axis, 1);
    strided_copy(k.in[i].data, 0, shape_strides(s), y.data, int64_t(i) * ys[axis], ys, s, dtype_size(y.dtype));
  }
}

void tile_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &y = k.out[0];
  // y viewed as [r0, d0, r1, d1, ...]: x repeated along the r axes (stride 0).
  const std::vector<int64_t>& reps = k.param<ShapeParams>().repeats;
  std::vector<int64_t> xs = shape_strides(x.shape);
  Shape s;
  std::vector<int64_t> src;
  for (size_t d = 0; d < x.shape.size(); ++d) {
    s.push_back(reps[d]);
    s.push_back(x.shape[d]);
    src.push_back(0);
    src.push_back(xs[d]);
  }
  strided_copy(x.data, 0, src, y.data, 0, shape_strides(s), s, dtype_size(y.dtype));
}

void tile_grad_kernel(KernelContext& k) {
  const TensorView &g = k.in[0], &y = k.out[0];
  const Shape& xs = y.shape;
  const int64_t r = static_cast<int64_t>(xs.size());
  std::vector<int64_t> gs = shape_strides(g.shape);
  // Offsets (in g) of every repetition of one x element.
  std::vector<int64_t> offs{0};
  for (int64_t d = 0; d < r; ++d) {
    int64_t reps = xs[d] > 0 ? g.shape[d] / xs[d] : 0;
    std::vector<int64_t> next;
    for (int64_t o : offs)
      for (int64_t j = 0; j < reps; ++j) next.push_back(o + j * xs[d] * gs[d]);
    offs.swap(next);
  }
  dispatch_numeric(y.dtype, "tile_grad", [&](auto tag) {
    using T = decltype(tag);
    const T* gp = g.ptr<T>();
    T* yp = y.ptr<T>();
    parallel_for(y.numel(), std::max<int64_t>(1, 16384 / int64_t(offs.size())), [&](int64_t b, int64_t e) {
      std::vector<int64_t> c;
      unravel(b, xs, c);
      int64_t base = 0;
      for (int64_t d = 0; d < r; ++d) base += c[d] * gs[d];
      for (int64_t i = b; i < e; ++i) {
        T acc = 0;
        for (int64_t o : offs) acc += gp[base + o];
        yp[i] = acc;
        for (int64_t d = r - 1; d >= 0; --d) {
          base += gs[d];
          if (++c[d] < xs[d]) break;
          base -= gs[d] * xs[d];
          c[d] = 0;
        }
      }
    });
  });
}

namespace {
struct PadPlan {
  std::vector<std::vector<int64_t>> maps;  // per dim: output coord -> input coord or -1
  Shape out;
  std::vector<int64_t> in_strides;
};

PadPlan make_pad_plan(const Shape& in, const Shape& out, const PadSpec& s) {
  PadPlan p;
  for (size_t d = 0; d < in.size(); ++d) p.maps.push_back(pad_index_map(in[d], s.begin[d], s.end[d], s.mode));
  p.out = out;
  p.in_strides = shape_strides(in);
  return p;
}

// f(out_row_offset, in_row_base or -1 when the row lies in padding, inner map)
template <typename F>
void pad_rows(const PadPlan& p, int64_t b, int64_t e, F&& f) {
  const int64_t r = static_cast<int64_t>(p.out.size());
  const int64_t inner = r ? p.out.back() : 1;
  static const std::vector<int64_t> scalar_map{0};
  const std::vector<int64_t>& last = r ? p.maps.back() : scalar_map;
  for (int64_t row = b; row < e; ++row) {
    int64_t rem = row, base = 0;
    for (int64_t d = r - 2; d >= 0; --d) {
      int64_t c = rem % p.out[d];
      rem /= p.out[d];
      int64_t s = p.maps[d][c];
      if (s < 0 || base < 0) base = -1;
      else base += s * p.in_strides[d];
    }
    f(row * inner, base, last);
  }
}
}  // namespace

void pad_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &y = k.out[0];
  const int64_t n = y.numel();
  if (n == 0) return;
  PadPlan p = make_pad_plan(x.shape, y.shape, k.param<ShapeParams>().pad);
  const int64_t inner = y.shape.empty() ? 1 : y.shape.back();
  const double value = k.param<ShapeParams>().value;
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.ptr<T>();
    T* yp = y.ptr<T>();
    const T v = static_cast<T>(value);
    parallel_for(inner > 0 ? n / inner : 0, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)),
                 [&](int64_t b, int64_t e) {
                   pad_rows(p, b, e, [&](int64_t yo, int64_t base, const std::vector<int64_t>& m) {
                     T* yr = yp + yo;
                     if (base < 0) {
                       std::fill(yr, yr + inner, v);
                       return;
                     }
                     const T* xr = xp + base;
                     for (int64_t j = 0; j < inner; ++j) yr[j] = m[j] < 0 ? v : xr[m[j]];
                   });
                 });
  });
}

void pad_grad_kernel(KernelContext& k) {
  const TensorView &g = k.in[0], &y = k.out[0];
  std::memset(y.data, 0, y.bytes());
  if (g.numel() == 0) return;
  PadPlan p = make_pad_plan(y.shape, g.shape, k.param<ShapeParams>().pad);
  const int64_t inner = g.shape.empty() ? 1 : g.shape.back();
  dispatch_numeric(y.dtype, "pad_grad", [&](auto tag) {
    using T = decltype(tag);
    const T* gp = g.ptr<T>();
    T* yp = y.ptr<T>();
    // Serial: reflect/edge send several outputs to one input element.
    pad_rows(p, 0, g.numel() / inner, [&](int64_t go, int64_t base, const std::vector<int64_t>& m) {
      if (base < 0) return;
      for (int64_t j = 0; j < inner; ++j)
        if (m[j] >= 0) yp[base + m[j]] += gp[go + j];
    });
  });
}

}  // namespace symnet
