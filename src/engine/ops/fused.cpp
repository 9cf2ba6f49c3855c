// fused_elementwise: a chain of elementwise ops (the graph attribute "body") run in one
// pass over memory. Made by the CPU's fusion (cpu/fuse.cpp), run by cpu/fused.cpp; this
// file holds the op's schema: the body's structure and the types it infers.
#include <unordered_map>
#include <unordered_set>

#include "engine/base/error.h"
#include "engine/ops/registry.h"

namespace symnet {

namespace {

bool is_source(const Node& n) { return n.op_name() == "input" || n.op_name() == "constant"; }

// Checks the body's structure; the fusion invariant on shapes is checked on the types.
void validate_body(const Graph& body, size_t n_inputs) {
  SN_CHECK(body.inputs.size() == n_inputs, ErrorKind::attr,
           "'body' has " << body.inputs.size() << " inputs but the node has " << n_inputs);
  SN_CHECK(!body.outputs.empty(), ErrorKind::attr, "'body' has no outputs");
  std::unordered_set<const Node*> formal;
  for (const Value& v : body.inputs) {
    SN_CHECK(v.defined() && v.node->op_name() == "input", ErrorKind::attr,
             "'body' inputs must be input nodes");
    formal.insert(v.node.get());
  }
  for (const NodePtr& n : body.topo_order()) {
    if (n->op_name() == "input") {
      SN_CHECK(formal.count(n.get()), ErrorKind::attr,
               "'body' uses input '" << n->name << "' that is not among its inputs");
      continue;
    }
    if (n->op_name() == "constant") continue;
    const OpSchema& d = *n->op;
    SN_CHECK(d.has(kElementwise) && !d.has(kRandom) && n->outputs.size() == 1,
             ErrorKind::attr,
             "'body' may only hold deterministic single-output elementwise ops, not " << n->describe());
  }
}

Graph respecialize(const Graph& body, const std::vector<TensorType>& types) {
  std::unordered_map<const Node*, Value> formal;
  for (size_t i = 0; i < body.inputs.size(); ++i) {
    const Node& in = *body.inputs[i].node;
    AttrMap attrs = in.attrs;
    attrs.set("shape", types[i].shape);
    formal[&in] = make_node("input", {}, std::move(attrs), in.name).at(0);
  }
  try {
    return rewrite_graph(body, [&](const Node& n, const std::vector<Value>&) -> std::vector<Value> {
      auto it = formal.find(&n);
      if (it != formal.end()) return {it->second};
      return {};
    });
  } catch (const Error& e) {
    SN_THROW(ErrorKind::shape, "the body cannot take these input shapes: " << e.what());
  }
}

std::vector<TensorType> fused_infer(const InferContext& c) {
  GraphPtr body = c.attrs.get_graph("body");
  SN_CHECK(body != nullptr, ErrorKind::attr, "attribute 'body' is empty");
  validate_body(*body, c.num_inputs());
  bool same = true;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    const TensorType& declared = body->inputs[i].type();
    SN_CHECK(declared.dtype == c.in(i).dtype, ErrorKind::dtype,
             "input " << i + 1 << " is " << dtype_name(c.in(i).dtype) << " but the body expects "
                      << dtype_name(declared.dtype));
    same = same && declared == c.in(i);
  }
  // Other input shapes (a body declared for one batch size, run at another): re-infer the
  // body on them; the element-count checks below decide whether they still fit.
  Graph g = same ? *body : respecialize(*body, c.inputs);
  std::vector<TensorType> outs;
  for (const Value& v : g.outputs) outs.push_back(v.type());
  const Shape& full = outs[0].shape;
  int64_t n = shape_numel(full);
  for (const TensorType& t : outs)
    SN_CHECK(t.shape == full, ErrorKind::shape,
             "all outputs of the body must have one shape, got " << shape_str(full) << " and "
                                                                 << shape_str(t.shape));
  auto fits = [&](const Shape& s, bool allow_scalar) {
    int64_t m = shape_numel(s);
    return m < 0 || n < 0 || m == n || (allow_scalar && m == 1);
  };
  for (const NodePtr& node : g.topo_order()) {
    for (const TensorType& t : node->outputs)
      SN_CHECK(fits(t.shape, is_source(*node)), ErrorKind::shape,
               "every body value must have " << n << " elements (or 1 for inputs), but "
                                             << node->describe() << " has shape " << shape_str(t.shape));
  }
  return outs;
}

}  // namespace

void register_fused_ops(Registry& r) {
  OpSchema f;
  f.name = "fused_elementwise";
  f.min_inputs = 0;
  f.max_inputs = -1;
  f.flags = kPure;  // not kElementwise: fused nodes are never fused again
  f.infer = fused_infer;
  f.with_attrs({{"body", AttrKind::graph, true, "the fused elementwise graph"}});
  r.add(f);
}

}  // namespace symnet
