// Opening the CUDA backend library (src/cuda, built apart as symnet_cuda.so because it
// links CUDA, cuBLAS and cuDNN, which may be absent): once per process, registering its
// backends "cuda:0", "cuda:1", ... when a driver and a device answer, and otherwise keeping
// the exact reason, so that R's cuda_device_info() and the engine tests can say why CUDA
// is off instead of failing. The library's C functions are declared in cuda/cuda_abi.h.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace symnet {

struct CudaStatus {
  bool attempted = false;         // load_cuda_library() was called
  bool library_loaded = false;    // the library opened and has the functions of cuda_abi.h
  bool available = false;         // its backends are registered
  std::string reason;             // why not, when not available
  std::vector<std::string> backends;  // the names registered
};

// Opens the library at `path` the first time; later calls return the first outcome,
// whatever their path. Never throws for a missing or broken library: the reason says
// "not built" (no file), "failed to load" (with the system loader's message), or the
// library's own answer (no driver, no device).
const CudaStatus& load_cuda_library(const std::string& path);
// The outcome so far (attempted is false before the first load).
const CudaStatus& cuda_status();

// symnet_cuda_info_v1's JSON, asked now (free memory changes); "" when no library is loaded.
std::string cuda_info_json();
// The caching allocator's bytes of device `device` (in use, peak, reserved); false for a
// device the library did not register (or no library).
bool cuda_memory_stats(int device, bool reset_peak, uint64_t& in_use, uint64_t& peak, uint64_t& reserved);
// symnet_cuda_set_option_v1; throws Error(value) with the library's message when refused,
// Error(unsupported) when no library is loaded.
void cuda_set_option(const std::string& name, const std::string& value);

}  // namespace symnet
