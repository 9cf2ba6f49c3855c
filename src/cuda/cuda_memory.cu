// Device memory: each GPU's context and caching allocator, and the buffers the executor
// gets from the backend's buffer type (arenas, resident variables, constants).
#include <cstring>
#include <sstream>

#include "cuda/cuda_device.h"

namespace symnet {
namespace cuda {

DeviceGuard::DeviceGuard(int device) {
  check_cuda(cudaGetDevice(&previous_), "cudaGetDevice");
  if (previous_ != device) {
    check_cuda(cudaSetDevice(device), "cudaSetDevice");
    changed_ = true;
  }
}

DeviceGuard::~DeviceGuard() {
  if (changed_) cudaSetDevice(previous_);
}

std::string device_name(int device) { return "cuda:" + std::to_string(device); }

std::vector<std::unique_ptr<Device>>& devices() {
  // Never destroyed: at exit the CUDA runtime may be unloading before static destructors
  // run, and buffers of compiled functions R finalizes late still give blocks back here.
  static auto* all = new std::vector<std::unique_ptr<Device>>();
  return *all;
}

Options& options() {
  static Options o;
  return o;
}

namespace {

// cudaMalloc for the pool: null when the device is out of memory, any other failure thrown.
void* raw_device_alloc(int device, size_t bytes) {
  DeviceGuard g(device);
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, bytes);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky, but keep check_launch() from seeing it
    return nullptr;
  }
  check_cuda(e, "cudaMalloc");
  return p;
}

void raw_device_free(int device, void* p) {
  // Called from destructors too: a failure here (a context already torn down at exit)
  // must not throw.
  int previous = -1;
  if (cudaGetDevice(&previous) == cudaSuccess && previous != device) cudaSetDevice(device);
  cudaFree(p);
  if (previous >= 0 && previous != device) cudaSetDevice(previous);
}

}  // namespace

Device::Device(int ordinal)
    : pool([ordinal](size_t bytes) { return raw_device_alloc(ordinal, bytes); },
           [ordinal](void* p) { raw_device_free(ordinal, p); }) {
  ctx.device = ordinal;
  ctx.allow_tf32 = options().allow_tf32;
  ctx.conv_workspace_limit = options().conv_workspace_limit;
  try {
    DeviceGuard g(ordinal);
    // Non-blocking: the legacy default stream, which other libraries in the process may
    // use, must not serialize with ours.
    check_cuda(cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    check_cublas(cublasCreate(&ctx.cublas), "cublasCreate");
    check_cublas(cublasSetStream(ctx.cublas, ctx.stream), "cublasSetStream");
    check_cudnn(cudnnCreate(&ctx.cudnn), "cudnnCreate");
    check_cudnn(cudnnSetStream(ctx.cudnn, ctx.stream), "cudnnSetStream");
    check_cuda(cudaMalloc(&ctx.error_record, sizeof(DeviceErrorRecord)), "cudaMalloc (error record)");
    check_cuda(cudaMemset(ctx.error_record, 0, sizeof(DeviceErrorRecord)), "cudaMemset (error record)");
    check_cuda(cudaMallocHost(&host_record, sizeof(DeviceErrorRecord)), "cudaMallocHost (error record)");
    std::memset(host_record, 0, sizeof(DeviceErrorRecord));
    buffer_type = std::make_unique<CudaBufferType>(*this);
  } catch (...) {
    release_handles();
    throw;
  }
}

// Runs only when registration fails part-way (devices() is never destroyed).
Device::~Device() { release_handles(); }

void Device::release_handles() noexcept {
  // Every call tolerates failure: the context may be what failed.
  int previous = -1;
  cudaGetDevice(&previous);
  cudaSetDevice(ctx.device);
  if (ctx.stream) cudaStreamSynchronize(ctx.stream);
  pool.empty_cache();
  if (ctx.error_record) cudaFree(ctx.error_record);
  if (host_record) cudaFreeHost(host_record);
  if (ctx.cudnn) cudnnDestroy(ctx.cudnn);
  if (ctx.cublas) cublasDestroy(ctx.cublas);
  if (ctx.stream) cudaStreamDestroy(ctx.stream);
  ctx.error_record = nullptr;
  host_record = nullptr;
  ctx.cudnn = nullptr;
  ctx.cublas = nullptr;
  ctx.stream = nullptr;
  cudaGetLastError();
  if (previous >= 0) cudaSetDevice(previous);
}

void* Device::allocate(size_t bytes, size_t& bin) {
  void* p = pool.allocate(bytes, bin);
  if (p || bytes == 0) return p;
  size_t free_bytes = 0, total_bytes = 0;
  {
    DeviceGuard g(ctx.device);
    if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) cudaGetLastError();
  }
  const PoolStats s = pool.stats();
  SN_THROW(ErrorKind::device_memory, "out of memory on " << device_name(ctx.device) << ": " << bytes
                                         << " bytes requested; the device has " << free_bytes << " of "
                                         << total_bytes << " bytes free, and symnet holds " << s.in_use
                                         << " bytes in buffers (its cache was emptied)");
}

namespace {

class CudaBuffer final : public Buffer {
 public:
  CudaBuffer(Device& d, size_t bytes) : dev_(d), bytes_(bytes) { ptr_ = d.allocate(bytes, bin_); }
  ~CudaBuffer() override { dev_.release(ptr_, bin_); }
  size_t size() const override { return bytes_; }
  void* data() override { return nullptr; }  // the host cannot address device memory
  void* device_ptr() override { return ptr_; }

  void upload(size_t offset, const void* src, size_t bytes) override {
    if (!check(offset, bytes, "upload")) return;
    check_cuda(cudaMemcpyAsync(at(offset), src, bytes, cudaMemcpyHostToDevice, dev_.ctx.stream),
               "cudaMemcpyAsync (upload)");
    // Blocking: the caller may reuse `src` as soon as this returns.
    check_cuda(cudaStreamSynchronize(dev_.ctx.stream), "cudaStreamSynchronize (upload)");
  }
  void download(size_t offset, void* dst, size_t bytes) const override {
    if (!check(offset, bytes, "download")) return;
    check_cuda(cudaMemcpyAsync(dst, at(offset), bytes, cudaMemcpyDeviceToHost, dev_.ctx.stream),
               "cudaMemcpyAsync (download)");
    check_cuda(cudaStreamSynchronize(dev_.ctx.stream), "cudaStreamSynchronize (download)");
  }
  void upload_async(size_t offset, const void* src, size_t bytes) override {
    if (!check(offset, bytes, "upload")) return;
    check_cuda(cudaMemcpyAsync(at(offset), src, bytes, cudaMemcpyHostToDevice, dev_.ctx.stream),
               "cudaMemcpyAsync (queued upload)");
  }
  void download_async(size_t offset, void* dst, size_t bytes) const override {
    if (!check(offset, bytes, "download")) return;
    check_cuda(cudaMemcpyAsync(dst, at(offset), bytes, cudaMemcpyDeviceToHost, dev_.ctx.stream),
               "cudaMemcpyAsync (queued download)");
  }
  void fill_zero() override {
    if (bytes_ == 0) return;
    check_cuda(cudaMemsetAsync(ptr_, 0, bytes_, dev_.ctx.stream), "cudaMemsetAsync");
  }
  void copy_from(const Buffer& src, size_t src_offset, size_t dst_offset, size_t bytes) override {
    const auto* s = dynamic_cast<const CudaBuffer*>(&src);
    if (!s) {
      Buffer::copy_from(src, src_offset, dst_offset, bytes);  // through host memory
      return;
    }
    if (!check(dst_offset, bytes, "copy") || !s->check(src_offset, bytes, "copy")) return;
    if (&s->dev_ == &dev_) {
      check_cuda(cudaMemcpyAsync(at(dst_offset), s->at(src_offset), bytes, cudaMemcpyDeviceToDevice,
                                 dev_.ctx.stream),
                 "cudaMemcpyAsync (device to device)");
      return;
    }
    // Between GPUs: the source's queued work must be done before our stream reads it.
    check_cuda(cudaStreamSynchronize(s->dev_.ctx.stream), "cudaStreamSynchronize (peer copy)");
    check_cuda(cudaMemcpyPeerAsync(at(dst_offset), dev_.ctx.device, s->at(src_offset), s->dev_.ctx.device, bytes,
                                   dev_.ctx.stream),
               "cudaMemcpyPeerAsync");
  }

 private:
  // False for an empty copy; throws an internal error for one outside the buffer (an
  // executor bug: a device write out of bounds would corrupt memory silently).
  bool check(size_t offset, size_t bytes, const char* what) const {
    SN_CHECK(offset <= bytes_ && bytes <= bytes_ - offset, ErrorKind::internal,
             what << " of " << bytes << " bytes at offset " << offset << " outside a " << bytes_
                  << "-byte buffer of " << device_name(dev_.ctx.device));
    return bytes > 0;
  }
  char* at(size_t offset) const { return static_cast<char*>(ptr_) + offset; }

  Device& dev_;
  size_t bytes_;
  size_t bin_ = 0;
  void* ptr_ = nullptr;
};

}  // namespace

CudaBufferType::CudaBufferType(Device& d) : dev_(d), name_(device_name(d.ctx.device)) {}

std::unique_ptr<Buffer> CudaBufferType::allocate(size_t bytes) const { return std::make_unique<CudaBuffer>(dev_, bytes); }

}  // namespace cuda
}  // namespace symnet
