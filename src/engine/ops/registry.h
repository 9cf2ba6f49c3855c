// The op registry: one OpDef per op carries everything passes and executors need, so
// adding an op never touches a pass (NNVM's design, with typed fields instead of
// string-keyed attributes and explicit registration instead of static initializers).
#pragma once
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/base/tensor.h"
#include "engine/ir/graph.h"

namespace symnet {

enum class Device : int { cpu = 0, cuda = 1 };
constexpr int kNumDevices = 2;

enum OpFlag : unsigned {
  kPure = 1u << 0,         // deterministic, no side effects: CSE and constant folding may apply
  kElementwise = 1u << 1,  // output[i] depends only on input[i] (after scalar broadcast): fusable
  kRandom = 1u << 2,       // draws random numbers (never CSE'd or folded)
  kSource = 1u << 3,       // input / variable: value supplied at run time
  kZeroGrad = 1u << 4,     // piecewise-constant output (comparisons, argmax): gradient is zero
  // Sample i of the output (axis 0) depends only on sample i of input 0; the other inputs
  // (weights) have no batch axis. Per-sample fusion may run such ops one sample at a time.
  kBatchwise = 1u << 5,
};

struct InferContext {
  const std::string& op;
  const AttrMap& attrs;
  const std::vector<TensorType>& inputs;
  const TensorType& in(size_t i) const { return inputs.at(i); }
  size_t num_inputs() const { return inputs.size(); }
};
using InferFn = std::function<std::vector<TensorType>(const InferContext&)>;

struct GradContext {
  const Node& node;
  std::vector<Value> outputs;    // the node's outputs
  std::vector<Value> out_grads;  // gradient w.r.t. each output; undefined Value = zero
  const Value& in(size_t i) const { return node.inputs.at(i); }
  const Value& out(size_t i = 0) const { return outputs.at(i); }
  const Value& grad(size_t i = 0) const { return out_grads.at(i); }
};
// Returns one gradient per input; an undefined Value means "no gradient" (zero).
using GradFn = std::function<std::vector<Value>(const GradContext&)>;

// Per-run state visible to kernels.
struct RunContext {
  uint64_t seed = 0;       // the executable's seed
  uint64_t run_index = 0;  // increases every run, so random ops draw fresh numbers
  int num_threads = 1;
  std::function<void()> check_interrupt;  // may throw Error(interrupt); set by the host
};

struct KernelContext {
  const Node& node;
  std::vector<TensorView> in;
  std::vector<TensorView> out;
  void* workspace = nullptr;  // OpDef::workspace bytes, from the arena
  RunContext* run = nullptr;
  const void* state = nullptr;  // what OpDef::prepare built for this node, if anything
};
using KernelFn = void (*)(KernelContext&);

struct OpDef {
  std::string name;
  int min_inputs = 1;
  int max_inputs = 1;  // -1: variadic
  unsigned flags = kPure;
  InferFn infer;
  GradFn grad;  // empty: not differentiable (autodiff raises if a gradient must flow through it)
  std::vector<std::pair<int, int>> inplace;  // (output, input) pairs that may share memory
  // Per-node in-place pairs, for ops whose safety depends on the node (fused groups);
  // used instead of `inplace` when set.
  std::function<std::vector<std::pair<int, int>>(const Node&)> inplace_for;
  std::array<KernelFn, kNumDevices> kernels{};
  std::function<size_t(const Node&)> workspace;  // scratch bytes a kernel needs
  // Work a kernel would otherwise redo on every run (plans of fused bodies), done once when
  // the node is compiled; the kernel finds it in KernelContext::state and must still work
  // without it (state is null when a kernel is called outside an executable).
  std::function<std::shared_ptr<const void>(const Node&)> prepare;

  bool has(OpFlag f) const { return (flags & f) != 0; }
  KernelFn kernel(Device d) const { return kernels[static_cast<int>(d)]; }
};

class Registry {
 public:
  // Adds an op; throws an internal error on duplicates.
  OpDef& add(OpDef def);
  const OpDef* find(const std::string& name) const;
  // Throws an unsupported error naming the op when unknown.
  const OpDef& get(const std::string& name) const;
  std::vector<std::string> names() const;
  size_t size() const { return ops_.size(); }

 private:
  std::map<std::string, OpDef> ops_;
};

// The process-wide registry, filled on first use by register_all_ops().
const Registry& registry();
void register_all_ops(Registry& r);

// One registration function per op family (ops/<family>.cpp), all called from
// register_all_ops() in ops/registry.cpp.
void register_source_ops(Registry& r);       // input, constant, variable
void register_elementwise_ops(Registry& r);  // unary/binary math, comparisons, logic, where, cast
void register_reduce_ops(Registry& r);       // sum, mean, ..., argmax, cumsum
void register_linalg_ops(Registry& r);       // matmul, gemm
void register_shape_ops(Registry& r);        // reshape, transpose, slice, concat, ...
void register_index_ops(Registry& r);        // gather, scatter, one_hot, ...
void register_nn_ops(Registry& r);           // softmax, log_softmax, losses
void register_random_ops(Registry& r);       // random uniform/normal/bernoulli
void register_conv_ops(Registry& r);         // conv, conv_transpose
void register_pool_ops(Registry& r);         // max/avg/global pooling, lrn
void register_norm_ops(Registry& r);         // batch_norm, layer_norm, dropout
void register_internal_ops(Registry& r);     // sum_to, broadcast_like, reshape_like, fill_like
void register_fused_ops(Registry& r);        // fused_elementwise (made by the fusion pass)
void register_per_sample_ops(Registry& r);   // fused_per_sample (made by fuse_per_sample)

}  // namespace symnet
