// Pooling on CUDA with the CPU's semantics (kernels/cpu/pool.cpp): 1-D to 3-D windows with
// padding, dilation and ceil mode from the node's PoolGeometry; max pooling takes the first
// maximum in row-major window order and lets NaN win; average pooling divides by the valid
// taps or, with count_include_pad, by the taps inside the padded extent. One thread per
// output; the backward passes scatter with atomics into a zeroed gradient (exact when
// windows do not overlap, order-dependent rounding otherwise).
#include <cmath>

#include "cuda/kernels/common.cuh"
#include "cuda/kernels/pool_taps.h"
#include "engine/ops/pool_geometry.h"

namespace symnet {
namespace cuda {

namespace {

template <class T>
__global__ void max_pool_dev(PoolGeometry g, const T* x, T* y, int64_t total) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const PoolWindow w = pool_window(g, t);
    const T* xp = x + w.plane * g.in_plane();
    const int64_t i = pool_argmax(g, w, xp);
    y[t] = i >= 0 ? xp[i] : T(-INFINITY);
  }
}

template <class T>
__global__ void max_pool_grad_dev(PoolGeometry g, const T* x, const T* gy, T* gx, int64_t total) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const PoolWindow w = pool_window(g, t);
    const int64_t i = pool_argmax(g, w, x + w.plane * g.in_plane());
    if (i >= 0) atomicAdd(gx + w.plane * g.in_plane() + i, gy[t]);
  }
}

template <class T>
__global__ void max_pool_gather_dev(PoolGeometry g, const T* x, const T* src, T* y, int64_t total) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const PoolWindow w = pool_window(g, t);
    const int64_t i = pool_argmax(g, w, x + w.plane * g.in_plane());
    y[t] = i >= 0 ? src[w.plane * g.in_plane() + i] : T(0);
  }
}

template <class T>
__global__ void avg_pool_dev(PoolGeometry g, const T* x, T* y, int64_t total) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const PoolWindow w = pool_window(g, t);
    const T* xp = x + w.plane * g.in_plane();
    T s = T(0);
    for_pool_taps(g, w, [&](int64_t i) { s += xp[i]; });
    y[t] = static_cast<T>(s * pool_divisor(g, w));
  }
}

template <class T>
__global__ void avg_pool_grad_dev(PoolGeometry g, const T* gy, T* gx, int64_t total) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const PoolWindow w = pool_window(g, t);
    T* q = gx + w.plane * g.in_plane();
    const T v = static_cast<T>(gy[t] * pool_divisor(g, w));
    for_pool_taps(g, w, [&](int64_t i) { atomicAdd(q + i, v); });
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
