// The import driver: environment of named tensors, nodes in file order through their
// converters, constant folding of what is known at import time (shape chains such as
// Shape -> Gather -> Concat -> Reshape become constants, so "dynamic" reshapes of a model
// with known input shapes import as static ones).
#include "engine/io/onnx/onnx_import.h"

#include <cstring>
#include <set>
#include <sstream>

#include "engine/exec/executable.h"
#include "engine/io/onnx/onnx_import_context.h"

namespace symnet {
namespace onnx {

// --- ImportContext ------------------------------------------------------------------------

Entry& ImportContext::entry(size_t i) {
  if (!has(i)) invalid("input " + std::to_string(i + 1) + " is required but missing");
  Entry* e = env_.find(node_.inputs[i]);
  if (!e)
    invalid("reads '" + node_.inputs[i] +
            "', which no earlier node, graph input or initializer defines (ONNX nodes must be in topological order)");
  return *e;
}

Value ImportContext::in(size_t i) {
  Entry& e = entry(i);
  if (e.value.defined()) return e.value;
  // An initializer read as data: floating-point ones are parameters (trainable unless
  // they are running statistics), others constants.
  if (e.initializer && is_float(e.known.dtype())) {
    VariablePtr v = Variable::create(node_.inputs[i], e.known.clone());
    v->trainable = !e.running_state;
    variables_.push_back(v);
    e.value = op::variable(v);
  } else {
    e.value = op::constant(e.known, node_.inputs[i]);
  }
  return e.value;
}

bool ImportContext::is_known(size_t i) const {
  if (!has(i)) return false;
  Entry* e = env_.find(node_.inputs[i]);
  return e && e->known.defined();
}

const Tensor& ImportContext::known(size_t i, const char* what) {
  Entry& e = entry(i);
  if (!e.known.defined())
    unsupported(std::string("its ") + what + " ('" + node_.inputs[i] +
                "') must be known when the model is imported (a constant, an initializer, or computed from "
                "them and from static shapes); bind the graph input it comes from at import");
  return e.known;
}

std::vector<int64_t> ImportContext::known_ints(size_t i, const char* what) {
  const Tensor& t = known(i, what);
  if (is_float(t.dtype())) invalid(std::string(what) + " must hold integers");
  // Read as integers, not through double: INT64_MAX (Slice's "to the end") is not a double.
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  for (int64_t k = 0; k < t.numel(); ++k) {
    int64_t v;
    switch (t.dtype()) {
      case DType::i64: v = t.ptr<int64_t>()[k]; break;
      case DType::i32: v = t.ptr<int32_t>()[k]; break;
      case DType::u8: v = t.ptr<uint8_t>()[k]; break;
      case DType::boolean: v = t.ptr<bool>()[k] ? 1 : 0; break;
      default: v = static_cast<int64_t>(t.get_as_double(k));
    }
    out[static_cast<size_t>(k)] = v;
  }
  return out;
}

std::vector<double> ImportContext::known_doubles(size_t i, const char* what) {
  const Tensor& t = known(i, what);
  std::vector<double> out(static_cast<size_t>(t.numel()));
  for (int64_t k = 0; k < t.numel(); ++k) out[static_cast<size_t>(k)] = t.get_as_double(k);
  return out;
}

int ImportContext::declared_type(size_t i) const {
  if (!has(i)) return kUndefined;
  Entry* e = env_.find(node_.inputs[i]);
  return e ? e->declared : kUndefined;
}

void ImportContext::mark_running_state(size_t i) {
  if (!has(i)) return;
  Entry* e = env_.find(node_.inputs[i]);
  if (e && e->initializer && !e->value.defined()) e->running_state = true;
}

namespace {
const Attribute* typed(const Node& n, const std::string& name, int type, const char* want) {
  const Attribute* a = n.attr(name);
  if (!a) return nullptr;
  if (a->type != type)
    SN_THROW(ErrorKind::value, "ONNX node '" << (n.name.empty() ? n.op_type : n.name) << "' (" << n.op_type
                                             << "): attribute '" << name << "' is " << attribute_type_name(a->type)
                                             << ", expected " << want);
  return a;
}
}  // namespace

int64_t ImportContext::attr_int(const std::string& name, int64_t def) const {
  const Attribute* a = typed(node_, name, Attribute::i, "int");
  return a ? a->i_value : def;
}
double ImportContext::attr_float(const std::string& name, double def) const {
  const Attribute* a = typed(node_, name, Attribute::f, "float");
  return a ? a->f_value : def;
}
std::string ImportContext::attr_string(const std::string& name, const std::string& def) const {
  const Attribute* a = typed(node_, name, Attribute::s, "string");
  return a ? a->s_value : def;
}
std::vector<int64_t> ImportContext::attr_ints(const std::string& name, std::vector<int64_t> def) const {
  const Attribute* a = typed(node_, name, Attribute::ints, "ints");
  return a ? a->ints_value : def;
}
std::vector<double> ImportContext::attr_floats(const std::string& name, std::vector<double> def) const {
  const Attribute* a = typed(node_, name, Attribute::floats, "floats");
  if (!a) return def;
  return std::vector<double>(a->floats_value.begin(), a->floats_value.end());
}

void ImportContext::unsupported(const std::string& what) const {
  SN_THROW(ErrorKind::unsupported, "ONNX node '" << label() << "' (" << node_.op_type << ", opset " << opset_ << "): "
                                                 << what);
}
void ImportContext::invalid(const std::string& what) const {
  SN_THROW(ErrorKind::value, "ONNX node '" << label() << "' (" << node_.op_type << "): " << what);
}

const Shape& ImportContext::static_shape(const Value& v, const char* what) const {
  if (!v.type().known())
    unsupported(std::string("the shape of its ") + what + " must be known when the model is imported, not " +
                type_str(v.type()));
  return v.shape();
}

void convert_nodes(const std::vector<Node>& nodes, Scope& env, int64_t opset, std::vector<VariablePtr>& variables,
                   std::map<std::string, Value>* values);

std::vector<Value> ImportContext::subgraph(const GraphDef& g, const std::vector<Value>& inputs) {
  if (inputs.size() != g.inputs.size())
    invalid("its subgraph '" + g.name + "' declares " + std::to_string(g.inputs.size()) + " inputs, not " +
            std::to_string(inputs.size()));
  Scope child(&env_);
  for (const TensorData& t : g.initializers) {
    Entry e;
    e.known = t.value;
    e.initializer = true;
    e.declared = t.elem_type;
    child.set(t.name, e);
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    Entry e;
    e.value = inputs[i];
    e.declared = g.inputs[i].elem_type;
    child.set(g.inputs[i].name, e);
  }
  convert_nodes(g.nodes, child, opset_, variables_, nullptr);
  std::vector<Value> outs;
  for (const ValueInfo& vi : g.outputs) {
    Entry* e = child.find(vi.name);
    if (!e) invalid("its subgraph '" + g.name + "' has output '" + vi.name + "', which nothing computes");
    if (!e->value.defined()) e->value = op::constant(e->known, vi.name);
    outs.push_back(e->value);
  }
  return outs;
}

DType dtype_of_elem(int elem_type, const ImportContext& ctx) {
  switch (elem_type) {
    case kFloat: case kFloat16: case kBfloat16: return DType::f32;
    case kDouble: return DType::f64;
    case kInt32: case kInt8: case kInt16: case kUint16: return DType::i32;
    case kInt64: case kUint32: case kUint64: return DType::i64;
    case kUint8: return DType::u8;
    case kBool: return DType::boolean;
    default: break;
  }
  ctx.unsupported(std::string("element type ") + elem_type_name(elem_type) + " is not one symnet computes in");
}

Value int_constant(const std::vector<int64_t>& v) {
  Tensor t(DType::i64, {static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) t.ptr<int64_t>()[i] = v[i];
  return op::constant(t);
}

int64_t norm_axis(int64_t axis, int64_t rank, const ImportContext& ctx) {
  if (axis < -rank || axis >= rank)
    ctx.invalid("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

// --- driver -----------------------------------------------------------------------------------

namespace {

const ConverterTable& converters() {
  static const ConverterTable table = [] {
    ConverterTable t;
    add_math_converters(t);
    add_nn_converters(t);
    add_tensor_converters(t);
    add_extra_converters(t);
    add_resize_converters(t);
    add_control_converters(t);
    return t;
  }();
  return table;
}

// Ops whose outputs are not a function of their inputs alone.
bool foldable(const std::string& op_type) {
  static const std::set<std::string> never = {"RandomNormal", "RandomUniform", "RandomNormalLike",
                                              "RandomUniformLike", "Bernoulli", "Multinomial", "Dropout"};
  return !never.count(op_type);
}

Tensor evaluate(const Value& v) {
  Graph g = Graph::from_outputs({v});
  std::unique_ptr<Executable> ex = Executable::compile(g, {}, CompileOptions{});
  ex->run({});
  const TensorView out = ex->output(0);
  Tensor t(out.dtype, out.shape);
  if (t.bytes()) std::memcpy(t.data(), out.data, t.bytes());
  return t;
}

// Above this many elements a foldable result stays a computation (a constant would only
// duplicate what its inputs already hold).
constexpr int64_t kFoldLimit = 1 << 16;

Value make_input(const ValueInfo& vi, const ImportOptions& opt) {
  if (vi.kind != "tensor")
    SN_THROW(ErrorKind::unsupported, "graph input '" << vi.name << "' is a "
                                                     << (vi.kind.empty() ? std::string("value of no declared type") : vi.kind)
                                                     << "; symnet imports tensor inputs only");
  // Types symnet does not compute in are widened exactly as tensors read from the file
  // are (onnx_model.h): float16/bfloat16 compute in float32, narrow integers in int32/int64.
  DType dt;
  switch (vi.elem_type) {
    case kFloat: case kFloat16: case kBfloat16: dt = DType::f32; break;
    case kDouble: dt = DType::f64; break;
    case kInt32: case kInt8: case kInt16: case kUint16: dt = DType::i32; break;
    case kInt64: case kUint32: case kUint64: dt = DType::i64; break;
    case kUint8: dt = DType::u8; break;
    case kBool: dt = DType::boolean; break;
    default:
      SN_THROW(ErrorKind::unsupported, "graph input '" << vi.name << "' has element type "
                                                       << elem_type_name(vi.elem_type)
                                                       << ", which symnet does not compute in");
  }
  auto it = opt.input_shapes.find(vi.name);
  if (it != opt.input_shapes.end()) return op::input(vi.name, dt, it->second);
  if (!vi.has_shape) {
    Value v = op::apply("input", {}, {{"name", vi.name}, {"dtype", std::string(dtype_name(dt))}});
    return v;
  }
  Shape s;
  for (int64_t d : vi.dims) s.push_back(d >= 0 ? d : kUnknownDim);
  if (opt.free_batch && !s.empty()) s[0] = kUnknownDim;
  return op::input(vi.name, dt, s);
}

}  // namespace

void convert_nodes(const std::vector<Node>& nodes, Scope& env, int64_t opset, std::vector<VariablePtr>& variables,
                   std::map<std::string, Value>* values) {
  const ConverterTable& table = converters();
  for (const Node& n : nodes) {
    const std::string label = n.name.empty() ? n.op_type : n.name;
    if (!n.domain.empty() && n.domain != "ai.onnx")
      SN_THROW(ErrorKind::unsupported, "ONNX node '" << label << "' uses operator " << n.domain << "." << n.op_type
                                                     << ", outside the standard ai.onnx domain");
    auto conv = table.find(n.op_type);
    if (conv == table.end())
      SN_THROW(ErrorKind::unsupported, "ONNX operator '" << n.op_type << "' (node '" << label << "', opset "
                                                         << opset << ") is not supported by symnet");
    ImportContext ctx(n, opset, env, variables);
    std::vector<Value> outs;
    try {
      outs = conv->second(ctx);
    } catch (const Error& e) {
      const std::string msg = e.what();
      if (msg.rfind("ONNX node", 0) == 0) throw;
      throw Error(e.kind(), "ONNX node '" + label + "' (" + n.op_type + "): " + msg, e.op(), e.node());
    }
    bool all_known = foldable(n.op_type);
    for (size_t i = 0; i < n.inputs.size() && all_known; ++i)
      if (!n.inputs[i].empty()) all_known = ctx.is_known(i);
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      const std::string& name = n.outputs[i];
      if (name.empty()) continue;
      if (i >= outs.size() || !outs[i].defined()) {
        // An optional output symnet does not compute: only an error if something reads it.
        env.erase(name);
        continue;
      }
      Entry e;
      e.value = outs[i];
      if (e.value.node->op_name() == "constant") {
        // Computed at import by the converter (Shape of a static shape, Constant).
        e.known = *e.value.node->attrs.get_tensor("value");
      } else if (all_known && e.value.type().known() && shape_numel(e.value.shape()) <= kFoldLimit) {
        e.known = evaluate(e.value);
        e.value = op::constant(e.known, name);
      }
      env.set(name, e);
      if (values) (*values)[name] = e.value;
    }
  }
}

std::vector<std::string> supported_op_types() {
  std::vector<std::string> out;
  for (const auto& kv : converters()) out.push_back(kv.first);
  return out;
}

ImportedModel import_model(const ModelDef& m, const ImportOptions& opt) {
  ImportedModel out;
  out.opset = m.opsets.count("") ? m.opsets.at("") : 1;
  SN_CHECK(out.opset >= 1 && out.opset <= 21, ErrorKind::unsupported,
           "the model imports ONNX opset " << out.opset << "; symnet reads opsets 1 to 21");
  const GraphDef& g = m.graph;
  Scope env;
  std::set<std::string> init_names;
  for (const TensorData& t : g.initializers) {
    SN_CHECK(!t.name.empty(), ErrorKind::value, "an initializer has no name");
    SN_CHECK(!init_names.count(t.name), ErrorKind::value, "two initializers are named '" << t.name << "'");
    init_names.insert(t.name);
    Entry e;
    e.known = t.value;
    e.initializer = true;
    e.declared = t.elem_type;
    env.set(t.name, e);
  }
  for (const ValueInfo& vi : g.inputs) {
    auto bound = opt.bound_inputs.find(vi.name);
    if (bound != opt.bound_inputs.end()) {
      Entry e;
      e.known = bound->second;
      e.value = op::constant(bound->second, vi.name);
      env.set(vi.name, e);
      continue;
    }
    // Before IR version 4 initializers were listed as inputs too (with a default value).
    if (init_names.count(vi.name) && !opt.input_shapes.count(vi.name)) continue;
    Entry e;
    e.value = make_input(vi, opt);
    e.declared = vi.elem_type;
    env.set(vi.name, e);
    out.input_names.push_back(vi.name);
    out.inputs.push_back(e.value);
  }
  for (const auto& kv : opt.bound_inputs) {
    bool found = false;
    for (const ValueInfo& vi : g.inputs) found = found || vi.name == kv.first;
    SN_CHECK(found, ErrorKind::value, "'" << kv.first << "' is not an input of the model");
  }

  convert_nodes(g.nodes, env, out.opset, out.variables, &out.values);
  for (const ValueInfo& vi : g.outputs) {
    Entry* found = env.find(vi.name);
    SN_CHECK(found, ErrorKind::value,
             "graph output '" << vi.name << "' is computed by no node (or by an optional output symnet does not compute)");
    Entry& e = *found;
    if (!e.value.defined()) e.value = op::constant(e.known, vi.name);
    out.output_names.push_back(vi.name);
    out.outputs.push_back(e.value);
  }
  SN_CHECK(!out.outputs.empty(), ErrorKind::value, "the model's graph has no outputs");
  for (const auto& kv : env.local())
    if (kv.second.value.defined() && !out.values.count(kv.first)) out.values[kv.first] = kv.second.value;
  return out;
}

}  // namespace onnx
}  // namespace symnet
