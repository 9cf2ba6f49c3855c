// Engine graph -> ONNX model (the inverse of onnx_import.h). The graph is exported in
// inference mode (dropout off, batch norm on its running statistics) after inlining calls,
// before any backend lowering: every node is an op of the registry, mapped onto the ONNX
// operators of the requested opset. Variables become initializers named after the
// variable, constants initializers named after their node, inputs graph inputs whose
// unknown dimensions get symbolic names. An op without an ONNX equivalent is an
// `unsupported` error naming it; nothing is written then.
#pragma once
#include <string>
#include <vector>

#include "engine/io/onnx/onnx_model.h"
#include "engine/ir/graph.h"

namespace symnet {
namespace onnx {

struct ExportOptions {
  int64_t opset = 17;  // ai.onnx opset, 13 to 17
  // Names of the graph outputs (default: the graph's output_names, else "output<k>").
  std::vector<std::string> output_names;
  std::string graph_name = "symnet";
  std::string producer_version;
};

// The opsets export_model writes.
constexpr int64_t kMinExportOpset = 13;
constexpr int64_t kMaxExportOpset = 17;

// Converts the graph (outputs g.outputs, inputs the graph's input nodes, named by their
// `name` attribute) to an ONNX model.
ModelDef export_model(const Graph& g, const ExportOptions& options = {});

// The serialized ModelProto (onnx_write.cpp; `unsupported` without protobuf).
std::string serialize_model(const ModelDef& model);
// Writes the serialized model to `path` through a temporary file in the same directory,
// renamed over `path` only when every byte is written: a failure leaves `path` as it was.
void write_model_file(const ModelDef& model, const std::string& path);

}  // namespace onnx
}  // namespace symnet
