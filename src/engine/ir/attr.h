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

// A copy of a variable's value kept in memory the host cannot address (a device backend's
// buffer; backend/ implements it). `kind` identifies that memory (its buffer type).
class DeviceCopy {
 public:
  virtual ~DeviceCopy() = default;
  virtual const void* kind() const = 0;
  virtual void read(void* dst, size_t bytes) const = 0;   // device -> host
  virtual void write(const void* src, size_t bytes) = 0;  // host -> device
};

// State that lives in the engine between runs (Theano's shared variables): parameters,
// optimizer state, running statistics. Identity is the object, not the name.
//
// The value may be resident on a device (kept there between runs, so training does not
// copy parameters back and forth). The host reads and writes it only through host() and
// host_for_write(), which bring a newer device copy back first and mark the device copy
// stale after a host write: nobody can read a stale value by accident.
class Variable {
 public:
  std::string name;
  uint64_t id = 0;
  bool trainable = true;  // parameters: true; running statistics, optimizer state: false
  // Set by the user (transfer learning): optimizers leave it alone, and a mode-dependent
  // node reading it (batch norm's statistics) stays in inference mode while training.
  bool frozen = false;
  double lr_mult = 1.0;  // the optimizer's learning rate for it is multiplied by this

  static std::shared_ptr<Variable> create(std::string name, Tensor value);

  // The type never changes behind the host's back, so these need no transfer.
  DType dtype() const { return value_.dtype(); }
  const Shape& shape() const { return value_.shape(); }
  size_t bytes() const { return value_.bytes(); }
  bool defined() const { return value_.defined(); }

  // The current value on the host (downloaded first when the device copy is newer).
  const Tensor& host() const;
  // For writing on the host; any device copy becomes stale. `keep` false: the caller
  // overwrites every byte, so a newer device copy need not be downloaded first.
  Tensor& host_for_write(bool keep = true);

  // The device copy (nullptr if none), for backends.
  DeviceCopy* device_copy() const { return device_.get(); }
  // Makes `copy` the device copy, current for reading: the host value (made current
  // first) is written into it. Replaces a copy on another device.
  void attach_device_copy(std::unique_ptr<DeviceCopy> copy);
  // Whether the device copy holds the current value (else only the host does).
  bool device_current() const { return device_ && device_current_; }
  // Brings the device copy up to date from the host when the host has written since.
  void refresh_device_copy();
  // A backend wrote the device copy (an update computed on the device): the host value is
  // stale until host() fetches it.
  void device_written() { device_current_ = true; host_current_ = false; }

 private:
  // Mutable: fetching the current value into the host's copy is a read (a cache refill).
  mutable Tensor value_;
  std::unique_ptr<DeviceCopy> device_;
  mutable bool host_current_ = true;
  bool device_current_ = false;
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
