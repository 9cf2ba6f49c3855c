#include "engine/ir/json.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <unordered_map>

#include "engine/base/error.h"
#include "engine/base/json_value.h"
#include "engine/base/numtext.h"
#include "engine/ir/op_schema.h"

namespace symnet {

namespace {

constexpr const char* kFormat = "symnet-graph";
constexpr int64_t kVersion = 1;
constexpr int64_t kMaxElements = int64_t{1} << 40;
// Default allowance for zero-filled variables: bytes per byte of JSON text.
constexpr int64_t kUnfilledBytesPerByte = 64;

bool little_endian() {
  const uint16_t one = 1;
  unsigned char b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

void swap_elements(unsigned char* p, size_t n_bytes, size_t es) {
  for (size_t i = 0; i + es <= n_bytes; i += es)
    for (size_t a = 0, b = es - 1; a < b; ++a, --b) std::swap(p[i + a], p[i + b]);
}

// ---- base64 -------------------------------------------------------------------------------

const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(const unsigned char* p, size_t n) {
  std::string o;
  o.reserve((n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = static_cast<uint32_t>(p[i]) << 16;
    if (i + 1 < n) v |= static_cast<uint32_t>(p[i + 1]) << 8;
    if (i + 2 < n) v |= p[i + 2];
    o += kB64[(v >> 18) & 63];
    o += kB64[(v >> 12) & 63];
    o += i + 1 < n ? kB64[(v >> 6) & 63] : '=';
    o += i + 2 < n ? kB64[v & 63] : '=';
  }
  return o;
}

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::vector<unsigned char> base64_decode(const std::string& s) {
  SN_CHECK(s.size() % 4 == 0, ErrorKind::value, "base64 data has a length that is not a multiple of 4");
  std::vector<unsigned char> o;
  o.reserve(s.size() / 4 * 3);
  for (size_t i = 0; i < s.size(); i += 4) {
    bool last = i + 4 == s.size();
    int pad = 0;
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      char c = s[i + k];
      int d;
      if (c == '=' && last && k >= 2 && (k == 3 || s[i + 3] == '=')) {
        d = 0;
        ++pad;
      } else {
        d = b64_value(c);
        SN_CHECK(d >= 0 && pad == 0, ErrorKind::value, "invalid base64 character at offset " << i + k);
      }
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    o.push_back(static_cast<unsigned char>(v >> 16));
    if (pad < 2) o.push_back(static_cast<unsigned char>(v >> 8));
    if (pad < 1) o.push_back(static_cast<unsigned char>(v));
  }
  return o;
}

// ---- writer -------------------------------------------------------------------------------

void write_string(std::string& o, const std::string& s) {
  o += '"';
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"') o += "\\\"";
    else if (c == '\\') o += "\\\\";
    else if (c == '\n') o += "\\n";
    else if (c == '\t') o += "\\t";
    else if (c == '\r') o += "\\r";
    else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      o += buf;
    } else {
      o += c;
    }
  }
  o += '"';
}

void write_double(std::string& o, double v) {
  if (std::isnan(v)) { o += "\"nan\""; return; }
  if (std::isinf(v)) { o += v > 0 ? "\"inf\"" : "\"-inf\""; return; }
  char buf[64];
  char* end = format_double(buf, buf + sizeof buf, v);  // shortest text that reads back exactly
  SN_CHECK(end != nullptr, ErrorKind::internal, "cannot write the number " << v);
  o.append(buf, end);
}

void write_int(std::string& o, int64_t v) { o += std::to_string(v); }

template <typename T, typename F>
void write_array(std::string& o, const std::vector<T>& v, F&& each) {
  o += '[';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) o += ", ";
    each(v[i]);
  }
  o += ']';
}

void write_tensor_fields(std::string& o, DType dt, const Shape& shape, const Tensor* data) {
  o += "\"dtype\": ";
  write_string(o, dtype_name(dt));
  o += ", \"shape\": ";
  write_array(o, shape, [&](int64_t d) { write_int(o, d); });
  if (data) {
    o += ", \"data\": ";
    const auto* p = static_cast<const unsigned char*>(data->data());
    if (little_endian()) {
      o += '"' + base64_encode(p, data->bytes()) + '"';
    } else {
      std::vector<unsigned char> tmp(p, p + data->bytes());
      swap_elements(tmp.data(), tmp.size(), dtype_size(dt));
      o += '"' + base64_encode(tmp.data(), tmp.size()) + '"';
    }
  }
}

struct Writer {
  bool values;
  std::vector<VariablePtr> vars;
  std::unordered_map<const Variable*, size_t> var_index;

  void attr(std::string& o, const Attr& a) {
    o += "{\"type\": ";
    write_string(o, attr_type_name(a));
    o += ", \"value\": ";
    std::visit(
        [&](const auto& v) {
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<V, int64_t>) {
            write_int(o, v);
          } else if constexpr (std::is_same_v<V, double>) {
            write_double(o, v);
          } else if constexpr (std::is_same_v<V, std::string>) {
            write_string(o, v);
          } else if constexpr (std::is_same_v<V, std::vector<int64_t>>) {
            write_array(o, v, [&](int64_t x) { write_int(o, x); });
          } else if constexpr (std::is_same_v<V, std::vector<double>>) {
            write_array(o, v, [&](double x) { write_double(o, x); });
          } else if constexpr (std::is_same_v<V, std::vector<std::string>>) {
            write_array(o, v, [&](const std::string& x) { write_string(o, x); });
          } else if constexpr (std::is_same_v<V, TensorPtr>) {
            SN_CHECK(v && v->defined(), ErrorKind::value, "cannot write an empty tensor attribute");
            o += '{';
            write_tensor_fields(o, v->dtype(), v->shape(), v.get());
            o += '}';
          } else if constexpr (std::is_same_v<V, GraphPtr>) {
            SN_CHECK(v != nullptr, ErrorKind::value, "cannot write an empty graph attribute");
            graph(o, *v);
          } else {
            SN_CHECK(v != nullptr, ErrorKind::value, "cannot write an empty variable attribute");
            auto it = var_index.find(v.get());
            if (it == var_index.end()) {
              it = var_index.emplace(v.get(), vars.size()).first;
              vars.push_back(v);
            }
            write_int(o, static_cast<int64_t>(it->second));
          }
        },
        a);
    o += '}';
  }

  // The graph fields, as one object ("{...}").
  void graph(std::string& o, const Graph& g, const std::string& prefix = "",
             std::vector<NodePtr>* order_out = nullptr) {
    std::vector<NodePtr> order = g.topo_order();
    if (order_out) *order_out = order;
    std::unordered_map<const Node*, size_t> id;
    for (size_t i = 0; i < order.size(); ++i) id[order[i].get()] = i;
    auto ref = [&](const Value& v) {
      SN_CHECK(v.defined(), ErrorKind::value, "cannot write an undefined value");
      o += '[';
      write_int(o, static_cast<int64_t>(id.at(v.node.get())));
      o += ", ";
      write_int(o, v.index);
      o += ']';
    };
    o += "{" + prefix + "\"nodes\": [";
    for (size_t i = 0; i < order.size(); ++i) {
      const Node& n = *order[i];
      o += i ? ",\n  " : "\n  ";
      o += "{\"id\": ";
      write_int(o, static_cast<int64_t>(i));
      o += ", \"op\": ";
      write_string(o, n.op_name());
      o += ", \"name\": ";
      write_string(o, n.name);
      o += ", \"attrs\": {";
      bool first = true;
      for (const auto& [k, a] : n.attrs.items()) {
        if (!first) o += ", ";
        first = false;
        write_string(o, k);
        o += ": ";
        attr(o, a);
      }
      o += "}, \"inputs\": ";
      write_array(o, n.inputs, ref);
      o += '}';
    }
    o += "],\n\"inputs\": ";
    write_array(o, g.inputs, ref);
    o += ", \"outputs\": ";
    write_array(o, g.outputs, ref);
    o += ", \"output_names\": ";
    write_array(o, g.output_names, [&](const std::string& s) { write_string(o, s); });
    o += '}';
  }
};

using JValue = json::Value;

// ---- JSON -> graph ------------------------------------------------------------------------

[[noreturn]] void bad(const std::string& msg) { throw Error(ErrorKind::value, msg); }

const JValue& field(const JValue& obj, const char* key, JValue::Kind kind, const char* what) {
  if (obj.kind != JValue::object) bad(std::string(what) + " must be an object");
  const JValue* v = obj.find(key);
  if (!v) bad(std::string(what) + " has no \"" + key + "\"");
  if (v->kind != kind) bad(std::string(what) + ": \"" + key + "\" has the wrong JSON type");
  return *v;
}

int64_t as_int(const JValue& v, const std::string& what) {
  if (v.kind != JValue::number || !v.is_int) bad(what + " must be an integer");
  return v.i;
}

double as_double(const JValue& v, const std::string& what) {
  if (v.kind == JValue::number) return v.d;
  if (v.kind == JValue::string) {
    if (v.s == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (v.s == "inf") return HUGE_VAL;
    if (v.s == "-inf") return -HUGE_VAL;
  }
  bad(what + " must be a number");
}

const std::string& as_string(const JValue& v, const std::string& what) {
  if (v.kind != JValue::string) bad(what + " must be a string");
  return v.s;
}

const std::vector<JValue>& as_array(const JValue& v, const std::string& what) {
  if (v.kind != JValue::array) bad(what + " must be an array");
  return v.items;
}

Shape read_shape(const JValue& v, const std::string& what, int64_t* numel) {
  Shape s;
  int64_t n = 1;
  for (const JValue& d : as_array(v, what)) {
    int64_t x = as_int(d, what + " entries");
    if (x < 0 || x > kMaxElements) bad(what + " has an invalid dimension");
    n = x == 0 ? 0 : (n > kMaxElements / x ? kMaxElements + 1 : n * x);
    s.push_back(x);
  }
  if (n > kMaxElements) bad(what + " describes too many elements");
  *numel = n;
  return s;
}

DType read_dtype(const JValue& v, const std::string& what) {
  try {
    return dtype_from_name(as_string(v, what));
  } catch (const Error& e) {
    bad(what + ": " + e.what());
  }
}

// `unfilled_budget`: bytes that zero-filled tensors (no "data") may still take, or nullptr
// when "data" is required.
Tensor read_tensor(const JValue& obj, const std::string& what, int64_t* unfilled_budget) {
  DType dt = read_dtype(field(obj, "dtype", JValue::string, what.c_str()), what + " dtype");
  int64_t numel = 0;
  Shape shape = read_shape(field(obj, "shape", JValue::array, what.c_str()), what + " shape", &numel);
  const JValue* data = obj.find("data");
  if (!data) {
    if (!unfilled_budget) bad(what + " has no \"data\"");
    // numel <= 2^40 and element sizes <= 8: no overflow
    const int64_t need = numel * static_cast<int64_t>(dtype_size(dt));
    if (need > *unfilled_budget)
      bad(what + " has no \"data\" and would take " + std::to_string(need) +
          " bytes, more than the input can account for (" + std::to_string(*unfilled_budget) + " left)");
    *unfilled_budget -= need;
    return Tensor(dt, shape);
  }
  std::vector<unsigned char> bytes = base64_decode(as_string(*data, what + " data"));
  size_t es = dtype_size(dt);
  if (bytes.size() != static_cast<size_t>(numel) * es)
    bad(what + " data has " + std::to_string(bytes.size()) + " bytes, expected " +
        std::to_string(static_cast<size_t>(numel) * es));
  if (!little_endian()) swap_elements(bytes.data(), bytes.size(), es);
  Tensor t(dt, shape);
  if (!bytes.empty()) std::memcpy(t.data(), bytes.data(), bytes.size());
  return t;
}

struct Reader {
  std::vector<VariablePtr> vars;
  const JsonBindings* bind = nullptr;  // top level only
  std::vector<NodePtr>* nodes_out = nullptr;

  Attr attr(const JValue& a, const std::string& what) {
    const std::string& type = as_string(field(a, "type", JValue::string, what.c_str()), what + " type");
    const JValue* v = a.find("value");
    if (!v) bad(what + " has no \"value\"");
    if (type == "int") return as_int(*v, what);
    if (type == "float") return as_double(*v, what);
    if (type == "string") return as_string(*v, what);
    if (type == "ints") {
      std::vector<int64_t> out;
      for (const JValue& x : as_array(*v, what)) out.push_back(as_int(x, what + " entries"));
      return out;
    }
    if (type == "floats") {
      std::vector<double> out;
      for (const JValue& x : as_array(*v, what)) out.push_back(as_double(x, what + " entries"));
      return out;
    }
    if (type == "strings") {
      std::vector<std::string> out;
      for (const JValue& x : as_array(*v, what)) out.push_back(as_string(x, what + " entries"));
      return out;
    }
    if (type == "tensor") return std::make_shared<Tensor>(read_tensor(*v, what, nullptr));
    if (type == "graph") return GraphPtr(std::make_shared<Graph>(graph(*v, what)));
    if (type == "variable") {
      int64_t k = as_int(*v, what);
      if (k < 0 || k >= static_cast<int64_t>(vars.size())) bad(what + " refers to an unknown variable");
      return vars[k];
    }
    bad(what + " has unknown type \"" + type + "\"");
  }

  Graph graph(const JValue& obj, const std::string& what, bool top = false) {
    std::unordered_map<int64_t, std::vector<Value>> nodes;
    auto ref = [&](const JValue& r, const std::string& ctx) -> Value {
      const auto& pair = as_array(r, ctx);
      if (pair.size() != 2) bad(ctx + " must be [node id, output index]");
      int64_t id = as_int(pair[0], ctx + " node id");
      int64_t idx = as_int(pair[1], ctx + " output index");
      auto it = nodes.find(id);
      if (it == nodes.end()) bad(ctx + " refers to node " + std::to_string(id) + ", not defined before");
      if (idx < 0 || idx >= static_cast<int64_t>(it->second.size()))
        bad(ctx + " refers to a missing output of node " + std::to_string(id));
      return it->second[idx];
    };
    const auto& list = as_array(field(obj, "nodes", JValue::array, what.c_str()), what + " nodes");
    for (size_t i = 0; i < list.size(); ++i) {
      const JValue& n = list[i];
      std::string nw = what + " node " + std::to_string(i);
      int64_t id = as_int(field(n, "id", JValue::number, nw.c_str()), nw + " id");
      if (nodes.count(id)) bad(nw + " repeats id " + std::to_string(id));
      const std::string& op = as_string(field(n, "op", JValue::string, nw.c_str()), nw + " op");
      std::string name;
      if (const JValue* nm = n.find("name")) name = as_string(*nm, nw + " name");
      AttrMap attrs;
      if (const JValue* am = n.find("attrs")) {
        if (am->kind != JValue::object) bad(nw + " attrs must be an object");
        for (const auto& [k, a] : am->members) attrs.set(k, attr(a, nw + " attribute '" + k + "'"));
      }
      std::vector<Value> ins;
      if (const JValue* il = n.find("inputs"))
        for (const JValue& r : as_array(*il, nw + " inputs")) ins.push_back(ref(r, nw + " input"));
      if (!registry().find(op)) bad(nw + " uses unknown op '" + op + "'");
      NodePtr live = top && bind && bind->existing ? bind->existing(i) : nullptr;
      if (live) {
        if (live->op_name() != op) bad(nw + " is op '" + op + "' but the bound node is '" + live->op_name() + "'");
        std::vector<Value> outs;
        for (size_t k = 0; k < live->outputs.size(); ++k) outs.push_back(live->out(static_cast<int>(k)));
        nodes[id] = std::move(outs);
      } else {
        nodes[id] = make_node(op, std::move(ins), std::move(attrs), std::move(name));
      }
      if (top && nodes_out) nodes_out->push_back(nodes[id].empty() ? nullptr : nodes[id][0].node);
    }
    Graph g;
    for (const JValue& r : as_array(field(obj, "inputs", JValue::array, what.c_str()), what + " inputs")) {
      g.inputs.push_back(ref(r, what + " input"));
      if (g.inputs.back().node->op_name() != "input") bad(what + " lists a non-input node among its inputs");
    }
    for (const JValue& r : as_array(field(obj, "outputs", JValue::array, what.c_str()), what + " outputs"))
      g.outputs.push_back(ref(r, what + " output"));
    if (const JValue* names = obj.find("output_names"))
      for (const JValue& s : as_array(*names, what + " output_names"))
        g.output_names.push_back(as_string(s, what + " output name"));
    if (g.output_names.size() > g.outputs.size()) bad(what + " has more output names than outputs");
    while (g.output_names.size() < g.outputs.size())
      g.output_names.push_back("output" + std::to_string(g.output_names.size() + 1));
    return g;
  }
};

}  // namespace

std::string graph_to_json(const Graph& g, bool include_variable_values, JsonLinks* links) {
  Writer w{include_variable_values, {}, {}};
  std::string body;
  w.graph(body, g, "", links ? &links->nodes : nullptr);
  if (links) links->variables = w.vars;
  std::string o = "{\"format\": \"symnet-graph\", \"version\": 1,\n\"variables\": [";
  for (size_t i = 0; i < w.vars.size(); ++i) {
    const Variable& v = *w.vars[i];
    o += i ? ",\n  {" : "\n  {";
    o += "\"name\": ";
    write_string(o, v.name);
    o += ", ";
    write_tensor_fields(o, v.dtype(), v.shape(), w.values ? &v.host() : nullptr);
    o += '}';
  }
  o += "],\n";
  o += body.substr(1);  // the graph object's fields continue the top-level object
  o += '\n';
  return o;
}

Graph graph_from_json(const std::string& json, std::vector<VariablePtr>* vars_out, int64_t max_unfilled_bytes,
                      const JsonBindings* bind, JsonLinks* links) {
  try {
    int64_t budget = max_unfilled_bytes >= 0 ? max_unfilled_bytes
                                              : kUnfilledBytesPerByte * static_cast<int64_t>(json.size());
    JValue root = json::parse(json);
    if (root.kind != JValue::object) bad("a graph JSON document must be an object");
    const std::string& format = as_string(field(root, "format", JValue::string, "document"), "format");
    if (format != kFormat) bad("not a symnet graph (format \"" + format + "\")");
    int64_t version = as_int(field(root, "version", JValue::number, "document"), "version");
    if (version < 1 || version > kVersion)
      bad("graph format version " + std::to_string(version) + " is not supported (this build reads 1 to " +
          std::to_string(kVersion) + ")");
    Reader r;
    r.bind = bind;
    if (links) r.nodes_out = &links->nodes;
    const std::vector<VariablePtr>* bound = bind ? bind->variables : nullptr;
    if (const JValue* vl = root.find("variables")) {
      const auto& list = as_array(*vl, "variables");
      if (bound && bound->size() != list.size())
        bad(std::to_string(list.size()) + " variables in the document but " + std::to_string(bound->size()) + " bound");
      for (size_t i = 0; i < list.size(); ++i) {
        std::string what = "variable " + std::to_string(i);
        const std::string& name = as_string(field(list[i], "name", JValue::string, what.c_str()), what + " name");
        if (!bound) {
          r.vars.push_back(Variable::create(name, read_tensor(list[i], what, &budget)));
          continue;
        }
        const VariablePtr& v = (*bound)[i];
        if (!v) bad(what + " is bound to nothing");
        const DType dt = read_dtype(field(list[i], "dtype", JValue::string, what.c_str()), what + " dtype");
        int64_t numel = 0;
        const Shape shape = read_shape(field(list[i], "shape", JValue::array, what.c_str()), what + " shape", &numel);
        if (dt != v->dtype() || shape != v->shape()) bad(what + " does not match the variable bound to it");
        r.vars.push_back(v);
      }
    } else if (bound && !bound->empty()) {
      bad("variables are bound but the document has none");
    }
    Graph g = r.graph(root, "graph", true);
    if (vars_out) *vars_out = r.vars;
    if (links) links->variables = r.vars;
    return g;
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::value && e.op().empty()) throw;
    std::string ctx = e.op().empty() ? "" : " (" + e.op() + (e.node().empty() ? "" : " '" + e.node() + "'") + ")";
    throw Error(ErrorKind::value, std::string("invalid graph JSON: ") + e.what() + ctx, e.op(), e.node());
  } catch (const std::exception& e) {
    throw Error(ErrorKind::value, std::string("invalid graph JSON: ") + e.what());
  }
}

}  // namespace symnet
