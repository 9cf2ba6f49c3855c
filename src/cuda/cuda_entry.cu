// The library's exported C functions: the backend entry point (backend/plugin.h) and the
// information, memory and option functions of cuda_abi.h. All of them work on machines
// without a driver or a GPU: the CUDA libraries load without the driver and report its
// absence at the first call (shared/BUILD.md, section 2), which becomes the reason text.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <sstream>
#include <string>

#include "cuda/cuda_abi.h"
#include "cuda/cuda_device.h"
#include "engine/backend/plugin.h"

namespace {

using namespace symnet;
using namespace symnet::cuda;

std::mutex& entry_mutex() {
  static std::mutex mu;
  return mu;
}

void copy_message(const std::string& msg, char* out, size_t len) {
  if (!out || len == 0) return;
  const size_t n = msg.size() < len - 1 ? msg.size() : len - 1;
  std::memcpy(out, msg.data(), n);
  out[n] = '\0';
}

// Why CUDA cannot run here, or "" when at least one device answers. Counts the devices.
std::string why_unavailable(int& count) {
  count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e == cudaSuccess && count > 0) return "";
  cudaGetLastError();
  count = 0;
  std::ostringstream o;
  if (e == cudaErrorInsufficientDriver) {
    int driver = 0;
    cudaDriverGetVersion(&driver);
    if (driver == 0) {
      o << "no CUDA driver: the NVIDIA driver (libcuda.so.1) was not found";
    } else {
      o << "CUDA driver too old: driver supports CUDA " << driver / 1000 << "." << driver % 1000 / 10;
      int runtime = 0;
      cudaRuntimeGetVersion(&runtime);
      o << ", this build needs " << runtime / 1000 << "." << runtime % 1000 / 10;
    }
  } else if (e == cudaErrorNoDevice || (e == cudaSuccess && count == 0)) {
    o << "no CUDA device: the driver reports no GPU";
  } else {
    o << "CUDA unavailable";
  }
  if (e != cudaSuccess) o << " (cudaGetDeviceCount: " << cudaGetErrorString(e) << ", " << cudaGetErrorName(e) << ")";
  return o.str();
}

void json_string(std::ostringstream& o, const std::string& s) {
  o << '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o << '\\' << c;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o << buf;
    } else {
      o << c;
    }
  }
  o << '"';
}

std::string info_json() {
  std::ostringstream o;
  int driver = 0, runtime = 0, major = 0, minor = 0, patch = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  cublasGetProperty(MAJOR_VERSION, &major);
  cublasGetProperty(MINOR_VERSION, &minor);
  cublasGetProperty(PATCH_LEVEL, &patch);
  int count = 0;
  const std::string reason = why_unavailable(count);
  o << "{\"available\": " << (reason.empty() ? "true" : "false") << ", \"reason\": ";
  json_string(o, reason);
  o << ", \"driver_version\": " << driver << ", \"runtime_version\": " << runtime << ", \"cublas_version\": \""
    << major << "." << minor << "." << patch << "\", \"cudnn_version\": " << cudnnGetVersion()
    << ", \"devices\": [";
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    size_t free_bytes = 0, total_bytes = p.totalGlobalMem;
    {
      int previous = -1;
      cudaGetDevice(&previous);
      if (cudaSetDevice(i) == cudaSuccess && cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess)
        cudaGetLastError();
      if (previous >= 0) cudaSetDevice(previous);
    }
    o << (i ? ", " : "") << "{\"index\": " << i << ", \"name\": ";
    json_string(o, p.name);
    o << ", \"total_memory\": " << total_bytes << ", \"free_memory\": " << free_bytes
      << ", \"compute_capability\": \"" << p.major << "." << p.minor << "\", \"multiprocessors\": "
      << p.multiProcessorCount << "}";
  }
  o << "]}";
  return o.str();
}

bool parse_bool(const char* v, bool& out) {
  if (!std::strcmp(v, "1") || !std::strcmp(v, "true") || !std::strcmp(v, "TRUE")) {
    out = true;
    return true;
  }
  if (!std::strcmp(v, "0") || !std::strcmp(v, "false") || !std::strcmp(v, "FALSE")) {
    out = false;
    return true;
  }
  return false;
}

bool parse_size(const char* v, unsigned long long& out) {
  if (!v || !*v || *v == '-') return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtoull(v, &end, 10);
  return errno == 0 && end && *end == '\0';
}

}  // namespace

extern "C" {

// Registers "cuda:0", "cuda:1", ... (one backend per device). Refuses, with the reason,
// when the host's ABI differs, there is no driver or no device, or a device cannot be
// set up (its context, cuBLAS or cuDNN handle).
__attribute__((visibility("default"))) int symnet_backend_register_v1(const symnet_host_api_v1* host, char* error,
                                                                      size_t error_len) {
  if (!abi_matches(host)) {
    copy_message("the CUDA backend library was built for symnet backend ABI " +
                     std::to_string(SYMNET_BACKEND_ABI_VERSION) + " with other structure sizes than this symnet",
                 error, error_len);
    return 1;
  }
  std::lock_guard<std::mutex> lock(entry_mutex());
  if (!devices().empty()) {
    copy_message("the CUDA backends are registered already", error, error_len);
    return 1;
  }
  int count = 0;
  const std::string reason = why_unavailable(count);
  if (!reason.empty()) {
    copy_message(reason, error, error_len);
    return 1;
  }
  try {
    for (int i = 0; i < count; ++i) devices().push_back(std::make_unique<Device>(i));
  } catch (const std::exception& e) {
    devices().clear();
    copy_message(std::string("cannot set up a CUDA device: ") + e.what(), error, error_len);
    return 1;
  }
  for (auto& d : devices()) {
    // add_backend takes ownership (and deletes the backend when it refuses).
    std::unique_ptr<Backend> b;
    try {
      b = make_cuda_backend(*d);
    } catch (const std::exception& e) {
      copy_message(std::string("cannot create the backend of ") + device_name(d->ctx.device) + ": " + e.what(), error,
                   error_len);
      return 1;
    }
    if (host->add_backend(host->registry, b.release(), error, error_len) != 0) return 1;
  }
  return 0;
}

__attribute__((visibility("default"))) size_t symnet_cuda_info_v1(char* out, size_t len) {
  std::string json;
  try {
    json = info_json();
  } catch (const std::exception& e) {
    std::ostringstream o;
    o << "{\"available\": false, \"reason\": ";
    json_string(o, std::string("CUDA information failed: ") + e.what());
    o << ", \"devices\": []}";
    json = o.str();
  }
  copy_message(json, out, len);
  return json.size();
}

__attribute__((visibility("default"))) int symnet_cuda_memory_stats_v1(int device, int reset_peak, uint64_t* in_use,
                                                                       uint64_t* peak, uint64_t* reserved) {
  std::lock_guard<std::mutex> lock(entry_mutex());
  if (device < 0 || static_cast<size_t>(device) >= devices().size()) return 1;
  CachingPool& pool = devices()[device]->pool;
  const PoolStats s = pool.stats();
  if (in_use) *in_use = s.in_use;
  if (peak) *peak = s.peak;
  if (reserved) *reserved = s.reserved;
  if (reset_peak) pool.reset_peak();
  return 0;
}

__attribute__((visibility("default"))) int symnet_cuda_set_option_v1(const char* name, const char* value, char* error,
                                                                     size_t error_len) {
  if (!name || !value) {
    copy_message("option name and value must not be null", error, error_len);
    return 1;
  }
  std::lock_guard<std::mutex> lock(entry_mutex());
  if (!std::strcmp(name, "allow_tf32")) {
    bool b = false;
    if (!parse_bool(value, b)) {
      copy_message(std::string("allow_tf32 must be \"0\" or \"1\", not \"") + value + "\"", error, error_len);
      return 1;
    }
    options().allow_tf32 = b;
    for (auto& d : devices()) d->ctx.allow_tf32 = b;
    return 0;
  }
  if (!std::strcmp(name, "conv_workspace_limit")) {
    unsigned long long bytes = 0;
    if (!parse_size(value, bytes)) {
      copy_message(std::string("conv_workspace_limit must be a number of bytes, not \"") + value + "\"", error,
                   error_len);
      return 1;
    }
    options().conv_workspace_limit = static_cast<size_t>(bytes);
    for (auto& d : devices()) d->ctx.conv_workspace_limit = static_cast<size_t>(bytes);
    return 0;
  }
  if (!std::strcmp(name, "empty_cache")) {
    unsigned long long i = 0;
    if (!parse_size(value, i) || i >= devices().size()) {
      copy_message(std::string("empty_cache: no CUDA device \"") + value + "\" (" + std::to_string(devices().size()) +
                       " registered)",
                   error, error_len);
      return 1;
    }
    devices()[i]->pool.empty_cache();
    return 0;
  }
  copy_message(std::string("unknown CUDA option \"") + name +
                   "\" (known: allow_tf32, conv_workspace_limit, empty_cache)",
               error, error_len);
  return 1;
}

// For the engine tests only: raises what throw_cuda makes of CUDA error `code` (with `what`
// as the call's name), so they can check the classification and that an error thrown in
// this library is caught as symnet::Error by the host. Not part of cuda_abi.h.
__attribute__((visibility("default"))) void symnet_cuda_test_throw_v1(int code, const char* what) {
  throw_cuda(static_cast<cudaError_t>(code), what ? what : "test");
}

}  // extern "C"
