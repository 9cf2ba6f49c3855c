// Thread-parallel loops on the engine's own thread pool (parallel.cpp).
//
// Why not OpenMP: libgomp's waiting policy is fixed when the library is first loaded (R's
// BLAS loads it before this package), its idle threads busy-wait for ~100k spins, and its
// static schedules make every region wait for its slowest thread. On a 2-core machine with
// any background load a descheduled worker then stalls each of the ~40 kernels of a
// training step. This pool hands out work in chunks that the calling thread also takes,
// so a late worker only ever costs the chunk it already holds, and idle workers sleep after
// a short spin.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <type_traits>

namespace symnet {

// Threads the engine uses (the caller plus pool workers); settable at any time.
int engine_num_threads();
void set_engine_num_threads(int n);
// Logical processors this process may run on (its CPU affinity mask).
int hardware_threads();
// True while the calling thread runs a parallel body: nested loops then run serially.
bool in_parallel_region();
// Joins the pool's workers (before the shared library is unloaded). Later parallel loops
// start a new pool.
void shutdown_thread_pool();

// Calls body(ctx, t) once for every t in [0, nt), t = 0 on the calling thread, the others
// on pool workers, and returns when all calls have returned. An id that no worker has
// picked up by the time the caller is done with its own is run by the caller. The first
// exception thrown by a call is rethrown here, after all calls have finished.
void run_on_threads(int nt, void (*body)(void*, int), void* ctx);

namespace detail {
template <typename F>
void invoke_body(void* f, int t) {
  (*static_cast<F*>(f))(t);
}
}  // namespace detail

// Calls f(t) for t in [0, nt) on up to nt threads (t identifies a per-thread workspace).
template <typename F>
void parallel_threads(int nt, F&& f) {
  if (nt <= 1 || in_parallel_region()) {
    for (int t = 0; t < std::max(nt, 1); ++t) f(t);
    return;
  }
  using Fn = std::remove_reference_t<F>;
  run_on_threads(nt, &detail::invoke_body<Fn>, static_cast<void*>(&f));
}

// Calls f(t, begin, end) on disjoint chunks covering [0, n), handed out dynamically to nt
// threads; t is the id of the thread running the chunk.
template <typename F>
void parallel_chunks(int nt, int64_t n, int64_t chunk, F&& f) {
  if (n <= 0) return;
  chunk = std::max<int64_t>(chunk, 1);
  if (nt <= 1 || n <= chunk || in_parallel_region()) {
    f(0, int64_t{0}, n);
    return;
  }
  std::atomic<int64_t> next{0};
  parallel_threads(nt, [&](int t) {
    for (;;) {
      const int64_t b = next.fetch_add(chunk, std::memory_order_relaxed);
      if (b >= n) break;
      f(t, b, std::min(n, b + chunk));
    }
  });
}

// Calls f(begin, end) on disjoint chunks covering [0, n). Runs serially when the work is
// below `grain` elements per extra thread, so small tensors avoid the hand-off cost.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  const int64_t g = std::max<int64_t>(grain, 1);
  const int nt = static_cast<int>(std::min<int64_t>(engine_num_threads(), std::max<int64_t>(1, n / g)));
  if (nt <= 1 || in_parallel_region()) {
    f(int64_t{0}, n);
    return;
  }
  // A few chunks per thread: enough for the caller to absorb a descheduled worker's share,
  // few enough that per-chunk set-up in the bodies stays negligible.
  const int64_t chunk = std::max(g, (n + 4 * nt - 1) / (4 * nt));
  parallel_chunks(nt, n, chunk, [&](int, int64_t b, int64_t e) { f(b, e); });
}

}  // namespace symnet
