// The engine's thread pool: coverage of every index, thread ids, nesting, exceptions,
// resizing and shutdown.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <numeric>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "engine/kernels/cpu/parallel.h"

using namespace symnet;

namespace {
struct ThreadsGuard {
  int old = engine_num_threads();
  explicit ThreadsGuard(int n) { set_engine_num_threads(n); }
  ~ThreadsGuard() { set_engine_num_threads(old); }
};
}  // namespace

TEST_CASE("parallel_for covers every index exactly once", "[parallel]") {
  for (int threads : {1, 2, 3, 8}) {
    ThreadsGuard g(threads);
    for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{1000}, int64_t{100003}}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      for (auto& h : hits) h = 0;
      parallel_for(n, 16, [&](int64_t b, int64_t e) {
        REQUIRE(b < e);
        for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
      });
      for (int64_t i = 0; i < n; ++i) REQUIRE(hits[static_cast<size_t>(i)] == 1);
    }
  }
}

TEST_CASE("parallel_threads runs each id once; the caller runs id 0", "[parallel]") {
  ThreadsGuard g(4);
  const auto caller = std::this_thread::get_id();
  for (int rep = 0; rep < 200; ++rep) {
    std::vector<std::atomic<int>> seen(4);
    for (auto& s : seen) s = 0;
    std::thread::id id0;
    parallel_threads(4, [&](int t) {
      REQUIRE(in_parallel_region());
      seen[static_cast<size_t>(t)]++;
      if (t == 0) id0 = std::this_thread::get_id();
    });
    for (auto& s : seen) REQUIRE(s == 1);
    REQUIRE(id0 == caller);
  }
  REQUIRE_FALSE(in_parallel_region());
}

TEST_CASE("nested parallel loops run serially inside a body", "[parallel]") {
  ThreadsGuard g(2);
  std::atomic<int64_t> total{0};
  parallel_for(64, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      int calls = 0;
      parallel_for(1000, 1, [&](int64_t bb, int64_t ee) {
        ++calls;  // serial: one call covering everything
        total += ee - bb;
      });
      REQUIRE(calls == 1);
    }
  });
  REQUIRE(total == 64 * 1000);
}

TEST_CASE("an exception in a worker's chunk reaches the caller after all chunks end", "[parallel]") {
  ThreadsGuard g(2);
  std::atomic<int> finished{0};
  auto body = [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      if (i == 777) throw std::runtime_error("chunk failed");
    finished++;
  };
  REQUIRE_THROWS_WITH(parallel_for(100000, 16, body), "chunk failed");
  REQUIRE_FALSE(in_parallel_region());
  // The pool is still usable afterwards.
  std::atomic<int64_t> sum{0};
  parallel_for(100000, 16, [&](int64_t b, int64_t e) { sum += e - b; });
  REQUIRE(sum == 100000);
}

TEST_CASE("the pool grows with the thread setting and restarts after shutdown", "[parallel]") {
  for (int threads : {2, 6, 3}) {
    ThreadsGuard g(threads);
    std::mutex mu;
    std::set<int> ids;
    parallel_threads(threads, [&](int t) {
      std::lock_guard<std::mutex> lock(mu);
      ids.insert(t);
    });
    REQUIRE(static_cast<int>(ids.size()) == threads);
  }
  shutdown_thread_pool();
  ThreadsGuard g(2);
  std::atomic<int64_t> sum{0};
  parallel_for(50000, 16, [&](int64_t b, int64_t e) { sum += e - b; });
  REQUIRE(sum == 50000);
  shutdown_thread_pool();
  shutdown_thread_pool();  // idempotent
}

TEST_CASE("a second posting thread runs its loop serially instead of waiting", "[parallel]") {
  ThreadsGuard g(2);
  std::atomic<int64_t> a{0}, b{0};
  std::thread other([&] {
    for (int r = 0; r < 200; ++r) parallel_for(20000, 16, [&](int64_t s, int64_t e) { a += e - s; });
  });
  for (int r = 0; r < 200; ++r) parallel_for(20000, 16, [&](int64_t s, int64_t e) { b += e - s; });
  other.join();
  REQUIRE(a == 200 * 20000);
  REQUIRE(b == 200 * 20000);
  REQUIRE(hardware_threads() >= 1);
}
