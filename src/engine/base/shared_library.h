// Opening shared libraries at run time (dlopen / LoadLibrary): the separately built parts
// (a CUDA backend, the MPI communicator) link libraries that may be absent, so the package
// itself never depends on them and says why a part is off instead of failing to load.
#pragma once
#include <string>

namespace symnet {

enum class LibraryScope {
  local,   // the library's own dependencies stay out of the global namespace (CUDA)
  global,  // its symbols serve libraries it opens later (MPI's plugins need libmpi global)
};

// Null on failure, with the system loader's reason in `why`.
void* open_shared_library(const std::string& path, LibraryScope scope, std::string& why);
void* find_library_symbol(void* lib, const char* name);
void close_shared_library(void* lib);

}  // namespace symnet
