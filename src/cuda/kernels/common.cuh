// What every CUDA kernel file shares: launch geometry for grid-stride loops, dtype dispatch
// to device types, block reductions and the family binders bind_kernels.cu calls.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "cuda/cuda_context.h"
#include "engine/base/error.h"

namespace symnet {
namespace cuda {

constexpr int kThreads = 256;
// Grid-stride loops cover any element count; more blocks than this only add scheduling.
constexpr int64_t kMaxBlocks = 65536;

inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(b, 1), kMaxBlocks));
}

inline cudaStream_t stream_of(const KernelContext& k) { return device_of(k).stream; }

// 64-bit grid-stride loop variables.
__device__ inline int64_t global_thread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline int64_t grid_threads() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// f(T{}) for the engine's core dtypes (bool is stored as one byte on both sides).
template <class F>
void dispatch_all(DType t, const char* what, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::i32: return f(int32_t{});
    case DType::i64: return f(int64_t{});
    case DType::u8: return f(uint8_t{});
    case DType::boolean: return f(bool{});
    default: break;
  }
  SN_THROW(ErrorKind::dtype, what << ": no CUDA kernel for dtype " << dtype_name(t));
}

template <class F>
void dispatch_float(DType t, const char* what, F&& f) {
  if (t == DType::f32) return f(float{});
  if (t == DType::f64) return f(double{});
  SN_THROW(ErrorKind::dtype, what << " needs float32 or float64 on CUDA, got " << dtype_name(t));
}

// Sum of v over the block (every thread gets it). blockDim.x must be a multiple of 32 and
// at most 1024; `scratch` holds 32 values. Ends with a barrier so scratch can be reused.
template <class T>
__device__ inline T block_sum(T v, T* scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T s = lane < nw ? scratch[lane] : T(0);
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  __syncthreads();
  return s;
}

// Maximum of v over the block; NaN wins, as in the CPU's row maxima.
template <class T>
__device__ inline T nan_max(T a, T b) {
  return (a != a || b > a) ? (a != a ? a : b) : a;
}
template <class T>
__device__ inline T block_max(T v, T* scratch) {
  for (int o = 16; o > 0; o >>= 1) v = nan_max(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T s = lane < nw ? scratch[lane] : scratch[0];
  for (int o = 16; o > 0; o >>= 1) s = nan_max(s, __shfl_xor_sync(0xffffffffu, s, o));
  __syncthreads();
  return s;
}

// Records the first data-dependent error of the step (cuda_context.h): the thread whose
// atomicCAS takes the code from kDeviceOk writes the rest of the record.
__device__ inline void record_error(DeviceErrorRecord* rec, int32_t code, int64_t position, int64_t value,
                                    int64_t bound) {
  if (rec == nullptr) return;
  if (atomicCAS(&rec->code, kDeviceOk, code) == kDeviceOk) {
    rec->position = position;
    rec->value = value;
    rec->bound = bound;
    __threadfence();
  }
}

// Family binders (one per .cu file), called by bind_cuda_kernels.
void bind_elementwise(Backend& b, DeviceContext* dev);
void bind_reduce(Backend& b, DeviceContext* dev);
void bind_nn(Backend& b, DeviceContext* dev);
void bind_linalg(Backend& b, DeviceContext* dev);
void bind_conv(Backend& b, DeviceContext* dev);
void bind_pool(Backend& b, DeviceContext* dev);
void bind_norm(Backend& b, DeviceContext* dev);
void bind_shape(Backend& b, DeviceContext* dev);
void bind_index(Backend& b, DeviceContext* dev);
void bind_misc(Backend& b, DeviceContext* dev);
void bind_random(Backend& b, DeviceContext* dev);

}  // namespace cuda
}  // namespace symnet
