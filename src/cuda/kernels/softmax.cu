// Softmax, log-softmax and the classification losses on CUDA, with the CPU's arithmetic
// (kernels/cpu/softmax.cpp): rows shifted by their max, exponentials in T summed in double.
// Rows along the last axis take a warp each; a strided axis takes a thread per column.
// Labels out of range are recorded in the device's error record (first one wins) and their
// rows left at zero; the backend raises the CPU's index error after the step.
#include <cmath>

#include "cuda/kernels/common.cuh"
#include "cuda/kernels/strided_index.h"

namespace symnet {
namespace cuda {

namespace {

constexpr int kWarpsPerBlock = 8;

template <class T>
__device__ inline T row_max2(T a, T b) {
  return a < b ? b : a;  // std::max's rule: a NaN argument b is not taken
}
template <class T>
__device__ inline T warp_max(T v) {
  for (int o = 16; o > 0; o >>= 1) v = row_max2(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ inline double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ inline int64_t warp_row() {
  return static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
}
__device__ inline int64_t warp_rows_step() { return static_cast<int64_t>(gridDim.x) * kWarpsPerBlock; }

inline unsigned row_blocks(int64_t rows) {
  return static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock, 1),
                                                 kMaxBlocks));
}

// ---- softmax / log_softmax ---------------------------------------------------------------

template <class T, bool Log>
__global__ void softmax_rows_dev(const T* x, T* y, int64_t rows, int64_t n) {
  const int lane = threadIdx.x & 31;
  for (int64_t r = warp_row(); r < rows; r += warp_rows_step()) {
    const T* p = x + r * n;
    T* q = y + r * n;
    T m = T(-INFINITY);
    for (int64_t i = lane; i < n; i += 32) m = row_max2(m, p[i]);
    m = warp_max(m);
    double s = 0;
    if (Log) {
      for (int64_t i = lane; i < n; i += 32) s += static_cast<double>(exp(p[i] - m));
      s = warp_sum(s);
      const T ls = static_cast<T>(log(s));
      for (int64_t i = lane; i < n; i += 32) q[i] = (p[i] - m) - ls;
    } else {
      for (int64_t i = lane; i < n; i += 32) {
        const T v = exp(p[i] - m);
        q[i] = v;
        s += static_cast<double>(v);
      }
      s = warp_sum(s);
      const T inv = static_cast<T>(1.0 / s);
      for (int64_t i = lane; i < n; i += 32) q[i] *= inv;  // each lane rescales what it wrote
    }
  }
}

template <class T, bool Log>
__global__ void softmax_cols_dev(const T* x, T* y, int64_t outer, int64_t n, int64_t inner) {
  const int64_t total = outer * inner;
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t o = t / inner, j = t - o * inner;
    const T* p = x + o * n * inner + j;
    T* q = y + o * n * inner + j;
    T m = T(-INFINITY);
    for (int64_t k = 0; k < n; ++k) m = row_max2(m, p[k * inner]);
    double s = 0;
    if (Log) {
      for (int64_t k = 0; k < n; ++k) s += static_cast<double>(exp(p[k * inner] - m));
      const T ls = static_cast<T>(log(s));
      for (int64_t k = 0; k < n; ++k) q[k * inner] = (p[k * inner] - m) - ls;
    } else {
      for (int64_t k = 0; k < n; ++k) {
        const T v = exp(p[k * inner] - m);
        q[k * inner] = v;
        s += static_cast<double>(v);
      }
      const double inv = 1.0 / s;
      for (int64_t k = 0; k < n; ++k) q[k * inner] = static_cast<T>(q[k * inner] * inv);
    }
  }
}

struct SoftmaxParams {
  int64_t axis = -1;  // as given; normalized against the input's rank at run time
};

template <bool Log>
void softmax_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &y = k.out[0];
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const AxisSplit s = rank == 0 ? AxisSplit{} : split_axis(x.shape, normalize_axis(op_params<SoftmaxParams>(k).axis, rank));
  if (s.outer * s.n * s.inner == 0) return;
  dispatch_float(x.dtype, "softmax", [&](auto tag) {
    using T = decltype(tag);
    if (s.inner == 1)
      softmax_rows_dev<T, Log><<<row_blocks(s.outer), 32 * kWarpsPerBlock, 0, stream_of(k)>>>(
          x.ptr<const T>(), y.ptr<T>(), s.outer, s.n);
    else
      softmax_cols_dev<T, Log><<<blocks_for(s.outer * s.inner), kThreads, 0, stream_of(k)>>>(
          x.ptr<const T>(), y.ptr<T>(), s.outer, s.n, s.inner);
    check_launch("softmax");
  });
}

// ---- softmax cross-entropy -----------------------------------------------------------------

// max and log(sum exp(x - max)) of a row, by one warp (every lane gets both).
template <class T>
__device__ inline void warp_row_lse(const T* p, int64_t n, T& m, double& log_s) {
  const int lane = threadIdx.x & 31;
  m = T(-INFINITY);
  for (int64_t i = lane; i < n; i += 32) m = row_max2(m, p[i]);
  m = warp_max(m);
  if (isinf(m)) {
    log_s = 0;
    return;
  }
  double s = 0;
  for (int64_t i = lane; i < n; i += 32) s += static_cast<double>(exp(p[i] - m));
  log_s = log(warp_sum(s));
}

// The label of row i minus the base, or -1 for ignore_index; out-of-range labels are
// recorded and give -2.
template <class L>
__device__ inline int64_t class_of(const L* lab, int64_t i, int64_t C, int64_t ignore_index, int64_t base,
                                   DeviceErrorRecord* rec) {
  const int64_t l = static_cast<int64_t>(lab[i]);
  if (l == ignore_index) return -1;
  if (l < base || l >= C + base) {
    if ((threadIdx.x & 31) == 0) record_error(rec, kLabelOutOfRange, i, l, C + base);
    return -2;
  }
  return l - base;
}

template <class T, class L>
__global__ void xent_dev(const T* z, const L* lab, T* out, int64_t N, int64_t C, int64_t ignore_index, int64_t base,
                         DeviceErrorRecord* rec) {
  const int lane = threadIdx.x & 31;
  for (int64_t i = warp_row(); i < N; i += warp_rows_step()) {
    const int64_t c = class_of(lab, i, C, ignore_index, base, rec);
    if (c < 0) {
      if (lane == 0) out[i] = T(0);
      continue;
    }
    const T* p = z + i * C;
    T m;
    double log_s;
    warp_row_lse(p, C, m, log_s);
    if (lane == 0) out[i] = static_cast<T>(static_cast<double>(m - p[c]) + log_s);
  }
}

template <class T, class L>
__global__ void xent_grad_dev(const T* z, const L* lab, const T* g, bool g_scalar, T* d, int64_t N, int64_t C,
                              int64_t ignore_index, int64_t base, DeviceErrorRecord* rec) {
  const int lane = threadIdx.x & 31;
  for (int64_t i = warp_row(); i < N; i += warp_rows_step()) {
    const int64_t c = class_of(lab, i, C, ignore_index, base, rec);
    T* q = d + i * C;
    if (c < 0) {
      for (int64_t j = lane; j < C; j += 32) q[j] = T(0);
      continue;
    }
    const T* p = z + i * C;
    T m;
    double log_s;
    warp_row_lse(p, C, m, log_s);
    const T ls = static_cast<T>(log_s);
    const double gi = static_cast<double>(g[g_scalar ? 0 : i]);
    for (int64_t j = lane; j < C; j += 32) {
      const T e = exp((p[j] - m) - ls);
      const T v = static_cast<T>(static_cast<double>(e) * gi);
      q[j] = j == c ? static_cast<T>(v - gi) : v;
    }
  }
}

template <class T>
__global__ void xent_prob_dev(const T* z, const T* t, T* out, int64_t N, int64_t C) {
  const int lane = threadIdx.x & 31;
  for (int64_t i = warp_row(); i < N; i += warp_rows_step()) {
    const T* p = z + i * C;
    const T* q = t + i * C;
    T m;
    double log_s;
    warp_row_lse(p, C, m, log_s);
    double st = 0, stz = 0;
    for (int64_t j = lane; j < C; j += 32) {
      st += static_cast<double>(q[j]);
      stz += static_cast<double>(q[j]) * static_cast<double>(p[j]);
    }
    st = warp_sum(st);
    stz = warp_sum(stz);
    const double lse = static_cast<double>(m) + log_s;
    // -sum t (z - lse); terms with t == 0 contribute nothing even where z = -inf.
    if (lane == 0) out[i] = static_cast<T>(st == 0 ? 0.0 : lse * st - stz);
  }
}

struct XentParams {
  int64_t ignore_index = -100;
  int64_t index_base = 0;
};

int64_t last_dim(const TensorView& v) { return v.shape.empty() ? 1 : v.shape.back(); }

template <class F>
void label_dispatch(DType t, F&& f) {
  if (t == DType::i32) return f(int32_t{});
  if (t == DType::i64) return f(int64_t{});
  SN_THROW(ErrorKind::dtype, "labels must be int32 or int64, not " << dtype_name(t));
}

void xent_kernel(KernelContext& k) {
  const XentParams& p = op_params<XentParams>(k);
  const TensorView &z = k.in[0], &lab = k.in[1], &loss = k.out[0];
  const int64_t C = last_dim(z), N = lab.numel();
  if (N == 0) return;
  dispatch_float(z.dtype, "softmax_cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    label_dispatch(lab.dtype, [&](auto ltag) {
      using L = decltype(ltag);
      xent_dev<T, L><<<row_blocks(N), 32 * kWarpsPerBlock, 0, stream_of(k)>>>(
          z.ptr<const T>(), lab.ptr<const L>(), loss.ptr<T>(), N, C, p.ignore_index, p.index_base,
          device_of(k).error_record);
      check_launch("softmax_cross_entropy");
    });
  });
}

void xent_grad_kernel(KernelContext& k) {
  const XentParams& p = op_params<XentParams>(k);
  const TensorView &z = k.in[0], &lab = k.in[1], &g = k.in[2], &d = k.out[0];
  const int64_t C = last_dim(z), N = lab.numel();
  if (N == 0) return;
  dispatch_float(z.dtype, "softmax_cross_entropy_grad", [&](auto tag) {
    using T = decltype(tag);
    label_dispatch(lab.dtype, [&](auto ltag) {
      using L = decltype(ltag);
      xent_grad_dev<T, L><<<row_blocks(N), 32 * kWarpsPerBlock, 0, stream_of(k)>>>(
          z.ptr<const T>(), lab.ptr<const L>(), g.ptr<const T>(), g.numel() == 1 && N != 1, d.ptr<T>(), N, C,
          p.ignore_index, p.index_base, device_of(k).error_record);
      check_launch("softmax_cross_entropy_grad");
    });
  });
}

void xent_prob_kernel(KernelContext& k) {
  const TensorView &z = k.in[0], &t = k.in[1], &loss = k.out[0];
  const int64_t C = last_dim(z), N = loss.numel();
  if (N == 0) return;
  dispatch_float(z.dtype, "softmax_cross_entropy_prob", [&](auto tag) {
    using T = decltype(tag);
    xent_prob_dev<T><<<row_blocks(N), 32 * kWarpsPerBlock, 0, stream_of(k)>>>(z.ptr<const T>(), t.ptr<const T>(),
                                                                                loss.ptr<T>(), N, C);
    check_launch("softmax_cross_entropy_prob");
  });
}

template <class T>
__global__ void sigmoid_xent_dev(const T* x, const T* t, T* y, int64_t n, int64_t xs, int64_t ts) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const T v = x[i * xs], tv = t[i * ts];
    y[i] = (v < T(0) ? T(0) : v) - v * tv + log1p(exp(-fabs(v)));
  }
}

void sigmoid_xent_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &t = k.in[1], &y = k.out[0];
  const int64_t n = y.numel();
  if (n == 0) return;
  dispatch_float(y.dtype, "sigmoid_cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    sigmoid_xent_dev<T><<<blocks_for(n), kThreads, 0, stream_of(k)>>>(
        x.ptr<const T>(), t.ptr<const T>(), y.ptr<T>(), n, x.numel() == n ? 1 : 0, t.numel() == n ? 1 : 0);
    check_launch("sigmoid_cross_entropy");
  });
}

}  // namespace

void bind_nn(Backend& b, DeviceContext* dev) {
  auto read_softmax = [](const Node& n) { return SoftmaxParams{n.attrs.get_int("axis", -1)}; };
  KernelImpl s = cuda_kernel<SoftmaxParams>(softmax_kernel<false>, dev, read_softmax);
  s.inplace = {{0, 0}};
  b.add_kernel("softmax", s);
  KernelImpl ls = cuda_kernel<SoftmaxParams>(softmax_kernel<true>, dev, read_softmax);
  ls.inplace = {{0, 0}};
  b.add_kernel("log_softmax", ls);
  auto read_xent = [](const Node& n) {
    return XentParams{n.attrs.get_int("ignore_index", -100), n.attrs.get_int("index_base", 0)};
  };
  b.add_kernel("softmax_cross_entropy", cuda_kernel<XentParams>(xent_kernel, dev, read_xent));
  b.add_kernel("softmax_cross_entropy_grad", cuda_kernel<XentParams>(xent_grad_kernel, dev, read_xent));
  b.add_kernel("softmax_cross_entropy_prob", cuda_kernel(xent_prob_kernel, dev));
  KernelImpl sx = cuda_kernel(sigmoid_xent_kernel, dev);
  sx.inplace = {{0, 0}, {0, 1}};
  b.add_kernel("sigmoid_cross_entropy", sx);
}

}  // namespace cuda
}  // namespace symnet
