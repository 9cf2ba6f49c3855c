// call: runs a closed subgraph (the graph attribute "body") on the node's inputs. It is the
// op that carries a body for everything built on subgraphs (control flow, ONNX functions);
// no backend has a kernel for it: optimize() inlines it (passes/inline.cpp), and a target
// that still meets one decomposes it the same way.
#pragma once
#include <string>
#include <vector>

#include "engine/ir/node.h"

namespace symnet {

// Checks that `body` can be called with `n_inputs` arguments: its inputs are distinct
// "input" nodes, every input node it uses is one of them (values computed outside are not
// captured: lift them first, passes/lift.h); constants and variables may be shared.
void validate_call_body(const Graph& body, size_t n_inputs);

// The body's nodes spliced in on `args`, each computing node made again (types
// re-inferred) and named `prefix` + its name in the body; constants and variables shared.
std::vector<Value> splice_body(const Graph& body, const std::vector<Value>& args, const std::string& prefix);

// Types of the body's outputs for arguments of types `args` (the body inferred again when
// they are more concrete than its declared inputs). Errors name `what` ("the body").
std::vector<TensorType> infer_body(const Graph& body, const std::vector<TensorType>& args, const std::string& what);

// A formal input of a body built by a gradient rule (cond, scan): an "input" node of type
// `t`; no "shape" attribute declares one of unknown rank.
Value body_input(const std::string& name, const TensorType& t);

// The body's nodes spliced in: formal inputs replaced by `args`, every computing node made
// again (types re-inferred) and named "<call name>/<body node name>", so random ops draw
// the same numbers wherever one call node is expanded. Constants and variables are shared.
// Returns one value per body output.
std::vector<Value> expand_call(const Node& call, const std::vector<Value>& args);

}  // namespace symnet
