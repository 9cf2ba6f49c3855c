// Batch and layer normalization, dropout and the Philox random ops on CUDA.
//
// Batch norm follows the CPU (kernels/cpu/norm.cpp) exactly in what it computes: statistics
// in double from sums shifted by the channel's first value, biased batch variance for the
// normalization, unbiased for the running variance, running = momentum * running +
// (1 - momentum) * batch. One block per channel, so every sum has a fixed order.
//
// Dropout and the random ops draw the CPU's Philox stream (kernels/cpu/philox.h, keys from
// kernels/cpu/random_key.h): element i takes lane i % 4 of block i / 4 (two doubles per
// block for float64), so masks and uniform draws are identical to the CPU's for the same
// seed, run and loop stream. Normal draws go through the device's log/sqrt/cos, which may
// differ from the host's libm in the last bits.
#include <cmath>

#include "cuda/kernels/common.cuh"
#include "engine/kernels/cpu/dropout.h"         // DropoutParams
#include "engine/kernels/cpu/norm.h"            // NormParams
#include "engine/kernels/cpu/philox.h"
#include "engine/kernels/cpu/random_kernels.h"  // RandomParams
#include "engine/kernels/cpu/random_key.h"

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

// ---- dropout ---------------------------------------------------------------------------------

template <class T>
__global__ void dropout_dev(const T* x, T* y, bool* mask, int64_t n, uint64_t key, uint64_t run, uint64_t thresh,
                            T scale) {
  const int64_t nb = (n + 3) / 4;
  for (int64_t b = global_thread(); b < nb; b += grid_threads()) {
    const philox::Block r = philox::draw(key, run, static_cast<uint64_t>(b));
    for (int j = 0; j < 4; ++j) {
      const int64_t i = 4 * b + j;
      if (i >= n) break;
      const bool keep = r.v[j] >= thresh;
      mask[i] = keep;
      y[i] = keep ? x[i] * scale : T(0);
    }
  }
}

__global__ void fill_true_dev(bool* mask, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) mask[i] = true;
}

void dropout_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &y = k.out[0], &mask = k.out[1];
  const DropoutParams& p = op_params<DropoutParams>(k);
  const int64_t n = x.numel();
  if (n == 0) return;
  const cudaStream_t s = stream_of(k);
  if (!p.training || p.ratio <= 0) {
    if (y.data != x.data) check_cuda(cudaMemcpyAsync(y.data, x.data, x.bytes(), cudaMemcpyDeviceToDevice, s), "dropout copy");
    fill_true_dev<<<blocks_for(n), kThreads, 0, s>>>(mask.ptr<bool>(), n);
    check_launch("dropout");
    return;
  }
  // Drop when the 32-bit draw is below ratio * 2^32 (all dropped at ratio 1), as on the CPU.
  const uint64_t thresh = static_cast<uint64_t>(std::min(1.0, p.ratio) * 4294967296.0);
  const uint64_t key = random_key(p.key, k.run), run = k.run ? k.run->run_index : 0;
  const double scale = p.ratio < 1 ? 1.0 / (1.0 - p.ratio) : 0.0;
  dispatch_float(x.dtype, "dropout", [&](auto tag) {
    using T = decltype(tag);
    dropout_dev<T><<<blocks_for((n + 3) / 4), kThreads, 0, s>>>(x.ptr<const T>(), y.ptr<T>(), mask.ptr<bool>(), n, key,
                                                                run, thresh, static_cast<T>(scale));
    check_launch("dropout");
  });
}

// ---- random ops ------------------------------------------------------------------------------

// Element i = value i % PER of block i / PER, gen(r, v) making PER values from one block.
template <int PER, class T, class G>
__global__ void fill_blocks_dev(T* out, int64_t n, uint64_t key, uint64_t run, G gen) {
  const int64_t nb = (n + PER - 1) / PER;
  for (int64_t b = global_thread(); b < nb; b += grid_threads()) {
    const philox::Block r = philox::draw(key, run, static_cast<uint64_t>(b));
    T v[PER];
    gen(r.v, v);
    for (int j = 0; j < PER; ++j) {
      const int64_t i = b * PER + j;
      if (i < n) out[i] = v[j];
    }
  }
}

template <int PER, class T, class G>
void fill_blocks(const KernelContext& k, T* out, int64_t n, uint64_t key, uint64_t run, const G& gen) {
  if (n == 0) return;
  fill_blocks_dev<PER, T, G><<<blocks_for((n + PER - 1) / PER), kThreads, 0, stream_of(k)>>>(out, n, key, run, gen);
  check_launch("random fill");
}

struct UniformF32Unit {
  __device__ void operator()(const uint32_t* r, float* v) const {
    for (int j = 0; j < 4; ++j) v[j] = philox::u01_f32(r[j]);
  }
};
struct UniformF32 {
  double lo, w;
  float top;
  __device__ void operator()(const uint32_t* r, float* v) const {
    for (int j = 0; j < 4; ++j) v[j] = fminf(top, static_cast<float>(lo + w * philox::u01_f32(r[j])));
  }
};
struct UniformF64 {
  double lo, w, top;
  __device__ void operator()(const uint32_t* r, double* v) const {
    v[0] = fmin(top, lo + w * philox::u01_f64(r[0], r[1]));
    v[1] = fmin(top, lo + w * philox::u01_f64(r[2], r[3]));
  }
};
struct NormalF32 {
  double mean, sd;
  __device__ void operator()(const uint32_t* r, float* v) const {
    float z[4];
    philox::box_muller_f32(r[0], r[1], z[0], z[1]);
    philox::box_muller_f32(r[2], r[3], z[2], z[3]);
    for (int j = 0; j < 4; ++j) v[j] = static_cast<float>(mean + sd * z[j]);
  }
};
struct NormalF64 {
  double mean, sd;
  __device__ void operator()(const uint32_t* r, double* v) const {
    double z0, z1;
    philox::box_muller(philox::u01_open_53(r[0], r[1]), philox::u01_f64(r[2], r[3]), z0, z1);
    v[0] = mean + sd * z0;
    v[1] = mean + sd * z1;
  }
};

uint64_t key_of(const KernelContext& k) { return random_key(op_params<RandomParams>(k).key, k.run); }
uint64_t run_of(const KernelContext& k) { return k.run ? k.run->run_index : 0; }

void random_uniform_kernel(KernelContext& k) {
  const TensorView& y = k.out[0];
  const RandomParams& p = op_params<RandomParams>(k);
  const double lo = p.a, hi = p.b, w = hi - lo;
  if (y.dtype == DType::f32) {
    // Rounding lo + w*u to float may land on hi; keep the interval half-open.
    const float top = std::nextafter(static_cast<float>(hi), -INFINITY);
    if (lo == 0 && w == 1) fill_blocks<4>(k, y.ptr<float>(), y.numel(), key_of(k), run_of(k), UniformF32Unit{});
    else fill_blocks<4>(k, y.ptr<float>(), y.numel(), key_of(k), run_of(k), UniformF32{lo, w, top});
  } else if (y.dtype == DType::f64) {
    fill_blocks<2>(k, y.ptr<double>(), y.numel(), key_of(k), run_of(k),
                   UniformF64{lo, w, std::nextafter(hi, -INFINITY)});
  } else {
    SN_THROW(ErrorKind::dtype, "random_uniform supports float32 and float64, not " << dtype_name(y.dtype));
  }
}

void random_normal_kernel(KernelContext& k) {
  const TensorView& y = k.out[0];
  const RandomParams& p = op_params<RandomParams>(k);
  if (y.dtype == DType::f32) fill_blocks<4>(k, y.ptr<float>(), y.numel(), key_of(k), run_of(k), NormalF32{p.a, p.b});
  else if (y.dtype == DType::f64) fill_blocks<2>(k, y.ptr<double>(), y.numel(), key_of(k), run_of(k), NormalF64{p.a, p.b});
  else SN_THROW(ErrorKind::dtype, "random_normal supports float32 and float64, not " << dtype_name(y.dtype));
}

template <class P, class Y>
__global__ void bernoulli_dev(const P* prob, Y* y, int64_t n, uint64_t key, uint64_t run) {
  const int64_t nb = (n + 3) / 4;
  for (int64_t b = global_thread(); b < nb; b += grid_threads()) {
    const philox::Block r = philox::draw(key, run, static_cast<uint64_t>(b));
    for (int j = 0; j < 4; ++j) {
      const int64_t i = 4 * b + j;
      if (i >= n) break;
      const double u = r.v[j] * (1.0 / 4294967296.0);
      y[i] = static_cast<Y>(u < static_cast<double>(prob[i]) ? 1 : 0);
    }
  }
}

void random_bernoulli_kernel(KernelContext& k) {
  const TensorView &p = k.in[0], &y = k.out[0];
  const int64_t n = y.numel();
  if (n == 0) return;
  dispatch_all(p.dtype, "random_bernoulli", [&](auto ptag) {
    using P = decltype(ptag);
    dispatch_all(y.dtype, "random_bernoulli", [&](auto ytag) {
      using Y = decltype(ytag);
      bernoulli_dev<P, Y><<<blocks_for((n + 3) / 4), kThreads, 0, stream_of(k)>>>(p.ptr<const P>(), y.ptr<Y>(), n,
                                                                                  key_of(k), run_of(k));
      check_launch("random_bernoulli");
    });
  });
}

RandomParams read_random(const Node& n, const char* a_name, double a_def, const char* b_name, double b_def) {
  RandomParams p;
  p.key = make_random_key(n.attrs.has("seed"), n.attrs.get_int("seed", 0), n.name);
  if (a_name) p.a = n.attrs.get_float(a_name, a_def);
  if (b_name) p.b = n.attrs.get_float(b_name, b_def);
  p.k = n.attrs.get_int("k", 0);
  return p;
}

KernelImpl random_impl(KernelFn fn, DeviceContext* dev, const char* a_name, double a_def, const char* b_name,
                       double b_def) {
  return cuda_kernel<RandomParams>(fn, dev, [=](const Node& n) { return read_random(n, a_name, a_def, b_name, b_def); });
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
  KernelImpl dr = cuda_kernel<DropoutParams>(dropout_kernel, dev, [](const Node& n) {
    DropoutParams p;
    p.ratio = n.attrs.get_float("ratio", p.ratio);
    p.training = n.attrs.get_int("training", 0) == 1;
    p.key = make_random_key(n.attrs.has("seed"), n.attrs.get_int("seed", 0), n.name);
    return p;
  });
  dr.inplace = {{0, 0}};
  b.add_kernel("dropout", dr);
  b.add_kernel("random_uniform", random_impl(random_uniform_kernel, dev, "low", 0.0, "high", 1.0));
  b.add_kernel("random_uniform_like", random_impl(random_uniform_kernel, dev, "low", 0.0, "high", 1.0));
  b.add_kernel("random_normal", random_impl(random_normal_kernel, dev, "mean", 0.0, "std", 1.0));
  b.add_kernel("random_normal_like", random_impl(random_normal_kernel, dev, "mean", 0.0, "std", 1.0));
  b.add_kernel("random_bernoulli", random_impl(random_bernoulli_kernel, dev, nullptr, 0, nullptr, 0));
}

}  // namespace cuda
}  // namespace symnet
