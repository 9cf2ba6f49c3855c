// Dead-code elimination. A Graph only reaches nodes through its outputs (and its formal
// inputs), so rebuilding it from those roots drops everything else; formal inputs stay,
// used or not, because they define the feed order. Bodies (subgraphs) hold their nodes the
// same way, so nothing inside one is dead, and what a body shares with the graph (variables,
// constants) lives as long as the node holding the body.
#include "engine/passes/passes.h"

namespace symnet {

Graph eliminate_dead_code(const Graph& g) {
  Graph out;
  out.inputs = g.inputs;
  out.outputs = g.outputs;
  out.output_names = g.output_names;
  return out;
}

}  // namespace symnet
