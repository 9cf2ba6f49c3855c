// A compiled body graph run in memory its caller provides: the one runner of the graphs
// that ops carry as attributes (the CPU's fused elementwise and per-sample ops today;
// control-flow bodies next). Compiling orders the body's nodes, binds each one's kernel
// from the given backend (prepare -> parameters, workspace, in-place pairs) and plans the
// intermediate values and workspaces with the shared memory planner into one scratch
// block of scratch_bytes(). Running allocates nothing: inputs and outputs are the caller's
// views, everything else lives in the caller's scratch.
//
// Batch inputs: a body compiled for a chunk of B samples (or elements) may run on fewer.
// The leading axis of each input named in SubPlanOptions::batch_inputs, and of every value
// computed from one of them, is the batch; a run gives its extent (at most B). Kernels are
// prepared at the compiled shapes, so the body's ops must accept a shorter leading axis
// with the same parameters (batchwise ops do; the CPU's fusions only make such bodies).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend/backend.h"
#include "engine/backend/kernel.h"
#include "engine/ir/graph.h"

namespace symnet {

struct SubPlanOptions {
  std::vector<int> batch_inputs;  // body inputs whose leading axis is the batch (see above)
  // Names the body in errors, e.g. "a fused body": "<node> in a fused body has no ... kernel".
  std::string what = "a body";
};

struct SubPlanStats {
  size_t scratch_bytes = 0;  // planned: values and workspaces sharing space
  size_t naive_bytes = 0;    // every intermediate value and workspace apart
  int steps = 0;             // kernel calls per run
  int inplace_steps = 0;     // values written over an input that dies there
};

class SubPlan {
 public:
  // Throws: unsupported naming the node when the backend has no kernel for one of the
  // body's ops; shape when a value's shape is unknown or a batch input has no batch axis;
  // what the kernels' prepare throws.
  SubPlan(const Backend& backend, GraphPtr body, SubPlanOptions options = {});

  const Graph& body() const { return *body_; }
  const SubPlanStats& stats() const { return stats_; }
  size_t scratch_bytes() const { return stats_.scratch_bytes; }
  // Alignment the scratch block must have (the planner's offsets are relative to it).
  static constexpr size_t scratch_alignment() { return 64; }
  // Batch extent compiled for (the leading axis of the first batch input), or -1 if none.
  int64_t batch() const { return batch_; }

  // Where a value lives during a run.
  enum class Loc : uint8_t { input, constant, scratch, output };
  struct Place {
    Loc loc = Loc::scratch;
    int index = 0;        // input or output number
    size_t offset = 0;    // in the scratch block
    const void* constant = nullptr;
  };
  // The place of a computed or source value (tests inspect the plan through it).
  Place place_of(const Value& v) const;

  // One caller's bound state: kernel contexts built once on the given scratch, so that
  // each run only moves input/output addresses (and the batch extent). Not shared between
  // threads: each thread makes its own, on its own scratch. A frame must not outlive its
  // plan (its contexts point at the plan's prepared parameters).
  class Frame {
   public:
    Frame(const SubPlan& plan, void* scratch, RunContext* run);
    Frame(Frame&&) = default;
    Frame(const Frame&) = delete;
    Frame& operator=(const Frame&) = delete;

    // Addresses of the next runs' inputs and outputs (by body input / output number).
    void set_input(size_t i, const void* data);
    void set_output(size_t j, void* data);
    // Runs the body once on the bound addresses; `batch` is the extent of the batch axis
    // this run (-1: as compiled). Throws what the kernels throw.
    void run(int64_t batch = -1);
    // Checks the views against the body's types (batch axes may be shorter, all alike),
    // binds them and runs: a shape or dtype error naming the input or output otherwise.
    void run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs);

   private:
    const SubPlan* plan_;
    std::vector<KernelContext> ctx_;  // per step
    // Bound input/output addresses, kept only when outputs are copied after a run.
    std::vector<const void*> in_ptr_;
    std::vector<void*> out_ptr_;
    std::unique_ptr<RunContext> own_run_;  // when the caller gives none
    char* scratch_;
    int64_t bound_batch_;
  };

  // A one-off run on its own frame (sets up contexts; still no tensor memory allocated).
  void run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* scratch,
           RunContext* run = nullptr) const;

 private:
  struct Step {
    const Node* node;
    KernelFn fn;
    std::shared_ptr<const void> params;
    std::vector<Place> in, out;
    std::vector<bool> in_batched, out_batched;
    size_t workspace_offset = 0;
    bool has_workspace = false;
  };
  // A view of some step that a run rebinds: its data address or its batch extent.
  struct Use {
    uint32_t step;
    uint32_t arg;
    bool out;
  };
  struct Copy {  // an output that is a body input, a constant or another output's value
    int output;
    Place from;
    size_t bytes_per_row, rows;  // rows: the compiled leading extent when batched, else 1
    bool batched;
  };
  TensorView& view(std::vector<KernelContext>& ctx, const Use& u) const {
    return u.out ? ctx[u.step].out[u.arg] : ctx[u.step].in[u.arg];
  }
  GraphPtr body_;
  SubPlanOptions options_;
  // Flat lists, so that a frame costs its kernel contexts and nothing else: the views
  // reading input i are input_uses_[input_begin_[i] .. input_begin_[i + 1]), likewise outputs.
  std::vector<Use> input_uses_, output_uses_, batch_uses_;
  std::vector<uint32_t> input_begin_, output_begin_;
  std::vector<Copy> copies_;
  std::vector<Step> steps_;
  std::vector<Place> output_places_;  // per body output: where its value is (output: itself)
  std::vector<bool> output_batched_;
  std::vector<bool> input_batched_;
  std::map<std::pair<const Node*, int>, Place> places_;  // every value, for place_of
  int64_t batch_ = -1;
  SubPlanStats stats_;
};

}  // namespace symnet
