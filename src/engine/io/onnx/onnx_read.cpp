// ONNX protobuf -> ModelDef (onnx_model.h). The only file that includes the generated
// message classes; without protobuf it compiles to readers that say how to enable them.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "engine/io/file_bytes.h"
#include "engine/io/onnx/onnx_model.h"

#ifdef SYMNET_HAVE_PROTOBUF
#include "engine/io/onnx/onnx_subset.pb.h"
#endif

namespace symnet {
namespace onnx {

const char* elem_type_name(int code) {
  static const char* names[] = {"undefined", "float",  "uint8",  "int8",      "uint16",     "int16",
                                "int32",     "int64",  "string", "bool",      "float16",    "double",
                                "uint32",    "uint64", "complex64", "complex128", "bfloat16"};
  if (code >= 0 && code < static_cast<int>(sizeof(names) / sizeof(names[0]))) return names[code];
  return code >= 17 && code <= 20 ? "float8" : "unknown";
}

const char* attribute_type_name(int type) {
  static const char* names[] = {"undefined", "float",   "int",    "string",        "tensor",
                                "graph",     "floats",  "ints",   "strings",       "tensors",
                                "graphs",    "sparse_tensor", "sparse_tensors", "type_proto", "type_protos"};
  return type >= 0 && type < 15 ? names[type] : "unknown";
}

const Attribute* Node::attr(const std::string& n) const {
  for (const Attribute& a : attributes)
    if (a.name == n) return &a;
  return nullptr;
}

#ifndef SYMNET_HAVE_PROTOBUF

bool protobuf_available() { return false; }

namespace {
[[noreturn]] void no_protobuf() {
  SN_THROW(ErrorKind::unsupported,
           "symnet was installed without protobuf, which reading ONNX files needs. Install it "
           "(Debian/Ubuntu: apt install libprotobuf-dev protobuf-compiler; Fedora: protobuf-devel; "
           "macOS: brew install protobuf; Windows: Rtools includes it) and reinstall symnet from source");
}
}  // namespace

ModelDef read_model_file(const std::string&) { no_protobuf(); }
ModelDef parse_model(const std::string&, const std::string&) { no_protobuf(); }
TensorData read_tensor_file(const std::string&) { no_protobuf(); }

#else

bool protobuf_available() { return true; }

namespace {

// Protobuf messages are limited to 2 GiB; larger ONNX models keep weights as external data.
std::string read_file_bytes(const std::string& path, const std::string& what) {
  return io::read_file_bytes(path, what, std::numeric_limits<int>::max());
}


namespace pb = symnet_onnx;

// The engine dtype holding an ONNX element type exactly, and the bytes per element in
// raw_data; 0 bytes: not representable.
struct FileLayout {
  DType dtype;
  size_t file_bytes;
};

FileLayout storage_of(int code, const std::string& what) {
  switch (code) {
    case kFloat: return {DType::f32, 4};
    case kDouble: return {DType::f64, 8};
    case kInt32: return {DType::i32, 4};
    case kInt64: return {DType::i64, 8};
    case kUint8: return {DType::u8, 1};
    case kBool: return {DType::boolean, 1};
    case kInt8: return {DType::i32, 1};
    case kInt16: return {DType::i32, 2};
    case kUint16: return {DType::i32, 2};
    case kUint32: return {DType::i64, 4};
    case kUint64: return {DType::i64, 8};
    case kFloat16: return {DType::f32, 2};
    case kBfloat16: return {DType::f32, 2};
    default: break;
  }
  SN_THROW(ErrorKind::unsupported, what << " has element type " << elem_type_name(code) << " (" << code
                                        << "), which symnet does not represent");
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu, bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (man << 13);  // inf / nan
  } else if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do {
        ++e;
        man <<= 1;
      } while (!(man & 0x400u));
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (man & 0x3FFu) << 13;
    }
  } else {
    bits = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_float(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Element i of the file representation (little-endian raw bytes) into the engine tensor.
void store_raw(int code, const unsigned char* p, Tensor& t, int64_t i, const std::string& what) {
  auto le = [p](int n) {
    uint64_t v = 0;
    for (int b = n - 1; b >= 0; --b) v = v << 8 | p[b];
    return v;
  };
  switch (code) {
    case kFloat: {
      const uint32_t u = static_cast<uint32_t>(le(4));
      std::memcpy(t.ptr<float>() + i, &u, 4);
      break;
    }
    case kDouble: {
      const uint64_t u = le(8);
      std::memcpy(t.ptr<double>() + i, &u, 8);
      break;
    }
    case kInt32: t.ptr<int32_t>()[i] = static_cast<int32_t>(static_cast<uint32_t>(le(4))); break;
    case kInt64: t.ptr<int64_t>()[i] = static_cast<int64_t>(le(8)); break;
    case kUint8: t.ptr<uint8_t>()[i] = p[0]; break;
    case kBool: t.ptr<bool>()[i] = p[0] != 0; break;
    case kInt8: t.ptr<int32_t>()[i] = static_cast<int8_t>(p[0]); break;
    case kInt16: t.ptr<int32_t>()[i] = static_cast<int16_t>(static_cast<uint16_t>(le(2))); break;
    case kUint16: t.ptr<int32_t>()[i] = static_cast<int32_t>(le(2)); break;
    case kUint32: t.ptr<int64_t>()[i] = static_cast<int64_t>(le(4)); break;
    case kUint64: {
      const uint64_t u = le(8);
      SN_CHECK(u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), ErrorKind::value,
               what << " holds the uint64 value " << u << ", beyond what symnet's int64 represents");
      t.ptr<int64_t>()[i] = static_cast<int64_t>(u);
      break;
    }
    case kFloat16: t.ptr<float>()[i] = half_to_float(static_cast<uint16_t>(le(2))); break;
    case kBfloat16: t.ptr<float>()[i] = bf16_to_float(static_cast<uint16_t>(le(2))); break;
    default: break;
  }
}

std::string external_bytes(const pb::TensorProto& tp, const std::string& base_dir, size_t want,
                           const std::string& what) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const pb::StringStringEntryProto& e : tp.external_data()) {
    auto number = [&](const std::string& v) {
      char* end = nullptr;
      const long long n = std::strtoll(v.c_str(), &end, 10);
      SN_CHECK(end && *end == '\0' && n >= 0, ErrorKind::value,
               what << ": external data field '" << e.key() << "' is not a byte count: '" << v << "'");
      return static_cast<int64_t>(n);
    };
    if (e.key() == "location") location = e.value();
    else if (e.key() == "offset") offset = number(e.value());
    else if (e.key() == "length") length = number(e.value());
  }
  SN_CHECK(!location.empty(), ErrorKind::value, what << " is stored externally but names no file");
  // ONNX requires a path relative to the model's folder and inside it.
  SN_CHECK(location[0] != '/' && location[0] != '\\' && location.find("..") == std::string::npos &&
               location.find(':') == std::string::npos,
           ErrorKind::value, what << ": external data location '" << location << "' is not a relative path inside the model's folder");
  SN_CHECK(length < 0 || static_cast<uint64_t>(length) == want, ErrorKind::value,
           what << ": external data length " << length << " does not match its shape and type (" << want << " bytes)");
  const std::string path = (base_dir.empty() ? std::string(".") : base_dir) + "/" + location;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  SN_CHECK(in, ErrorKind::value, what << ": cannot open its external data file '" << path << "'");
  const std::streamoff size = in.tellg();
  SN_CHECK(size >= 0 && static_cast<uint64_t>(offset) + want <= static_cast<uint64_t>(size), ErrorKind::value,
           what << ": external data file '" << path << "' has " << size << " bytes; the tensor needs " << want
                << " from offset " << offset);
  std::string bytes(want, '\0');
  in.seekg(offset);
  in.read(&bytes[0], static_cast<std::streamsize>(want));
  SN_CHECK(static_cast<size_t>(in.gcount()) == want, ErrorKind::value, what << ": short read from '" << path << "'");
  return bytes;
}

TensorData convert_tensor(const pb::TensorProto& tp, const std::string& base_dir, const std::string& context) {
  TensorData out;
  out.name = tp.name();
  out.elem_type = tp.data_type();
  const std::string what = context + (out.name.empty() ? "" : " '" + out.name + "'");
  SN_CHECK(!tp.has_segment(), ErrorKind::unsupported, what << " is a segment of a larger tensor, which symnet does not read");
  Shape shape;
  int64_t numel = 1;
  for (int64_t d : tp.dims()) {
    SN_CHECK(d >= 0, ErrorKind::value, what << " has a negative dimension (" << d << ")");
    SN_CHECK(d == 0 || numel <= (int64_t{1} << 48) / d, ErrorKind::value,
             what << " claims more elements than any file could hold");
    numel *= d;
    shape.push_back(d);
  }
  SN_CHECK(shape.size() <= 32, ErrorKind::value, what << " has " << shape.size() << " dimensions (at most 32)");
  out.dims = shape;
  const FileLayout st = storage_of(out.elem_type, what);
  const size_t want = static_cast<size_t>(numel) * st.file_bytes;

  auto check_count = [&](int64_t got, const char* field) {
    SN_CHECK(got == numel, ErrorKind::value,
             what << " has " << got << " values in " << field << " but its shape " << shape_str(shape) << " needs "
                  << numel);
  };
  if (tp.data_location() == pb::TensorProto::EXTERNAL) {
    const std::string bytes = external_bytes(tp, base_dir, want, what);
    out.value = Tensor(st.dtype, shape);
    for (int64_t i = 0; i < numel; ++i)
      store_raw(out.elem_type, reinterpret_cast<const unsigned char*>(bytes.data()) + i * st.file_bytes, out.value, i, what);
    return out;
  }
  if (tp.has_raw_data()) {
    SN_CHECK(tp.raw_data().size() == want, ErrorKind::value,
             what << " has " << tp.raw_data().size() << " bytes of raw data but its shape " << shape_str(shape)
                  << " and type " << elem_type_name(out.elem_type) << " need " << want);
    out.value = Tensor(st.dtype, shape);
    const auto* p = reinterpret_cast<const unsigned char*>(tp.raw_data().data());
    for (int64_t i = 0; i < numel; ++i) store_raw(out.elem_type, p + i * st.file_bytes, out.value, i, what);
    return out;
  }
  switch (out.elem_type) {
    case kFloat:
      check_count(tp.float_data_size(), "float_data");
      out.value = Tensor(st.dtype, shape);
      std::copy(tp.float_data().begin(), tp.float_data().end(), out.value.ptr<float>());
      break;
    case kDouble:
      check_count(tp.double_data_size(), "double_data");
      out.value = Tensor(st.dtype, shape);
      std::copy(tp.double_data().begin(), tp.double_data().end(), out.value.ptr<double>());
      break;
    case kInt64:
      check_count(tp.int64_data_size(), "int64_data");
      out.value = Tensor(st.dtype, shape);
      std::copy(tp.int64_data().begin(), tp.int64_data().end(), out.value.ptr<int64_t>());
      break;
    case kUint32:
    case kUint64: {
      check_count(tp.uint64_data_size(), "uint64_data");
      out.value = Tensor(st.dtype, shape);
      for (int64_t i = 0; i < numel; ++i) {
        const uint64_t u = tp.uint64_data(static_cast<int>(i));
        SN_CHECK(u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), ErrorKind::value,
                 what << " holds the value " << u << ", beyond what symnet's int64 represents");
        out.value.ptr<int64_t>()[i] = static_cast<int64_t>(u);
      }
      break;
    }
    default: {  // int32_data carries every narrower type, float16/bfloat16 as their bits
      check_count(tp.int32_data_size(), "int32_data");
      out.value = Tensor(st.dtype, shape);
      for (int64_t i = 0; i < numel; ++i) {
        const int32_t v = tp.int32_data(static_cast<int>(i));
        switch (out.elem_type) {
          case kUint8: out.value.ptr<uint8_t>()[i] = static_cast<uint8_t>(v); break;
          case kBool: out.value.ptr<bool>()[i] = v != 0; break;
          case kFloat16: out.value.ptr<float>()[i] = half_to_float(static_cast<uint16_t>(v)); break;
          case kBfloat16: out.value.ptr<float>()[i] = bf16_to_float(static_cast<uint16_t>(v)); break;
          default: out.value.ptr<int32_t>()[i] = v; break;
        }
      }
    }
  }
  return out;
}

ValueInfo convert_value_info(const pb::ValueInfoProto& vi) {
  ValueInfo out;
  out.name = vi.name();
  if (!vi.has_type()) return out;
  const pb::TypeProto& t = vi.type();
  if (t.has_tensor_type()) {
    out.kind = "tensor";
    out.elem_type = t.tensor_type().elem_type();
    if (t.tensor_type().has_shape()) {
      out.has_shape = true;
      for (const auto& d : t.tensor_type().shape().dim()) {
        const bool known = d.has_dim_value() && d.dim_value() >= 0;
        out.dims.push_back(known ? d.dim_value() : -1);
        out.dim_params.push_back(d.has_dim_param() ? d.dim_param() : "");
      }
    }
  } else if (t.has_sequence_type()) {
    out.kind = "sequence";
  } else if (t.has_map_type()) {
    out.kind = "map";
  } else if (t.has_optional_type()) {
    out.kind = "optional";
  } else if (t.has_sparse_tensor_type()) {
    out.kind = "sparse_tensor";
  }
  return out;
}

std::shared_ptr<GraphDef> convert_graph(const pb::GraphProto& g, const std::string& base_dir);

Attribute convert_attribute(const pb::AttributeProto& a, const std::string& base_dir, const std::string& node) {
  Attribute out;
  out.name = a.name();
  out.type = a.type();
  out.ref_attr_name = a.ref_attr_name();
  const std::string what = "attribute '" + a.name() + "' of node '" + node + "'";
  switch (out.type) {
    case Attribute::f: out.f_value = a.f(); break;
    case Attribute::i: out.i_value = a.i(); break;
    case Attribute::s: out.s_value = a.s(); break;
    case Attribute::t: out.t_value = convert_tensor(a.t(), base_dir, "tensor of " + what); break;
    case Attribute::g: out.g_value = convert_graph(a.g(), base_dir); break;
    case Attribute::floats: out.floats_value.assign(a.floats().begin(), a.floats().end()); break;
    case Attribute::ints: out.ints_value.assign(a.ints().begin(), a.ints().end()); break;
    case Attribute::strings: out.strings_value.assign(a.strings().begin(), a.strings().end()); break;
    case Attribute::tensors:
      for (const auto& t : a.tensors()) out.tensors_value.push_back(convert_tensor(t, base_dir, "tensor of " + what));
      break;
    case Attribute::graphs:
      for (const auto& sub : a.graphs()) out.graphs_value.push_back(convert_graph(sub, base_dir));
      break;
    case Attribute::undefined:
      // Files from before IR version 2 leave the type out: infer it from the field set.
      if (a.has_f()) out.type = Attribute::f, out.f_value = a.f();
      else if (a.has_i()) out.type = Attribute::i, out.i_value = a.i();
      else if (a.has_s()) out.type = Attribute::s, out.s_value = a.s();
      else if (a.has_t()) out.type = Attribute::t, out.t_value = convert_tensor(a.t(), base_dir, "tensor of " + what);
      else if (a.has_g()) out.type = Attribute::g, out.g_value = convert_graph(a.g(), base_dir);
      else if (a.floats_size()) out.type = Attribute::floats, out.floats_value.assign(a.floats().begin(), a.floats().end());
      else if (a.ints_size()) out.type = Attribute::ints, out.ints_value.assign(a.ints().begin(), a.ints().end());
      else if (a.strings_size()) out.type = Attribute::strings, out.strings_value.assign(a.strings().begin(), a.strings().end());
      break;
    default: break;  // sparse tensors and type protos: kept as their type; the importer refuses them by name
  }
  return out;
}

std::shared_ptr<GraphDef> convert_graph(const pb::GraphProto& g, const std::string& base_dir) {
  auto out = std::make_shared<GraphDef>();
  out->name = g.name();
  for (const pb::NodeProto& n : g.node()) {
    Node node;
    node.op_type = n.op_type();
    node.domain = n.domain();
    node.name = n.name();
    node.inputs.assign(n.input().begin(), n.input().end());
    node.outputs.assign(n.output().begin(), n.output().end());
    const std::string label = n.name().empty() ? n.op_type() : n.name();
    for (const pb::AttributeProto& a : n.attribute()) node.attributes.push_back(convert_attribute(a, base_dir, label));
    out->nodes.push_back(std::move(node));
  }
  for (const pb::TensorProto& t : g.initializer()) out->initializers.push_back(convert_tensor(t, base_dir, "initializer"));
  SN_CHECK(g.sparse_initializer_size() == 0, ErrorKind::unsupported,
           "graph '" << g.name() << "' has sparse initializers, which symnet does not read");
  for (const auto& v : g.input()) out->inputs.push_back(convert_value_info(v));
  for (const auto& v : g.output()) out->outputs.push_back(convert_value_info(v));
  for (const auto& v : g.value_info()) out->value_info.push_back(convert_value_info(v));
  return out;
}

std::string dir_of(const std::string& path) {
  const size_t slash = path.find_last_of("/\\");
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

}  // namespace

ModelDef parse_model(const std::string& bytes, const std::string& base_dir) {
  pb::ModelProto m;
  SN_CHECK(m.ParseFromString(bytes), ErrorKind::value,
           "not a valid ONNX model: the protobuf message is malformed, truncated or nested too deeply");
  SN_CHECK(m.has_graph(), ErrorKind::value, "not a valid ONNX model: it has no graph");
  ModelDef out;
  out.ir_version = m.ir_version();
  out.producer_name = m.producer_name();
  out.producer_version = m.producer_version();
  out.doc_string = m.doc_string();
  for (const pb::OperatorSetIdProto& o : m.opset_import()) {
    const std::string domain = o.domain() == "ai.onnx" ? "" : o.domain();
    out.opsets[domain] = o.version();
  }
  // IR version 3 and later must import the default domain; older files implied opset 1.
  if (!out.opsets.count("")) out.opsets[""] = 1;
  out.graph = std::move(*convert_graph(m.graph(), base_dir));
  return out;
}

ModelDef read_model_file(const std::string& path) {
  return parse_model(read_file_bytes(path, "ONNX model"), dir_of(path));
}

TensorData read_tensor_file(const std::string& path) {
  pb::TensorProto tp;
  SN_CHECK(tp.ParseFromString(read_file_bytes(path, "ONNX tensor file")), ErrorKind::value,
           "'" << path << "' is not a valid serialized ONNX tensor");
  return convert_tensor(tp, dir_of(path), "tensor");
}

#endif  // SYMNET_HAVE_PROTOBUF

}  // namespace onnx
}  // namespace symnet
