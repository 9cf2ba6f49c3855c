// The CUDA backend library's own pieces (nvcc only, never seen by kernels): one Device per
// GPU holding its context and its caching allocator, the buffer type built on them, and
// the backend. The library's exported C functions (cuda_entry.cu) reach the devices
// through devices().
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "cuda/caching_pool.h"
#include "cuda/cuda_context.h"

namespace symnet {
namespace cuda {

// Makes `device` current for the calls of one scope and restores the caller's device:
// the R session (or a host program) may have its own idea of the current device.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
  bool changed_ = false;
};

// "cuda:N".
std::string device_name(int device);

class CudaBufferType;

// One GPU: its stream and library handles (DeviceContext), a pinned host copy of the error
// record for synchronize(), and the caching allocator of its memory. Created by the entry
// point for each device the runtime reports; lives until the process ends.
struct Device {
  explicit Device(int ordinal);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // A block of `bytes` from the cache or the driver; throws ErrorKind::device_memory
  // naming the request and the device's free and total memory when none can be had.
  void* allocate(size_t bytes, size_t& bin);
  void release(void* p, size_t bin) { pool.release(p, bin); }

  DeviceContext ctx;
  DeviceErrorRecord* host_record = nullptr;  // pinned, written by synchronize()'s copy
  CachingPool pool;
  std::unique_ptr<CudaBufferType> buffer_type;

 private:
  void release_handles() noexcept;
};

// The devices the entry point created, by ordinal (empty before registration); they live
// until the process ends.
std::vector<std::unique_ptr<Device>>& devices();

// Memory of one device: reached by the host only through copies (data() is null).
class CudaBufferType final : public BufferType {
 public:
  explicit CudaBufferType(Device& d);
  const char* name() const override { return name_.c_str(); }
  size_t alignment() const override { return 256; }  // cudaMalloc's guarantee
  bool is_host() const override { return false; }
  std::unique_ptr<Buffer> allocate(size_t bytes) const override;

 private:
  Device& dev_;
  std::string name_;
};

// Process-wide options (symnet_cuda_set_option_v1), applied to every device and to those
// created later.
struct Options {
  bool allow_tf32 = false;
  size_t conv_workspace_limit = 256u << 20;
};
Options& options();

// The backend "cuda:N" of one device.
std::unique_ptr<Backend> make_cuda_backend(Device& d);

}  // namespace cuda
}  // namespace symnet
