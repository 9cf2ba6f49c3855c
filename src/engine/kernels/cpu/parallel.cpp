#include "engine/kernels/cpu/parallel.h"

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

// POSIX: workers start with all signals blocked, and a forked child forgets the parent's
// pool. Windows has neither per-thread signal masks nor fork() (R's console interrupt only
// sets a flag that R's own thread polls), so it needs no counterpart of either; it only
// reads the process affinity mask.
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <signal.h>
#define SYMNET_POSIX_THREADS 1
#endif
#if defined(__linux__)
#include <sched.h>
#endif
#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace symnet {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

using Clock = std::chrono::steady_clock;

// How long an idle worker polls for the next job before it sleeps. The kernels of one step
// follow each other within microseconds, so the workers stay awake through a step; between
// steps (R code runs there) they sleep and leave the processor to others.
std::chrono::microseconds spin_time() {
  static const std::chrono::microseconds t = [] {
    const char* s = std::getenv("SYMNET_SPIN_US");
    long v = s ? std::strtol(s, nullptr, 10) : 200;
    return std::chrono::microseconds(std::max(0L, std::min(v, 100000L)));
  }();
  return t;
}

thread_local bool tl_in_region = false;

struct RegionMark {
  bool prev;
  RegionMark() : prev(tl_in_region) { tl_in_region = true; }
  ~RegionMark() { tl_in_region = prev; }
};

class Pool {
 public:
  explicit Pool(int workers) {
#ifdef SYMNET_POSIX_THREADS
    // Workers inherit a fully blocked signal mask: R's handlers (interrupts, stack
    // overflow checks) must only ever run on R's own thread.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
#endif
    try {
      threads_.reserve(static_cast<size_t>(workers));
      for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { loop(); });
    } catch (...) {  // no more threads to be had: join those started, let the caller go serial
      stop();
#ifdef SYMNET_POSIX_THREADS
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
#endif
      throw;
    }
#ifdef SYMNET_POSIX_THREADS
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
#endif
  }
  ~Pool() { stop(); }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  int workers() const { return static_cast<int>(threads_.size()); }

  void run(int nt, void (*body)(void*, int), void* ctx) {
    body_ = body;
    ctx_ = ctx;
    error_ = nullptr;
    done_.store(0, std::memory_order_relaxed);
    ++epoch_;
    slot_.store(pack(epoch_, nt, 1), std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lock(sleep_mu_);
      wake_.notify_all();
    }
    execute(0);
    int t;
    while (try_claim(epoch_, &t)) execute(t);
    // Only ids that workers hold are outstanding now; wait for them, politely after a while
    // so that a worker sharing this processor gets to finish.
    const auto yield_after = Clock::now() + std::chrono::microseconds(50);
    for (int i = 0; done_.load(std::memory_order_acquire) < nt; ++i) {
      if (i > 64 && Clock::now() > yield_after)
        std::this_thread::yield();
      else
        cpu_relax();
    }
    if (error_) std::rethrow_exception(error_);
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(sleep_mu_);
      stopping_.store(true);
      wake_.notify_all();
    }
    for (auto& th : threads_)
      if (th.joinable()) th.join();
    threads_.clear();
  }

 private:
  // slot_ = epoch (bits 32..63) | ids in the job (16..31) | next id to hand out (0..15).
  static uint64_t pack(uint32_t epoch, int nt, int next) {
    return (static_cast<uint64_t>(epoch) << 32) | (static_cast<uint64_t>(nt) << 16) | static_cast<uint64_t>(next);
  }
  static uint32_t epoch_of(uint64_t s) { return static_cast<uint32_t>(s >> 32); }

  bool try_claim(uint32_t epoch, int* t) {
    uint64_t s = slot_.load(std::memory_order_acquire);
    for (;;) {
      if (epoch_of(s) != epoch) return false;
      const uint64_t nt = (s >> 16) & 0xffff, next = s & 0xffff;
      if (next >= nt) return false;
      if (slot_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        *t = static_cast<int>(next);
        return true;
      }
    }
  }

  void execute(int t) {
    {
      RegionMark mark;
      try {
        body_(ctx_, t);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu_);
        if (!error_) error_ = std::current_exception();
      }
    }
    done_.fetch_add(1, std::memory_order_release);
  }

  // Returns the epoch of a job newer than `seen`, or `seen` when the pool stops.
  uint32_t wait_for_job(uint32_t seen) {
    const auto sleep_at = Clock::now() + spin_time();
    for (int i = 0;; ++i) {
      if (stopping_.load(std::memory_order_relaxed)) return seen;
      const uint32_t e = epoch_of(slot_.load(std::memory_order_acquire));
      if (e != seen) return e;
      if ((i & 63) == 63 && Clock::now() > sleep_at) break;
      cpu_relax();
    }
    std::unique_lock<std::mutex> lock(sleep_mu_);
    // Announce the sleep before the last look at slot_ (both sequentially consistent; run()
    // stores slot_ before it reads sleepers_), so a job posted meanwhile is never missed.
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    uint32_t e = seen;
    wake_.wait(lock, [&] {
      e = epoch_of(slot_.load(std::memory_order_seq_cst));
      return stopping_.load() || e != seen;
    });
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    return stopping_.load() ? seen : e;
  }

  void loop() {
    uint32_t seen = epoch_of(slot_.load(std::memory_order_acquire));
    for (;;) {
      const uint32_t e = wait_for_job(seen);
      if (stopping_.load()) return;
      seen = e;
      int t;
      while (try_claim(e, &t)) execute(t);
    }
  }

  std::atomic<uint64_t> slot_{0};
  std::atomic<int> done_{0};
  void (*body_)(void*, int) = nullptr;
  void* ctx_ = nullptr;
  std::mutex error_mu_;
  std::exception_ptr error_;
  std::mutex sleep_mu_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stopping_{false};
  uint32_t epoch_ = 0;  // written by the posting thread only
  std::vector<std::thread> threads_;
};

int affinity_threads() {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#elif defined(_WIN32)
  // The processors of the process's group that `start /affinity` or a job object left it.
  DWORD_PTR process_mask = 0, system_mask = 0;
  if (GetProcessAffinityMask(GetCurrentProcess(), &process_mask, &system_mask) && process_mask) {
    int n = 0;
    for (DWORD_PTR m = process_mask; m; m &= m - 1) ++n;
    return n;
  }
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

std::atomic<int> g_threads{0};
std::mutex g_pool_mu;   // held while a job runs: one posting thread at a time
Pool* g_pool = nullptr;  // deliberately not a static object: see shutdown_thread_pool()

#ifdef SYMNET_POSIX_THREADS
// A forked child (parallel::mclapply) has the pool's memory but none of its threads; it
// forgets the pool (leaking it) and starts its own on first use.
void forget_pool_in_child() { g_pool = nullptr; }
std::once_flag g_atfork_once;
#endif

}  // namespace

int hardware_threads() {
  static const int n = affinity_threads();
  return n;
}

int engine_num_threads() {
  const int n = g_threads.load();
  return n > 0 ? n : hardware_threads();
}

void set_engine_num_threads(int n) { g_threads = n > 0 ? std::min(n, 0xffff) : 0; }

bool in_parallel_region() { return tl_in_region; }

void run_on_threads(int nt, void (*body)(void*, int), void* ctx) {
  auto serial = [&] {
    RegionMark mark;
    for (int t = 0; t < nt; ++t) body(ctx, t);
  };
  if (nt <= 1 || tl_in_region) return serial();
  std::unique_lock<std::mutex> lock(g_pool_mu, std::try_to_lock);
  if (!lock.owns_lock()) return serial();  // another thread is using the pool
#ifdef SYMNET_POSIX_THREADS
  std::call_once(g_atfork_once, [] { pthread_atfork(nullptr, nullptr, forget_pool_in_child); });
#endif
  nt = std::min(nt, 0xffff);
  if (!g_pool || g_pool->workers() < nt - 1) {
    delete g_pool;  // joins the old workers
    g_pool = nullptr;
    try {
      g_pool = new Pool(nt - 1);
    } catch (const std::exception&) {
      lock.unlock();
      return serial();
    }
  }
  g_pool->run(nt, body, ctx);
}

void shutdown_thread_pool() {
  std::lock_guard<std::mutex> lock(g_pool_mu);
  delete g_pool;
  g_pool = nullptr;
}

}  // namespace symnet
