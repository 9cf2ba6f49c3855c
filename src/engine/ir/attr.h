// Typed node attributes. Subgraphs (bodies of scan/cond/while) are graph-valued attributes.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "engine/base/tensor.h"

namespace symnet {

struct Graph;
using GraphPtr = std::shared_ptr<const Graph>;

// State that lives in the engine between runs (Theano's shared variables): parameters,
// optimizer state, running statistics. Identity is the object, not the name.
struct Variable {
  std::string name;
  Tensor value;
  uint64_t id;
  bool trainable = true;  // parameters: true; running statistics, optimizer state: false
  static std::shared_ptr<Variable> create(std::string name, Tensor value);
};
using VariablePtr = std::shared_ptr<Variable>;

using Attr = std::variant<int64_t, double, std::string, std::vector<int64_t>, std::vector<double>,
                          std::vector<std::string>, TensorPtr, GraphPtr, VariablePtr>;

const char* attr_type_name(const Attr& a);

// Attribute map with typed, validated access. Keys are sorted so printing and hashing
// are deterministic.
class AttrMap {
 public:
  AttrMap() = default;
  AttrMap(std::initializer_list<std::pair<const std::string, Attr>> init) : m_(init) {}

  bool has(const std::string& k) const { return m_.count(k) > 0; }
  void set(const std::string& k, Attr v) { m_[k] = std::move(v); }
  void erase(const std::string& k) { m_.erase(k); }
  const std::map<std::string, Attr>& items() const { return m_; }
  bool operator==(const AttrMap& o) const;

  // Typed getters throw an attr error naming the key when missing or of another type.
  // get_int accepts an integral double; get_float accepts an int.
  int64_t get_int(const std::string& k) const;
  int64_t get_int(const std::string& k, int64_t def) const;
  double get_float(const std::string& k) const;
  double get_float(const std::string& k, double def) const;
  const std::string& get_string(const std::string& k) const;
  std::string get_string(const std::string& k, const std::string& def) const;
  std::vector<int64_t> get_ints(const std::string& k) const;
  std::vector<int64_t> get_ints(const std::string& k, const std::vector<int64_t>& def) const;
  std::vector<double> get_floats(const std::string& k) const;
  std::vector<double> get_floats(const std::string& k, const std::vector<double>& def) const;
  std::vector<std::string> get_strings(const std::string& k) const;
  TensorPtr get_tensor(const std::string& k) const;
  GraphPtr get_graph(const std::string& k) const;
  VariablePtr get_variable(const std::string& k) const;

 private:
  const Attr& at(const std::string& k) const;
  std::map<std::string, Attr> m_;
};

// Stable hash of an attribute map (tensor attributes hash their contents).
uint64_t hash_attrs(const AttrMap& a);
std::string attr_value_str(const Attr& a, size_t max_items = 8);

}  // namespace symnet
