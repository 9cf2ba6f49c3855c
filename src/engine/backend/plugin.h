// Backends built as separate shared libraries (the CUDA backend: it links the CUDA
// libraries, which may be absent, so the package itself must never depend on them).
//
// The library exports one C function, SYMNET_BACKEND_ENTRY ("symnet_backend_register_v1"),
// which receives the host's API table and adds its backends through it. The library is
// compiled against the same engine headers; Backend (backend.h) is header-only for that
// reason, so the library needs no engine symbol at load time (it links its own copy of the
// dependency-free base/ objects if it uses them). A library built for another
// ABI version, or whose structures differ in size, is refused with a clear message.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/backend/backend.h"

#define SYMNET_BACKEND_ABI_VERSION 1u
#define SYMNET_BACKEND_ENTRY "symnet_backend_register_v1"

extern "C" {

struct symnet_host_api_v1 {
  uint32_t abi_version;         // SYMNET_BACKEND_ABI_VERSION of the host
  uint32_t sizeof_kernel_context;
  uint32_t sizeof_kernel_impl;
  uint32_t sizeof_tensor_view;
  void* registry;               // the host's BackendRegistry, opaque to C
  // Takes ownership of `backend` (a symnet::Backend* made with new). Returns 0 on success;
  // otherwise writes a message to `error` and deletes the backend.
  int (*add_backend)(void* registry, void* backend, char* error, size_t error_len);
};

// Returns 0 on success; otherwise writes a message (at most error_len bytes, NUL included).
typedef int (*symnet_backend_register_fn)(const symnet_host_api_v1* host, char* error, size_t error_len);

}  // extern "C"

namespace symnet {

// The host API a library's entry point gets (for tests and for loaders).
symnet_host_api_v1 host_api();
// Checks that a library was built against this engine's ABI (the entry point calls this).
inline bool abi_matches(const symnet_host_api_v1* host) {
  return host && host->abi_version == SYMNET_BACKEND_ABI_VERSION &&
         host->sizeof_kernel_context == sizeof(KernelContext) && host->sizeof_kernel_impl == sizeof(KernelImpl) &&
         host->sizeof_tensor_view == sizeof(TensorView);
}

// Opens a backend library and runs its entry point; returns the names of the backends it
// added. Throws Error(unsupported) naming the library and the reason (not found, a missing
// dependency as the system loader reports it, no entry point, another ABI, refused).
std::vector<std::string> load_backend_library(const std::string& path);

}  // namespace symnet
