// The CPU kernel of scan (ops/scan.cpp): the body is specialised to one step's types and
// planned once as a sub-plan; a run binds one frame on the node's workspace and, per step,
// only moves its input/output addresses. The states are double-buffered in the workspace
// (a step reads one buffer and writes the other); the first step reads the initial states
// in place and the last writes the final states straight into the node's outputs. Each
// step writes its per-step outputs into their slot of the stacked outputs. Step t runs in
// its own random stream (loop_support.h), so random ops in the body draw anew at each step.
#include <cstring>

#include "engine/backend/sub_plan.h"
#include "engine/base/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/loop_support.h"
#include "engine/passes/passes.h"

namespace symnet {

namespace {

struct ScanPlan {
  std::shared_ptr<const SubPlan> plan;
  size_t states = 0, sequences = 0;
  bool reverse = false;
  int64_t n_steps = -1;                // the attribute, when given
  std::vector<size_t> state_offset;    // in each state buffer
  std::vector<size_t> state_bytes;
  std::vector<size_t> slice_bytes;     // per sequence: one step's slice
  std::vector<size_t> step_out_bytes;  // per per-step output: one step's slot
  size_t scratch = 0;                  // the sub-plan's scratch, rounded up
  size_t buffer = 0;                   // one set of state buffers
};

ScanPlan scan_plan(const Backend& cpu, const Node& n) {
  GraphPtr body = n.attrs.get_graph("body");
  SN_CHECK(body != nullptr, ErrorKind::attr, "attribute 'body' is empty");
  ScanPlan p;
  p.states = static_cast<size_t>(n.attrs.get_int("n_states"));
  p.sequences = static_cast<size_t>(n.attrs.get_int("n_sequences"));
  p.reverse = n.attrs.get_int("reverse", 0) != 0;
  p.n_steps = n.attrs.get_int("n_steps", -1);
  std::vector<TensorType> types;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    TensorType t = n.inputs[i].type();
    if (i >= p.states && i < p.states + p.sequences) {
      SN_CHECK(t.rank_known() && !t.shape.empty(), ErrorKind::shape,
               "sequence " << i - p.states + 1 << " of " << n.describe() << " is " << type_str(t));
      t.shape.erase(t.shape.begin());
      p.slice_bytes.push_back(known_type_bytes(t, "scan"));
    }
    types.push_back(t);
  }
  for (size_t k = 0; k < p.states; ++k) {
    p.state_offset.push_back(p.buffer);
    p.state_bytes.push_back(known_type_bytes(types[k], "scan"));
    p.buffer += round_up_to_align(p.state_bytes.back());
  }
  for (size_t m = p.states; m < n.outputs.size(); ++m) {
    TensorType t = n.outputs[m];
    SN_CHECK(t.rank_known() && !t.shape.empty(), ErrorKind::shape,
             "output " << m + 1 << " of " << n.describe() << " is " << type_str(t));
    t.shape.erase(t.shape.begin());
    p.step_out_bytes.push_back(known_type_bytes(t, "scan"));
  }
  Graph g = body_for_plan(cpu, *body, types);
  SubPlanOptions opts;
  opts.what = "the body of " + n.describe();
  p.plan = std::make_shared<const SubPlan>(cpu, std::make_shared<const Graph>(std::move(g)), opts);
  p.scratch = round_up_to_align(p.plan->scratch_bytes());
  return p;
}

void scan_kernel(KernelContext& k) {
  const ScanPlan& p = k.param<ScanPlan>();
  const size_t S = p.states, Q = p.sequences;
  const int64_t steps = Q > 0 ? k.in.at(S).shape.at(0) : p.n_steps;
  char* base = align_workspace(k.workspace);
  char* buffers[2] = {base + p.scratch, base + p.scratch + p.buffer};
  if (steps == 0) {
    for (size_t s = 0; s < S; ++s)
      if (p.state_bytes[s] > 0) std::memcpy(k.out[s].data, k.in[s].data, p.state_bytes[s]);
    return;
  }
  LoopRun loop(k.run);
  SubPlan::Frame frame(*p.plan, base, loop.context());
  for (size_t i = S + Q; i < k.in.size(); ++i) frame.set_input(i, k.in[i].data);
  for (int64_t i = 0; i < steps; ++i) {
    const int64_t t = p.reverse ? steps - 1 - i : i;
    char* read = buffers[(i + 1) % 2];
    char* write = buffers[i % 2];
    for (size_t s = 0; s < S; ++s) {
      frame.set_input(s, i == 0 ? k.in[s].data : read + p.state_offset[s]);
      frame.set_output(s, i == steps - 1 ? k.out[s].data : write + p.state_offset[s]);
    }
    for (size_t j = 0; j < Q; ++j)
      frame.set_input(S + j, static_cast<const char*>(k.in[S + j].data) + t * p.slice_bytes[j]);
    for (size_t m = 0; m < p.step_out_bytes.size(); ++m)
      frame.set_output(S + m, static_cast<char*>(k.out[S + m].data) + t * p.step_out_bytes[m]);
    // The stream follows the sequence position, not the step count, so the gradient's
    // scans (which walk the other way) see each position's random numbers again.
    loop.enter(static_cast<uint64_t>(t));
    frame.run();
    loop.poll_interrupt();
  }
}

}  // namespace

void bind_scan_kernels(Backend& b) {
  KernelImpl k;
  k.fn = scan_kernel;
  const Backend* self = &b;
  k.prepare = [self](const Node& n) -> std::shared_ptr<const void> {
    return std::make_shared<ScanPlan>(scan_plan(*self, n));
  };
  k.workspace = [self](const Node& n) {
    ScanPlan p = scan_plan(*self, n);
    return p.scratch + 2 * p.buffer + kLoopAlign;
  };
  b.add_kernel("scan", std::move(k));
}

}  // namespace symnet
