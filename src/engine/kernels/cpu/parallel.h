// Thread-parallel loops over index ranges (OpenMP when built with it).
#pragma once
#include <algorithm>
#include <cstdint>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace symnet {

int engine_num_threads();
void set_engine_num_threads(int n);

// Calls f(begin, end) on disjoint chunks covering [0, n). Runs serially when the work
// is below `grain` elements per extra thread, so small tensors avoid fork/join cost.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
#ifdef _OPENMP
  int nt = static_cast<int>(std::min<int64_t>(engine_num_threads(), std::max<int64_t>(1, n / std::max<int64_t>(grain, 1))));
  if (nt > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(nt)
    {
      int t = omp_get_thread_num();
      int64_t chunk = (n + nt - 1) / nt;
      int64_t b = t * chunk, e = std::min(n, b + chunk);
      if (b < e) f(b, e);
    }
    return;
  }
#endif
  f(int64_t{0}, n);
}

}  // namespace symnet
