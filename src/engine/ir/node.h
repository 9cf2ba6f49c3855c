// Immutable graph nodes. A node's output types are inferred when it is created, so a
// mistake surfaces where the user wrote it; passes build new nodes instead of mutating.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/base/dtype.h"
#include "engine/base/shape.h"
#include "engine/ir/attr.h"

namespace symnet {

struct OpSchema;
struct Node;
using NodePtr = std::shared_ptr<const Node>;

struct TensorType {
  DType dtype = DType::f32;
  Shape shape;
  bool operator==(const TensorType& o) const { return dtype == o.dtype && shape == o.shape; }
  bool operator!=(const TensorType& o) const { return !(*this == o); }
};
std::string type_str(const TensorType& t);

// One output of a node.
struct Value {
  NodePtr node;
  int index = 0;
  bool defined() const { return node != nullptr; }
  const TensorType& type() const;
  DType dtype() const { return type().dtype; }
  const Shape& shape() const { return type().shape; }
  int64_t rank() const { return static_cast<int64_t>(shape().size()); }
  bool operator==(const Value& o) const { return node == o.node && index == o.index; }
  bool operator!=(const Value& o) const { return !(*this == o); }
};

struct Node : std::enable_shared_from_this<Node> {
  uint64_t id = 0;            // unique, increasing with creation
  const OpSchema* op = nullptr;
  std::string name;           // user-visible, e.g. "dense1/matmul"; defaults to "<op>_<id>"
  AttrMap attrs;
  std::vector<Value> inputs;
  std::vector<TensorType> outputs;

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Releases the inputs without recursion: a chain of 100k nodes, each holding the previous
  // one, would otherwise be freed 100k calls deep.
  ~Node();

  const std::string& op_name() const;
  Value out(int i = 0) const;
  // "op 'matmul' (node 'dense1')" for messages.
  std::string describe() const;
};

// Creates a node of a registered op: validates attributes, infers output types.
// Errors carry the op name, the node name and the input shapes.
std::vector<Value> make_node(const std::string& op, std::vector<Value> inputs, AttrMap attrs = {},
                             std::string name = "");
// Same, keeping the id-independent parts of an existing node but with new inputs (passes).
std::vector<Value> remake_node(const Node& like, std::vector<Value> inputs);

}  // namespace symnet
