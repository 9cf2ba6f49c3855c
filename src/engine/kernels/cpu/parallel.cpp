#include "engine/kernels/cpu/parallel.h"

#include <atomic>
#include <thread>

namespace symnet {

namespace {
int default_threads() {
#ifdef _OPENMP
  return omp_get_num_procs();
#else
  return 1;
#endif
}
std::atomic<int> g_threads{0};
}  // namespace

int engine_num_threads() {
  int n = g_threads.load();
  return n > 0 ? n : default_threads();
}

void set_engine_num_threads(int n) { g_threads = n > 0 ? n : 0; }

}  // namespace symnet
