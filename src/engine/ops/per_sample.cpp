// fused_per_sample: a chain of batchwise ops (the graph attribute "body", specialised to a
// small batch: the chunk) run chunk by chunk. Each thread carries a few samples through the
// whole chain in its own scratch memory, so the chain's intermediate values are never held
// for the whole batch: for LeNet inference at batch 1000 the 46 MB output of the first
// convolution becomes a few hundred KB per thread, still in cache when it is pooled.
// Made by the CPU's per-sample fusion (cpu/fuse_per_sample.cpp), run by cpu/per_sample.cpp;
// only forward (inference) chains qualify, since training keeps the intermediates for the
// backward pass. This file holds the op's schema.
#include <algorithm>

#include "engine/base/error.h"
#include "engine/ops/registry.h"

namespace symnet {

namespace {

bool is_source(const Node& n) { return n.op_name() == "input" || n.op_name() == "constant"; }

void validate_body(const Graph& body, size_t n_inputs) {
  SN_CHECK(body.inputs.size() == n_inputs, ErrorKind::attr,
           "'body' has " << body.inputs.size() << " inputs but the node has " << n_inputs);
  SN_CHECK(body.outputs.size() == 1, ErrorKind::attr, "'body' must have one output");
  SN_CHECK(!body.inputs.empty() && body.inputs[0].shape().size() >= 1 && body.inputs[0].shape()[0] >= 1,
           ErrorKind::attr, "the first body input must be a batch (the chunk) of samples");
  for (const NodePtr& n : body.topo_order()) {
    if (is_source(*n)) continue;
    SN_CHECK(n->outputs.size() == 1 && !n->op->has(kRandom), ErrorKind::attr,
             "'body' may only hold deterministic single-output ops, not " << n->describe());
  }
  const Shape& out = body.outputs[0].shape();
  SN_CHECK(!out.empty() && out[0] == body.inputs[0].shape()[0], ErrorKind::attr,
           "the body output must have the batch of its first input");
  // The kernel writes the last step straight into the node's output.
  const Node* result = body.outputs[0].node.get();
  SN_CHECK(!is_source(*result) && body.outputs[0].index == 0, ErrorKind::attr,
           "the body output must be computed by the body");
  for (const NodePtr& n : body.topo_order())
    for (const Value& v : n->inputs)
      SN_CHECK(v.node.get() != result, ErrorKind::attr, "no body node may read the body's output");
}

std::vector<TensorType> per_sample_infer(const InferContext& c) {
  GraphPtr body = c.attrs.get_graph("body");
  SN_CHECK(body != nullptr, ErrorKind::attr, "attribute 'body' is empty");
  validate_body(*body, c.num_inputs());
  const TensorType& x = c.in(0);
  const TensorType& sample = body->inputs[0].type();
  SN_CHECK(x.dtype == sample.dtype && x.shape.size() == sample.shape.size() &&
               std::equal(x.shape.begin() + 1, x.shape.end(), sample.shape.begin() + 1),
           ErrorKind::shape,
           "input 1 has type " << type_str(x) << " but the body takes samples of " << type_str(sample));
  for (size_t i = 1; i < c.num_inputs(); ++i)
    SN_CHECK(c.in(i) == body->inputs[i].type(), ErrorKind::shape,
             "input " << i + 1 << " has type " << type_str(c.in(i)) << " but the body expects "
                      << type_str(body->inputs[i].type()));
  TensorType out = body->outputs[0].type();
  out.shape[0] = x.shape[0];
  return {out};
}

}  // namespace

void register_per_sample_ops(Registry& r) {
  OpSchema f;
  f.name = "fused_per_sample";
  f.min_inputs = 1;
  f.max_inputs = -1;
  f.flags = kPure;  // not batchwise itself: per-sample nodes are never fused again
  f.infer = per_sample_infer;
  f.with_attrs({{"body", AttrKind::graph, true, "the chain, specialised to one chunk of samples"}});
  r.add(f);
}

}  // namespace symnet
