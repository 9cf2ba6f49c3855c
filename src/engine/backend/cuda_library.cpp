#include "engine/backend/cuda_library.h"

#include <fstream>
#include <mutex>

#include "cuda/cuda_abi.h"
#include "engine/backend/plugin.h"
#include "engine/base/error.h"
#include "engine/base/json_value.h"
#include "engine/base/shared_library.h"

namespace symnet {

namespace {

struct Loaded {
  CudaStatus status;
  void* lib = nullptr;
  symnet_cuda_info_fn info = nullptr;
  symnet_cuda_memory_stats_fn stats = nullptr;
  symnet_cuda_set_option_fn set_option = nullptr;
};

std::mutex& mu() {
  static std::mutex m;
  return m;
}

Loaded& state() {
  static Loaded s;
  return s;
}

std::string info_locked(const Loaded& s) {
  if (!s.info) return "";
  std::string out(4096, '\0');
  size_t need = s.info(&out[0], out.size());
  if (need >= out.size()) {
    out.assign(need + 1, '\0');
    need = s.info(&out[0], out.size());
  }
  out.resize(need < out.size() ? need : out.size() - 1);
  return out;
}

void open_locked(Loaded& s, const std::string& path) {
  CudaStatus& st = s.status;
  st.attempted = true;
  if (!std::ifstream(path).good()) {
    st.reason =
        "not built: this installation of symnet has no CUDA backend library (configure found no usable CUDA "
        "toolkit with cuBLAS and cuDNN, or CUDA was switched off; reinstall with SYMNET_CUDA=1 to see why)";
    return;
  }
  std::string why;
  // Local scope: the CUDA libraries it links stay out of the process's global namespace.
  s.lib = open_shared_library(path, LibraryScope::local, why);
  if (!s.lib) {
    st.reason = "the CUDA backend library failed to load: " + why;
    return;
  }
  s.info = reinterpret_cast<symnet_cuda_info_fn>(find_library_symbol(s.lib, SYMNET_CUDA_INFO));
  s.stats = reinterpret_cast<symnet_cuda_memory_stats_fn>(find_library_symbol(s.lib, SYMNET_CUDA_MEMORY_STATS));
  s.set_option = reinterpret_cast<symnet_cuda_set_option_fn>(find_library_symbol(s.lib, SYMNET_CUDA_SET_OPTION));
  if (!s.info || !s.stats || !s.set_option) {
    s.info = nullptr;
    s.stats = nullptr;
    s.set_option = nullptr;
    st.reason = "the CUDA backend library failed to load: '" + path + "' lacks the functions of cuda_abi.h";
    return;
  }
  st.library_loaded = true;
  // The library's own verdict first: without a driver or device it registers nothing, and
  // its reason is the more precise one.
  try {
    json::Value info = json::parse(info_locked(s));
    const json::Value* avail = info.find("available");
    const json::Value* reason = info.find("reason");
    if (!avail || avail->kind != json::Value::boolean || !avail->b) {
      st.reason = reason && reason->kind == json::Value::string && !reason->s.empty()
                      ? reason->s
                      : "the CUDA backend library reports CUDA unavailable without a reason";
      return;
    }
  } catch (const Error& e) {
    st.reason = std::string("the CUDA backend library's information is malformed: ") + e.what();
    return;
  }
  try {
    st.backends = load_backend_library(path);
    st.available = !st.backends.empty();
    if (!st.available) st.reason = "the CUDA backend library registered no device";
  } catch (const Error& e) {
    st.reason = e.what();
  }
}

}  // namespace

const CudaStatus& load_cuda_library(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu());
  Loaded& s = state();
  if (!s.status.attempted) open_locked(s, path);
  return s.status;
}

const CudaStatus& cuda_status() {
  std::lock_guard<std::mutex> lock(mu());
  return state().status;
}

std::string cuda_info_json() {
  std::lock_guard<std::mutex> lock(mu());
  return info_locked(state());
}

bool cuda_memory_stats(int device, bool reset_peak, uint64_t& in_use, uint64_t& peak, uint64_t& reserved) {
  std::lock_guard<std::mutex> lock(mu());
  const Loaded& s = state();
  if (!s.stats) return false;
  return s.stats(device, reset_peak ? 1 : 0, &in_use, &peak, &reserved) == 0;
}

void cuda_set_option(const std::string& name, const std::string& value) {
  std::lock_guard<std::mutex> lock(mu());
  const Loaded& s = state();
  SN_CHECK(s.set_option != nullptr, ErrorKind::unsupported,
           "CUDA is not available: " << (s.status.reason.empty() ? "the CUDA library was not loaded" : s.status.reason));
  char error[512] = {0};
  if (s.set_option(name.c_str(), value.c_str(), error, sizeof error) != 0) SN_THROW(ErrorKind::value, error);
}

}  // namespace symnet
