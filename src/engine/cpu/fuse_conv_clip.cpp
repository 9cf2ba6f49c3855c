// Convolution epilogues: a relu or clip (ReLU6) whose input is a convolution read by
// nothing else becomes one conv_clip node (ops/conv.cpp), so the activation costs no
// kernel of its own, and none of the elementwise groups around it (a lone activation
// between two convolutions has no elementwise neighbour to fuse with: MobileNet's ReLU6s).
// With batch norms folded into the convolutions (passes/fold_batch_norm.cpp), conv ->
// batch norm -> ReLU6 is then one node. Clips in a row after a convolution join it too.
#include <algorithm>
#include <cmath>

#include "engine/ops/registry.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/passes/passes.h"

namespace symnet {

namespace {

bool epilogue_dtype(DType t) { return t == DType::f32 || t == DType::f64; }

struct Bounds {
  double lo = -INFINITY, hi = INFINITY;
};

// The interval a relu or clip node clamps to.
Bounds bounds_of(const Node& n) {
  if (n.op_name() == "relu") return {0.0, INFINITY};
  Bounds b;
  if (n.attrs.has("min")) b.lo = n.attrs.get_float("min");
  if (n.attrs.has("max")) b.hi = n.attrs.get_float("max");
  return b;
}

}  // namespace

Graph fuse_conv_clip(const Graph& g) {
  const auto uses = count_uses(g);
  return rewrite_graph(g, [&](const Node& n, const std::vector<Value>& ins) -> std::vector<Value> {
    const std::string& op = n.op_name();
    if ((op != "clip" && op != "relu") || n.outputs.size() != 1 || !epilogue_dtype(n.outputs[0].dtype)) return {};
    const Value& x = n.inputs[0];
    if (x.index != 0 || x.type() != n.outputs[0]) return {};
    auto it = uses.find(x.node.get());
    if (it == uses.end() || it->second.at(0) != 1) return {};  // the unbounded value is needed elsewhere
    const Node& producer = *ins[0].node;  // rebuilt: a conv, or a conv_clip made of the clip before
    Bounds b = bounds_of(n);
    if (producer.op_name() == "conv_clip") {
      // clip(clip(conv)), as importers write a clip with two bounds (ONNX Clip -> min, then
      // max): one clamp to the intersection, which is the same function when it is not empty.
      const double lo = producer.attrs.has("clip_min") ? producer.attrs.get_float("clip_min") : -INFINITY;
      const double hi = producer.attrs.has("clip_max") ? producer.attrs.get_float("clip_max") : INFINITY;
      if (std::max(lo, b.lo) > std::min(hi, b.hi)) return {};
      b = {std::max(lo, b.lo), std::min(hi, b.hi)};
    } else if (x.node->op_name() != "conv") {
      return {};
    }
    AttrMap a = producer.attrs;
    if (b.lo != -INFINITY) a.set("clip_min", b.lo);
    if (b.hi != INFINITY) a.set("clip_max", b.hi);
    return make_node("conv_clip", producer.inputs, a, producer.name);
  });
}

}  // namespace symnet
