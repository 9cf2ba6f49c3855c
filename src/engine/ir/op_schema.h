// The op schema: what an op IS (name, arity, typed attributes, shape/dtype inference,
// gradient, flags), independent of how any device runs it. Kernels live in backends
// (backend/backend.h), keyed by op name, so the IR never depends on execution.
// NNVM's design (one registry entry per op that passes read), with typed fields instead of
// string-keyed attributes and explicit registration instead of static initializers.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/ir/graph.h"
#include "engine/ir/node.h"

namespace symnet {

enum OpFlag : unsigned {
  kPure = 1u << 0,         // deterministic, no side effects: CSE and constant folding may apply
  kElementwise = 1u << 1,  // output[i] depends only on input[i] (after scalar broadcast): fusable
  kRandom = 1u << 2,       // draws random numbers (never CSE'd or folded)
  kSource = 1u << 3,       // input / variable: value supplied at run time
  kZeroGrad = 1u << 4,     // piecewise-constant output (comparisons, argmax): gradient is zero
  // Sample i of the output (axis 0) depends only on sample i of input 0; the other inputs
  // (weights) have no batch axis. Per-sample fusion may run such ops one sample at a time.
  kBatchwise = 1u << 5,
  // Has an effect beyond its outputs (writes state, talks to other processes): never
  // CSE'd, folded or removed while something depends on its ordering.
  kStateful = 1u << 6,
  // Communicates with other processes (all-reduce, broadcast): every rank must run it, in
  // the same order; a backend places it only where its communicator lives.
  kCollective = 1u << 7,
};

// The kinds an attribute value can have (the alternatives of Attr, in order).
enum class AttrKind { int_, float_, string, ints, floats, strings, tensor, graph, variable };
const char* attr_kind_name(AttrKind k);

// One declared attribute. Validation at node creation rejects names the op does not
// declare, values of another kind (an integral float is an int; an int is a float) and
// missing required attributes, each with the op and attribute named.
struct AttrSpec {
  std::string name;
  AttrKind kind = AttrKind::int_;
  bool required = false;
  std::string doc;  // one line, with the default the op uses when absent
};

// Attributes whose names start with '_' are annotations (documentation, provenance of an
// imported model): any op carries them, graph files keep them, no op reads them.
bool is_annotation(const std::string& attr_name);

struct InferContext {
  const std::string& op;
  const AttrMap& attrs;
  const std::vector<TensorType>& inputs;
  const TensorType& in(size_t i) const { return inputs.at(i); }
  size_t num_inputs() const { return inputs.size(); }
};
using InferFn = std::function<std::vector<TensorType>(const InferContext&)>;

// Vector-Jacobian products of a subgraph (outputs, one cotangent each, wrt): autodiff
// (passes/) lives above the ops and hands itself to gradient rules this way, so the rule of
// an op carrying a body (call) can differentiate that body.
using VjpFn = std::function<std::vector<Value>(const std::vector<Value>& outputs,
                                               const std::vector<Value>& cotangents,
                                               const std::vector<Value>& wrt)>;

struct GradContext {
  const Node& node;
  std::vector<Value> outputs;    // the node's outputs
  std::vector<Value> out_grads;  // gradient w.r.t. each output; undefined Value = zero
  VjpFn vjp;                     // set by autodiff; empty when a rule is called otherwise
  const Value& in(size_t i) const { return node.inputs.at(i); }
  const Value& out(size_t i = 0) const { return outputs.at(i); }
  const Value& grad(size_t i = 0) const { return out_grads.at(i); }
};
// Returns one gradient per input; an undefined Value means "no gradient" (zero).
using GradFn = std::function<std::vector<Value>(const GradContext&)>;

// Rewrites a node as a composition of other (core) ops: a backend without a kernel for the
// op runs the composition instead. Returns one value per output of the node.
using DecomposeFn = std::function<std::vector<Value>(const Node&, const std::vector<Value>& inputs)>;

struct OpSchema {
  std::string name;
  int min_inputs = 1;
  int max_inputs = 1;  // -1: variadic
  unsigned flags = kPure;
  // Declared attributes. Ops registered without a declaration accept any attribute (only
  // internal ops made by passes); see Registry::add.
  std::vector<AttrSpec> attrs;
  bool attrs_declared = false;
  InferFn infer;
  GradFn grad;  // empty: not differentiable (autodiff raises if a gradient must flow through it)
  DecomposeFn decompose;  // empty: a core op, every backend needs a kernel

  bool has(OpFlag f) const { return (flags & f) != 0; }
  const AttrSpec* attr(const std::string& name) const;
  // Throws an attr error naming the op and the attribute on unknown names, wrong kinds
  // and missing required attributes.
  void validate(const AttrMap& attrs) const;
  // Declares the attributes (replacing any declared before); returns *this for chaining.
  OpSchema& with_attrs(std::vector<AttrSpec> specs);
};

class Registry {
 public:
  // Adds an op; throws an internal error on duplicates.
  OpSchema& add(OpSchema def);
  const OpSchema* find(const std::string& name) const;
  // Throws an unsupported error naming the op when unknown.
  const OpSchema& get(const std::string& name) const;
  std::vector<std::string> names() const;
  size_t size() const { return ops_.size(); }
  // Mutable access while registering (adding attribute declarations to a family's ops).
  OpSchema* find_mutable(const std::string& name);

 private:
  std::map<std::string, OpSchema> ops_;
};

// The process-wide op registry, filled on first use. Declared here so the IR can look ops
// up; defined (with every op family's registration) in ops/registry.cpp, so the IR does
// not include the ops it will hold.
const Registry& registry();

}  // namespace symnet
