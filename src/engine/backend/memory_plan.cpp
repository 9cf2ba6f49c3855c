#include "engine/backend/memory_plan.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <set>
#include <utility>

#include "engine/base/error.h"

namespace symnet {

namespace {

size_t align_to(size_t n, size_t a) { return (n + a - 1) / a * a; }
size_t align_up(size_t n) { return align_to(n, kArenaAlign); }
// Large buffers start on a page boundary: buffers at unrelated offsets within a page make
// the CPU stall on false load/store conflicts (4K aliasing) in streaming kernels.
size_t alignment_for(size_t bytes) { return bytes >= kPageAlignFrom ? 4096 : kArenaAlign; }

// Free blocks keyed by offset; adjacent blocks coalesce; the top of the arena grows. A
// second index by (size, offset) finds the best fit without scanning every free block,
// which a plan of 100k steps can leave many of.
class FreeList {
 public:
  // Best fit among free blocks that can hold `bytes` at an `align`-aligned offset: the
  // smallest such block, the lowest offset among equals.
  size_t allocate(size_t bytes, size_t align) {
    // An empty value occupies nothing: placing it would make a zero-size free block at an
    // offset a live block holds, and the free list would then hold that offset twice.
    if (bytes == 0) return 0;
    for (auto it = by_size_.lower_bound({bytes, 0}); it != by_size_.end(); ++it) {
      const size_t size = it->first, off = it->second, start = align_to(off, align);
      if (start + bytes > off + size) continue;  // too small once aligned
      erase(off);
      if (start > off) insert(off, start - off);
      if (off + size > start + bytes) insert(start + bytes, off + size - start - bytes);
      return start;
    }
    // Extend the arena; a free block touching the top is grown instead of wasted.
    size_t base = top_;
    if (!blocks_.empty()) {
      auto last = std::prev(blocks_.end());
      if (last->first + last->second == top_) {
        base = last->first;
        erase(base);
      }
    }
    size_t start = align_to(base, align);
    if (start > base) insert(base, start - base);
    top_ = start + bytes;
    return start;
  }
  void release(size_t off, size_t bytes) {
    if (bytes == 0) return;
    auto next = blocks_.lower_bound(off);
    if (next != blocks_.end() && off + bytes == next->first) {
      bytes += next->second;
      erase(next->first);
    }
    auto after = blocks_.lower_bound(off);
    if (after != blocks_.begin()) {
      auto prev = std::prev(after);
      if (prev->first + prev->second == off) {
        off = prev->first;
        bytes += prev->second;
        erase(off);
      }
    }
    insert(off, bytes);
  }
  size_t top() const { return top_; }

 private:
  void insert(size_t off, size_t bytes) {
    blocks_.emplace(off, bytes);
    by_size_.emplace(bytes, off);
  }
  void erase(size_t off) {
    auto it = blocks_.find(off);
    by_size_.erase({it->second, off});
    blocks_.erase(it);
  }
  std::map<size_t, size_t> blocks_;                // offset -> size
  std::set<std::pair<size_t, size_t>> by_size_;    // (size, offset)
  size_t top_ = 0;
};

}  // namespace

MemoryPlan plan_memory(const std::vector<PlanRequest>& reqs) {
  MemoryPlan plan;
  const int n = static_cast<int>(reqs.size());
  plan.offsets.assign(n, 0);
  plan.shares_with.assign(n, -1);
  std::vector<int> owner_death(n, 0);  // death of the block each request (owner) holds
  std::vector<int> block_owner(n);     // request -> request that owns the block
  int max_step = 0;
  for (const auto& r : reqs) max_step = std::max({max_step, r.birth, r.death});
  // Events: at each step, first allocate the step's outputs, then free what died there.
  std::vector<std::vector<int>> dies_at(max_step + 2);
  FreeList fl;
  std::vector<bool> taken_over(n, false);
  int i = 0;
  for (int step = 0; step <= max_step; ++step) {
    for (; i < n && reqs[i].birth == step; ++i) {
      const PlanRequest& r = reqs[i];
      SN_CHECK(i == 0 || reqs[i - 1].birth <= r.birth, ErrorKind::internal, "plan requests out of order");
      plan.naive_bytes += align_up(r.bytes);
      int donor = r.inplace_of;
      if (donor >= 0 && donor < i && !taken_over[donor] && reqs[donor].death == r.birth &&
          align_up(reqs[donor].bytes) >= align_up(r.bytes)) {
        int owner = block_owner[donor];
        taken_over[donor] = true;
        plan.offsets[i] = plan.offsets[donor];
        plan.shares_with[i] = donor;
        block_owner[i] = owner;
        // The block now lives until the later of the two deaths.
        if (r.death > owner_death[owner]) {
          owner_death[owner] = r.death;
          dies_at[std::min(r.death, max_step + 1)].push_back(owner);
        }
        continue;
      }
      plan.offsets[i] = fl.allocate(align_up(r.bytes), alignment_for(r.bytes));
      block_owner[i] = i;
      owner_death[i] = r.death;
      dies_at[std::min(r.death, max_step + 1)].push_back(i);
    }
    for (int owner : dies_at[step]) {
      if (owner_death[owner] != step) continue;  // extended by an in-place successor
      fl.release(plan.offsets[owner], align_up(reqs[owner].bytes));
    }
  }
  plan.arena_bytes = fl.top();
  return plan;
}

bool plan_is_valid(const std::vector<PlanRequest>& reqs, const MemoryPlan& plan) {
  const int n = static_cast<int>(reqs.size());
  auto related = [&](int a, int b) {
    // Walk the take-over chains: same block lineage is allowed to overlap.
    auto root = [&](int x) {
      while (plan.shares_with[x] >= 0) x = plan.shares_with[x];
      return x;
    };
    return root(a) == root(b);
  };
  for (int a = 0; a < n; ++a) {
    for (int b = a + 1; b < n; ++b) {
      if (reqs[a].bytes == 0 || reqs[b].bytes == 0) continue;
      bool live_together = reqs[a].birth <= reqs[b].death && reqs[b].birth <= reqs[a].death;
      if (!live_together || related(a, b)) continue;
      // A donor dying at the step its taker is born may be reused by it only.
      bool overlap = plan.offsets[a] < plan.offsets[b] + reqs[b].bytes &&
                     plan.offsets[b] < plan.offsets[a] + reqs[a].bytes;
      if (overlap) return false;
    }
  }
  return true;
}

}  // namespace symnet
