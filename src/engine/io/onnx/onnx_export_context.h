// What an op exporter sees (onnx_export.cpp drives them): the engine node, the ONNX names
// of its inputs and outputs, and a builder of ONNX nodes and initializers that keeps every
// name in the model unique.
#pragma once
#include <functional>
#include <map>
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
  ExportBuilder(GraphDef& graph, int64_t opset) : graph_(graph), opset_(opset) {}
  int64_t opset() const { return opset_; }

  // A name not used yet in the model, from `base` (made unique with a suffix).
  std::string fresh(const std::string& base);
  // Marks a name as taken (graph inputs and outputs, claimed before anything else).
  void reserve(const std::string& name) { used_.insert(name); }
  bool taken(const std::string& name) const { return used_.count(name) > 0; }
  // Whether a node, initializer or graph input defines `name` (an engine output that no
  // ONNX operator computes, such as a recurrent op's reserve, is never defined).
  void define(const std::string& name) { defined_.insert(name); }
  bool defined(const std::string& name) const { return defined_.count(name) > 0; }

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
  GraphDef& graph_;
  int64_t opset_;
  std::set<std::string> used_, defined_;
};

// Attribute constructors.
Attribute attr_i(const std::string& name, int64_t v);
Attribute attr_f(const std::string& name, double v);
Attribute attr_s(const std::string& name, const std::string& v);
Attribute attr_ints(const std::string& name, const std::vector<int64_t>& v);
Attribute attr_floats(const std::string& name, const std::vector<double>& v);
Attribute attr_strings(const std::string& name, const std::vector<std::string>& v);
Attribute attr_t(const std::string& name, const Tensor& v);

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
