#include "cuda_probe.h"

#include <cstdlib>
#include <vector>

#include "cuda/cuda_abi.h"
#include "engine/base/shared_library.h"

namespace symnet_bench {

CudaProbe::CudaProbe(const std::string& library) {
  lib_ = symnet::open_shared_library(library, symnet::LibraryScope::local, error_);
  if (!lib_) error_ = "cannot open " + library + ": " + error_;
}

CudaProbe::~CudaProbe() {
  if (lib_) symnet::close_shared_library(lib_);
}

std::string CudaProbe::info_json() const {
  if (!lib_) return "";
  auto fn = reinterpret_cast<symnet_cuda_info_fn>(symnet::find_library_symbol(lib_, SYMNET_CUDA_INFO));
  if (!fn) return "";
  std::vector<char> buf(4096);
  size_t need = fn(buf.data(), buf.size());
  if (need >= buf.size()) {
    buf.resize(need + 1);
    fn(buf.data(), buf.size());
  }
  return std::string(buf.data());
}

CudaProbe::Memory CudaProbe::memory(int device, bool reset_peak) const {
  Memory m;
  if (!lib_) return m;
  auto fn = reinterpret_cast<symnet_cuda_memory_stats_fn>(symnet::find_library_symbol(lib_, SYMNET_CUDA_MEMORY_STATS));
  if (!fn) return m;
  m.ok = fn(device, reset_peak ? 1 : 0, &m.in_use, &m.peak, &m.reserved) == 0;
  return m;
}

std::string CudaProbe::set_option(const std::string& name, const std::string& value) const {
  if (!lib_) return error_;
  auto fn = reinterpret_cast<symnet_cuda_set_option_fn>(symnet::find_library_symbol(lib_, SYMNET_CUDA_SET_OPTION));
  if (!fn) return std::string("the library has no ") + SYMNET_CUDA_SET_OPTION;
  char err[512] = {0};
  return fn(name.c_str(), value.c_str(), err, sizeof err) == 0 ? "" : std::string(err);
}

int cuda_device_index(const std::string& target) {
  if (target == "cuda") return 0;
  if (target.rfind("cuda:", 0) != 0 || target.size() == 5) return -1;
  char* end = nullptr;
  long i = std::strtol(target.c_str() + 5, &end, 10);
  return (*end == '\0' && i >= 0) ? static_cast<int>(i) : -1;
}

}  // namespace symnet_bench
