// If and Scan onto the engine's cond and scan (passes/lift.h): a branch or step body is
// converted like the main graph, in a scope that sees the enclosing graph's tensors; the
// nodes it creates become the body, the outer values it reads become the node's
// arguments. Loop is not mapped yet (its per-iteration outputs need a trip count known
// at import).
#include "engine/io/onnx/onnx_import_context.h"
#include "engine/passes/lift.h"

namespace symnet {
namespace onnx {

namespace {

const GraphDef& graph_attr(ImportContext& c, const char* name) {
  const Attribute* a = c.attr(name);
  if (!a || a->type != Attribute::g || !a->g_value) c.invalid(std::string("attribute ") + name + " (a graph) is required");
  return *a->g_value;
}

std::vector<Value> if_op(ImportContext& c) {
  Value pred = c.in(0);
  if (!pred.rank_known() || (pred.rank() > 0 && shape_numel(pred.shape()) != 1))
    c.invalid("the condition must hold one element");
  if (pred.rank() > 0) pred = op::reshape(pred, {});
  if (pred.dtype() != DType::boolean) pred = op::cast(pred, DType::boolean);
  const GraphDef& then_g = graph_attr(c, "then_branch");
  const GraphDef& else_g = graph_attr(c, "else_branch");
  const uint64_t then_after = last_node_id();
  std::vector<Value> then_outs = c.subgraph(then_g, {});
  const uint64_t else_after = last_node_id();
  std::vector<Value> else_outs = c.subgraph(else_g, {});
  if (then_outs.size() != else_outs.size()) c.invalid("the branches return different numbers of values");
  return make_cond(pred, then_outs, then_after, else_outs, else_after);
}

// Scan-9 and later: states first, then the scanned inputs; axes and directions must be
// the defaults (0, forward) or all reversed together.
std::vector<Value> scan_op(ImportContext& c) {
  if (c.opset() < 9) c.unsupported("Scan before opset 9 (with a batch axis and sequence_lens) is not supported");
  const GraphDef& body = graph_attr(c, "body");
  const int64_t m = c.attr_int("num_scan_inputs", -1);
  const int64_t n_in = static_cast<int64_t>(c.num_inputs());
  if (m < 1 || m > n_in) c.invalid("num_scan_inputs must be between 1 and the number of inputs");
  const int64_t n_states = n_in - m;
  for (const char* axes : {"scan_input_axes", "scan_output_axes"})
    for (int64_t a : c.attr_ints(axes))
      if (a != 0) c.unsupported(std::string(axes) + " other than 0 are not supported");
  std::vector<int64_t> in_dirs = c.attr_ints("scan_input_directions"), out_dirs = c.attr_ints("scan_output_directions");
  bool reverse = !in_dirs.empty() && in_dirs[0] == 1;
  for (int64_t d : in_dirs)
    if ((d == 1) != reverse) c.unsupported("scan inputs in different directions are not supported");
  for (int64_t d : out_dirs)
    if ((d == 1) != reverse) c.unsupported("scan outputs in another direction than the inputs are not supported");
  std::vector<Value> init, sequences, state_params, slice_params, params;
  for (int64_t i = 0; i < n_states; ++i) init.push_back(c.in(static_cast<size_t>(i)));
  for (int64_t i = n_states; i < n_in; ++i) sequences.push_back(c.in(static_cast<size_t>(i)));
  if (static_cast<int64_t>(body.inputs.size()) != n_in) c.invalid("the body's inputs do not match the node's");
  for (size_t i = 0; i < init.size(); ++i) {
    Value p = op::input("__scan_state_" + body.inputs[i].name, init[i].dtype(), c.static_shape(init[i], "state"));
    state_params.push_back(p);
    params.push_back(p);
  }
  for (size_t i = 0; i < sequences.size(); ++i) {
    Shape s = c.static_shape(sequences[i], "scanned input");
    if (s.empty()) c.invalid("a scanned input must have a sequence axis");
    s.erase(s.begin());
    Value p = op::input("__scan_slice_" + body.inputs[init.size() + i].name, sequences[i].dtype(), s);
    slice_params.push_back(p);
    params.push_back(p);
  }
  const uint64_t created_after = last_node_id();
  std::vector<Value> step = c.subgraph(body, params);
  if (step.size() < init.size()) c.invalid("the body returns fewer values than there are states");
  return make_scan(state_params, slice_params, step, created_after, init, sequences, -1, reverse);
}

}  // namespace

void add_control_converters(ConverterTable& t) {
  t["If"] = if_op;
  t["Scan"] = scan_op;
}

}  // namespace onnx
}  // namespace symnet
