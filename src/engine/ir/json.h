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
#include <string>
#include <vector>

#include "engine/ir/graph.h"

namespace symnet {

std::string graph_to_json(const Graph& g, bool include_variable_values = true);

// Throws a value error for malformed or invalid input (never crashes on it). Variables
// are created anew; vars_out, when given, receives them in the order of "variables".
// Variables without "data" are zero-filled, and together may take at most
// `max_unfilled_bytes` (negative: 64 bytes per byte of `json`): a few bytes of text must not
// make the reader allocate gigabytes. A model file passes the size of its data section,
// which has to hold those values anyway.
Graph graph_from_json(const std::string& json, std::vector<VariablePtr>* vars_out = nullptr,
                      int64_t max_unfilled_bytes = -1);

}  // namespace symnet
