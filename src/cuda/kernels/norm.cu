// Batch and layer normalization on CUDA.
//
// Batch norm follows the CPU (kernels/cpu/norm.cpp) exactly in what it computes: statistics
// in double from sums shifted by the channel's first value, biased batch variance for the
// normalization, unbiased for the running variance, running = momentum * running +
// (1 - momentum) * batch. Sums are taken by (channel, slice) blocks and finished per channel
// in slice order (one block per channel where no workspace was planned), so every sum has
// a fixed order and results do not vary between runs. Layer norm takes a warp per row.
#include <cmath>

#include "cuda/kernels/common.cuh"
#include "engine/kernels/cpu/norm.h"            // NormParams

namespace symnet {
namespace cuda {

namespace {

constexpr int kNormThreads = 256;

// x viewed as [N, C, inner].
struct NCI {
  int64_t n = 0, c = 0, inner = 0;
  explicit NCI(const TensorView& x) : n(x.shape.at(0)), c(x.shape.at(1)) {
    inner = n * c > 0 ? x.numel() / (n * c) : 0;
  }
  int64_t per_channel() const { return n * inner; }
};

template <class T>
__global__ void bn_training_dev(const T* x, const T* scale, const T* bias, const T* rmean, const T* rvar, T* y, T* bm,
                                T* bv, T* rm_new, T* rv_new, int64_t N, int64_t C, int64_t inner, double eps,
                                double mom) {
  __shared__ double scratch[32];
  const int64_t M = N * inner;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const double shift = static_cast<double>(x[c * inner]);
    double s1 = 0, s2 = 0;
    for (int64_t t = threadIdx.x; t < M; t += blockDim.x) {
      const int64_t n = t / inner, i = t - n * inner;
      const double d = static_cast<double>(x[(n * C + c) * inner + i]) - shift;
      s1 += d;
      s2 += d * d;
    }
    s1 = block_sum(s1, scratch);
    s2 = block_sum(s2, scratch);
    const double mu = shift + s1 / static_cast<double>(M);
    const double ss = fmax(0.0, s2 - s1 * s1 / static_cast<double>(M));
    const double var = ss / static_cast<double>(M);
    const double a = static_cast<double>(scale[c]) / sqrt(var + eps);
    const T ac = static_cast<T>(a), bc = static_cast<T>(static_cast<double>(bias[c]) - mu * a);
    for (int64_t t = threadIdx.x; t < M; t += blockDim.x) {
      const int64_t n = t / inner, i = t - n * inner, off = (n * C + c) * inner + i;
      y[off] = x[off] * ac + bc;
    }
    if (threadIdx.x == 0) {
      bm[c] = static_cast<T>(mu);
      bv[c] = static_cast<T>(var);
      rm_new[c] = static_cast<T>(static_cast<double>(rmean[c]) * mom + mu * (1 - mom));
      rv_new[c] = static_cast<T>(static_cast<double>(rvar[c]) * mom + ss / static_cast<double>(M - 1) * (1 - mom));
    }
    __syncthreads();  // y may alias x: the next channel's shift is read after every write
  }
}

template <class T>
__global__ void bn_inference_dev(const T* x, const T* scale, const T* bias, const T* mean, const T* var, T* y,
                                 int64_t total, int64_t C, int64_t inner, double eps) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t c = (t / inner) % C;
    const double a = static_cast<double>(scale[c]) / sqrt(static_cast<double>(var[c]) + eps);
    const T ac = static_cast<T>(a);
    const T bc = static_cast<T>(static_cast<double>(bias[c]) - static_cast<double>(mean[c]) * a);
    y[t] = x[t] * ac + bc;
  }
}

template <class T>
__global__ void bn_grad_dev(const T* x, const T* scale, const T* bm, const T* bv, const T* gy, T* gx, T* gscale,
                            T* gbias, int64_t N, int64_t C, int64_t inner, double eps) {
  __shared__ double scratch[32];
  const int64_t M = N * inner, Md = M > 1 ? M : 1;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const double mu = static_cast<double>(bm[c]), inv = 1.0 / sqrt(static_cast<double>(bv[c]) + eps);
    double sg = 0, sgx = 0;
    for (int64_t t = threadIdx.x; t < M; t += blockDim.x) {
      const int64_t n = t / inner, i = t - n * inner, off = (n * C + c) * inner + i;
      const double g = static_cast<double>(gy[off]);
      sg += g;
      sgx += g * (static_cast<double>(x[off]) - mu);
    }
    sg = block_sum(sg, scratch);
    sgx = block_sum(sgx, scratch);
    // gx = scale inv (g - mean(g) - xhat mean(g xhat)), xhat = (x - mu) inv.
    const double a = static_cast<double>(scale[c]) * inv;
    const T ta = static_cast<T>(a), tm = static_cast<T>(mu);
    const T tb = static_cast<T>(-a * sg / static_cast<double>(Md));
    const T tc = static_cast<T>(-a * inv * inv * sgx / static_cast<double>(Md));
    for (int64_t t = threadIdx.x; t < M; t += blockDim.x) {
      const int64_t n = t / inner, i = t - n * inner, off = (n * C + c) * inner + i;
      gx[off] = ta * gy[off] + tb + tc * (x[off] - tm);
    }
    if (threadIdx.x == 0) {
      gbias[c] = static_cast<T>(sg);
      gscale[c] = static_cast<T>(sgx * inv);
    }
    __syncthreads();
  }
}

// ---- batch norm split over slices of each channel ----------------------------------------------
// One block per channel leaves most of a large GPU idle (64 channels of a ResNet stem: 64
// blocks), so with workspace the statistics are summed by (channel, slice) blocks into
// partial sums, finished per channel in slice order (deterministic), and applied by an
// elementwise pass over the whole tensor.

constexpr int kBnSlices = 64;

// Batch norm's attributes and the channel count its workspace was planned for (0: none,
// when the node's channels are unknown at compile time; the one-block kernels run then).
struct BnParams : NormParams {
  int64_t workspace_channels = 0;
};  // at most; the workspace holds this many partials per channel

// Workspace: partial sums [C][kBnSlices][2] then per-channel coefficients [C][4], doubles.
size_t bn_workspace_bytes(int64_t C) { return static_cast<size_t>(C) * (2 * kBnSlices + 4) * sizeof(double); }

int bn_slices(int64_t M) {
  const int64_t s = (M + 32767) / 32768;
  return static_cast<int>(std::min<int64_t>(std::max<int64_t>(s, 1), kBnSlices));
}

// Grad = false: sums of d and d^2, d = x - x[c, first]; Grad = true: sums of g and
// g (x - mean[c]).
template <class T, bool Grad>
__global__ void bn_partial_dev(const T* x, const T* gy, const T* bm, double* part, int64_t C, int64_t inner,
                               int64_t M, int slices) {
  __shared__ double scratch[32];
  const int64_t c = blockIdx.x;
  const int s = static_cast<int>(blockIdx.y);
  const int64_t chunk = (M + slices - 1) / slices, lo = s * chunk, hi = lo + chunk < M ? lo + chunk : M;
  const double ref = Grad ? static_cast<double>(bm[c]) : static_cast<double>(x[c * inner]);
  double a = 0, b = 0;
  for (int64_t t = lo + threadIdx.x; t < hi; t += blockDim.x) {
    const int64_t n = t / inner, i = t - n * inner, off = (n * C + c) * inner + i;
    const double d = static_cast<double>(x[off]) - ref;
    if (Grad) {
      const double g = static_cast<double>(gy[off]);
      a += g;
      b += g * d;
    } else {
      a += d;
      b += d * d;
    }
  }
  a = block_sum(a, scratch);
  b = block_sum(b, scratch);
  if (threadIdx.x == 0) {
    part[(c * kBnSlices + s) * 2] = a;
    part[(c * kBnSlices + s) * 2 + 1] = b;
  }
}

// Training forward, per channel: statistics, running statistics and y = x a + b.
template <class T>
__global__ void bn_finish_dev(const T* x, const T* scale, const T* bias, const T* rmean, const T* rvar, T* bm, T* bv,
                              T* rm_new, T* rv_new, const double* part, double* coef, int64_t C, int64_t inner,
                              int64_t M, int slices, double eps, double mom) {
  for (int64_t c = global_thread(); c < C; c += grid_threads()) {
    double s1 = 0, s2 = 0;
    for (int s = 0; s < slices; ++s) {
      s1 += part[(c * kBnSlices + s) * 2];
      s2 += part[(c * kBnSlices + s) * 2 + 1];
    }
    const double shift = static_cast<double>(x[c * inner]);
    const double mu = shift + s1 / static_cast<double>(M);
    const double ss = fmax(0.0, s2 - s1 * s1 / static_cast<double>(M));
    const double var = ss / static_cast<double>(M);
    const double a = static_cast<double>(scale[c]) / sqrt(var + eps);
    coef[c * 4] = a;
    coef[c * 4 + 1] = static_cast<double>(bias[c]) - mu * a;
    bm[c] = static_cast<T>(mu);
    bv[c] = static_cast<T>(var);
    rm_new[c] = static_cast<T>(static_cast<double>(rmean[c]) * mom + mu * (1 - mom));
    rv_new[c] = static_cast<T>(static_cast<double>(rvar[c]) * mom + ss / static_cast<double>(M - 1) * (1 - mom));
  }
}

template <class T>
__global__ void bn_apply_dev(const T* x, T* y, const double* coef, int64_t total, int64_t C, int64_t inner) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t c = (t / inner) % C;
    y[t] = x[t] * static_cast<T>(coef[c * 4]) + static_cast<T>(coef[c * 4 + 1]);
  }
}

// Gradient, per channel: parameter gradients and the coefficients of gx.
template <class T>
__global__ void bn_grad_finish_dev(const T* scale, const T* bm, const T* bv, T* gscale, T* gbias, const double* part,
                                   double* coef, int64_t C, int64_t M, int slices, double eps) {
  const int64_t Md = M > 1 ? M : 1;
  for (int64_t c = global_thread(); c < C; c += grid_threads()) {
    double sg = 0, sgx = 0;
    for (int s = 0; s < slices; ++s) {
      sg += part[(c * kBnSlices + s) * 2];
      sgx += part[(c * kBnSlices + s) * 2 + 1];
    }
    const double inv = 1.0 / sqrt(static_cast<double>(bv[c]) + eps);
    gbias[c] = static_cast<T>(sg);
    gscale[c] = static_cast<T>(sgx * inv);
    const double a = static_cast<double>(scale[c]) * inv;
    coef[c * 4] = a;
    coef[c * 4 + 1] = -a * sg / static_cast<double>(Md);
    coef[c * 4 + 2] = -a * inv * inv * sgx / static_cast<double>(Md);
    coef[c * 4 + 3] = static_cast<double>(bm[c]);
  }
}

template <class T>
__global__ void bn_grad_apply_dev(const T* x, const T* gy, T* gx, const double* coef, int64_t total, int64_t C,
                                  int64_t inner) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t c = (t / inner) % C;
    const T ta = static_cast<T>(coef[c * 4]), tb = static_cast<T>(coef[c * 4 + 1]), tc = static_cast<T>(coef[c * 4 + 2]),
            tm = static_cast<T>(coef[c * 4 + 3]);
    gx[t] = ta * gy[t] + tb + tc * (x[t] - tm);
  }
}

// Whether the split kernels can run: workspace for this many channels, and a grid that fits.
bool bn_split_fits(const KernelContext& k, int64_t C) {
  return k.workspace != nullptr && op_params<BnParams>(k).workspace_channels >= C && C <= INT32_MAX;
}

unsigned channel_blocks(int64_t C) { return static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(C, 1), kMaxBlocks)); }

void batch_norm_kernel(KernelContext& k) {
  const BnParams& p = op_params<BnParams>(k);
  const NCI s(k.in[0]);
  if (s.c == 0) return;
  dispatch_float(k.in[0].dtype, "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    const T *x = k.in[0].ptr<const T>(), *scale = k.in[1].ptr<const T>(), *bias = k.in[2].ptr<const T>(),
            *m = k.in[3].ptr<const T>(), *v = k.in[4].ptr<const T>();
    if (p.training) {
      SN_CHECK(s.per_channel() > 1, ErrorKind::value,
               "batch_norm in training mode needs more than one value per channel, got input shape "
                   << shape_str(k.in[0].shape));
      if (bn_split_fits(k, s.c)) {
        const int64_t M = s.per_channel();
        const int slices = bn_slices(M);
        double* part = static_cast<double*>(k.workspace);
        double* coef = part + s.c * 2 * kBnSlices;
        bn_partial_dev<T, false><<<dim3(static_cast<unsigned>(s.c), static_cast<unsigned>(slices)), kNormThreads, 0,
                                   stream_of(k)>>>(x, nullptr, nullptr, part, s.c, s.inner, M, slices);
        check_launch("batch_norm");
        bn_finish_dev<T><<<blocks_for(s.c), kThreads, 0, stream_of(k)>>>(
            x, scale, bias, m, v, k.out[1].ptr<T>(), k.out[2].ptr<T>(), k.out[3].ptr<T>(), k.out[4].ptr<T>(), part,
            coef, s.c, s.inner, M, slices, p.epsilon, p.momentum);
        check_launch("batch_norm");
        const int64_t total = k.in[0].numel();
        bn_apply_dev<T><<<blocks_for(total), kThreads, 0, stream_of(k)>>>(x, k.out[0].ptr<T>(), coef, total, s.c,
                                                                          s.inner);
      } else {
        bn_training_dev<T><<<channel_blocks(s.c), kNormThreads, 0, stream_of(k)>>>(
            x, scale, bias, m, v, k.out[0].ptr<T>(), k.out[1].ptr<T>(), k.out[2].ptr<T>(), k.out[3].ptr<T>(),
            k.out[4].ptr<T>(), s.n, s.c, s.inner, p.epsilon, p.momentum);
      }
    } else {
      const int64_t total = k.in[0].numel();
      if (total == 0) return;
      bn_inference_dev<T><<<blocks_for(total), kThreads, 0, stream_of(k)>>>(x, scale, bias, m, v, k.out[0].ptr<T>(),
                                                                            total, s.c, s.inner, p.epsilon);
    }
    check_launch("batch_norm");
  });
}

void batch_norm_grad_kernel(KernelContext& k) {
  const BnParams& p = op_params<BnParams>(k);
  const NCI s(k.in[0]);
  if (s.c == 0) return;
  dispatch_float(k.in[0].dtype, "batch_norm_grad", [&](auto tag) {
    using T = decltype(tag);
    const T *x = k.in[0].ptr<const T>(), *scale = k.in[1].ptr<const T>(), *bm = k.in[2].ptr<const T>(),
            *bv = k.in[3].ptr<const T>(), *gy = k.in[4].ptr<const T>();
    const int64_t M = s.per_channel();
    if (bn_split_fits(k, s.c) && M > 0) {
      const int slices = bn_slices(M);
      double* part = static_cast<double*>(k.workspace);
      double* coef = part + s.c * 2 * kBnSlices;
      bn_partial_dev<T, true><<<dim3(static_cast<unsigned>(s.c), static_cast<unsigned>(slices)), kNormThreads, 0,
                                stream_of(k)>>>(x, gy, bm, part, s.c, s.inner, M, slices);
      check_launch("batch_norm_grad");
      bn_grad_finish_dev<T><<<blocks_for(s.c), kThreads, 0, stream_of(k)>>>(
          scale, bm, bv, k.out[1].ptr<T>(), k.out[2].ptr<T>(), part, coef, s.c, M, slices, p.epsilon);
      check_launch("batch_norm_grad");
      const int64_t total = k.in[0].numel();
      bn_grad_apply_dev<T><<<blocks_for(total), kThreads, 0, stream_of(k)>>>(x, gy, k.out[0].ptr<T>(), coef, total,
                                                                             s.c, s.inner);
    } else {
      bn_grad_dev<T><<<channel_blocks(s.c), kNormThreads, 0, stream_of(k)>>>(
          x, scale, bm, bv, gy, k.out[0].ptr<T>(), k.out[1].ptr<T>(), k.out[2].ptr<T>(), s.n, s.c, s.inner,
          p.epsilon);
    }
    check_launch("batch_norm_grad");
  });
}

NormParams read_norm(const Node& n) {
  NormParams p;
  p.epsilon = n.attrs.get_float("epsilon", p.epsilon);
  p.momentum = n.attrs.get_float("momentum", p.momentum);
  p.training = n.attrs.get_int("training", 0) == 1;
  return p;
}

// The node's channel count, or 0 when unknown at compile time.
int64_t known_channels(const Node& n) {
  const Value& x = n.inputs.at(0);
  if (!x.rank_known() || x.rank() < 2) return 0;
  return x.shape()[1] > 0 ? x.shape()[1] : 0;
}

BnParams read_bn(const Node& n) {
  BnParams p;
  static_cast<NormParams&>(p) = read_norm(n);
  p.workspace_channels = known_channels(n);
  return p;
}

size_t bn_workspace(const Node& n) {
  const int64_t C = known_channels(n);
  return C > 0 ? bn_workspace_bytes(C) : 0;
}

// ---- layer norm (rows of the trailing D = numel(scale) elements) ----------------------------

constexpr int kLnRowsPerBlock = 8;

__device__ inline double warp_sum_d(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <class T>
__global__ void ln_forward_dev(const T* x, const T* scale, const T* bias, T* y, T* mean, T* istd, int64_t rows,
                               int64_t D, double eps) {
  const int lane = threadIdx.x & 31;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kLnRowsPerBlock + (threadIdx.x >> 5); r < rows;
       r += static_cast<int64_t>(gridDim.x) * kLnRowsPerBlock) {
    const T* xr = x + r * D;
    T* yr = y + r * D;
    double s = 0;
    for (int64_t j = lane; j < D; j += 32) s += static_cast<double>(xr[j]);
    const double mu = warp_sum_d(s) / static_cast<double>(D);
    double ss = 0;
    for (int64_t j = lane; j < D; j += 32) {
      const double d = static_cast<double>(xr[j]) - mu;
      ss += d * d;
    }
    const double inv = 1.0 / sqrt(warp_sum_d(ss) / static_cast<double>(D) + eps);
    const T tm = static_cast<T>(mu), ti = static_cast<T>(inv);
    for (int64_t j = lane; j < D; j += 32) {
      const T v = (xr[j] - tm) * ti * scale[j];
      yr[j] = bias ? v + bias[j] : v;
    }
    if (lane == 0) {
      mean[r] = tm;
      istd[r] = ti;
    }
  }
}

// Column sums of the scale and bias gradients: a thread per column, rows in order.
template <class T>
__global__ void ln_param_grad_dev(const T* x, const T* mean, const T* istd, const T* gy, T* gscale, T* gbias,
                                  int64_t rows, int64_t D) {
  for (int64_t j = global_thread(); j < D; j += grid_threads()) {
    double sa = 0, sb = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const T g = gy[r * D + j];
      sa += static_cast<double>(g * ((x[r * D + j] - mean[r]) * istd[r]));
      sb += static_cast<double>(g);
    }
    gscale[j] = static_cast<T>(sa);
    gbias[j] = static_cast<T>(sb);
  }
}

// gx = inv (gs - mean(gs) - xhat mean(gs xhat)), gs = g * scale; a warp per row.
template <class T>
__global__ void ln_input_grad_dev(const T* x, const T* scale, const T* mean, const T* istd, const T* gy, T* gx,
                                  int64_t rows, int64_t D) {
  const int lane = threadIdx.x & 31;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kLnRowsPerBlock + (threadIdx.x >> 5); r < rows;
       r += static_cast<int64_t>(gridDim.x) * kLnRowsPerBlock) {
    const T *xr = x + r * D, *gr = gy + r * D;
    T* q = gx + r * D;
    const T mu = mean[r], inv = istd[r];
    double a = 0, b = 0;
    for (int64_t j = lane; j < D; j += 32) {
      const double gs = static_cast<double>(gr[j]) * static_cast<double>(scale[j]);
      a += gs;
      b += gs * static_cast<double>((xr[j] - mu) * inv);
    }
    a = warp_sum_d(a);
    b = warp_sum_d(b);
    const T ta = static_cast<T>(a / static_cast<double>(D)), tb = static_cast<T>(b / static_cast<double>(D));
    for (int64_t j = lane; j < D; j += 32) {
      const T xh = (xr[j] - mu) * inv;
      q[j] = inv * (gr[j] * scale[j] - ta - xh * tb);
    }
  }
}

unsigned ln_blocks(int64_t rows) {
  return static_cast<unsigned>(
      std::min<int64_t>(std::max<int64_t>((rows + kLnRowsPerBlock - 1) / kLnRowsPerBlock, 1), kMaxBlocks));
}

template <class T>
__global__ void fill_dev(T* p, int64_t n, T v) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) p[i] = v;
}

void layer_norm_kernel(KernelContext& k) {
  const TensorView& xv = k.in[0];
  const int64_t D = k.in[1].numel(), rows = D > 0 ? xv.numel() / D : 0;
  const double eps = op_params<NormParams>(k).epsilon;
  dispatch_float(xv.dtype, "layer_norm", [&](auto tag) {
    using T = decltype(tag);
    if (D == 0) {  // nothing to normalize: statistics of an empty row, as for a zero variance
      const int64_t nm = k.out[1].numel(), ni = k.out[2].numel();
      if (nm) fill_dev<T><<<blocks_for(nm), kThreads, 0, stream_of(k)>>>(k.out[1].ptr<T>(), nm, T(0));
      if (ni)
        fill_dev<T><<<blocks_for(ni), kThreads, 0, stream_of(k)>>>(k.out[2].ptr<T>(), ni,
                                                                   static_cast<T>(1.0 / std::sqrt(eps)));
      check_launch("layer_norm");
      return;
    }
    if (rows == 0) return;
    const T* bias = k.in.size() > 2 && k.in[2].data ? k.in[2].ptr<const T>() : nullptr;
    ln_forward_dev<T><<<ln_blocks(rows), 32 * kLnRowsPerBlock, 0, stream_of(k)>>>(
        xv.ptr<const T>(), k.in[1].ptr<const T>(), bias, k.out[0].ptr<T>(), k.out[1].ptr<T>(), k.out[2].ptr<T>(), rows,
        D, eps);
    check_launch("layer_norm");
  });
}

void layer_norm_grad_kernel(KernelContext& k) {
  const TensorView& xv = k.in[0];
  const int64_t D = k.in[1].numel(), rows = D > 0 ? xv.numel() / D : 0;
  if (D == 0) return;
  dispatch_float(xv.dtype, "layer_norm_grad", [&](auto tag) {
    using T = decltype(tag);
    const T *x = xv.ptr<const T>(), *scale = k.in[1].ptr<const T>(), *mean = k.in[2].ptr<const T>(),
            *istd = k.in[3].ptr<const T>(), *gy = k.in[4].ptr<const T>();
    // The column sums run first (same stream), so gx may overwrite gy.
    ln_param_grad_dev<T><<<blocks_for(D), kThreads, 0, stream_of(k)>>>(x, mean, istd, gy, k.out[1].ptr<T>(),
                                                                        k.out[2].ptr<T>(), rows, D);
    check_launch("layer_norm_grad");
    if (rows == 0) return;
    ln_input_grad_dev<T><<<ln_blocks(rows), 32 * kLnRowsPerBlock, 0, stream_of(k)>>>(x, scale, mean, istd, gy,
                                                                                      k.out[0].ptr<T>(), rows, D);
    check_launch("layer_norm_grad");
  });
}

}  // namespace

void bind_norm(Backend& b, DeviceContext* dev) {
  KernelImpl bn = cuda_kernel<BnParams>(batch_norm_kernel, dev, read_bn);
  bn.workspace = bn_workspace;
  bn.inplace = {{0, 0}};
  b.add_kernel("batch_norm", bn);
  KernelImpl bng = cuda_kernel<BnParams>(batch_norm_grad_kernel, dev, read_bn);
  bng.workspace = bn_workspace;
  bng.inplace = {{0, 4}};
  b.add_kernel("batch_norm_grad", bng);
  KernelImpl ln = cuda_kernel<NormParams>(layer_norm_kernel, dev, read_norm);
  ln.inplace = {{0, 0}};
  b.add_kernel("layer_norm", ln);
  KernelImpl lng = cuda_kernel<NormParams>(layer_norm_grad_kernel, dev, read_norm);
  lng.inplace = {{0, 4}};
  b.add_kernel("layer_norm_grad", lng);
}

}  // namespace cuda
}  // namespace symnet
