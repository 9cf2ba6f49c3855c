// ModelDef (onnx_model.h) -> ONNX protobuf bytes and files: the writing half of
// onnx_read.cpp. The only exporting file that includes the generated message classes;
// without protobuf it compiles to writers that say how to enable them.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>

#include "engine/io/onnx/onnx_export.h"

#ifdef SYMNET_HAVE_PROTOBUF
#include "engine/io/onnx/onnx_subset.pb.h"
#endif

namespace symnet {
namespace onnx {

#ifndef SYMNET_HAVE_PROTOBUF

namespace {
[[noreturn]] void no_protobuf() {
  SN_THROW(ErrorKind::unsupported,
           "symnet was installed without protobuf, which writing ONNX files needs. Install it "
           "(Debian/Ubuntu: apt install libprotobuf-dev protobuf-compiler; Fedora: protobuf-devel; "
           "macOS: brew install protobuf; Windows: Rtools includes it) and reinstall symnet from source");
}
}  // namespace

std::string serialize_model(const ModelDef&) { no_protobuf(); }
void write_model_file(const ModelDef&, const std::string&) { no_protobuf(); }

#else

namespace {

namespace pb = symnet_onnx;

// The ONNX element type of each engine dtype that export writes (engine tensors are
// stored little-endian in the element type's own width, which is raw_data's layout on
// the little-endian hosts R runs on).
int elem_of(DType t) {
  switch (t) {
    case DType::f32: return kFloat;
    case DType::f64: return kDouble;
    case DType::i32: return kInt32;
    case DType::i64: return kInt64;
    case DType::u8: return kUint8;
    case DType::boolean: return kBool;
    default: break;
  }
  SN_THROW(ErrorKind::unsupported, "cannot write a " << dtype_name(t) << " tensor to ONNX");
}

void fill_tensor(const TensorData& t, pb::TensorProto* out) {
  out->set_name(t.name);
  const int elem = elem_of(t.value.dtype());
  SN_CHECK(t.elem_type == kUndefined || t.elem_type == elem, ErrorKind::internal,
           "tensor '" << t.name << "' is declared " << elem_type_name(t.elem_type) << " but holds "
                      << dtype_name(t.value.dtype()));
  out->set_data_type(elem);
  for (int64_t d : t.value.shape()) out->add_dims(d);
  if (t.value.bytes()) out->set_raw_data(t.value.data(), t.value.bytes());
}

void fill_value_info(const ValueInfo& vi, pb::ValueInfoProto* out) {
  out->set_name(vi.name);
  pb::TypeProto::Tensor* tt = out->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(vi.elem_type);
  if (!vi.has_shape) return;
  pb::TensorShapeProto* shape = tt->mutable_shape();
  for (size_t d = 0; d < vi.dims.size(); ++d) {
    pb::TensorShapeProto::Dimension* dim = shape->add_dim();
    if (vi.dims[d] >= 0) {
      dim->set_dim_value(vi.dims[d]);
    } else if (d < vi.dim_params.size() && !vi.dim_params[d].empty()) {
      dim->set_dim_param(vi.dim_params[d]);
    }
  }
}

void fill_graph(const GraphDef& g, pb::GraphProto* out);

void fill_attribute(const Attribute& a, pb::AttributeProto* out) {
  out->set_name(a.name);
  out->set_type(static_cast<pb::AttributeProto::AttributeType>(a.type));
  switch (a.type) {
    case Attribute::f: out->set_f(a.f_value); break;
    case Attribute::i: out->set_i(a.i_value); break;
    case Attribute::s: out->set_s(a.s_value); break;
    case Attribute::t: fill_tensor(a.t_value, out->mutable_t()); break;
    case Attribute::g: fill_graph(*a.g_value, out->mutable_g()); break;
    case Attribute::floats:
      for (float v : a.floats_value) out->add_floats(v);
      break;
    case Attribute::ints:
      for (int64_t v : a.ints_value) out->add_ints(v);
      break;
    case Attribute::strings:
      for (const std::string& s : a.strings_value) out->add_strings(s);
      break;
    default:
      SN_THROW(ErrorKind::internal, "cannot write an ONNX attribute of type " << attribute_type_name(a.type));
  }
}

void fill_graph(const GraphDef& g, pb::GraphProto* out) {
  out->set_name(g.name);
  for (const TensorData& t : g.initializers) fill_tensor(t, out->add_initializer());
  for (const ValueInfo& vi : g.inputs) fill_value_info(vi, out->add_input());
  for (const ValueInfo& vi : g.outputs) fill_value_info(vi, out->add_output());
  for (const ValueInfo& vi : g.value_info) fill_value_info(vi, out->add_value_info());
  for (const Node& n : g.nodes) {
    pb::NodeProto* pn = out->add_node();
    pn->set_op_type(n.op_type);
    if (!n.name.empty()) pn->set_name(n.name);
    if (!n.domain.empty()) pn->set_domain(n.domain);
    for (const std::string& s : n.inputs) pn->add_input(s);
    for (const std::string& s : n.outputs) pn->add_output(s);
    for (const Attribute& a : n.attributes) fill_attribute(a, pn->add_attribute());
  }
}

}  // namespace

std::string serialize_model(const ModelDef& m) {
  pb::ModelProto proto;
  proto.set_ir_version(m.ir_version);
  proto.set_producer_name(m.producer_name);
  if (!m.producer_version.empty()) proto.set_producer_version(m.producer_version);
  if (!m.doc_string.empty()) proto.set_doc_string(m.doc_string);
  for (const auto& kv : m.opsets) {
    pb::OperatorSetIdProto* o = proto.add_opset_import();
    o->set_domain(kv.first);
    o->set_version(kv.second);
  }
  fill_graph(m.graph, proto.mutable_graph());
  std::string bytes;
  // Protobuf refuses messages over 2 GiB; the size check gives the reason instead of a
  // failed serialization.
  const size_t size = proto.ByteSizeLong();
  SN_CHECK(size < (size_t{1} << 31), ErrorKind::unsupported,
           "the ONNX model is " << size << " bytes, over protobuf's 2 GiB limit for one message");
  SN_CHECK(proto.SerializeToString(&bytes), ErrorKind::internal, "serializing the ONNX model failed");
  return bytes;
}

void write_model_file(const ModelDef& m, const std::string& path) {
  const std::string bytes = serialize_model(m);
  // Temporary file next to the target, so the rename stays on one file system.
  std::random_device rd;
  const std::string tmp = path + ".tmp" + std::to_string(rd() % 1000000);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    SN_CHECK(out, ErrorKind::value, "cannot write '" << tmp << "' (next to '" << path << "')");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      out.close();
      std::remove(tmp.c_str());
      SN_THROW(ErrorKind::value, "writing '" << path << "' failed (the disk may be full); the previous file is unchanged");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    SN_THROW(ErrorKind::value, "cannot replace '" << path << "'; the previous file (if any) is unchanged");
  }
}

#endif

}  // namespace onnx
}  // namespace symnet
