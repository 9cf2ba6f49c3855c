// Pooling on CUDA with the CPU's semantics (kernels/cpu/pool.cpp): 1-D to 3-D windows with
// padding, dilation and ceil mode from the node's PoolGeometry; max pooling takes the first
// maximum in row-major window order and lets NaN win; average pooling divides by the valid
// taps or, with count_include_pad, by the taps inside the padded extent. One thread per
// output; the backward passes scatter with atomics into a zeroed gradient (exact when
// windows do not overlap, order-dependent rounding otherwise).
#include <cmath>

#include "cuda/kernels/common.cuh"
#include "engine/ops/pool_geometry.h"

namespace symnet {
namespace cuda {

namespace {

// Valid taps [lo, hi) of output `o` along dim d, the input index of tap 0 (`start`) and the
// taps inside the padded extent (`padded`), as the CPU's make_taps computes them.
struct Tap {
  int64_t start, lo, hi, padded;
};
__device__ inline Tap tap_of(const PoolGeometry& g, int d, int64_t o) {
  Tap t;
  t.start = o * g.s[d] - g.pb[d];
  int64_t lo = 0, hi = 0, pad = 0;
  for (int64_t k = 0; k < g.k[d]; ++k) {
    const int64_t i = t.start + k * g.dil[d];
    if (i < 0) lo = k + 1;
    if (i < g.in[d]) hi = k + 1;
    if (i < g.in[d] + g.pe[d]) pad = k + 1;
  }
  t.lo = lo;
  t.hi = hi > lo ? hi : lo;
  t.padded = pad;
  return t;
}

// Output t (flat over planes and positions) -> plane and the three taps.
struct Window {
  int64_t plane, o;
  Tap t[3];
};
__device__ inline Window window_of(const PoolGeometry& g, int64_t t) {
  Window w;
  const int64_t op = g.out[0] * g.out[1] * g.out[2];
  w.plane = t / op;
  w.o = t - w.plane * op;
  const int64_t ow = w.o % g.out[2], oh = (w.o / g.out[2]) % g.out[1], od = w.o / (g.out[2] * g.out[1]);
  w.t[0] = tap_of(g, 0, od);
  w.t[1] = tap_of(g, 1, oh);
  w.t[2] = tap_of(g, 2, ow);
  return w;
}

// f(i) over the window's valid taps in row-major order (i: offset within the plane).
template <class F>
__device__ inline void for_taps(const PoolGeometry& g, const Window& w, F&& f) {
  const int64_t H = g.in[1], W = g.in[2];
  for (int64_t kd = w.t[0].lo; kd < w.t[0].hi; ++kd) {
    const int64_t id = w.t[0].start + kd * g.dil[0];
    for (int64_t kh = w.t[1].lo; kh < w.t[1].hi; ++kh) {
      const int64_t row = (id * H + w.t[1].start + kh * g.dil[1]) * W + w.t[2].start;
      for (int64_t kw = w.t[2].lo; kw < w.t[2].hi; ++kw) f(row + kw * g.dil[2]);
    }
  }
}

template <class T>
__device__ inline int64_t argmax_of(const PoolGeometry& g, const Window& w, const T* xp) {
  int64_t best = -1;
  T m = T(-INFINITY);
  for_taps(g, w, [&](int64_t i) {
    const T v = xp[i];
    if (best < 0 || v > m || isnan(v)) {
      m = v;
      best = i;
    }
  });
  return best;
}

__device__ inline double divisor_of(const PoolGeometry& g, const Window& w) {
  const int64_t n = g.count_include_pad
                        ? w.t[0].padded * w.t[1].padded * w.t[2].padded
                        : (w.t[0].hi - w.t[0].lo) * (w.t[1].hi - w.t[1].lo) * (w.t[2].hi - w.t[2].lo);
  return n > 0 ? 1.0 / static_cast<double>(n) : 0.0;  // empty window (dilation): 0
}

template <class T>
__global__ void max_pool_dev(PoolGeometry g, const T* x, T* y, int64_t total) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const Window w = window_of(g, t);
    const T* xp = x + w.plane * g.in_plane();
    const int64_t i = argmax_of(g, w, xp);
    y[t] = i >= 0 ? xp[i] : T(-INFINITY);
  }
}

template <class T>
__global__ void max_pool_grad_dev(PoolGeometry g, const T* x, const T* gy, T* gx, int64_t total) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const Window w = window_of(g, t);
    const int64_t i = argmax_of(g, w, x + w.plane * g.in_plane());
    if (i >= 0) atomicAdd(gx + w.plane * g.in_plane() + i, gy[t]);
  }
}

template <class T>
__global__ void max_pool_gather_dev(PoolGeometry g, const T* x, const T* src, T* y, int64_t total) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const Window w = window_of(g, t);
    const int64_t i = argmax_of(g, w, x + w.plane * g.in_plane());
    y[t] = i >= 0 ? src[w.plane * g.in_plane() + i] : T(0);
  }
}

template <class T>
__global__ void avg_pool_dev(PoolGeometry g, const T* x, T* y, int64_t total) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const Window w = window_of(g, t);
    const T* xp = x + w.plane * g.in_plane();
    T s = T(0);
    for_taps(g, w, [&](int64_t i) { s += xp[i]; });
    y[t] = static_cast<T>(s * divisor_of(g, w));
  }
}

template <class T>
__global__ void avg_pool_grad_dev(PoolGeometry g, const T* gy, T* gx, int64_t total) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const Window w = window_of(g, t);
    T* q = gx + w.plane * g.in_plane();
    const T v = static_cast<T>(gy[t] * divisor_of(g, w));
    for_taps(g, w, [&](int64_t i) { atomicAdd(q + i, v); });
  }
}

// The node's geometry with the batch of the tensors at hand (per-sample execution runs a
// node on a few samples at a time).
PoolGeometry geometry(const KernelContext& k, const Shape& x_shape) {
  PoolGeometry g = op_params<PoolGeometry>(k);
  g.n = x_shape.at(0);
  return g;
}

void zero(const KernelContext& k, const TensorView& t) {
  if (t.bytes()) check_cuda(cudaMemsetAsync(t.data, 0, t.bytes(), stream_of(k)), "cudaMemsetAsync");
}

void max_pool_kernel(KernelContext& k) {
  const PoolGeometry g = geometry(k, k.in[0].shape);
  const int64_t total = g.planes() * g.out_plane();
  if (total == 0) return;
  dispatch_float(k.in[0].dtype, "max_pool", [&](auto tag) {
    using T = decltype(tag);
    max_pool_dev<T><<<blocks_for(total), kThreads, 0, stream_of(k)>>>(g, k.in[0].ptr<const T>(), k.out[0].ptr<T>(), total);
    check_launch("max_pool");
  });
}

void max_pool_grad_kernel(KernelContext& k) {
  const PoolGeometry g = geometry(k, k.in[0].shape);
  zero(k, k.out[0]);
  const int64_t total = g.planes() * g.out_plane();
  if (total == 0) return;
  dispatch_float(k.in[0].dtype, "max_pool_grad", [&](auto tag) {
    using T = decltype(tag);
    max_pool_grad_dev<T><<<blocks_for(total), kThreads, 0, stream_of(k)>>>(g, k.in[0].ptr<const T>(),
                                                                            k.in[1].ptr<const T>(), k.out[0].ptr<T>(),
                                                                            total);
    check_launch("max_pool_grad");
  });
}

void max_pool_gather_kernel(KernelContext& k) {
  const PoolGeometry g = geometry(k, k.in[0].shape);
  const int64_t total = g.planes() * g.out_plane();
  if (total == 0) return;
  dispatch_float(k.in[0].dtype, "max_pool_gather", [&](auto tag) {
    using T = decltype(tag);
    max_pool_gather_dev<T><<<blocks_for(total), kThreads, 0, stream_of(k)>>>(
        g, k.in[0].ptr<const T>(), k.in[1].ptr<const T>(), k.out[0].ptr<T>(), total);
    check_launch("max_pool_gather");
  });
}

void avg_pool_kernel(KernelContext& k) {
  const PoolGeometry g = geometry(k, k.in[0].shape);
  const int64_t total = g.planes() * g.out_plane();
  if (total == 0) return;
  dispatch_float(k.in[0].dtype, "avg_pool", [&](auto tag) {
    using T = decltype(tag);
    avg_pool_dev<T><<<blocks_for(total), kThreads, 0, stream_of(k)>>>(g, k.in[0].ptr<const T>(), k.out[0].ptr<T>(), total);
    check_launch("avg_pool");
  });
}

void avg_pool_grad_kernel(KernelContext& k) {
  const PoolGeometry g = geometry(k, k.in[1].shape);
  zero(k, k.out[0]);
  const int64_t total = g.planes() * g.out_plane();
  if (total == 0) return;
  dispatch_float(k.in[0].dtype, "avg_pool_grad", [&](auto tag) {
    using T = decltype(tag);
    avg_pool_grad_dev<T><<<blocks_for(total), kThreads, 0, stream_of(k)>>>(g, k.in[0].ptr<const T>(),
                                                                            k.out[0].ptr<T>(), total);
    check_launch("avg_pool_grad");
  });
}

// Global pools: a warp per (sample, channel) row.
constexpr int kRowsPerBlock = 8;

template <class T, bool Max>
__global__ void global_pool_dev(const T* x, T* y, int64_t rows, int64_t inner) {
  const int lane = threadIdx.x & 31;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5); r < rows;
       r += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    const T* p = x + r * inner;
    if (Max) {
      T m = T(-INFINITY);
      bool nan = false;
      for (int64_t i = lane; i < inner; i += 32) {
        nan = nan || isnan(p[i]);
        m = m < p[i] ? p[i] : m;
      }
      for (int o = 16; o > 0; o >>= 1) {
        const T other = __shfl_xor_sync(0xffffffffu, m, o);
        m = m < other ? other : m;
      }
      nan = __any_sync(0xffffffffu, nan);
      if (lane == 0) y[r] = nan ? T(NAN) : m;
    } else {
      double s = 0;
      for (int64_t i = lane; i < inner; i += 32) s += static_cast<double>(p[i]);
      for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
      if (lane == 0) y[r] = static_cast<T>(inner > 0 ? s / static_cast<double>(inner) : 0.0);
    }
  }
}

template <bool Max>
void global_pool_kernel(KernelContext& k) {
  const TensorView& x = k.in[0];
  const int64_t rows = x.shape.at(0) * x.shape.at(1);
  if (rows == 0) return;
  const int64_t inner = x.numel() / rows;
  dispatch_float(x.dtype, "global pooling", [&](auto tag) {
    using T = decltype(tag);
    const unsigned blocks =
        static_cast<unsigned>(std::min<int64_t>((rows + kRowsPerBlock - 1) / kRowsPerBlock, kMaxBlocks));
    global_pool_dev<T, Max><<<blocks, 32 * kRowsPerBlock, 0, stream_of(k)>>>(x.ptr<const T>(), k.out[0].ptr<T>(), rows,
                                                                              inner);
    check_launch("global pooling");
  });
}

KernelImpl pool_impl(KernelFn fn, DeviceContext* dev, bool is_max, int shape_input) {
  return cuda_kernel<PoolGeometry>(fn, dev, [is_max, shape_input](const Node& n) {
    return pool_geometry(n.attrs, n.inputs.at(shape_input).shape(), is_max);
  });
}

}  // namespace

void bind_pool(Backend& b, DeviceContext* dev) {
  b.add_kernel("max_pool", pool_impl(max_pool_kernel, dev, true, 0));
  b.add_kernel("max_pool_grad", pool_impl(max_pool_grad_kernel, dev, true, 0));
  b.add_kernel("max_pool_gather", pool_impl(max_pool_gather_kernel, dev, true, 0));
  b.add_kernel("avg_pool", pool_impl(avg_pool_kernel, dev, false, 0));
  b.add_kernel("avg_pool_grad", pool_impl(avg_pool_grad_kernel, dev, false, 1));
  b.add_kernel("global_avg_pool", cuda_kernel(global_pool_kernel<false>, dev));
  b.add_kernel("global_max_pool", cuda_kernel(global_pool_kernel<true>, dev));
}

}  // namespace cuda
}  // namespace symnet
