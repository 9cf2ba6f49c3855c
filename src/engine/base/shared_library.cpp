#include "engine/base/shared_library.h"

#if defined(_WIN32)
#include <windows.h>
#else
#include <dlfcn.h>
#endif

namespace symnet {

#if defined(_WIN32)
void* open_shared_library(const std::string& path, LibraryScope, std::string& why) {
  HMODULE h = LoadLibraryA(path.c_str());
  if (!h) why = "LoadLibrary failed with error " + std::to_string(GetLastError());
  return reinterpret_cast<void*>(h);
}
void* find_library_symbol(void* lib, const char* name) {
  return reinterpret_cast<void*>(GetProcAddress(static_cast<HMODULE>(lib), name));
}
void close_shared_library(void* lib) { FreeLibrary(static_cast<HMODULE>(lib)); }
#else
void* open_shared_library(const std::string& path, LibraryScope scope, std::string& why) {
  void* h = dlopen(path.c_str(), RTLD_NOW | (scope == LibraryScope::global ? RTLD_GLOBAL : RTLD_LOCAL));
  if (!h) {
    const char* e = dlerror();
    why = e ? e : "dlopen failed";
  }
  return h;
}
void* find_library_symbol(void* lib, const char* name) { return dlsym(lib, name); }
void close_shared_library(void* lib) { dlclose(lib); }
#endif

}  // namespace symnet
