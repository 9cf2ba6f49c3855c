// The export driver: prepares the graph (calls inlined, inference mode, identities
// stripped), names every value, turns inputs into graph inputs, variables and constants
// into initializers and every other node into ONNX nodes through its op's exporter.
#include "engine/io/onnx/onnx_export.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "engine/io/onnx/onnx_export_context.h"
#include "engine/passes/passes.h"

namespace symnet {
namespace onnx {

int elem_type_of(DType t) {
  switch (t) {
    case DType::f32: return kFloat;
    case DType::f64: return kDouble;
    case DType::i32: return kInt32;
    case DType::i64: return kInt64;
    case DType::u8: return kUint8;
    case DType::boolean: return kBool;
    default: break;
  }
  SN_THROW(ErrorKind::unsupported, "ONNX export of " << dtype_name(t) << " values is not supported");
}

// --- builder --------------------------------------------------------------------------

std::string ExportBuilder::fresh(const std::string& base) {
  std::string b = base.empty() ? std::string("value") : base;
  std::string name = b;
  for (int k = 1; shared_->used.count(name); ++k) name = b + "_" + std::to_string(k);
  shared_->used.insert(name);
  return name;
}

std::string ExportBuilder::initializer(const std::string& base, const Tensor& value) {
  TensorData t;
  t.name = fresh(base);
  t.elem_type = elem_type_of(value.dtype());
  t.dims = value.shape();
  t.value = value;
  root_.initializers.push_back(t);
  define(t.name);
  return t.name;
}

std::string ExportBuilder::variable(const VariablePtr& var) {
  auto it = shared_->variables.find(var.get());
  if (it == shared_->variables.end()) it = shared_->variables.emplace(var.get(), initializer(var->name, var->host())).first;
  return it->second;
}

std::string ExportBuilder::ints(const std::string& base, const std::vector<int64_t>& v) {
  Tensor t(DType::i64, {static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) t.ptr<int64_t>()[i] = v[i];
  return initializer(base, t);
}

std::string ExportBuilder::int_scalar(const std::string& base, int64_t v) {
  Tensor t(DType::i64, {});
  t.ptr<int64_t>()[0] = v;
  return initializer(base, t);
}

std::string ExportBuilder::scalar(const std::string& base, double v, DType dtype) {
  return initializer(base, Tensor::scalar(dtype, v));
}

std::string ExportBuilder::node(const std::string& op_type, const std::vector<std::string>& inputs,
                                const std::vector<std::string>& outputs, std::vector<Attribute> attrs) {
  Node n;
  n.op_type = op_type;
  n.name = fresh(outputs.empty() ? op_type : outputs[0] + "/" + op_type);
  n.inputs = inputs;
  // Absent optional inputs at the end are left out, not written as "".
  while (!n.inputs.empty() && n.inputs.back().empty()) n.inputs.pop_back();
  n.outputs = outputs;
  for (const std::string& o : outputs) define(o);
  n.attributes = std::move(attrs);
  graph_.nodes.push_back(std::move(n));
  return outputs.empty() ? std::string() : outputs[0];
}

std::string ExportBuilder::tmp(const std::string& op_type, const std::vector<std::string>& inputs,
                               const std::string& base, std::vector<Attribute> attrs) {
  return node(op_type, inputs, {fresh(base)}, std::move(attrs));
}

Attribute attr_i(const std::string& name, int64_t v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::i;
  a.i_value = v;
  return a;
}
Attribute attr_f(const std::string& name, double v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::f;
  a.f_value = static_cast<float>(v);
  return a;
}
Attribute attr_s(const std::string& name, const std::string& v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::s;
  a.s_value = v;
  return a;
}
Attribute attr_ints(const std::string& name, const std::vector<int64_t>& v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::ints;
  a.ints_value = v;
  return a;
}
Attribute attr_floats(const std::string& name, const std::vector<double>& v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::floats;
  for (double x : v) a.floats_value.push_back(static_cast<float>(x));
  return a;
}
Attribute attr_strings(const std::string& name, const std::vector<std::string>& v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::strings;
  a.strings_value = v;
  return a;
}
Attribute attr_t(const std::string& name, const Tensor& v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::t;
  a.t_value.elem_type = elem_type_of(v.dtype());
  a.t_value.dims = v.shape();
  a.t_value.value = v;
  return a;
}

Attribute attr_g(const std::string& name, std::shared_ptr<GraphDef> g) {
  Attribute a;
  a.name = name;
  a.type = Attribute::g;
  a.g_value = std::move(g);
  return a;
}

void ExportContext::unsupported(const std::string& what) const {
  SN_THROW(ErrorKind::unsupported, "ONNX export of node '" << n.name << "' (op '" << n.op_name() << "', opset "
                                                           << b.opset() << "): " << what);
}

// --- driver -----------------------------------------------------------------------------

namespace {

ValueInfo value_info(const std::string& name, const TensorType& t, bool symbolic_dims) {
  ValueInfo vi;
  vi.name = name;
  vi.kind = "tensor";
  vi.elem_type = elem_type_of(t.dtype);
  vi.has_shape = t.rank_known();
  if (!vi.has_shape) return vi;
  for (size_t d = 0; d < t.shape.size(); ++d) {
    vi.dims.push_back(t.shape[d] >= 0 ? t.shape[d] : -1);
    // Inputs name their unknown dims (the batch "N"), outputs leave them open.
    std::string param;
    if (t.shape[d] < 0 && symbolic_dims) param = d == 0 ? std::string("N") : name + "_dim" + std::to_string(d);
    vi.dim_params.push_back(param);
  }
  return vi;
}

using ValueKey = std::pair<const symnet::Node*, int>;

void check_defined(const ExportBuilder& b, const std::string& name, const Value& v) {
  if (!b.defined(name))
    SN_THROW(ErrorKind::unsupported, "ONNX export: output " << v.index + 1 << " of node '" << v.node->name << "' (op '"
                                                            << v.node->op_name()
                                                            << "') is internal to symnet and has no ONNX equivalent");
}

// Converts every node of g but its inputs (already named in `names`) into b's graph.
void convert_nodes(ExportBuilder& b, const Graph& g, std::map<ValueKey, std::string>& names) {
  const auto uses = count_uses(g);
  const auto& table = op_exporters();
  for (const NodePtr& np : g.topo_order()) {
    const symnet::Node& n = *np;
    const std::string& op = n.op_name();
    if (op == "input") {
      SN_CHECK(names.count({np.get(), 0}), ErrorKind::internal, "ONNX export: input '" << n.name << "' is not bound");
      continue;
    }
    if (op == "variable") {
      names[{np.get(), 0}] = b.variable(n.attrs.get_variable("var"));
      continue;
    }
    if (op == "constant") {
      names[{np.get(), 0}] = b.initializer(n.name, *n.attrs.get_tensor("value"));
      continue;
    }
    for (const TensorType& t : n.outputs) elem_type_of(t.dtype);  // refuses half types up front
    auto conv = table.find(op);
    if (conv == table.end())
      SN_THROW(ErrorKind::unsupported, "ONNX export of node '" << n.name << "': op '" << op
                                                               << "' has no ONNX equivalent that symnet writes");
    ExportContext c{b, n, {}, {}, std::vector<bool>(n.outputs.size(), false)};
    auto u = uses.find(np.get());
    if (u != uses.end())
      for (size_t i = 0; i < n.outputs.size() && i < u->second.size(); ++i) c.used[i] = u->second[i] > 0;
    for (const Value& v : n.inputs) {
      auto it = names.find({v.node.get(), v.index});
      SN_CHECK(it != names.end(), ErrorKind::internal, "ONNX export: an input of '" << n.name << "' has no name");
      check_defined(b, it->second, v);
      c.in.push_back(it->second);
    }
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      auto it = names.find({np.get(), static_cast<int>(i)});
      if (it == names.end())
        it = names.emplace(ValueKey{np.get(), static_cast<int>(i)},
                           b.fresh(n.outputs.size() == 1 ? n.name : n.name + ":" + std::to_string(i)))
                 .first;
      c.out.push_back(it->second);
    }
    conv->second(c);
  }
}

}  // namespace

std::vector<std::string> export_inline(ExportBuilder& b, const Graph& g, const std::vector<std::string>& bound) {
  SN_CHECK(bound.size() == g.inputs.size(), ErrorKind::internal, "ONNX export: a body needs " << g.inputs.size()
                                                                   << " inputs, got " << bound.size());
  std::map<ValueKey, std::string> names;
  for (size_t i = 0; i < g.inputs.size(); ++i) names[{g.inputs[i].node.get(), g.inputs[i].index}] = bound[i];
  convert_nodes(b, g, names);
  std::vector<std::string> out;
  for (const Value& v : g.outputs) {
    out.push_back(names.at({v.node.get(), v.index}));
    check_defined(b, out.back(), v);
  }
  return out;
}

std::shared_ptr<GraphDef> export_body(ExportBuilder& parent, const Graph& body, const std::vector<std::string>& bound,
                                      const std::string& label) {
  auto def = std::make_shared<GraphDef>();
  def->name = parent.fresh(label);
  ExportBuilder b = parent.child(*def);
  std::map<ValueKey, std::string> names;
  for (size_t i = 0; i < body.inputs.size(); ++i) {
    const Value& in = body.inputs[i];
    if (i < bound.size() && !bound[i].empty()) {
      names[{in.node.get(), in.index}] = bound[i];
      continue;
    }
    const std::string name = b.fresh(label + "/in" + std::to_string(i));
    b.define(name);
    names[{in.node.get(), in.index}] = name;
    def->inputs.push_back(value_info(name, in.type(), false));
  }
  // Closed bodies name their own inputs; others (if any) are left for convert_nodes to refuse.
  convert_nodes(b, body, names);
  for (size_t k = 0; k < body.outputs.size(); ++k) {
    const Value& v = body.outputs[k];
    const std::string src = names.at({v.node.get(), v.index});
    check_defined(b, src, v);
    // Every body output is its own name (an input or an outer value read directly is copied).
    const std::string out = b.fresh(label + "/out" + std::to_string(k));
    b.node("Identity", {src}, {out});
    def->outputs.push_back(value_info(out, v.type(), false));
  }
  return def;
}

ModelDef export_model(const Graph& graph_in, const ExportOptions& opt) {
  SN_CHECK(opt.opset >= kMinExportOpset && opt.opset <= kMaxExportOpset, ErrorKind::value,
           "ONNX export writes opsets " << kMinExportOpset << " to " << kMaxExportOpset << ", not " << opt.opset);
  SN_CHECK(!graph_in.outputs.empty(), ErrorKind::value, "the graph to export has no outputs");
  // Inference mode, as a deployed model runs; calls inlined so every node is a plain op.
  Graph g = strip_identities(set_training_mode(inline_calls(graph_in), false));

  ModelDef m;
  m.ir_version = opt.opset >= 15 ? 8 : 7;
  m.opsets[""] = opt.opset;
  m.producer_name = "symnet";
  m.producer_version = opt.producer_version;
  m.graph.name = opt.graph_name.empty() ? std::string("symnet") : opt.graph_name;
  ExportBuilder b(m.graph, opt.opset);

  std::vector<std::string> out_names = opt.output_names;
  if (out_names.empty()) out_names = g.output_names;
  SN_CHECK(out_names.empty() || out_names.size() == g.outputs.size(), ErrorKind::value,
           "the graph has " << g.outputs.size() << " outputs but " << out_names.size() << " output names");
  out_names.resize(g.outputs.size());
  for (size_t k = 0; k < out_names.size(); ++k)
    if (out_names[k].empty()) out_names[k] = "output" + std::to_string(k + 1);

  std::map<ValueKey, std::string> names;
  const std::vector<NodePtr> order = g.topo_order();

  // Graph inputs keep their names; they and the output names are claimed first.
  std::vector<NodePtr> input_nodes;
  for (const Value& v : g.inputs) input_nodes.push_back(v.node);
  for (const NodePtr& n : order)
    if (n->op_name() == "input" && std::find(input_nodes.begin(), input_nodes.end(), n) == input_nodes.end())
      input_nodes.push_back(n);
  for (const NodePtr& n : input_nodes) {
    const std::string name = n->attrs.get_string("name");
    SN_CHECK(!b.taken(name), ErrorKind::value, "two graph inputs are named '" << name << "'");
    b.reserve(name);
    b.define(name);
    names[{n.get(), 0}] = name;
    m.graph.inputs.push_back(value_info(name, n->outputs[0], true));
  }
  for (const std::string& name : out_names) {
    SN_CHECK(!b.taken(name), ErrorKind::value,
             "output name '" << name << "' is used twice (or is also an input's name)");
    b.reserve(name);
  }
  // An output computed by a node takes the output's name; one that is an input, an
  // initializer or another output's value is copied by an Identity.
  std::vector<bool> via_identity(g.outputs.size(), true);
  for (size_t k = 0; k < g.outputs.size(); ++k) {
    const Value& v = g.outputs[k];
    const std::string& op = v.node->op_name();
    if (op == "input" || op == "variable" || op == "constant") continue;
    if (names.count({v.node.get(), v.index})) continue;
    names[{v.node.get(), v.index}] = out_names[k];
    via_identity[k] = false;
  }

  convert_nodes(b, g, names);
  for (size_t k = 0; k < g.outputs.size(); ++k) {
    const Value& v = g.outputs[k];
    check_defined(b, names.at({v.node.get(), v.index}), v);
    if (via_identity[k]) b.node("Identity", {names.at({v.node.get(), v.index})}, {out_names[k]});
    m.graph.outputs.push_back(value_info(out_names[k], v.type(), false));
  }
  return m;
}

}  // namespace onnx
}  // namespace symnet
