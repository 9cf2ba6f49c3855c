// A graph is a set of outputs over the node DAG, plus its formal inputs. Graph-valued
// attributes (subgraphs) use the same type.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/ir/node.h"

namespace symnet {

// Node -> int map for graph walks: open addressing over the node pointers, so that walking
// a graph of 100k nodes allocates a few arrays instead of one hash node per entry.
class NodeIndex {
 public:
  explicit NodeIndex(size_t expected = 0);
  // The value stored for n, or -1.
  int find(const Node* n) const {
    if (n == nullptr) return -1;
    for (size_t i = slot(n);; i = (i + 1) & mask_) {
      if (slots_[i].key == n) return slots_[i].value;
      if (slots_[i].key == nullptr) return -1;
    }
  }
  // Sets the value for n (n not null).
  void set(const Node* n, int value);
  size_t size() const { return size_; }

 private:
  size_t slot(const Node* n) const {
    return static_cast<size_t>((reinterpret_cast<uintptr_t>(n) >> 4) * 0x9e3779b97f4a7c15ULL >> shift_) & mask_;
  }
  void grow();
  struct Slot {
    const Node* key = nullptr;
    int value = -1;
  };
  std::vector<Slot> slots_;
  size_t size_ = 0, mask_ = 0;
  int shift_ = 0;
};

struct Graph {
  std::vector<Value> inputs;           // "input" nodes, in feed order
  std::vector<Value> outputs;
  std::vector<std::string> output_names;

  // Deterministic post-order (inputs before users) of every node reachable from the outputs.
  std::vector<NodePtr> topo_order() const;
  // Same, and fills `positions` with each node's position in the result.
  std::vector<NodePtr> topo_order(NodeIndex* positions) const;
  // Builds a graph from outputs, collecting reachable "input" nodes (ordered by name).
  static Graph from_outputs(std::vector<Value> outputs, std::vector<std::string> names = {});
  size_t num_nodes() const { return topo_order().size(); }
};

// Rebuilds a graph bottom-up. `fn` gets each original node and its already-rebuilt
// inputs and returns the replacement outputs (same count); returning an empty vector
// keeps the node (remade only if its inputs changed). Inputs and output names carry over.
using RewriteFn = std::function<std::vector<Value>(const Node&, const std::vector<Value>&)>;
Graph rewrite_graph(const Graph& g, const RewriteFn& fn);

// Consumer counts per (node id, output index) over the graph, graph outputs included.
std::unordered_map<const Node*, std::vector<int>> count_uses(const Graph& g);

}  // namespace symnet
