// compile(graph, target) -> Executable; run(feeds) launches kernels into planned memory.
// Building a graph allocates no tensor data; compile plans one arena; run only computes.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/ir/graph.h"
#include "engine/backend/backend.h"
#include "engine/passes/passes.h"

namespace symnet {

struct CompileOptions {
  // The backend nodes run on; a node it cannot run falls back to the CPU, with transfers
  // between their memories where the target's is not host memory.
  std::string target = "cpu";
  bool optimize = true;
  bool fuse = true;
  uint64_t seed = 0;
  // The last update_vars.size() graph outputs are written into these variables after each
  // run, all at once (every update sees the values from before the run).
  std::vector<VariablePtr> update_vars;
};

struct CompileStats {
  size_t nodes_before = 0;  // nodes in the graph as given (after specialization)
  size_t nodes_after = 0;   // nodes after optimization
  size_t steps = 0;         // kernel launches per run
  size_t fused_groups = 0;
  size_t fused_ops = 0;     // ops absorbed into fused groups
  size_t inplace_steps = 0;
  size_t arena_bytes = 0;   // planned, all memories together
  size_t naive_bytes = 0;   // one buffer per intermediate value
  double compile_ms = 0;
  // Placement: kernel launches per backend, the nodes that fell back to the CPU because
  // the target cannot run them, and the copies between memories each run makes.
  std::vector<std::pair<std::string, size_t>> steps_per_backend;
  std::vector<std::string> fallback_nodes;
  size_t transfers = 0;
  size_t transfer_bytes = 0;
  // Loops (scan, while_loop): how many, their bodies' working memory and the per-step values
  // they stack (saved for gradients included), all in the planned arena.
  size_t loops = 0;
  size_t loop_workspace_bytes = 0;
  size_t loop_stacked_bytes = 0;
  // Planned arena per memory (buffer type name, bytes).
  std::vector<std::pair<std::string, size_t>> arenas;
  std::vector<PassStats> passes;
};

// Working memory that several executables take turns with: the shape specialisations of
// one compiled function never run at the same time, so they need one arena between them
// (the size of the largest) instead of one each. The contents do not outlive a run.
class SharedArena {
 public:
  // Memory of at least `bytes`, replaced by a larger block when too small.
  char* reserve(size_t bytes);
  size_t bytes() const { return mem_ ? mem_->bytes() : 0; }

 private:
  std::unique_ptr<Storage> mem_;
};

class Executable {
 public:
  // input_types: concrete type of each graph input (same order as g.inputs). Throws
  // symnet::Error when shapes are incompatible, a dimension stays unknown, or an op has
  // no kernel for the device.
  static std::unique_ptr<Executable> compile(const Graph& g, const std::vector<TensorType>& input_types,
                                             const CompileOptions& opts = {});

  // Feeds must match the compiled input types exactly (dtype and shape).
  void run(const std::vector<TensorView>& feeds, RunContext* ctx = nullptr);
  size_t num_outputs() const;
  // Valid until the next run. Update outputs are read from their variable after the run.
  TensorView output(size_t i) const;
  const Graph& graph() const { return graph_; }          // optimized
  const std::vector<TensorType>& input_types() const { return input_types_; }
  const CompileStats& stats() const { return stats_; }
  uint64_t runs() const { return run_index_; }
  // One line per kernel launch or transfer: op, node, backend, output types, arena offsets.
  std::string describe_plan() const;

  // Per-step wall time, accumulated over runs while profiling is on.
  struct StepProfile {
    std::string op, node;
    std::string algorithm;  // the kernel's algorithm for the node ("" when it names none)
    double ms = 0;
    uint64_t calls = 0;
  };
  void set_profiling(bool on);
  std::vector<StepProfile> profile() const;
  uint64_t seed() const { return seed_; }
  void set_seed(uint64_t s) { seed_ = s; }
  // Runs its host arena in `arena` from now on (freeing its own); outputs then stay valid
  // only until the next run of any executable sharing it. (Device memory is not shared.)
  void share_arena(std::shared_ptr<SharedArena> arena);

  ~Executable();

 private:
  Executable() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Graph graph_;
  std::vector<TensorType> input_types_;
  CompileStats stats_;
  uint64_t run_index_ = 0;
  uint64_t seed_ = 0;
};

}  // namespace symnet
