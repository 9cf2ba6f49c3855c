// The remaining CUDA kernels of the CPU's table that training graphs meet: cumsum, pad
// (+ gradient), tile's gradient and LRN (+ its window sums), each with the CPU's order of
// accumulation where one thread owns an output (kernels/cpu/reduce.cpp, shape_kernels.cpp,
// lrn.cpp). pad_grad scatters with atomics (reflect and edge modes send several outputs
// to one input element).
#include <cmath>
#include <vector>

#include "cuda/kernels/common.cuh"
#include "cuda/kernels/strided_index.h"
#include "engine/kernels/cpu/lrn.h"            // LrnParams (header-only struct)
#include "engine/kernels/cpu/shape_kernels.h"  // ShapeParams
#include "engine/ops/shape_attrs.h"

namespace symnet {
namespace cuda {

namespace {

// ---- cumsum ----------------------------------------------------------------------------------

template <class T>
using wide_t = std::conditional_t<std::is_floating_point_v<T>, double, unsigned long long>;

template <class T>
__global__ void cumsum_dev(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool exclusive, bool reverse) {
  const int64_t total = outer * inner;
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t o = t / inner, j = t - o * inner;
    const T* p = x + o * n * inner + j;
    T* q = y + o * n * inner + j;
    wide_t<T> acc = 0;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = reverse ? n - 1 - k : k;
      const T v = p[i * inner];  // read before write: in-place safe
      if (exclusive) {
        q[i * inner] = static_cast<T>(acc);
        acc += static_cast<wide_t<T>>(v);
      } else {
        acc += static_cast<wide_t<T>>(v);
        q[i * inner] = static_cast<T>(acc);
      }
    }
  }
}

struct CumsumParams {
  int64_t axis = 0;  // as given
  bool exclusive = false, reverse = false;
};

void cumsum_kernel(KernelContext& k) {
  const CumsumParams& p = op_params<CumsumParams>(k);
  const TensorView &x = k.in[0], &y = k.out[0];
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const AxisSplit s = rank == 0 ? AxisSplit{} : split_axis(x.shape, normalize_axis(p.axis, rank));
  const int64_t total = s.outer * s.inner;
  if (total == 0 || s.n == 0) return;
  dispatch_all(x.dtype, "cumsum", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, uint8_t>) {
      SN_THROW(ErrorKind::dtype, "cumsum is not defined for " << dtype_name(x.dtype));
    } else {
      cumsum_dev<T><<<blocks_for(total), kThreads, 0, stream_of(k)>>>(x.ptr<const T>(), y.ptr<T>(), s.outer, s.n,
                                                                      s.inner, p.exclusive, p.reverse);
      check_launch("cumsum");
    }
  });
}

// ---- pad -------------------------------------------------------------------------------------

// Per dimension of the unpadded tensor: its size, the begin pad and its element stride.
struct PadDims {
  int rank = 0;
  int mode = 0;  // 0 constant, 1 reflect, 2 edge
  int64_t in[kMaxIndexDims] = {}, out[kMaxIndexDims] = {}, begin[kMaxIndexDims] = {}, stride[kMaxIndexDims] = {};
};

// The CPU's pad_index_map for one coordinate: input coordinate, or -1 for the pad value.
__device__ inline int64_t pad_source(int64_t o, int64_t n, int64_t begin, int mode) {
  int64_t i = o - begin;
  if (i >= 0 && i < n) return i;
  if (mode == 0 || n == 0) return -1;
  if (mode == 2 || n == 1) return i < 0 ? 0 : n - 1;
  const int64_t p = 2 * (n - 1);  // reflection period (edge values not repeated)
  i = ((i % p) + p) % p;
  return i >= n ? p - i : i;
}

// Input offset of padded element t, or -1 when it lies in constant padding.
__device__ inline int64_t pad_offset(const PadDims& d, int64_t t) {
  int64_t off = 0;
  bool pad = false;
  for (int k = d.rank - 1; k >= 0; --k) {
    const int64_t q = t / d.out[k], c = t - q * d.out[k];
    t = q;
    const int64_t s = pad_source(c, d.in[k], d.begin[k], d.mode);
    if (s < 0) pad = true;
    else off += s * d.stride[k];
  }
  return pad ? -1 : off;
}

PadDims pad_dims(const Shape& in, const Shape& out, const PadSpec& s) {
  PadDims d;
  SN_CHECK(in.size() <= static_cast<size_t>(kMaxIndexDims), ErrorKind::unsupported,
           "CUDA pad supports ranks up to " << kMaxIndexDims);
  d.rank = static_cast<int>(in.size());
  d.mode = s.mode;
  const std::vector<int64_t> st = shape_strides(in);
  for (int k = 0; k < d.rank; ++k) {
    d.in[k] = in[k];
    d.out[k] = out[k];
    d.begin[k] = s.begin.at(k);
    d.stride[k] = st[k];
  }
  return d;
}

template <class T>
__global__ void pad_dev(const T* x, T* y, int64_t n, PadDims d, T value) {
  for (int64_t t = global_thread(); t < n; t += grid_threads()) {
    const int64_t off = pad_offset(d, t);
    y[t] = off < 0 ? value : x[off];
  }
}

template <class T>
__device__ inline void atomic_add(T* p, T v) {
  if constexpr (std::is_same_v<T, int64_t>)
    atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
  else
    atomicAdd(p, v);
}

template <class T>
__global__ void pad_grad_dev(const T* g, T* y, int64_t n, PadDims d) {
  for (int64_t t = global_thread(); t < n; t += grid_threads()) {
    const int64_t off = pad_offset(d, t);
    if (off >= 0) atomic_add(y + off, g[t]);
  }
}

void pad_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &y = k.out[0];
  const int64_t n = y.numel();
  if (n == 0) return;
  const ShapeParams& p = op_params<ShapeParams>(k);
  const PadDims d = pad_dims(x.shape, y.shape, p.pad);
  dispatch_all(y.dtype, "pad", [&](auto tag) {
    using T = decltype(tag);
    pad_dev<T><<<blocks_for(n), kThreads, 0, stream_of(k)>>>(x.ptr<const T>(), y.ptr<T>(), n, d,
                                                              static_cast<T>(p.value));
    check_launch("pad");
  });
}

void pad_grad_kernel(KernelContext& k) {
  const TensorView &g = k.in[0], &y = k.out[0];
  if (y.bytes()) check_cuda(cudaMemsetAsync(y.data, 0, y.bytes(), stream_of(k)), "cudaMemsetAsync");
  const int64_t n = g.numel();
  if (n == 0) return;
  const PadDims d = pad_dims(y.shape, g.shape, op_params<ShapeParams>(k).pad);
  dispatch_all(y.dtype, "pad_grad", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, uint8_t>) {
      SN_THROW(ErrorKind::dtype, "pad_grad is not defined for " << dtype_name(y.dtype));
    } else {
      pad_grad_dev<T><<<blocks_for(n), kThreads, 0, stream_of(k)>>>(g.ptr<const T>(), y.ptr<T>(), n, d);
      check_launch("pad_grad");
    }
  });
}

// ---- tile_grad: y[i] = sum of g over the repetitions of x element i ------------------------------

struct TileDims {
  int rank = 0;
  int64_t xs[kMaxIndexDims] = {}, reps[kMaxIndexDims] = {}, gs[kMaxIndexDims] = {};
  int64_t nreps = 1;
};

template <class T>
__global__ void tile_grad_dev(const T* g, T* y, int64_t n, TileDims d) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t base = 0, r = i;
    for (int k = d.rank - 1; k >= 0; --k) {
      const int64_t q = r / d.xs[k];
      base += (r - q * d.xs[k]) * d.gs[k];
      r = q;
    }
    T acc = 0;
    // Repetitions in the CPU's order: dimension 0 outermost.
    for (int64_t rep = 0; rep < d.nreps; ++rep) {
      int64_t off = 0, q = rep;
      for (int k = d.rank - 1; k >= 0; --k) {
        const int64_t qq = q / d.reps[k];
        off += (q - qq * d.reps[k]) * d.xs[k] * d.gs[k];
        q = qq;
      }
      acc += g[base + off];
    }
    y[i] = acc;
  }
}

void tile_grad_kernel(KernelContext& k) {
  const TensorView &g = k.in[0], &y = k.out[0];
  const int64_t n = y.numel();
  if (n == 0) return;
  TileDims d;
  SN_CHECK(y.shape.size() <= static_cast<size_t>(kMaxIndexDims), ErrorKind::unsupported,
           "CUDA tile_grad supports ranks up to " << kMaxIndexDims);
  d.rank = static_cast<int>(y.shape.size());
  const std::vector<int64_t> gs = shape_strides(g.shape);
  for (int k2 = 0; k2 < d.rank; ++k2) {
    d.xs[k2] = y.shape[k2];
    d.reps[k2] = y.shape[k2] > 0 ? g.shape[k2] / y.shape[k2] : 0;
    d.gs[k2] = gs[k2];
    d.nreps *= d.reps[k2];
  }
  dispatch_all(y.dtype, "tile_grad", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      SN_THROW(ErrorKind::dtype, "tile_grad is not defined for bool");
    } else {
      tile_grad_dev<T><<<blocks_for(n), kThreads, 0, stream_of(k)>>>(g.ptr<const T>(), y.ptr<T>(), n, d);
      check_launch("tile_grad");
    }
  });
}

// ---- LRN -------------------------------------------------------------------------------------

// Channel window [c - lo, c + hi] (the CPU's lrn_window; `reverse` swaps the half-widths).
struct Window {
  int64_t lo, hi;
};
Window window_of(int64_t size, bool reverse) {
  const int64_t a = (size - 1) / 2, b = size - 1 - a;
  return reverse ? Window{b, a} : Window{a, b};
}

template <class T, bool Square>
__device__ inline T window_sum(const T* x, int64_t n, int64_t c, int64_t C, int64_t inner, int64_t i, Window w) {
  T acc = T(0);
  const int64_t j0 = c - w.lo > 0 ? c - w.lo : 0, j1 = c + w.hi < C - 1 ? c + w.hi : C - 1;
  for (int64_t j = j0; j <= j1; ++j) {
    const T v = x[(n * C + j) * inner + i];
    acc += Square ? v * v : v;
  }
  return acc;
}

template <class T>
__global__ void lrn_dev(const T* x, T* y, int64_t total, int64_t C, int64_t inner, Window w, T sc, T bs, T nb, bool b34) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t i = t % inner, p = t / inner, c = p % C, n = p / C;
    const T d = bs + sc * window_sum<T, true>(x, n, c, C, inner, i, w);
    T f;
    if (b34) {  // d^-0.75 as the CPU computes it
      const T r = sqrt(d);
      f = T(1) / (r * sqrt(r));
    } else {
      f = pow(d, nb);
    }
    y[t] = x[t] * f;
  }
}

template <class T>
__global__ void lrn_window_sum_dev(const T* x, T* y, int64_t total, int64_t C, int64_t inner, Window w) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t i = t % inner, p = t / inner, c = p % C, n = p / C;
    y[t] = window_sum<T, false>(x, n, c, C, inner, i, w);
  }
}

void lrn_kernel(KernelContext& k) {
  const LrnParams& p = op_params<LrnParams>(k);
  const TensorView& x = k.in[0];
  const int64_t total = x.numel();
  if (total == 0) return;
  const int64_t N = x.shape.at(0), C = x.shape.at(1), inner = total / (N * C);
  dispatch_float(x.dtype, "lrn", [&](auto tag) {
    using T = decltype(tag);
    lrn_dev<T><<<blocks_for(total), kThreads, 0, stream_of(k)>>>(
        x.ptr<const T>(), k.out[0].ptr<T>(), total, C, inner, window_of(p.size, false),
        static_cast<T>(p.alpha / static_cast<double>(p.size)), static_cast<T>(p.bias), static_cast<T>(-p.beta),
        p.beta == 0.75);
    check_launch("lrn");
  });
}

void lrn_window_sum_kernel(KernelContext& k) {
  const LrnParams& p = op_params<LrnParams>(k);
  const TensorView& x = k.in[0];
  const int64_t total = x.numel();
  if (total == 0) return;
  const int64_t N = x.shape.at(0), C = x.shape.at(1), inner = total / (N * C);
  dispatch_float(x.dtype, "lrn_window_sum", [&](auto tag) {
    using T = decltype(tag);
    lrn_window_sum_dev<T><<<blocks_for(total), kThreads, 0, stream_of(k)>>>(x.ptr<const T>(), k.out[0].ptr<T>(), total,
                                                                            C, inner, window_of(p.size, p.reverse));
    check_launch("lrn_window_sum");
  });
}

LrnParams read_lrn(const Node& n) {
  LrnParams p;
  p.size = n.attrs.get_int("size");
  p.alpha = n.attrs.get_float("alpha", p.alpha);
  p.beta = n.attrs.get_float("beta", p.beta);
  p.bias = n.attrs.get_float("bias", p.bias);
  p.reverse = n.attrs.get_int("reverse", 0) == 1;
  return p;
}

ShapeParams pad_of(const Node& n, const Shape& unpadded) {
  ShapeParams p;
  p.pad = resolve_pad(static_cast<int64_t>(unpadded.size()), n.attrs);
  p.value = n.attrs.get_float("value", 0.0);
  return p;
}

}  // namespace

void bind_misc(Backend& b, DeviceContext* dev) {
  KernelImpl cs = cuda_kernel<CumsumParams>(cumsum_kernel, dev, [](const Node& n) {
    return CumsumParams{n.attrs.get_int("axis", 0), n.attrs.get_int("exclusive", 0) == 1,
                        n.attrs.get_int("reverse", 0) == 1};
  });
  cs.inplace = {{0, 0}};
  b.add_kernel("cumsum", cs);
  b.add_kernel("pad", cuda_kernel<ShapeParams>(pad_kernel, dev, [](const Node& n) {
                 return pad_of(n, n.inputs.at(0).shape());
               }));
  b.add_kernel("pad_grad", cuda_kernel<ShapeParams>(pad_grad_kernel, dev, [](const Node& n) {
                 return pad_of(n, n.outputs.at(0).shape);
               }));
  b.add_kernel("tile_grad", cuda_kernel<ShapeParams>(tile_grad_kernel, dev, [](const Node& n) {
                 ShapeParams p;
                 p.repeats = n.attrs.get_ints("repeats");
                 return p;
               }));
  b.add_kernel("lrn", cuda_kernel<LrnParams>(lrn_kernel, dev, read_lrn));
  b.add_kernel("lrn_window_sum", cuda_kernel<LrnParams>(lrn_window_sum_kernel, dev, read_lrn));
}

}  // namespace cuda
}  // namespace symnet
