// Ranks as threads of one process: a Communicator per thread over shared memory, so the
// collective ops' multi-rank semantics (and their gradients) are tested without MPI.
#pragma once
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/base/error.h"
#include "engine/dist/communicator.h"

namespace symnet::test {

class ThreadGroup {
 public:
  explicit ThreadGroup(int n) : n_(n), slots_(static_cast<size_t>(n)) {}
  int size() const { return n_; }
  // Blocks until every rank has arrived (reusable: generations).
  void barrier() {
    std::unique_lock<std::mutex> lock(m_);
    const uint64_t gen = generation_;
    if (++arrived_ == n_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != gen; });
    }
  }
  const void*& slot(int rank) { return slots_[static_cast<size_t>(rank)]; }

 private:
  int n_;
  std::mutex m_;
  std::condition_variable cv_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
  std::vector<const void*> slots_;
};

class ThreadRankComm final : public Communicator {
 public:
  ThreadRankComm(ThreadGroup& g, int rank) : g_(g), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return g_.size(); }
  std::string description() const override { return "test threads"; }

  void allreduce(void* buf, int64_t count, DType dtype, CommReduce op) override {
    switch (dtype) {
      case DType::f32: reduce<float>(buf, count, op); break;
      case DType::f64: reduce<double>(buf, count, op); break;
      case DType::i32: reduce<int32_t>(buf, count, op); break;
      case DType::i64: reduce<int64_t>(buf, count, op); break;
      default: reduce<uint8_t>(buf, count, op); break;
    }
  }
  void broadcast(void* buf, int64_t bytes, int root) override {
    SN_CHECK(root >= 0 && root < size(), ErrorKind::value, "no rank " << root);
    g_.slot(rank_) = buf;
    g_.barrier();
    std::vector<char> copy(static_cast<size_t>(bytes));
    if (bytes) std::memcpy(copy.data(), g_.slot(root), copy.size());
    g_.barrier();
    if (bytes) std::memcpy(buf, copy.data(), copy.size());
  }
  void allgather(const void* send, void* recv, int64_t bytes) override {
    g_.slot(rank_) = send;
    g_.barrier();
    std::vector<char> all(static_cast<size_t>(bytes * size()));
    for (int r = 0; r < size(); ++r)
      if (bytes) std::memcpy(all.data() + r * bytes, g_.slot(r), static_cast<size_t>(bytes));
    g_.barrier();
    if (!all.empty()) std::memcpy(recv, all.data(), all.size());
  }
  void barrier() override { g_.barrier(); }

 private:
  template <typename T>
  void reduce(void* buf, int64_t count, CommReduce op) {
    g_.slot(rank_) = buf;
    g_.barrier();
    std::vector<T> acc(static_cast<const T*>(g_.slot(0)), static_cast<const T*>(g_.slot(0)) + count);
    for (int r = 1; r < size(); ++r) {
      const T* p = static_cast<const T*>(g_.slot(r));
      for (int64_t i = 0; i < count; ++i)
        acc[i] = op == CommReduce::sum ? static_cast<T>(acc[i] + p[i]) : op == CommReduce::max ? std::max(acc[i], p[i])
                                                                                               : std::min(acc[i], p[i]);
    }
    g_.barrier();  // every rank has read every buffer before any is overwritten
    if (count) std::memcpy(buf, acc.data(), sizeof(T) * static_cast<size_t>(count));
  }
  ThreadGroup& g_;
  int rank_;
};

// Runs body(rank) on n threads, each with its ThreadRankComm installed; rethrows the first
// exception (after all threads finished).
inline void run_ranks(int n, const std::function<void(int)>& body) {
  ThreadGroup group(n);
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      ThreadRankComm comm(group, r);
      ScopedCommunicator scope(&comm);
      try {
        body(r);
      } catch (...) {
        errors[static_cast<size_t>(r)] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace symnet::test
