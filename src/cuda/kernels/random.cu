// Dropout and the random ops on CUDA. They draw the CPU's Philox stream
// (kernels/cpu/philox.h, keys from kernels/cpu/random_key.h): element i takes lane i % 4 of
// block i / 4 (two doubles per block for float64), so masks and uniform draws are identical
// to the CPU's for the same seed, run and loop stream (tests/engine/test_cuda_host_plans.cpp
// checks the formulas against the CPU kernels). Normal draws go through the device's
// log/sqrt/cos, which may differ from the host's libm in the last bits.
#include <cmath>

#include "cuda/kernels/common.cuh"
#include "engine/kernels/cpu/dropout.h"         // DropoutParams
#include "engine/kernels/cpu/param_readers.h"
#include "engine/kernels/cpu/philox.h"
#include "engine/kernels/cpu/random_kernels.h"  // RandomParams
#include "engine/kernels/cpu/random_key.h"

namespace symnet {
namespace cuda {

namespace {

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

KernelImpl random_impl(KernelFn fn, DeviceContext* dev, const char* a_name, double a_def, const char* b_name,
                       double b_def) {
  return cuda_kernel<RandomParams>(fn, dev, [=](const Node& n) { return read_random(n, a_name, a_def, b_name, b_def); });
}

}  // namespace

void bind_random(Backend& b, DeviceContext* dev) {
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
