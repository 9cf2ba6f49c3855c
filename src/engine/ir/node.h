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

// A value's element type and shape. `unknown_rank` marks a value whose rank (and so its
// whole shape) is known only when the graph is fed: an input declared without a shape
// and everything computed from it whose rank depends on that input's. `shape` is then
// empty and meaningless; it must never be read as a scalar's shape.
struct TensorType {
  DType dtype = DType::f32;
  Shape shape;
  bool unknown_rank = false;
  bool rank_known() const { return !unknown_rank; }
  // Rank known and every dimension known.
  bool known() const { return !unknown_rank && shape_known(shape); }
  // Equal as declared types (two unknown-rank types of one dtype are equal). Passes that
  // replace one value by another need `same_shape_known` instead: equal declarations do
  // not make two unknown-rank values the same shape.
  bool operator==(const TensorType& o) const {
    return dtype == o.dtype && unknown_rank == o.unknown_rank && shape == o.shape;
  }
  bool operator!=(const TensorType& o) const { return !(*this == o); }
};
// "float32[?, 3]"; "float32[...]" for an unknown rank.
std::string type_str(const TensorType& t);
// Both ranks known and the shapes equal with every dimension known.
bool same_known_shape(const TensorType& a, const TensorType& b);

// One output of a node.
struct Value {
  NodePtr node;
  int index = 0;
  bool defined() const { return node != nullptr; }
  const TensorType& type() const;
  DType dtype() const { return type().dtype; }
  bool rank_known() const { return type().rank_known(); }
  // Shape and rank of a value whose rank is known; a shape error naming the node when the
  // rank is known only at run time (code that needs them must check rank_known() first,
  // or refuse: an empty shape here would silently stand for a scalar).
  const Shape& shape() const;
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

// The id of the newest node: nodes made after this call have larger ids (tracing user
// code that builds a body, passes/lift.h).
uint64_t last_node_id();

}  // namespace symnet
