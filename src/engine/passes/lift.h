// Lambda lifting: turns an expression written over a few formal parameters AND values of
// an enclosing graph (captured values) into a closed body for a call (ops/call.h), the
// form control flow and ONNX functions need, plus the outer values to pass for the
// captured ones.
#pragma once
#include <cstdint>
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

// Lifting a branch traced by running user code (cond from R): the nodes created while the
// code ran (id > created_after) are the branch's computation and go into the body even when
// they depend on no parameter, so that only the taken branch computes them; everything
// made before is an outer value, passed in. Variables become arguments too, wherever they
// were made, so that gradients reach them through the op's arguments (cond differentiates
// with respect to its arguments only); inputs, likewise, are always outer values.
struct LiftOptions {
  uint64_t created_after = UINT64_MAX;  // UINT64_MAX: no node counts as created by the body
  bool lift_variables = false;
};
LiftedBody lift_body(const std::vector<Value>& params, const std::vector<Value>& outputs,
                     const std::vector<std::string>& output_names, const LiftOptions& options);

// A cond node from two branches traced by running user code: `then_outputs` were made by
// code that ran after node `then_after`, `else_outputs` after `else_after` (last_node_id()
// before each ran). Each branch is lifted (LiftOptions: its nodes inside, outer values and
// variables as arguments); the cond takes the then branch's arguments followed by the else
// branch's, and each body takes all of them. Returns the cond's outputs.
std::vector<Value> make_cond(const Value& pred, const std::vector<Value>& then_outputs, uint64_t then_after,
                             const std::vector<Value>& else_outputs, uint64_t else_after, const std::string& name = "");

// A scan node (ops/scan.cpp) from a step traced by running user code after node
// `created_after`: `state_params` and `slice_params` are the input nodes the code was given
// for the carried states and for one step's slice of each sequence; `step_outputs` what it
// returned (the new states first, then the per-step outputs). Lifted like a branch (its
// nodes inside, so random ops draw per step; outer values and variables become
// non-sequences). `n_steps` < 0: taken from the sequences. Returns the scan's outputs.
std::vector<Value> make_scan(const std::vector<Value>& state_params, const std::vector<Value>& slice_params,
                             const std::vector<Value>& step_outputs, uint64_t created_after,
                             const std::vector<Value>& init, const std::vector<Value>& sequences, int64_t n_steps,
                             bool reverse, const std::string& name = "");

// A while_loop node (ops/while_loop.cpp) from a condition and a body traced by running user
// code on the same loop-variable parameters `var_params`: `cond_output` (a scalar) made after
// node `cond_after`, `body_outputs` (the new loop variables) after `body_after`. Each is
// lifted like a branch; the node takes [init..., the condition's captured values..., the
// body's...], and both subgraphs take all of them. max_iterations < 0: unbounded;
// error_at_max: reaching it with the condition still true is an error, not a stop.
std::vector<Value> make_while_loop(const std::vector<Value>& var_params, const Value& cond_output, uint64_t cond_after,
                                   const std::vector<Value>& body_outputs, uint64_t body_after,
                                   const std::vector<Value>& init, int64_t max_iterations, bool error_at_max,
                                   const std::string& name = "");

// A call node (ops/call.h) of a function traced by running user code on `params` after node
// `created_after` (R's sym_function()): lifted like a branch (its nodes inside, outer values
// and variables as extra arguments after `args`, so gradients reach variables through the
// call's arguments). `function` names the operation (DOT, summaries, saved graphs).
std::vector<Value> make_function_call(const std::vector<Value>& params, const std::vector<Value>& outputs,
                                      uint64_t created_after, const std::vector<Value>& args,
                                      const std::string& function, const std::string& name = "");

// The traced pieces of a function with a custom gradient (R's sym_custom_gradient()).
struct CustomGradientTrace {
  std::vector<Value> params, outputs;  // the function traced on params (after fn_after)
  uint64_t fn_after = 0;
  // The gradient traced on grad_params (one per param), out_params (one per output) and
  // cot_params (one per output) after grad_after: grads holds one value per param, an
  // undefined one meaning zero.
  std::vector<Value> grad_params, out_params, cot_params, grads;
  uint64_t grad_after = 0;
};

// A call node with a "grad" body from such a trace, on `args` (one per param). Values either
// function captures become extra arguments; the gradient gives them zero, so a variable
// (trainable parameter) captured by the function is an `unsupported` error: it must be an
// argument for the gradient to reach it. Each gradient must have its param's type.
std::vector<Value> make_custom_gradient_call(const CustomGradientTrace& t, const std::vector<Value>& args,
                                             const std::string& function, const std::string& name = "");

}  // namespace symnet
