#include "engine/ir/dot.h"

#include <sstream>
#include <unordered_map>

#include "engine/ir/op_schema.h"

namespace symnet {

namespace {

// Escapes text for a double-quoted DOT string; "\n" in `s` becomes a centered line break.
std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (c == '\n') {
      o += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      o += ' ';
    } else {
      o += c;
    }
  }
  return o;
}

std::string types_str(const Node& n) {
  std::string s;
  for (size_t i = 0; i < n.outputs.size(); ++i) s += (i ? ", " : "") + type_str(n.outputs[i]);
  return s;
}

std::string label_of(const Node& n) {
  const std::string& op = n.op_name();
  std::ostringstream o;
  if (op == "input") {
    o << n.name << "\n" << types_str(n);
  } else if (op == "variable") {
    o << n.name << "\n" << types_str(n);
  } else if (op == "constant") {
    TensorPtr t = n.attrs.get_tensor("value");
    if (t && t->defined() && t->numel() <= 4 && is_core_dtype(t->dtype()))
      o << attr_value_str(t, 4);
    else
      o << "const " << types_str(n);
  } else if (op == "fused_elementwise") {
    o << "fused_elementwise\n" << n.name << "\n";
    GraphPtr body = n.attrs.get_graph("body");
    std::string ops;
    int count = 0;
    if (body) {
      for (const NodePtr& m : body->topo_order()) {
        if (m->op_name() == "input" || m->op_name() == "constant") continue;
        if (count) ops += count % 6 == 0 ? ",\n" : ", ";
        ops += m->op_name();
        ++count;
      }
    }
    o << "[" << ops << "]\n" << types_str(n);
  } else if (op == "call" && n.attrs.has("function")) {
    // An operation made from a traced function (R's sym_function()): its own name first.
    o << n.attrs.get_string("function") << (n.attrs.has("grad") ? " (call, custom gradient)" : " (call)") << "\n"
      << n.name << "\n" << types_str(n);
  } else if (op == "host_callback" && n.attrs.has("callback")) {
    o << n.attrs.get_string("callback") << " (host callback)\n" << n.name << "\n" << types_str(n);
  } else {
    o << op << "\n" << n.name << "\n" << types_str(n);
  }
  return o.str();
}

const char* shape_attrs(const Node& n) {
  const std::string& op = n.op_name();
  if (op == "input") return "shape=ellipse, style=filled, fillcolor=\"#dbeafe\"";
  if (op == "variable") return "shape=cylinder, style=filled, fillcolor=\"#fef3c7\"";
  if (op == "constant") return "shape=box, fontsize=9, height=0.3, style=filled, fillcolor=\"#f3f4f6\"";
  if (op == "fused_elementwise") return "shape=box, style=\"rounded,filled,bold\", fillcolor=\"#dcfce7\"";
  return "shape=box, style=rounded";
}

}  // namespace

std::string graph_to_dot(const Graph& g, const std::string& title) {
  std::ostringstream o;
  o << "digraph symnet {\n";
  o << "  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=11];\n"
       "  edge [fontname=\"Helvetica\", fontsize=9];\n";
  if (!title.empty()) o << "  label=\"" << esc(title) << "\";\n  labelloc=t;\n";
  std::vector<NodePtr> order = g.topo_order();
  std::unordered_map<const Node*, size_t> id;
  for (size_t i = 0; i < order.size(); ++i) id[order[i].get()] = i;
  for (size_t i = 0; i < order.size(); ++i) {
    const Node& n = *order[i];
    o << "  n" << i << " [label=\"" << esc(label_of(n)) << "\", " << shape_attrs(n) << "];\n";
  }
  for (size_t i = 0; i < order.size(); ++i) {
    const Node& n = *order[i];
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const Value& v = n.inputs[k];
      if (!v.defined()) continue;
      std::string label = type_str(v.type());
      if (v.node->outputs.size() > 1) label = "#" + std::to_string(v.index) + " " + label;
      o << "  n" << id.at(v.node.get()) << " -> n" << i << " [label=\"" << esc(label) << "\"];\n";
    }
  }
  for (size_t j = 0; j < g.outputs.size(); ++j) {
    const Value& v = g.outputs[j];
    std::string name = j < g.output_names.size() ? g.output_names[j] : "output" + std::to_string(j + 1);
    o << "  out" << j << " [label=\"" << esc(name) << "\", shape=plaintext];\n";
    std::string label = type_str(v.type());
    if (v.node->outputs.size() > 1) label = "#" + std::to_string(v.index) + " " + label;
    o << "  n" << id.at(v.node.get()) << " -> out" << j << " [label=\"" << esc(label)
      << "\", style=dashed];\n";
  }
  o << "}\n";
  return o.str();
}

}  // namespace symnet
