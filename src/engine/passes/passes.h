// Graph -> Graph passes. Each returns a new graph; inputs are never mutated.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/ir/graph.h"

namespace symnet {

// Re-creates every node so types are re-inferred, with the graph inputs replaced by
// inputs of the given concrete types (compile-time specialization of unknown dims).
Graph specialize(const Graph& g, const std::vector<TensorType>& input_types);

// Reverse-mode autodiff: gradients of scalar `y` (rank 0, or numel 1) w.r.t. each of
// `wrt`, built from registry gradient rules, so the result can be differentiated again.
// A wrt value that y does not depend on gets zeros_like(wrt). Throws a value error when
// a gradient must flow through an op without a gradient rule.
std::vector<Value> gradients(const Value& y, const std::vector<Value>& wrt);
// Vector-Jacobian products: sum_k cotangent_k . d(output_k)/d(wrt), for outputs of any
// shape, each with a cotangent of its type (gradients() is vjp with a scalar output and
// cotangent 1). Same rules as gradients().
std::vector<Value> vjp(const std::vector<Value>& outputs, const std::vector<Value>& cotangents,
                       const std::vector<Value>& wrt);
// Graph form: appends d(output[0])/d(wrt) outputs named "grad_<name>".
Graph autodiff(const Graph& g, const std::vector<Value>& wrt);

Graph eliminate_dead_code(const Graph& g);   // drops nodes unreachable from outputs
Graph eliminate_common_subexpressions(const Graph& g);  // merges identical pure nodes
// Evaluates a node on host tensors holding its (constant) inputs; returns its outputs, or
// nothing when it cannot. Passes stay target-independent: a backend supplies this.
using ConstantEvaluator = std::function<std::vector<Tensor>(const Node&, const std::vector<TensorView>&)>;
// Evaluates pure nodes whose inputs are constants (nothing without an evaluator).
Graph fold_constants(const Graph& g, const ConstantEvaluator& eval);
Graph simplify_algebra(const Graph& g);      // x*1, x+0, x-0, x/1, neg(neg x), identity, ...
// stop_gradient/identity removal and other inference-time cleanups (Executable::compile
// runs this whether it optimizes or not).
Graph strip_identities(const Graph& g);
// Replaces every call node (ops/call.h), nested ones and those inside other bodies
// included, by its body's nodes on its inputs. Executable::compile runs it whether it
// optimizes or not, so no backend ever meets a call.
Graph inline_calls(const Graph& g);

// Folds each inference-mode batch_norm whose input is a conv, or a rank-2 matmul (with or
// without a per-column bias add), read by nothing else into that product: weights scaled
// per output channel, and a bias, computed by nodes from the variables at run time
// (passes/fold_batch_norm.cpp). Training-mode batch norms are left as they are.
Graph fold_batch_norms(const Graph& g);

// Points the users of a scan at another scan that computes all its outputs and more (the
// loop scan's gradient re-runs to record its states; likewise a while_loop and its recording
// rerun), so the loop runs once and the values
// it saves for the gradient live in the planned arena (passes/share_loops.cpp).
Graph share_recorded_loops(const Graph& g);

// Sets the `training` attribute (0/1) of every node that has one (dropout, batch_norm):
// one graph serves training and inference, compiled in the mode each needs. Nodes reading
// a frozen variable (Variable::frozen: a frozen batch-norm layer) stay in inference mode.
Graph set_training_mode(const Graph& g, bool training);

// Rewrites every training-mode batch_norm (not those inside bodies) into ops that compute
// the batch statistics over all ranks of the current communicator: per-channel sums and
// counts all-reduced, the variance from all-reduced centred squares. Outputs and running
// statistics as batch_norm's; gradients cross ranks through the all-reduces. With one
// rank it equals the node (passes/sync_batch_norm.cpp).
Graph sync_batch_norms(const Graph& g);

// Variables reachable from the graph's outputs, in topological order, each once; those used
// inside bodies (subgraphs, recursively) included, at their node's place.
std::vector<VariablePtr> graph_variables(const Graph& g);

struct PassStats {
  std::string name;
  size_t nodes_before = 0, nodes_after = 0;
  double ms = 0;
};

// Passes that rewrite graphs (simplify, fold, CSE, training mode, inlining) rewrite the bodies
// of graph-valued attributes too, and graph_variables() looks inside them (passes/subgraph.h).

// Runs the target-independent pipeline (inline, simplify, fold_bn, fold, cse, simplify, dce) and records
// statistics. Backends add their own lowering after it (backend.h: optimize()).
Graph optimize_generic(const Graph& g, const ConstantEvaluator& eval, std::vector<PassStats>* stats = nullptr);

}  // namespace symnet
