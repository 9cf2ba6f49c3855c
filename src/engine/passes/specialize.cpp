// Compile-time specialization: graph inputs get the concrete types of the feeds and every
// downstream node is re-created, so unknown dimensions resolve and mismatches surface
// at the node that cannot accept them.
#include <unordered_map>

#include "engine/base/error.h"
#include "engine/ops/registry.h"
#include "engine/passes/passes.h"

namespace symnet {

namespace {

void check_fits(const Node& in, const TensorType& declared, const TensorType& given) {
  const std::string& name = in.attrs.get_string("name", in.name);
  SN_CHECK(given.dtype == declared.dtype, ErrorKind::feed,
           "input '" << name << "' is declared " << dtype_name(declared.dtype) << " but was given "
                     << dtype_name(given.dtype));
  SN_CHECK(given.rank_known(), ErrorKind::feed, "input '" << name << "' was given a value of unknown rank");
  SN_CHECK(static_cast<int64_t>(given.shape.size()) <= kMaxRank, ErrorKind::feed,
           "input '" << name << "' was given a value of rank " << given.shape.size() << "; at most " << kMaxRank
                     << " is supported");
  // Declared without a shape: any rank and any dimensions fit.
  bool ok = declared.unknown_rank || given.shape.size() == declared.shape.size();
  for (size_t d = 0; ok && !declared.unknown_rank && d < given.shape.size(); ++d) {
    int64_t a = declared.shape[d], b = given.shape[d];
    ok = b >= -1 && (a < 0 || b < 0 || a == b);
  }
  SN_CHECK(ok, ErrorKind::feed,
           "input '" << name << "' is declared with shape " << shape_str(declared.shape)
                     << " but was given shape " << shape_str(given.shape));
}

}  // namespace

Graph specialize(const Graph& g, const std::vector<TensorType>& input_types) {
  SN_CHECK(input_types.size() == g.inputs.size(), ErrorKind::feed,
           "the graph has " << g.inputs.size() << " inputs but " << input_types.size()
                            << " input types were given");
  std::unordered_map<const Node*, Value> replaced;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const Node& in = *g.inputs[i].node;
    SN_CHECK(in.op_name() == "input", ErrorKind::internal,
             "graph input " << i + 1 << " is " << in.describe() << ", not an input node");
    check_fits(in, in.outputs.at(0), input_types[i]);
    if (in.outputs[0] == input_types[i]) continue;
    AttrMap attrs = in.attrs;
    attrs.set("shape", input_types[i].shape);
    attrs.set("dtype", std::string(dtype_name(input_types[i].dtype)));
    replaced[&in] = make_node("input", {}, std::move(attrs), in.name).at(0);
  }
  return rewrite_graph(g, [&](const Node& n, const std::vector<Value>&) -> std::vector<Value> {
    auto it = replaced.find(&n);
    if (it != replaced.end()) return {it->second};
    return {};  // remade (and so re-inferred) whenever an input changed
  });
}

}  // namespace symnet
