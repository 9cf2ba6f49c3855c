// What an op converter sees (onnx_import.cpp drives them): the node, the opset, the
// node's inputs as engine values or import-time constants, typed attribute access.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/io/onnx/onnx_import.h"
#include "engine/ops/builder.h"

namespace symnet {
namespace onnx {

class ImportContext;
using Converter = std::function<std::vector<Value>(ImportContext&)>;

// op_type -> converter; each family file adds its own (onnx_convert_*.cpp).
using ConverterTable = std::map<std::string, Converter>;
void add_math_converters(ConverterTable& t);
void add_nn_converters(ConverterTable& t);
void add_tensor_converters(ConverterTable& t);
void add_extra_converters(ConverterTable& t);
void add_resize_converters(ConverterTable& t);
void add_control_converters(ConverterTable& t);

// One named tensor of the graph during import: its engine value, and its value when known
// at import time (initializers, constants and what folds from them).
struct Entry {
  Value value;
  Tensor known;
  bool initializer = false;
  bool running_state = false;  // BatchNormalization mean/var: non-trainable variable
  int declared = kUndefined;   // the ONNX element type a graph input declares
};

// Named tensors visible to a graph: its own, then (for a subgraph: an If branch, a Scan
// body) those of the enclosing graphs, which ONNX lets a subgraph read by name.
class Scope {
 public:
  explicit Scope(Scope* parent = nullptr) : parent_(parent) {}
  Entry* find(const std::string& name) {
    for (Scope* s = this; s; s = s->parent_) {
      auto it = s->local_.find(name);
      if (it != s->local_.end()) return &it->second;
    }
    return nullptr;
  }
  void set(const std::string& name, Entry e) { local_[name] = std::move(e); }
  void erase(const std::string& name) { local_.erase(name); }
  const std::map<std::string, Entry>& local() const { return local_; }

 private:
  Scope* parent_;
  std::map<std::string, Entry> local_;
};

class ImportContext {
 public:
  ImportContext(const Node& node, int64_t opset, Scope& env, std::vector<VariablePtr>& variables)
      : node_(node), opset_(opset), env_(env), variables_(variables) {}

  const Node& node() const { return node_; }
  int64_t opset() const { return opset_; }
  const std::string& label() const { return node_.name.empty() ? node_.op_type : node_.name; }

  size_t num_inputs() const { return node_.inputs.size(); }
  // Input i present (listed and not "").
  bool has(size_t i) const { return i < node_.inputs.size() && !node_.inputs[i].empty(); }
  // Input i as an engine value (a variable or constant for initializers, created once).
  Value in(size_t i);
  // Input i's value when known at import time, else an `unsupported` error saying that
  // `what` must be known when the model is imported.
  const Tensor& known(size_t i, const char* what);
  bool is_known(size_t i) const;
  // Known input i as integers / doubles.
  std::vector<int64_t> known_ints(size_t i, const char* what);
  std::vector<double> known_doubles(size_t i, const char* what);
  // The ONNX element type input i was declared with (graph inputs and initializers; else
  // kUndefined): the engine value may hold a widened type.
  int declared_type(size_t i) const;
  // Marks input i (an initializer) as running state (BatchNormalization statistics).
  void mark_running_state(size_t i);

  const Attribute* attr(const std::string& name) const { return node_.attr(name); }
  bool has_attr(const std::string& name) const { return node_.attr(name) != nullptr; }
  int64_t attr_int(const std::string& name, int64_t def) const;
  double attr_float(const std::string& name, double def) const;
  std::string attr_string(const std::string& name, const std::string& def) const;
  std::vector<int64_t> attr_ints(const std::string& name, std::vector<int64_t> def = {}) const;
  std::vector<double> attr_floats(const std::string& name, std::vector<double> def = {}) const;
  // Errors naming the node: `unsupported` for what symnet cannot do, `value` for what the
  // file gets wrong.
  [[noreturn]] void unsupported(const std::string& what) const;
  [[noreturn]] void invalid(const std::string& what) const;

  // Static shape of a value, or an unsupported error naming `what`.
  const Shape& static_shape(const Value& v, const char* what) const;

  // Converts a subgraph (an If branch, a Scan body) with its inputs bound to `inputs`, in a
  // scope that sees this graph's tensors; returns its outputs' values.
  std::vector<Value> subgraph(const GraphDef& g, const std::vector<Value>& inputs);

 private:
  Entry& entry(size_t i);
  const Node& node_;
  int64_t opset_;
  Scope& env_;
  std::vector<VariablePtr>& variables_;
};

// Converts an engine dtype code from an ONNX element type (cast targets, constant fills).
DType dtype_of_elem(int elem_type, const ImportContext& ctx);
// A 1-D int64 constant.
Value int_constant(const std::vector<int64_t>& v);
// Normalizes a possibly negative axis against rank.
int64_t norm_axis(int64_t axis, int64_t rank, const ImportContext& ctx);

}  // namespace onnx
}  // namespace symnet
