// Passes and subgraphs (graph-valued attributes: the body of a call, of control flow, of a
// fused node). A body is an immutable graph that several nodes may share; a pass that
// changes one makes a new body graph and a new node holding it.
#pragma once
#include <functional>
#include <unordered_map>
#include <vector>

#include "engine/ir/graph.h"

namespace symnet {

using GraphPass = std::function<Graph(const Graph&)>;

// Applies a pass to the bodies of the nodes a pass meets, each distinct body once (nodes
// that shared a body still share the result, so CSE can still merge them).
class BodyRewriter {
 public:
  explicit BodyRewriter(GraphPass pass) : pass_(std::move(pass)) {}
  // The node with inputs `ins` and its bodies rewritten, or nothing when no body changed
  // (the caller then treats the node as it would without bodies). A rewritten body the op
  // no longer accepts (a fused node's body has a shape of its own) leaves the node as it was.
  std::vector<Value> apply(const Node& n, const std::vector<Value>& ins);

 private:
  GraphPtr rewritten(const GraphPtr& body);
  GraphPass pass_;
  std::unordered_map<const Graph*, GraphPtr> memo_;  // body -> its rewrite (itself when unchanged)
};

// Whether the node has a graph-valued attribute.
bool has_body(const Node& n);
// Calls fn on every body of the graph's nodes, bodies of bodies included, each once.
void for_each_body(const Graph& g, const std::function<void(const Graph&)>& fn);
// Same for the bodies of one node (and theirs).
void for_each_body(const Node& n, const std::function<void(const Graph&)>& fn);

}  // namespace symnet
