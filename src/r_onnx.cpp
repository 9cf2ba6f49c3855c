// Rcpp glue of ONNX import (engine/io/onnx): reads the file, converts it to engine values
// and hands them to R, which builds the model (R/onnx.R).
#include "r_glue.h"

#include "engine/io/onnx/onnx_import.h"
#include "engine/io/onnx/onnx_model.h"

using namespace symnet;
using namespace symnet_r;

namespace {

DType declared_dtype(int elem) {
  switch (elem) {
    case onnx::kDouble: return DType::f64;
    case onnx::kInt32: case onnx::kInt8: case onnx::kInt16: case onnx::kUint16: return DType::i32;
    case onnx::kInt64: case onnx::kUint32: case onnx::kUint64: return DType::i64;
    case onnx::kUint8: return DType::u8;
    case onnx::kBool: return DType::boolean;
    default: return DType::f32;
  }
}

Rcpp::List wrap_values(const std::vector<Value>& v, const std::vector<std::string>& names) {
  Rcpp::List out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = wrap_value(v[i]);
  out.attr("names") = Rcpp::wrap(names);
  return out;
}

}  // namespace

// [[Rcpp::export]]
bool cpp_onnx_available() { return onnx::protobuf_available(); }

// input_shapes: named list of shapes (NA = unknown); bind: named list of R arrays fed as
// constants at import (converted to the type the model declares for that input).
// [[Rcpp::export]]
Rcpp::List cpp_import_onnx(std::string path, Rcpp::List input_shapes, Rcpp::List bind, bool free_batch) {
  SN_R_BEGIN
  onnx::ModelDef m = onnx::read_model_file(path);
  onnx::ImportOptions opt;
  opt.free_batch = free_batch;
  if (input_shapes.size()) {
    Rcpp::CharacterVector nm = input_shapes.names();
    for (R_xlen_t i = 0; i < input_shapes.size(); ++i)
      opt.input_shapes[Rcpp::as<std::string>(nm[i])] = shape_from_r(input_shapes[i]);
  }
  if (bind.size()) {
    Rcpp::CharacterVector nm = bind.names();
    for (R_xlen_t i = 0; i < bind.size(); ++i) {
      const std::string name = Rcpp::as<std::string>(nm[i]);
      int elem = onnx::kFloat;
      for (const onnx::ValueInfo& v : m.graph.inputs)
        if (v.name == name) elem = v.elem_type;
      opt.bound_inputs[name] = r_to_tensor(bind[i], declared_dtype(elem), false, "bound input '" + name + "'");
    }
  }
  onnx::ImportedModel im = onnx::import_model(m, opt);
  std::vector<std::string> tnames;
  std::vector<Value> tvals;
  for (const auto& kv : im.values) {
    tnames.push_back(kv.first);
    tvals.push_back(kv.second);
  }
  Rcpp::List vars(im.variables.size());
  for (size_t i = 0; i < im.variables.size(); ++i) vars[i] = wrap_variable(im.variables[i]);
  return Rcpp::List::create(
      Rcpp::Named("inputs") = wrap_values(im.inputs, im.input_names),
      Rcpp::Named("outputs") = wrap_values(im.outputs, im.output_names),
      Rcpp::Named("tensors") = wrap_values(tvals, tnames), Rcpp::Named("variables") = vars,
      Rcpp::Named("opset") = static_cast<double>(im.opset), Rcpp::Named("ir_version") = static_cast<double>(m.ir_version),
      Rcpp::Named("producer") = m.producer_name + (m.producer_version.empty() ? "" : " " + m.producer_version),
      Rcpp::Named("graph_name") = m.graph.name);
  SN_R_END
  return Rcpp::List();
}

// A serialized ONNX TensorProto (.pb) as an R array.
// [[Rcpp::export]]
SEXP cpp_onnx_read_tensor(std::string path) {
  SN_R_BEGIN
  onnx::TensorData t = onnx::read_tensor_file(path);
  return tensor_to_r(t.value.view());
  SN_R_END
  return R_NilValue;
}
