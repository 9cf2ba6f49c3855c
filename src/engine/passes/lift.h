// Lambda lifting: turns an expression written over a few formal parameters AND values of
// an enclosing graph (captured values) into a closed body for a call (ops/call.h), the
// form control flow and ONNX functions need, plus the outer values to pass for the
// captured ones.
#pragma once
#include <string>
#include <vector>

#include "engine/ir/graph.h"

namespace symnet {

struct LiftedBody {
  GraphPtr body;                // inputs: the parameters, then one per captured value
  std::vector<Value> captured;  // the outer values to pass after the arguments, in order
};

// `params` are the body's formal inputs ("input" nodes); `outputs` the body's results,
// computed from the params and from outer values. Every value the outputs use that does not
// depend on a param is computed outside the body, and becomes an explicit input (named after
// the node it comes from), except constant and variable nodes, which stay captured: they
// compute nothing, a constant inside the body can still be folded into it, and a variable
// must stay the same node so gradients with respect to it, graph_variables() and training
// find it where the body uses it. Nodes that depend on a param are copied into the body.
// Bodies of nested calls are already closed and are left as they are.
LiftedBody lift_body(const std::vector<Value>& params, const std::vector<Value>& outputs,
                     const std::vector<std::string>& output_names = {});

}  // namespace symnet
