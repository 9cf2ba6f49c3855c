// symnet's native model file, read in C++: a safetensors file whose "__metadata__" holds
// format "symnet-model", version "1" and the graph as graph JSON without values (plus
// names of inputs, outputs, ... that the R side interprets); the variables' values are
// the tensors of the same names. R's load_model() does the same steps; this is the path
// the fuzzer drives, from bytes to a graph with bound variables.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/io/safetensors.h"
#include "engine/ir/graph.h"

namespace symnet {
namespace io {

struct ModelFile {
  StFile st;
  Graph graph;
  std::vector<VariablePtr> variables;  // in the order of the graph JSON, values bound
};

// Parses and validates the whole file, throwing Error(value) with a message for users.
// Allocation is bounded by the file: zero-filled variables of the graph JSON may take no
// more than the data buffer, which must then hold their values.
ModelFile read_model_file(const uint8_t* p, size_t n);

// Copies the tensor `t` of the file `p` into `v`'s value after checking that dtype and
// shape agree.
void bind_variable(Variable& v, const StFile& st, const StTensor& t, const uint8_t* p, size_t n);

}  // namespace io
}  // namespace symnet
