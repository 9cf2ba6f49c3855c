// The caching allocator's bookkeeping, apart from CUDA so that the engine tests can check
// it on machines without a GPU (tests/engine/test_cuda.cpp drives it with host memory).
//
// cudaMalloc and cudaFree are slow and cudaFree synchronizes the whole device, so blocks
// a buffer gives back are kept in free lists, one per size bin, and handed to the next
// request of the same bin. That is safe without events because every kernel and copy of a
// device is queued on its one stream: work queued after the reuse runs after the work the
// previous owner queued. When the driver has no memory left the cache is emptied and the
// request tried once more before the caller reports the failure.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

namespace symnet {
namespace cuda {

struct PoolStats {
  uint64_t in_use = 0;    // bytes of the blocks buffers hold now (bin sizes)
  uint64_t peak = 0;      // the most in_use reached since creation or the last reset_peak()
  uint64_t reserved = 0;  // bytes obtained from the driver: in use plus cached
  uint64_t cached = 0;    // bytes in the free lists
};

class CachingPool {
 public:
  // `raw_alloc` returns null when the device is out of memory and throws on other errors;
  // `raw_free` releases a block raw_alloc returned.
  using RawAlloc = std::function<void*(size_t)>;
  using RawFree = std::function<void(void*)>;

  static constexpr size_t kMinBlock = 512;

  CachingPool(RawAlloc raw_alloc, RawFree raw_free) : alloc_(std::move(raw_alloc)), free_(std::move(raw_free)) {}
  CachingPool(const CachingPool&) = delete;
  CachingPool& operator=(const CachingPool&) = delete;
  ~CachingPool() { empty_cache(); }

  // The bin of a request: at least kMinBlock, then the next of four steps per power of two
  // (2^k, 1.25, 1.5, 1.75 x 2^k), so a block wastes at most a fifth of itself while close
  // sizes (a batch that shrinks by a few rows) still share blocks.
  static size_t bin_size(size_t bytes) {
    if (bytes <= kMinBlock) return kMinBlock;
    size_t p = kMinBlock;
    while (p * 2 < bytes && p * 2 > p) p *= 2;  // p < bytes <= 2p
    const size_t step = p / 4;
    size_t b = p;
    while (b < bytes) b += step;
    return b;
  }

  // A block of bin_size(bytes) bytes (null for zero bytes); null when the driver has none
  // left even after the cache was emptied. `bin` receives the block's size.
  void* allocate(size_t bytes, size_t& bin) {
    bin = 0;
    if (bytes == 0) return nullptr;
    const size_t b = bin_size(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    void* p = nullptr;
    auto it = free_lists_.find(b);
    if (it != free_lists_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      stats_.cached -= b;
    } else {
      p = alloc_(b);
      if (!p && stats_.cached > 0) {
        release_cached_locked();
        p = alloc_(b);
      }
      if (!p) return nullptr;
      stats_.reserved += b;
    }
    bin = b;
    stats_.in_use += b;
    if (stats_.in_use > stats_.peak) stats_.peak = stats_.in_use;
    return p;
  }

  // Gives a block back to its bin's free list (`bin` as allocate() reported it).
  void release(void* p, size_t bin) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    free_lists_[bin].push_back(p);
    stats_.in_use -= bin;
    stats_.cached += bin;
  }

  // Returns every cached block to the driver (blocks in use stay).
  void empty_cache() {
    std::lock_guard<std::mutex> lock(mu_);
    release_cached_locked();
  }

  PoolStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }
  void reset_peak() {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.peak = stats_.in_use;
  }

 private:
  void release_cached_locked() {
    for (auto& kv : free_lists_) {
      for (void* p : kv.second) free_(p);
      stats_.reserved -= kv.first * kv.second.size();
      stats_.cached -= kv.first * kv.second.size();
      kv.second.clear();
    }
    free_lists_.clear();
  }

  RawAlloc alloc_;
  RawFree free_;
  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_lists_;
  PoolStats stats_;
};

}  // namespace cuda
}  // namespace symnet
