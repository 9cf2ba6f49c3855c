// Convolution epilogues: a relu or clip (ReLU6) whose input is a convolution read by
// nothing else becomes one conv_clip node (ops/conv.cpp), so the activation costs no
// kernel of its own, and none of the elementwise groups around it (a lone activation
// between two convolutions has no elementwise neighbour to fuse with: MobileNet's ReLU6s).
// With batch norms folded into the convolutions (passes/fold_batch_norm.cpp), conv ->
// batch norm -> ReLU6 is then one node.
#include "engine/ops/registry.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/passes/passes.h"

namespace symnet {

namespace {

bool epilogue_dtype(DType t) { return t == DType::f32 || t == DType::f64; }

}  // namespace

Graph fuse_conv_clip(const Graph& g) {
  const auto uses = count_uses(g);
  return rewrite_graph(g, [&](const Node& n, const std::vector<Value>& ins) -> std::vector<Value> {
    const std::string& op = n.op_name();
    if ((op != "clip" && op != "relu") || n.outputs.size() != 1 || !epilogue_dtype(n.outputs[0].dtype)) return {};
    const Value& x = n.inputs[0];
    if (x.index != 0 || x.node->op_name() != "conv" || x.type() != n.outputs[0]) return {};
    auto it = uses.find(x.node.get());
    if (it == uses.end() || it->second.at(0) != 1) return {};  // the unbounded value is needed elsewhere
    const Node& conv = *ins[0].node;  // rebuilt
    AttrMap a = conv.attrs;
    if (op == "relu") {
      a.set("clip_min", 0.0);
    } else {
      if (n.attrs.has("min")) a.set("clip_min", n.attrs.get_float("min"));
      if (n.attrs.has("max")) a.set("clip_max", n.attrs.get_float("max"));
    }
    return make_node("conv_clip", conv.inputs, a, conv.name);
  });
}

}  // namespace symnet
