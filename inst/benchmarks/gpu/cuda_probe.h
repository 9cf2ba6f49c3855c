// The CUDA backend library's C functions (src/cuda/cuda_abi.h), looked up in the library
// the engine loaded: opening the same path again gives the same loaded copy, so the
// figures are those of the allocator the backend runs on.
#pragma once
#include <cstdint>
#include <string>

namespace symnet_bench {

class CudaProbe {
 public:
  // Opens `library` (after symnet::load_backend_library has loaded it); on failure every
  // call below reports `error()`.
  explicit CudaProbe(const std::string& library);
  ~CudaProbe();
  CudaProbe(const CudaProbe&) = delete;
  CudaProbe& operator=(const CudaProbe&) = delete;

  bool ok() const { return lib_ != nullptr; }
  const std::string& error() const { return error_; }
  // symnet_cuda_info_v1's JSON, or "" when the library lacks it.
  std::string info_json() const;

  struct Memory {
    bool ok = false;
    uint64_t in_use = 0, peak = 0, reserved = 0;
  };
  Memory memory(int device, bool reset_peak) const;
  // symnet_cuda_set_option_v1; returns "" or the library's message.
  std::string set_option(const std::string& name, const std::string& value) const;

 private:
  void* lib_ = nullptr;
  std::string error_;
};

// The device index of a backend name "cuda:N" (0 for "cuda"), -1 for any other name.
int cuda_device_index(const std::string& target);

}  // namespace symnet_bench
