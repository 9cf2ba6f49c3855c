// The contract between the CUDA backend (device, memory, streams, errors: src/cuda/*.cu)
// and its kernels (src/cuda/kernels/*.cu). Compiled by nvcc only: the symnet package never
// includes this header, it reaches the backend through the plugin ABI (backend/plugin.h).
//
// One DeviceContext per GPU, owned by that device's backend ("cuda:N"). A kernel finds it
// through its prepared parameters (KernelParams below), not through global state, so that
// two devices in one process never share a stream or a library handle.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend/backend.h"

namespace symnet {
namespace cuda {

// Codes kernels write to DeviceContext::error_flag when they meet data-dependent errors;
// the backend's synchronize() turns the first one into the same classed error the CPU
// kernel would have raised (ErrorKind::index for labels and indices out of range).
enum DeviceErrorCode : int32_t {
  kDeviceOk = 0,
  kLabelOutOfRange = 1,
  kIndexOutOfRange = 2,
};

// What a kernel reports with a code: the offending value and where it was found.
struct DeviceErrorRecord {
  int32_t code;
  int64_t position;  // flat element index of the offending label/index
  int64_t value;     // the value found there
  int64_t bound;     // the exclusive upper bound it had to respect
};

struct DeviceContext {
  int device = 0;                  // CUDA ordinal
  cudaStream_t stream = nullptr;   // every kernel and copy of this device is queued here
  cublasHandle_t cublas = nullptr; // bound to `stream`
  cudnnHandle_t cudnn = nullptr;   // bound to `stream`
  // Device memory, zero when nothing went wrong; kernels record only the first error
  // (atomicCAS on `code`), synchronize() reads, raises and clears it.
  DeviceErrorRecord* error_record = nullptr;
  bool allow_tf32 = false;                   // TF32 GEMM/conv math: off by default for exactness
  size_t conv_workspace_limit = 256u << 20;  // cuDNN algorithm search respects this
};

// What every CUDA KernelImpl's prepare() returns: the device the node runs on and the op's
// own plain parameters (may be null).
struct KernelParams {
  DeviceContext* dev = nullptr;
  std::shared_ptr<const void> op;
};

inline DeviceContext& device_of(const KernelContext& k) { return *k.param<KernelParams>().dev; }

template <class P>
const P& op_params(const KernelContext& k) {
  return *static_cast<const P*>(k.param<KernelParams>().op.get());
}

// A kernel of device `dev` without op parameters.
inline KernelImpl cuda_kernel(KernelFn fn, DeviceContext* dev) {
  KernelImpl k(fn);
  k.prepare = [dev](const Node&) -> std::shared_ptr<const void> {
    auto p = std::make_shared<KernelParams>();
    p->dev = dev;
    return p;
  };
  return k;
}

// A kernel of device `dev` whose op parameters `read` builds from the node at compile time.
template <class P, class Read>
KernelImpl cuda_kernel(KernelFn fn, DeviceContext* dev, Read read) {
  KernelImpl k(fn);
  k.prepare = [dev, read](const Node& n) -> std::shared_ptr<const void> {
    auto p = std::make_shared<KernelParams>();
    p->dev = dev;
    p->op = std::make_shared<P>(read(n));
    return p;
  };
  return k;
}

// Throw symnet::Error naming `what` and the library's message: out of memory as
// ErrorKind::device_memory, every other failure as ErrorKind::device.
[[noreturn]] void throw_cuda(cudaError_t e, const char* what);
[[noreturn]] void throw_cublas(cublasStatus_t s, const char* what);
[[noreturn]] void throw_cudnn(cudnnStatus_t s, const char* what);
inline void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw_cuda(e, what);
}
inline void check_cublas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw_cublas(s, what);
}
inline void check_cudnn(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) throw_cudnn(s, what);
}
// After a kernel launch: raises what the launch reported (bad configuration, no device).
inline void check_launch(const char* what) { check_cuda(cudaGetLastError(), what); }

// Adds every kernel of src/cuda/kernels/ to `b` for device `dev` (defined there).
void bind_cuda_kernels(Backend& b, DeviceContext* dev);

// The dtypes the kernel of `op` handles, for kernels that do not handle every core dtype
// (is_core_dtype) or that handle float16/bfloat16 too: the backend's supports() leaves nodes
// with another input or output dtype to the CPU. Without a call, a kernel handles exactly
// the core dtypes. Call after add_kernel (defined by the backend, cuda_backend.cu).
void set_kernel_dtypes(Backend& b, const std::string& op, std::vector<DType> dtypes);

}  // namespace cuda
}  // namespace symnet
