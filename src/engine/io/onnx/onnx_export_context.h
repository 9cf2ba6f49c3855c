// What an op exporter sees (onnx_export.cpp drives them): the engine node, the ONNX names
// of its inputs and outputs, and a builder of ONNX nodes and initializers that keeps every
// name in the model unique.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/io/onnx/onnx_export.h"

namespace symnet {
namespace onnx {

// The ONNX element type of an engine dtype (`unsupported` for half types).
int elem_type_of(DType t);

class ExportBuilder {
 public:
  ExportBuilder(GraphDef& graph, int64_t opset)
      : graph_(graph), root_(graph), opset_(opset), shared_(std::make_shared<Shared>()) {}
  // A builder of a subgraph (a body): its own nodes, the same name space (ONNX names are
  // unique across nested graphs) and the root graph's initializers (visible everywhere).
  ExportBuilder child(GraphDef& body) const { return ExportBuilder(body, *this); }
  int64_t opset() const { return opset_; }
  GraphDef& graph() { return graph_; }

  // A name not used yet in the model, from `base` (made unique with a suffix).
  std::string fresh(const std::string& base);
  // Marks a name as taken (graph inputs and outputs, claimed before anything else).
  void reserve(const std::string& name) { shared_->used.insert(name); }
  bool taken(const std::string& name) const { return shared_->used.count(name) > 0; }
  // Whether a node, initializer or graph input defines `name` (an engine output that no
  // ONNX operator computes, such as a recurrent op's reserve, is never defined).
  void define(const std::string& name) { shared_->defined.insert(name); }
  bool defined(const std::string& name) const { return shared_->defined.count(name) > 0; }
  // The initializer of a variable, written once however many graphs use it.
  std::string variable(const VariablePtr& var);

  // Adds an initializer named after `base`; returns its name.
  std::string initializer(const std::string& base, const Tensor& value);
  std::string ints(const std::string& base, const std::vector<int64_t>& v);    // 1-D int64
  std::string int_scalar(const std::string& base, int64_t v);                  // int64 scalar
  std::string scalar(const std::string& base, double v, DType dtype);          // scalar of dtype

  // Adds a node; `outputs` are names already chosen. Returns the first output.
  std::string node(const std::string& op_type, const std::vector<std::string>& inputs,
                   const std::vector<std::string>& outputs, std::vector<Attribute> attrs = {});
  // Adds a node with one new output named from `base`; returns it.
  std::string tmp(const std::string& op_type, const std::vector<std::string>& inputs, const std::string& base,
                  std::vector<Attribute> attrs = {});

 private:
  struct Shared {
    std::set<std::string> used, defined;
    std::map<const Variable*, std::string> variables;
  };
  ExportBuilder(GraphDef& body, const ExportBuilder& parent)
      : graph_(body), root_(parent.root_), opset_(parent.opset_), shared_(parent.shared_) {}
  GraphDef& graph_;
  GraphDef& root_;
  int64_t opset_;
  std::shared_ptr<Shared> shared_;
};

// Exports a closed body as an ONNX subgraph. Its formal inputs take the names in
// `bound` where one is given (values of the enclosing graph, which ONNX bodies read by
// name) and are declared as the subgraph's inputs otherwise; its outputs get new names.
std::shared_ptr<GraphDef> export_body(ExportBuilder& parent, const Graph& body, const std::vector<std::string>& bound,
                                      const std::string& label);

// Attribute constructors.
// Exports a closed graph's nodes into b's graph (not as a subgraph), its inputs taking
// the names `bound`; returns the names of its outputs.
std::vector<std::string> export_inline(ExportBuilder& b, const Graph& g, const std::vector<std::string>& bound);

Attribute attr_i(const std::string& name, int64_t v);
Attribute attr_f(const std::string& name, double v);
Attribute attr_s(const std::string& name, const std::string& v);
Attribute attr_ints(const std::string& name, const std::vector<int64_t>& v);
Attribute attr_floats(const std::string& name, const std::vector<double>& v);
Attribute attr_strings(const std::string& name, const std::vector<std::string>& v);
Attribute attr_t(const std::string& name, const Tensor& v);
Attribute attr_g(const std::string& name, std::shared_ptr<GraphDef> g);

// One engine node being exported.
struct ExportContext {
  ExportBuilder& b;
  const symnet::Node& n;
  std::vector<std::string> in;   // ONNX names of the node's inputs
  std::vector<std::string> out;  // ONNX names chosen for the node's outputs
  std::vector<bool> used;        // whether each output is read (by a node or as a graph output)
  const AttrMap& a() const { return n.attrs; }
  const std::string& label() const { return n.name; }
  // `unsupported` error naming the node and its op.
  [[noreturn]] void unsupported(const std::string& what) const;
};

using OpExporter = std::function<void(ExportContext&)>;
// engine op -> exporter (onnx_export_ops.cpp).
const std::map<std::string, OpExporter>& op_exporters();

}  // namespace onnx
}  // namespace symnet
