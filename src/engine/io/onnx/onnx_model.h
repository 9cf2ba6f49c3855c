// An ONNX model as plain C++ values: what the importer reads, independent of protobuf
// (onnx_read.cpp is the only file that sees the generated message classes, so everything
// else builds whether or not protobuf is installed).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/base/tensor.h"

namespace symnet {
namespace onnx {

// TensorProto.DataType codes used by the importer.
enum ElemType : int {
  kUndefined = 0, kFloat = 1, kUint8 = 2, kInt8 = 3, kUint16 = 4, kInt16 = 5, kInt32 = 6, kInt64 = 7,
  kString = 8, kBool = 9, kFloat16 = 10, kDouble = 11, kUint32 = 12, kUint64 = 13, kComplex64 = 14,
  kComplex128 = 15, kBfloat16 = 16
};
const char* elem_type_name(int code);

// A tensor value (initializer, Constant, attribute, test data). `value` holds it in the
// engine dtype that represents it exactly: int8/int16/uint16 widen to int32, uint32 to
// int64, float16/bfloat16 to float32 (elem_type keeps the declared code).
struct TensorData {
  std::string name;
  int elem_type = kUndefined;
  std::vector<int64_t> dims;
  Tensor value;
};

struct GraphDef;

struct Attribute {
  // AttributeProto.AttributeType
  enum Type : int { undefined = 0, f = 1, i = 2, s = 3, t = 4, g = 5, floats = 6, ints = 7, strings = 8, tensors = 9,
                    graphs = 10, sparse_tensor = 11, sparse_tensors = 12, type_proto = 13, type_protos = 14 };
  std::string name;
  int type = undefined;
  float f_value = 0;
  int64_t i_value = 0;
  std::string s_value;
  TensorData t_value;
  std::shared_ptr<GraphDef> g_value;
  std::vector<float> floats_value;
  std::vector<int64_t> ints_value;
  std::vector<std::string> strings_value;
  std::vector<TensorData> tensors_value;
  std::vector<std::shared_ptr<GraphDef>> graphs_value;
  std::string ref_attr_name;  // set inside function bodies only
};
const char* attribute_type_name(int type);

struct Node {
  std::string op_type, domain, name;
  std::vector<std::string> inputs, outputs;  // "" marks an omitted optional input/output
  std::vector<Attribute> attributes;
  const Attribute* attr(const std::string& n) const;
};

// The type of a graph input/output. kind: "tensor", "sequence", "map", "optional",
// "sparse_tensor" or "" (absent).
struct ValueInfo {
  std::string name;
  std::string kind;
  int elem_type = kUndefined;  // tensors: element type
  bool has_shape = false;
  std::vector<int64_t> dims;             // -1: unknown (symbolic or absent)
  std::vector<std::string> dim_params;   // the symbolic names, "" where numeric
};

struct GraphDef {
  std::string name;
  std::vector<Node> nodes;
  std::vector<TensorData> initializers;
  std::vector<ValueInfo> inputs, outputs, value_info;
};

struct ModelDef {
  int64_t ir_version = 0;
  std::map<std::string, int64_t> opsets;  // domain ("" = ai.onnx) -> version
  std::string producer_name, producer_version, doc_string;
  GraphDef graph;
};

// True when symnet was built with protobuf (else every reader throws `unsupported`).
bool protobuf_available();

// Reads a .onnx file. Tensors stored as external data are read from files next to it.
// Malformed, truncated or hostile files throw Error(value) naming what is wrong; nothing
// is allocated from a size the file claims before the bytes are there.
ModelDef read_model_file(const std::string& path);
ModelDef parse_model(const std::string& bytes, const std::string& base_dir);

// Reads a serialized TensorProto (the backend tests' input_N.pb / output_N.pb).
TensorData read_tensor_file(const std::string& path);

}  // namespace onnx
}  // namespace symnet
