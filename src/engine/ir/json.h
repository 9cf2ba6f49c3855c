// Graph <-> JSON, a documented and versioned interchange format (models saved from R,
// graphs inspected by other tools). Self-contained: no JSON library.
//
// Format "symnet-graph", version 1:
//   {
//     "format": "symnet-graph", "version": 1,
//     "variables": [{"name": "w", "dtype": "float32", "shape": [3, 4], "data": "<base64>"}],
//     "nodes": [{"id": 0, "op": "input", "name": "x",
//                "attrs": {"dtype": {"type": "string", "value": "float32"},
//                          "shape": {"type": "ints", "value": [-1, 4]}, ...},
//                "inputs": []},
//               {"id": 1, "op": "add", "name": "add_7", "attrs": {}, "inputs": [[0, 0], [0, 0]]}],
//     "inputs": [[0, 0]], "outputs": [[1, 0]], "output_names": ["y"]
//   }
// - Nodes are listed inputs-first; "inputs" entries are [node id, output index] of nodes
//   listed earlier. Node ids are local to the graph object they appear in.
// - Attribute types: "int" (integer), "float" (number, or "nan"/"inf"/"-inf"), "string",
//   "ints", "floats", "strings", "tensor" ({"dtype", "shape", "data"}: base64 of the
//   little-endian element bytes, row-major), "graph" (a nested object with "nodes",
//   "inputs", "outputs", "output_names": subgraphs such as fused bodies) and "variable"
//   (an index into the top-level "variables"; shared by nested graphs).
// - A variable entry always has name, dtype and shape; "data" is present when the
//   values were included. Without it the variable is read back zero-filled.
// Reading re-creates every node through make_node, so everything is re-validated.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/ir/graph.h"

namespace symnet {

// How a document's top-level nodes and variables correspond to live objects. R's
// serialization uses it to keep the identity of nodes and variables shared by the several
// graphs saved in one object (a model's outputs, its loss, its compiled functions).
struct JsonLinks {
  std::vector<NodePtr> nodes;          // top-level nodes in document order
  std::vector<VariablePtr> variables;  // in the order of "variables"
};

// `links`, when given, receives the document order of nodes and variables.
std::string graph_to_json(const Graph& g, bool include_variable_values = true, JsonLinks* links = nullptr);

// Reading with existing objects: `variables` are bound in the order of "variables" instead
// of being created (their count, dtype and shape must match, and data in the document is
// ignored); `existing(k)` may return a live node to use for top-level document node k
// (its op and output count must match) instead of creating one.
struct JsonBindings {
  const std::vector<VariablePtr>* variables = nullptr;
  std::function<NodePtr(size_t)> existing;
};

// Throws a value error for malformed or invalid input (never crashes on it). Variables
// are created anew unless bound; `links`, when given, receives the nodes and variables used.
// Variables without "data" are zero-filled, and together may take at most
// `max_unfilled_bytes` (negative: 64 bytes per byte of `json`): a few bytes of text must not
// make the reader allocate gigabytes. A model file passes the size of its data section,
// which has to hold those values anyway. Bound variables allocate nothing.
Graph graph_from_json(const std::string& json, std::vector<VariablePtr>* vars_out = nullptr,
                      int64_t max_unfilled_bytes = -1, const JsonBindings* bind = nullptr,
                      JsonLinks* links = nullptr);

}  // namespace symnet
