// Liveness-based memory planning: every intermediate value gets an offset in one arena,
// reusing the space of values that are dead (ggml-alloc / MXNet plan_memory style).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace symnet {

struct PlanRequest {
  size_t bytes = 0;
  int birth = 0;          // step that writes it
  int death = 0;          // last step that reads it (>= birth); graph outputs: past the last step
  int inplace_of = -1;    // request index whose block this one may take over (set by caller
                          // only when allowed by the op and the donor dies at `birth`)
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // per request
  std::vector<int> shares_with;  // request whose block it took over, or -1
  size_t arena_bytes = 0;       // planned
  size_t naive_bytes = 0;       // sum of all requests
};

constexpr size_t kArenaAlign = 64;
constexpr size_t kPageAlignFrom = 64 * 1024;  // requests this large are 4096-aligned

// Requests must be ordered by birth. Best-fit reuse of freed blocks with coalescing.
MemoryPlan plan_memory(const std::vector<PlanRequest>& reqs);

// True when no two requests that are live at the same step overlap in the arena (except a
// request and the donor it took over in place). Used by tests and debug builds.
bool plan_is_valid(const std::vector<PlanRequest>& reqs, const MemoryPlan& plan);

}  // namespace symnet
