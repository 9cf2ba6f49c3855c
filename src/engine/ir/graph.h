// A graph is a set of outputs over the node DAG, plus its formal inputs. Graph-valued
// attributes (subgraphs) use the same type.
#pragma once
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/ir/node.h"

namespace symnet {

struct Graph {
  std::vector<Value> inputs;           // "input" nodes, in feed order
  std::vector<Value> outputs;
  std::vector<std::string> output_names;

  // Deterministic post-order (inputs before users) of every node reachable from the outputs.
  std::vector<NodePtr> topo_order() const;
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
