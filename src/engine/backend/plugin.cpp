#include "engine/backend/plugin.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "engine/base/error.h"

#include "engine/base/shared_library.h"

namespace symnet {

namespace {

void copy_message(const std::string& msg, char* error, size_t len) {
  if (!error || len == 0) return;
  const size_t n = std::min(msg.size(), len - 1);
  std::memcpy(error, msg.data(), n);
  error[n] = '\0';
}

int add_backend(void* registry, void* backend, char* error, size_t error_len) {
  std::unique_ptr<Backend> b(static_cast<Backend*>(backend));
  try {
    static_cast<BackendRegistry*>(registry)->add(std::move(b));
    return 0;
  } catch (const std::exception& e) {
    copy_message(e.what(), error, error_len);
    return 1;
  }
}

}  // namespace

symnet_host_api_v1 host_api() {
  symnet_host_api_v1 h{};
  h.abi_version = SYMNET_BACKEND_ABI_VERSION;
  h.sizeof_kernel_context = sizeof(KernelContext);
  h.sizeof_kernel_impl = sizeof(KernelImpl);
  h.sizeof_tensor_view = sizeof(TensorView);
  h.registry = &backends();
  h.add_backend = add_backend;
  return h;
}

std::vector<std::string> load_backend_library(const std::string& path) {
  std::string why;
  // local scope: the library's CUDA dependencies stay out of the global namespace
  void* lib = open_shared_library(path, LibraryScope::local, why);
  SN_CHECK(lib != nullptr, ErrorKind::unsupported, "cannot load backend library '" << path << "': " << why);
  auto fn = reinterpret_cast<symnet_backend_register_fn>(find_library_symbol(lib, SYMNET_BACKEND_ENTRY));
  if (!fn) {
    close_shared_library(lib);
    SN_THROW(ErrorKind::unsupported, "'" << path << "' is not a symnet backend library (no " << SYMNET_BACKEND_ENTRY
                                         << " entry point)");
  }
  std::vector<std::string> before = backends().names();
  symnet_host_api_v1 host = host_api();
  char error[512] = {0};
  if (fn(&host, error, sizeof error) != 0) {
    // Backends it did add stay registered (their code lives in the library): keep it open.
    if (backends().names().size() == before.size()) close_shared_library(lib);
    SN_THROW(ErrorKind::unsupported, "backend library '" << path << "' refused to register: "
                                                         << (error[0] ? error : "no reason given"));
  }
  // The library stays loaded for the life of the process: its kernels are in use.
  std::vector<std::string> added;
  for (const std::string& n : backends().names())
    if (std::find(before.begin(), before.end(), n) == before.end()) added.push_back(n);
  return added;
}

}  // namespace symnet
