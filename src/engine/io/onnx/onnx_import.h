// ONNX ModelDef -> engine graph: graph inputs become inputs, floating-point initializers
// trainable variables (integer ones, and those read as shapes or axes, constants),
// BatchNormalization statistics non-trainable variables (running state), every node the
// engine ops that compute it.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/io/onnx/onnx_model.h"
#include "engine/ir/node.h"

namespace symnet {
namespace onnx {

struct ImportOptions {
  // Shapes for graph inputs (replacing the declared ones, e.g. to fix a symbolic batch).
  std::map<std::string, Shape> input_shapes;
  // Leave the first dimension of every graph input (not in input_shapes) unknown, so the
  // model takes batches of any size.
  bool free_batch = false;
  // Graph inputs bound to values at import time (they become constants; ops that need a
  // known shape, axes or sizes may read them).
  std::map<std::string, Tensor> bound_inputs;
};

struct ImportedModel {
  std::vector<std::string> input_names, output_names;
  std::vector<Value> inputs, outputs;
  std::vector<VariablePtr> variables;  // in initializer order: parameters and running state
  // Every tensor the graph names (node outputs, inputs), for cutting the model anywhere.
  std::map<std::string, Value> values;
  int64_t opset = 0;
};

ImportedModel import_model(const ModelDef& model, const ImportOptions& options = {});

// The op types the importer converts (for the conformance report).
std::vector<std::string> supported_op_types();

}  // namespace onnx
}  // namespace symnet
