// What the CPU's control-flow kernels (cond, scan, while_loop) share: reading a predicate,
// and the run context a loop gives its body at each iteration (its own random stream, the
// host's interrupt polled while the loop runs).
#pragma once
#include <chrono>
#include <cstdint>

#include "engine/backend/backend.h"
#include "engine/backend/kernel.h"
#include "engine/backend/sub_plan.h"
#include "engine/base/error.h"
#include "engine/passes/passes.h"

namespace symnet {

// The loop kernels' workspaces hold sub-plan scratch blocks and value buffers, each at the
// sub-plans' alignment: block sizes are rounded up to it, and the workspace pointer (whose
// own alignment is the arena's) is moved up to it.
constexpr size_t kLoopAlign = SubPlan::scratch_alignment();
inline size_t round_up_to_align(size_t n) { return (n + kLoopAlign - 1) / kLoopAlign * kLoopAlign; }
inline char* align_workspace(void* workspace) {
  char* p = static_cast<char*>(workspace);
  return p + (kLoopAlign - reinterpret_cast<uintptr_t>(p) % kLoopAlign) % kLoopAlign;
}

// Bytes of a value a loop kernel copies; `op` names the kernel when the shape is unknown.
inline size_t known_type_bytes(const TensorType& t, const char* op) {
  SN_CHECK(t.known(), ErrorKind::shape, op << " needs known shapes on the CPU, got " << type_str(t));
  return static_cast<size_t>(shape_numel(t.shape)) * dtype_size(t.dtype);
}

// A body as its sub-plan runs it: specialised to the types it is given, calls inlined, and
// lowered by the backend like a whole graph (on the CPU: elementwise fusion), so that a
// loop's step runs as few, fused kernels as the outer graph would.
inline Graph body_for_plan(const Backend& backend, const Graph& body, const std::vector<TensorType>& types) {
  return backend.lower(strip_identities(inline_calls(specialize(body, types))), /*fuse=*/true, nullptr);
}

// The truth of a one-value predicate (non-zero is true). `what` names its source in errors.
inline bool predicate_value(const TensorView& p, const char* what) {
  SN_CHECK(p.numel() == 1, ErrorKind::shape, what << " holds " << p.numel() << " values, not 1");
  switch (p.dtype) {
    case DType::boolean:
    case DType::u8: return *static_cast<const uint8_t*>(p.data) != 0;
    case DType::i32: return *static_cast<const int32_t*>(p.data) != 0;
    case DType::i64: return *static_cast<const int64_t*>(p.data) != 0;
    case DType::f32: return *static_cast<const float*>(p.data) != 0;
    case DType::f64: return *static_cast<const double*>(p.data) != 0;
    default: SN_THROW(ErrorKind::dtype, what << " is " << dtype_name(p.dtype) << ", which the CPU cannot test");
  }
}

// The context a loop kernel runs its bodies in: a copy of the caller's (seed, run index,
// interrupt), its stream set per iteration so random ops in the body draw new numbers at
// each one. Frames of the body are bound to context() once; enter(i) before each iteration.
class LoopRun {
 public:
  explicit LoopRun(const RunContext* parent) : ctx_(parent ? *parent : RunContext{}), parent_stream_(ctx_.stream) {}
  LoopRun(const LoopRun&) = delete;
  LoopRun& operator=(const LoopRun&) = delete;

  RunContext* context() { return &ctx_; }
  void enter(uint64_t index) { ctx_.stream = loop_stream(parent_stream_, index); }

  // Between iterations: asks the host whether the user interrupted, at most every 10 ms (a
  // body of a few scalar ops runs in well under a microsecond; the host's check costs more).
  void poll_interrupt() {
    if (!ctx_.check_interrupt) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_poll_ < std::chrono::milliseconds(10)) return;
    last_poll_ = now;
    ctx_.check_interrupt();
  }

 private:
  RunContext ctx_;
  uint64_t parent_stream_;
  std::chrono::steady_clock::time_point last_poll_ = std::chrono::steady_clock::now();
};

}  // namespace symnet
