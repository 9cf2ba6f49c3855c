// Index ops on CUDA: gather (+ gradient), gather_elements, scatter_elements and one_hot, with the CPU's
// index_base rule (valid indices lie in [base, n + base); nothing wraps). An index out of
// range is recorded in the device's error record (position, value, exclusive bound; the
// first one wins) and its elements are written as zeros instead of being read out of
// bounds; the backend raises the CPU's index error after the step.
#include "cuda/kernels/common.cuh"
#include "engine/kernels/cpu/index_kernels.h"  // IndexParams
#include "engine/kernels/cpu/param_readers.h"

namespace symnet {
namespace cuda {

namespace {

template <class F>
void with_indices(const TensorView& v, F&& f) {
  if (v.dtype == DType::i32) f(int32_t{});
  else if (v.dtype == DType::i64) f(int64_t{});
  else SN_THROW(ErrorKind::dtype, "indices must be int32 or int64, not " << dtype_name(v.dtype));
}

// The 0-based index at position j, or -1 (recorded) when out of range.
template <class I>
__device__ inline int64_t checked_index(const I* ip, int64_t j, int64_t n, int64_t base, DeviceErrorRecord* rec) {
  const int64_t i = static_cast<int64_t>(ip[j]);
  if (i >= base && i < n + base) return i - base;
  record_error(rec, kIndexOutOfRange, j, i, n + base);
  return -1;
}

int64_t prod(const Shape& s, size_t b, size_t e) {
  int64_t p = 1;
  for (size_t d = b; d < e; ++d) p *= s[d];
  return p;
}

// y[o, j, i] = x[o, ind[j], i] with x as [outer, n, inner] and y as [outer, m, inner].
template <class T, class I>
__global__ void gather_dev(const T* x, const I* ip, T* y, int64_t outer, int64_t n, int64_t m, int64_t inner,
                           int64_t base, DeviceErrorRecord* rec) {
  const int64_t total = outer * m * inner;
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t i = t % inner, oj = t / inner, j = oj % m, o = oj / m;
    const int64_t v = static_cast<int64_t>(ip[j]);
    const int64_t q = v >= base && v < n + base ? v - base : -1;
    if (q < 0 && i == 0 && o == 0) record_error(rec, kIndexOutOfRange, j, v, n + base);  // once per index
    y[t] = q >= 0 ? x[(o * n + q) * inner + i] : T(0);
  }
}

template <class T>
__device__ inline void atomic_add(T* p, T v) {
  if constexpr (std::is_same_v<T, int64_t>)
    atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));  // wraps as the CPU's
  else
    atomicAdd(p, v);
}

template <class T, class I>
__global__ void gather_grad_dev(const T* g, const I* ip, T* y, int64_t outer, int64_t n, int64_t m, int64_t inner,
                                int64_t base, DeviceErrorRecord* rec) {
  const int64_t total = outer * m * inner;
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t i = t % inner, oj = t / inner, j = oj % m, o = oj / m;
    const int64_t v = static_cast<int64_t>(ip[j]);
    if (v < base || v >= n + base) {
      if (i == 0 && o == 0) record_error(rec, kIndexOutOfRange, j, v, n + base);
      continue;
    }
    atomic_add(y + (o * n + (v - base)) * inner + i, g[t]);
  }
}

struct IndexWalk {
  int ndim = 0;
  int64_t dims[8] = {}, strides[8] = {};  // strides of the data tensor, 0 along the axis
};

template <class T, class I>
__global__ void gather_elements_dev(const T* x, const I* ip, T* y, int64_t m, IndexWalk w, int64_t n,
                                    int64_t ax_stride, int64_t base, DeviceErrorRecord* rec) {
  for (int64_t t = global_thread(); t < m; t += grid_threads()) {
    int64_t off = 0, r = t;
    for (int d = w.ndim - 1; d >= 0; --d) {
      const int64_t q = r / w.dims[d];
      off += (r - q * w.dims[d]) * w.strides[d];
      r = q;
    }
    const int64_t q = checked_index(ip, t, n, base, rec);
    y[t] = q >= 0 ? x[off + q * ax_stride] : T(0);
  }
}

template <class T, class I>
__global__ void one_hot_dev(const I* ip, T* y, int64_t outer, int64_t depth, int64_t inner, int64_t base, T on, T off,
                            DeviceErrorRecord* rec) {
  const int64_t total = outer * depth * inner;
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t i = t % inner, od = t / inner, dpos = od % depth, o = od / depth;
    const int64_t j = o * inner + i;
    const int64_t v = static_cast<int64_t>(ip[j]);
    const bool valid = v >= base && v < depth + base;
    if (!valid && dpos == 0) record_error(rec, kIndexOutOfRange, j, v, depth + base);
    y[t] = valid && v - base == dpos ? on : off;
  }
}

template <class F>
void numeric_dispatch(DType t, const char* op, F&& f) {
  dispatch_all(t, op, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, uint8_t>) {
      SN_THROW(ErrorKind::dtype, op << " has no CUDA kernel for dtype " << dtype_name(t));
    } else {
      f(tag);
    }
  });
}

void gather_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &ind = k.in[1], &y = k.out[0];
  const IndexParams& p = op_params<IndexParams>(k);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  const int64_t outer = prod(x.shape, 0, p.axis), n = x.shape.at(p.axis), inner = prod(x.shape, p.axis + 1, r);
  const int64_t m = ind.numel(), total = outer * m * inner;
  if (total == 0) return;
  dispatch_all(x.dtype, "gather", [&](auto tag) {
    using T = decltype(tag);
    with_indices(ind, [&](auto itag) {
      using I = decltype(itag);
      gather_dev<T, I><<<blocks_for(total), kThreads, 0, stream_of(k)>>>(x.ptr<const T>(), ind.ptr<const I>(),
                                                                          y.ptr<T>(), outer, n, m, inner,
                                                                          p.index_base, device_of(k).error_record);
      check_launch("gather");
    });
  });
}

void gather_grad_kernel(KernelContext& k) {
  const TensorView &g = k.in[0], &ind = k.in[1], &y = k.out[0];
  const IndexParams& p = op_params<IndexParams>(k);
  const int64_t r = static_cast<int64_t>(y.shape.size());
  const int64_t outer = prod(y.shape, 0, p.axis), n = y.shape.at(p.axis), inner = prod(y.shape, p.axis + 1, r);
  const int64_t m = ind.numel(), total = outer * m * inner;
  if (y.bytes()) check_cuda(cudaMemsetAsync(y.data, 0, y.bytes(), stream_of(k)), "cudaMemsetAsync");
  if (total == 0) return;
  numeric_dispatch(y.dtype, "gather_grad", [&](auto tag) {
    using T = decltype(tag);
    with_indices(ind, [&](auto itag) {
      using I = decltype(itag);
      gather_grad_dev<T, I><<<blocks_for(total), kThreads, 0, stream_of(k)>>>(
          g.ptr<const T>(), ind.ptr<const I>(), y.ptr<T>(), outer, n, m, inner, p.index_base,
          device_of(k).error_record);
      check_launch("gather_grad");
    });
  });
}

void gather_elements_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &ind = k.in[1], &y = k.out[0];
  const IndexParams& p = op_params<IndexParams>(k);
  const int64_t m = ind.numel();
  if (m == 0) return;
  const std::vector<int64_t> xs = shape_strides(x.shape);
  IndexWalk w;
  SN_CHECK(ind.shape.size() <= 8, ErrorKind::unsupported, "CUDA gather_elements supports ranks up to 8");
  w.ndim = static_cast<int>(ind.shape.size());
  for (int d = 0; d < w.ndim; ++d) {
    w.dims[d] = ind.shape[d];
    w.strides[d] = d == p.axis ? 0 : xs[d];
  }
  dispatch_all(x.dtype, "gather_elements", [&](auto tag) {
    using T = decltype(tag);
    with_indices(ind, [&](auto itag) {
      using I = decltype(itag);
      gather_elements_dev<T, I><<<blocks_for(m), kThreads, 0, stream_of(k)>>>(
          x.ptr<const T>(), ind.ptr<const I>(), y.ptr<T>(), m, w, x.shape.at(p.axis), xs[p.axis], p.index_base,
          device_of(k).error_record);
      check_launch("gather_elements");
    });
  });
}

void one_hot_kernel(KernelContext& k) {
  const TensorView &ind = k.in[0], &y = k.out[0];
  const IndexParams& p = op_params<IndexParams>(k);
  const int64_t outer = prod(ind.shape, 0, p.axis), inner = prod(ind.shape, p.axis, ind.shape.size());
  const int64_t total = outer * p.depth * inner;
  if (total == 0) return;
  dispatch_all(y.dtype, "one_hot", [&](auto tag) {
    using T = decltype(tag);
    with_indices(ind, [&](auto itag) {
      using I = decltype(itag);
      one_hot_dev<T, I><<<blocks_for(total), kThreads, 0, stream_of(k)>>>(
          ind.ptr<const I>(), y.ptr<T>(), outer, p.depth, inner, p.index_base, static_cast<T>(p.on_value),
          static_cast<T>(p.off_value), device_of(k).error_record);
      check_launch("one_hot");
    });
  });
}

// ---- scatter_elements --------------------------------------------------------------------------
// The CPU applies updates serially: with repeated indices and no reduction the last update
// wins, so each destination takes the update of the largest position (found with atomicMax
// in the workspace) and the others are dropped. add and mul use atomics (exact for
// integers; for floats the order of repeated updates may change the rounding). Indices are
// validated by a first kernel; the updates check the error record and write nothing when an
// index was out of range, so an in-place scatter leaves its input whole, as on the CPU.

// Offset in the data of update t (the walk over the index shape, axis coordinate excluded).
__device__ inline int64_t walk_offset(const IndexWalk& w, int64_t t) {
  int64_t off = 0;
  for (int d = w.ndim - 1; d >= 0; --d) {
    const int64_t q = t / w.dims[d];
    off += (t - q * w.dims[d]) * w.strides[d];
    t = q;
  }
  return off;
}

template <class I>
__global__ void check_indices_dev(const I* ip, int64_t m, int64_t n, int64_t base, DeviceErrorRecord* rec) {
  for (int64_t t = global_thread(); t < m; t += grid_threads()) checked_index(ip, t, n, base, rec);
}

__device__ inline bool failed(const DeviceErrorRecord* rec) { return rec != nullptr && rec->code != kDeviceOk; }

template <class I>
__global__ void scatter_claim_dev(const I* ip, long long* winner, int64_t m, IndexWalk w, int64_t ax_stride,
                                  int64_t base, const DeviceErrorRecord* rec) {
  if (failed(rec)) return;
  for (int64_t t = global_thread(); t < m; t += grid_threads())
    atomicMax(winner + walk_offset(w, t) + (static_cast<int64_t>(ip[t]) - base) * ax_stride, static_cast<long long>(t));
}

template <class T, class I>
__global__ void scatter_last_dev(const I* ip, const T* u, T* y, const long long* winner, int64_t m, IndexWalk w,
                                 int64_t ax_stride, int64_t base, const DeviceErrorRecord* rec) {
  if (failed(rec)) return;
  for (int64_t t = global_thread(); t < m; t += grid_threads()) {
    const int64_t dst = walk_offset(w, t) + (static_cast<int64_t>(ip[t]) - base) * ax_stride;
    if (winner[dst] == t) y[dst] = u[t];
  }
}

// dst = dst * v by compare-and-swap on the element's bits.
template <class T>
__device__ inline void atomic_mul(T* p, T v) {
  using W = std::conditional_t<sizeof(T) == 8, unsigned long long, unsigned int>;
  W* wp = reinterpret_cast<W*>(p);
  W old = *wp, assumed;
  do {
    assumed = old;
    T cur;
    memcpy(&cur, &assumed, sizeof cur);
    const T next = cur * v;
    W bits;
    memcpy(&bits, &next, sizeof bits);
    old = atomicCAS(wp, assumed, bits);
  } while (old != assumed);
}

template <class T, class I>
__global__ void scatter_reduce_dev(const I* ip, const T* u, T* y, int64_t m, IndexWalk w, int64_t ax_stride,
                                   int64_t base, bool mul, const DeviceErrorRecord* rec) {
  if (failed(rec)) return;
  for (int64_t t = global_thread(); t < m; t += grid_threads()) {
    T* dst = y + walk_offset(w, t) + (static_cast<int64_t>(ip[t]) - base) * ax_stride;
    if (mul) atomic_mul(dst, u[t]);
    else atomic_add(dst, u[t]);
  }
}

void scatter_elements_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &ind = k.in[1], &u = k.in[2], &y = k.out[0];
  const IndexParams& p = op_params<IndexParams>(k);
  const cudaStream_t s = stream_of(k);
  DeviceErrorRecord* rec = device_of(k).error_record;
  const int64_t m = ind.numel(), n = x.shape.at(p.axis);
  const std::vector<int64_t> xs = shape_strides(x.shape);
  SN_CHECK(ind.shape.size() <= 8, ErrorKind::unsupported, "CUDA scatter_elements supports ranks up to 8");
  IndexWalk w;
  w.ndim = static_cast<int>(ind.shape.size());
  for (int d = 0; d < w.ndim; ++d) {
    w.dims[d] = ind.shape[d];
    w.strides[d] = d == p.axis ? 0 : xs[d];
  }
  with_indices(ind, [&](auto itag) {
    using I = decltype(itag);
    if (m > 0) {
      check_indices_dev<I><<<blocks_for(m), kThreads, 0, s>>>(ind.ptr<const I>(), m, n, p.index_base, rec);
      check_launch("scatter_elements");
    }
    if (y.data != x.data && y.bytes())
      check_cuda(cudaMemcpyAsync(y.data, x.data, y.bytes(), cudaMemcpyDeviceToDevice, s), "scatter_elements copy");
    if (m == 0) return;
    dispatch_all(y.dtype, "scatter_elements", [&](auto tag) {
      using T = decltype(tag);
      constexpr bool reducible = !std::is_same_v<T, bool> && !std::is_same_v<T, uint8_t>;
      if (reducible && p.reduction != 0) {
        if constexpr (reducible)
          scatter_reduce_dev<T, I><<<blocks_for(m), kThreads, 0, s>>>(ind.ptr<const I>(), u.ptr<const T>(),
                                                                      y.ptr<T>(), m, w, xs[p.axis], p.index_base,
                                                                      p.reduction == 2, rec);
      } else {
        constexpr bool is_bool = std::is_same_v<T, bool>;  // the CPU assigns bools whatever the reduction
        SN_CHECK(p.reduction == 0 || is_bool, ErrorKind::dtype,
                 "scatter_elements with a reduction has no CUDA kernel for " << dtype_name(y.dtype));
        SN_CHECK(k.workspace != nullptr, ErrorKind::internal, "scatter_elements: no workspace for its winners");
        long long* winner = static_cast<long long*>(k.workspace);
        check_cuda(cudaMemsetAsync(winner, 0xff, static_cast<size_t>(y.numel()) * sizeof(long long), s),
                   "cudaMemsetAsync");
        scatter_claim_dev<I><<<blocks_for(m), kThreads, 0, s>>>(ind.ptr<const I>(), winner, m, w, xs[p.axis],
                                                                p.index_base, rec);
        check_launch("scatter_elements");
        scatter_last_dev<T, I><<<blocks_for(m), kThreads, 0, s>>>(ind.ptr<const I>(), u.ptr<const T>(), y.ptr<T>(),
                                                                  winner, m, w, xs[p.axis], p.index_base, rec);
      }
      check_launch("scatter_elements");
    });
  });
}


}  // namespace

void bind_index(Backend& b, DeviceContext* dev) {
  b.add_kernel("gather", cuda_kernel<IndexParams>(gather_kernel, dev, [](const Node& n) { return read_index(n, 0, 0); }));
  b.add_kernel("gather_grad",
               cuda_kernel<IndexParams>(gather_grad_kernel, dev, [](const Node& n) { return read_index(n, -1, 0); }));
  b.add_kernel("gather_elements", cuda_kernel<IndexParams>(gather_elements_kernel, dev,
                                                           [](const Node& n) { return read_index(n, 0, 0); }));
  KernelImpl scatter =
      cuda_kernel<IndexParams>(scatter_elements_kernel, dev, [](const Node& n) { return read_index(n, 0, 0); });
  scatter.inplace = {{0, 0}};
  // One winner slot per output element (the last update of repeated indices).
  scatter.workspace = [](const Node& n) {
    const int64_t count = shape_numel(n.outputs.at(0).shape);
    return count > 0 ? static_cast<size_t>(count) * sizeof(long long) : size_t{0};
  };
  b.add_kernel("scatter_elements", scatter);
  b.add_kernel("one_hot",
               cuda_kernel<IndexParams>(one_hot_kernel, dev, [](const Node& n) { return read_index(n, -1, -1); }));
}

}  // namespace cuda
}  // namespace symnet
