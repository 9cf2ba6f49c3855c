// The CPU kernel of fused_per_sample: each thread carries a chunk of samples through the
// whole body in its own scratch memory (see ops/per_sample.cpp). The body runs as a
// sub-plan (backend/sub_plan.h) of the other CPU kernels, planned once per node: its first
// input is the batch (the last chunk may be short), its value buffers and workspaces share
// one scratch block per thread, carved out of the node's workspace.
#include <algorithm>
#include <atomic>

#include "engine/backend/sub_plan.h"
#include "engine/base/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/blas.h"
#include "engine/kernels/cpu/parallel.h"

namespace symnet {

namespace {

constexpr size_t kAlign = SubPlan::scratch_alignment();
size_t aligned(size_t b) { return (b + kAlign - 1) / kAlign * kAlign; }

std::shared_ptr<const SubPlan> make_plan(const Backend& cpu, const Node& n) {
  SubPlanOptions opts;
  opts.batch_inputs = {0};
  opts.what = "a per-sample body";
  return std::make_shared<const SubPlan>(cpu, n.attrs.get_graph("body"), opts);
}

int thread_cap() { return std::max(1, std::min(64, hardware_threads())); }

size_t per_sample_workspace(const SubPlan& plan) {
  return aligned(plan.scratch_bytes()) * static_cast<size_t>(thread_cap()) + kAlign;
}

void per_sample_kernel(KernelContext& k) {
  const SubPlan& plan = k.param<SubPlan>();
  const TensorView& x = k.in[0];
  const TensorView& y = k.out[0];
  const int64_t n = x.shape.at(0);
  if (n <= 0) return;
  const size_t x_step = x.bytes() / static_cast<size_t>(n), y_step = y.bytes() / static_cast<size_t>(n);
  char* ws = static_cast<char*>(k.workspace);
  ws += (kAlign - reinterpret_cast<uintptr_t>(ws) % kAlign) % kAlign;
  const size_t per_thread = aligned(plan.scratch_bytes());

  const int64_t chunk = plan.batch();
  BlasSerialScope serial;  // the library must not start threads of its own under ours
  std::atomic<int64_t> next{0};
  const int nt = static_cast<int>(std::min<int64_t>({engine_num_threads(), thread_cap(), (n + chunk - 1) / chunk}));
  parallel_threads(nt, [&](int t) {
    // Contexts are set up once per thread; per chunk only the sample data and the output
    // move, and the batch extent changes for the last chunk.
    SubPlan::Frame frame(plan, ws + static_cast<size_t>(t) * per_thread, k.run);
    for (size_t i = 1; i < k.in.size(); ++i) frame.set_input(i, k.in[i].data);
    for (;;) {
      const int64_t i = next.fetch_add(chunk, std::memory_order_relaxed);
      if (i >= n) break;
      frame.set_input(0, static_cast<const char*>(x.data) + static_cast<size_t>(i) * x_step);
      frame.set_output(0, static_cast<char*>(y.data) + static_cast<size_t>(i) * y_step);
      frame.run(std::min(chunk, n - i));
    }
  });
}

}  // namespace

void bind_per_sample_kernels(Backend& b) {
  KernelImpl k;
  k.fn = per_sample_kernel;
  const Backend* self = &b;
  k.prepare = [self](const Node& n) -> std::shared_ptr<const void> { return make_plan(*self, n); };
  k.workspace = [self](const Node& n) { return per_sample_workspace(*make_plan(*self, n)); };
  b.add_kernel("fused_per_sample", std::move(k));
}

}  // namespace symnet
