// Graphviz DOT rendering of a graph (for plot() and debugging).
#pragma once
#include <string>

#include "engine/ir/graph.h"

namespace symnet {

// Deterministic DOT text: nodes are numbered in topological order, labelled with op, name
// and output type; inputs are ellipses, variables cylinders, constants small boxes (with
// their values when tiny), fused nodes boxes listing their member ops; edges carry the
// type of the value they transport; graph outputs are plain-text sinks.
std::string graph_to_dot(const Graph& g, const std::string& title = "");

}  // namespace symnet
