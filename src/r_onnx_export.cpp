// Rcpp glue of ONNX export (engine/io/onnx/onnx_export.h): the model's graph as the
// bytes of an ONNX file, which R writes atomically (R/onnx-export.R).
#include <cstring>

#include "r_glue.h"

#include "engine/io/onnx/onnx_export.h"

using namespace symnet;
using namespace symnet_r;

// inputs: the model's input symbols (feed order); outputs: its output symbols, named by
// output_names. Returns the serialized ModelProto as a raw vector.
// [[Rcpp::export]]
Rcpp::RawVector cpp_export_onnx(Rcpp::List inputs, Rcpp::List outputs, std::vector<std::string> output_names,
                                int opset, std::string graph_name, std::string producer_version) {
  SN_R_BEGIN
  Graph g = Graph::from_outputs(values_from_r(outputs), output_names);
  g.inputs = values_from_r(inputs);
  onnx::ExportOptions opt;
  opt.opset = opset;
  opt.output_names = output_names;
  opt.graph_name = graph_name;
  opt.producer_version = producer_version;
  const std::string bytes = onnx::serialize_model(onnx::export_model(g, opt));
  Rcpp::RawVector out(bytes.size());
  if (!bytes.empty()) std::memcpy(&out[0], bytes.data(), bytes.size());
  return out;
  SN_R_END
  return Rcpp::RawVector();
}
