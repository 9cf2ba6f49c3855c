// Caffe protobuf (text .prototxt, binary .caffemodel) -> NetDef (caffe_model.h). The only
// file that includes the generated message classes; without protobuf it compiles to
// readers that say how to enable them.
#include <fstream>
#include <limits>

#include "engine/base/error.h"
#include "engine/io/caffe/caffe_model.h"
#include "engine/io/file_bytes.h"

#ifdef SYMNET_HAVE_PROTOBUF
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include "engine/io/caffe/caffe_subset.pb.h"
#endif

namespace symnet {
namespace caffe {

#ifndef SYMNET_HAVE_PROTOBUF

namespace {
[[noreturn]] void no_protobuf() {
  SN_THROW(ErrorKind::unsupported,
           "symnet was installed without protobuf, which reading Caffe files needs. Install it "
           "(Debian/Ubuntu: apt install libprotobuf-dev protobuf-compiler; Fedora: protobuf-devel; "
           "macOS: brew install protobuf; Windows: Rtools includes it) and reinstall symnet from source");
}
}  // namespace

NetDef parse_prototxt(const std::string&) { no_protobuf(); }
NetDef read_prototxt_file(const std::string&) { no_protobuf(); }
NetDef parse_caffemodel(const std::string&) { no_protobuf(); }
NetDef read_caffemodel_file(const std::string&) { no_protobuf(); }

#else

namespace {

namespace pb = symnet_caffe;
namespace gp = google::protobuf;


// A blob's values as a float32 tensor. The shape is checked against the values the file
// holds before the tensor is allocated.
Blob convert_blob(const pb::BlobProto& b, const std::string& what) {
  Shape shape;
  if (b.has_shape()) {
    shape.assign(b.shape().dim().begin(), b.shape().dim().end());
  } else if (b.has_num() || b.has_channels() || b.has_height() || b.has_width()) {
    shape = {b.num(), b.channels(), b.height(), b.width()};
  } else {
    shape = {static_cast<int64_t>(b.data_size() ? b.data_size() : b.double_data_size())};
  }
  SN_CHECK(static_cast<int64_t>(shape.size()) <= kMaxRank, ErrorKind::value,
           what << " has " << shape.size() << " dimensions (at most " << kMaxRank << ")");
  int64_t numel = 1;
  for (int64_t d : shape) {
    SN_CHECK(d >= 0, ErrorKind::value, what << " has a negative dimension (" << d << ")");
    SN_CHECK(d == 0 || numel <= (int64_t{1} << 40) / d, ErrorKind::value,
             what << " claims more values than any file could hold (shape " << shape_str(shape) << ")");
    numel *= d;
  }
  SN_CHECK(b.data_size() == 0 || b.double_data_size() == 0, ErrorKind::value,
           what << " holds both float and double data");
  const int64_t have = b.data_size() ? b.data_size() : b.double_data_size();
  SN_CHECK(have == numel, ErrorKind::value,
           what << " has " << have << " values but its shape " << shape_str(shape) << " needs " << numel);
  Blob out;
  out.value = Tensor(DType::f32, shape);
  float* p = out.value.ptr<float>();
  if (b.data_size()) {
    std::copy(b.data().begin(), b.data().end(), p);
  } else {
    for (int64_t i = 0; i < have; ++i) p[i] = static_cast<float>(b.double_data(static_cast<int>(i)));
  }
  return out;
}

// Every set field of a parameter message, flattened into dotted keys (caffe_model.h).
void flatten_fields(const gp::Message& m, const std::string& prefix, std::map<std::string, Field>& out) {
  const gp::Reflection* r = m.GetReflection();
  std::vector<const gp::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const gp::FieldDescriptor* f : fields) {
    const std::string key = prefix + f->name();
    const bool rep = f->is_repeated();
    const int n = rep ? r->FieldSize(m, f) : 1;
    if (f->cpp_type() == gp::FieldDescriptor::CPPTYPE_MESSAGE) {
      for (int i = 0; i < n; ++i)
        flatten_fields(rep ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f),
                       key + (rep ? "." + std::to_string(i) : std::string()) + ".", out);
      continue;
    }
    Field& v = out[key];
    for (int i = 0; i < n; ++i) {
      switch (f->cpp_type()) {
        case gp::FieldDescriptor::CPPTYPE_INT32:
          v.ints.push_back(rep ? r->GetRepeatedInt32(m, f, i) : r->GetInt32(m, f));
          break;
        case gp::FieldDescriptor::CPPTYPE_INT64:
          v.ints.push_back(rep ? r->GetRepeatedInt64(m, f, i) : r->GetInt64(m, f));
          break;
        case gp::FieldDescriptor::CPPTYPE_UINT32:
          v.ints.push_back(rep ? r->GetRepeatedUInt32(m, f, i) : r->GetUInt32(m, f));
          break;
        case gp::FieldDescriptor::CPPTYPE_UINT64: {
          const uint64_t u = rep ? r->GetRepeatedUInt64(m, f, i) : r->GetUInt64(m, f);
          v.ints.push_back(u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                               ? std::numeric_limits<int64_t>::max()
                               : static_cast<int64_t>(u));
          break;
        }
        case gp::FieldDescriptor::CPPTYPE_BOOL:
          v.ints.push_back((rep ? r->GetRepeatedBool(m, f, i) : r->GetBool(m, f)) ? 1 : 0);
          break;
        case gp::FieldDescriptor::CPPTYPE_ENUM:
          v.ints.push_back(rep ? r->GetRepeatedEnumValue(m, f, i) : r->GetEnumValue(m, f));
          break;
        case gp::FieldDescriptor::CPPTYPE_FLOAT:
          v.reals.push_back(rep ? r->GetRepeatedFloat(m, f, i) : r->GetFloat(m, f));
          break;
        case gp::FieldDescriptor::CPPTYPE_DOUBLE:
          v.reals.push_back(rep ? r->GetRepeatedDouble(m, f, i) : r->GetDouble(m, f));
          break;
        case gp::FieldDescriptor::CPPTYPE_STRING:
          v.strings.push_back(rep ? r->GetRepeatedString(m, f, i) : r->GetString(m, f));
          break;
        default: break;
      }
    }
  }
}

// The *_param messages of a layer (current or V1 format: the same field names).
std::map<std::string, Field> layer_params(const gp::Message& layer) {
  std::map<std::string, Field> out;
  const gp::Reflection* r = layer.GetReflection();
  std::vector<const gp::FieldDescriptor*> fields;
  r->ListFields(layer, &fields);
  for (const gp::FieldDescriptor* f : fields) {
    const std::string& n = f->name();
    if (f->cpp_type() == gp::FieldDescriptor::CPPTYPE_MESSAGE && !f->is_repeated() && n.size() > 6 &&
        n.compare(n.size() - 6, 6, "_param") == 0)
      flatten_fields(r->GetMessage(layer, f), n + ".", out);
  }
  return out;
}

template <typename Rules>
std::vector<Rule> convert_rules(const Rules& rules) {
  std::vector<Rule> out;
  for (const pb::NetStateRule& r : rules) {
    Rule x;
    x.phase = r.has_phase() ? static_cast<int>(r.phase()) : -1;
    x.levels_or_stages = r.has_min_level() || r.has_max_level() || r.stage_size() || r.not_stage_size();
    out.push_back(x);
  }
  return out;
}

template <typename Blobs>
std::vector<Blob> convert_blobs(const Blobs& blobs, const std::string& layer) {
  std::vector<Blob> out;
  int i = 0;
  for (const pb::BlobProto& b : blobs)
    out.push_back(convert_blob(b, "blob " + std::to_string(i++) + " of layer '" + layer + "'"));
  return out;
}

Layer convert_layer(const pb::LayerParameter& l) {
  Layer out;
  out.name = l.name();
  out.type = l.type();
  out.bottoms.assign(l.bottom().begin(), l.bottom().end());
  out.tops.assign(l.top().begin(), l.top().end());
  out.blobs = convert_blobs(l.blobs(), l.name());
  out.params = layer_params(l);
  out.include = convert_rules(l.include());
  out.exclude = convert_rules(l.exclude());
  if (l.has_phase()) out.phase = l.phase();
  return out;
}

// V1 type -> the current format's type name (for the types symnet converts).
std::string v1_type_name(pb::V1LayerParameter::LayerType t) {
  using V1 = pb::V1LayerParameter;
  switch (t) {
    case V1::CONCAT: return "Concat";
    case V1::CONVOLUTION: return "Convolution";
    case V1::DROPOUT: return "Dropout";
    case V1::ELTWISE: return "Eltwise";
    case V1::FLATTEN: return "Flatten";
    case V1::INNER_PRODUCT: return "InnerProduct";
    case V1::LRN: return "LRN";
    case V1::POOLING: return "Pooling";
    case V1::RELU: return "ReLU";
    case V1::SIGMOID: return "Sigmoid";
    case V1::SOFTMAX: return "Softmax";
    case V1::SPLIT: return "Split";
    case V1::TANH: return "TanH";
    default: break;
  }
  return V1::LayerType_Name(t);
}

Layer convert_v1_layer(const pb::V1LayerParameter& l) {
  Layer out;
  out.name = l.name();
  out.type = v1_type_name(l.type());
  out.bottoms.assign(l.bottom().begin(), l.bottom().end());
  out.tops.assign(l.top().begin(), l.top().end());
  out.blobs = convert_blobs(l.blobs(), l.name());
  out.params = layer_params(l);
  out.include = convert_rules(l.include());
  out.exclude = convert_rules(l.exclude());
  return out;
}

NetDef convert_net(const pb::NetParameter& net) {
  NetDef out;
  out.name = net.name();
  SN_CHECK(net.layer_size() == 0 || net.layers_size() == 0, ErrorKind::value,
           "the network mixes the current ('layer') and the V1 ('layers') layer formats");
  out.inputs.assign(net.input().begin(), net.input().end());
  const size_t n_in = out.inputs.size();
  out.input_dims.assign(n_in, {});
  if (net.input_shape_size()) {
    SN_CHECK(static_cast<size_t>(net.input_shape_size()) == n_in, ErrorKind::value,
             "the network has " << n_in << " inputs but " << net.input_shape_size() << " input_shape entries");
    for (size_t i = 0; i < n_in; ++i) {
      const auto& d = net.input_shape(static_cast<int>(i)).dim();
      out.input_dims[i].assign(d.begin(), d.end());
    }
  } else if (net.input_dim_size()) {
    SN_CHECK(static_cast<size_t>(net.input_dim_size()) == 4 * n_in, ErrorKind::value,
             "the network has " << n_in << " inputs but " << net.input_dim_size()
                                << " input_dim values (4 per input: num, channels, height, width)");
    for (size_t i = 0; i < n_in; ++i)
      for (int k = 0; k < 4; ++k) out.input_dims[i].push_back(net.input_dim(static_cast<int>(4 * i) + k));
  }
  for (const pb::LayerParameter& l : net.layer()) out.layers.push_back(convert_layer(l));
  for (const pb::V1LayerParameter& l : net.layers()) out.layers.push_back(convert_v1_layer(l));
  return out;
}

// An unknown field inside a layer's parameters could change what the layer computes: the
// message refusing it. Unknown fields of the net or of a layer itself (data-layer and
// solver settings, fields of other Caffe forks) are skipped: "".
std::string unknown_field_refusal(int line, const std::string& warning) {
  const std::string type_mark = "Message type \"", field_mark = "has no field named \"";
  const size_t t = warning.find(type_mark), f = warning.find(field_mark);
  if (t == std::string::npos || f == std::string::npos) return "";
  const size_t t0 = t + type_mark.size(), f0 = f + field_mark.size();
  std::string type = warning.substr(t0, warning.find('"', t0) - t0);
  const std::string field = warning.substr(f0, warning.find('"', f0) - f0);
  const std::string pkg = "symnet_caffe.";
  if (type.rfind(pkg, 0) == 0) type = type.substr(pkg.size());
  if (type == "NetParameter" || type == "LayerParameter" || type == "V1LayerParameter") return "";
  return "Caffe prototxt line " + std::to_string(line) + ": field '" + field + "' of " + type +
         " is not one symnet reads";
}

// Keeps the text parser's first error and the first unknown field it must refuse (every
// warning is looked at: a file may skip any number of harmless fields first).
class Collector : public gp::io::ErrorCollector {
 public:
#if defined(GOOGLE_PROTOBUF_VERSION) && GOOGLE_PROTOBUF_VERSION < 4022000
  void AddError(int line, gp::io::ColumnNumber column, const std::string& message) override {
    error(line, column, message);
  }
  void AddWarning(int line, gp::io::ColumnNumber, const std::string& message) override { warning(line, message); }
#else
  void RecordError(int line, gp::io::ColumnNumber column, absl::string_view message) override {
    error(line, column, std::string(message));
  }
  void RecordWarning(int line, gp::io::ColumnNumber, absl::string_view message) override {
    warning(line, std::string(message));
  }
#endif
  std::string first_error, refusal;

 private:
  void error(int line, int column, const std::string& message) {
    if (first_error.empty())
      first_error = "line " + std::to_string(line + 1) + ", column " + std::to_string(column + 1) + ": " + message;
  }
  void warning(int line, const std::string& message) {
    if (refusal.empty()) refusal = unknown_field_refusal(line + 1, message);
  }
};

}  // namespace

NetDef parse_prototxt(const std::string& text) {
  pb::NetParameter net;
  gp::TextFormat::Parser parser;
  Collector collector;
  parser.RecordErrorsTo(&collector);
  parser.AllowUnknownField(true);
  SN_CHECK(parser.ParseFromString(text, &net), ErrorKind::value,
           "not a valid Caffe prototxt" << (collector.first_error.empty() ? "" : ": " + collector.first_error));
  if (!collector.refusal.empty()) throw Error(ErrorKind::unsupported, collector.refusal);
  return convert_net(net);
}

NetDef read_prototxt_file(const std::string& path) {
  return parse_prototxt(io::read_file_bytes(path, "Caffe prototxt", int64_t{64} << 20));
}

NetDef parse_caffemodel(const std::string& bytes) {
  pb::NetParameter net;
  SN_CHECK(net.ParseFromString(bytes), ErrorKind::value,
           "not a valid Caffe model: the protobuf message is malformed, truncated or nested too deeply");
  return convert_net(net);
}

NetDef read_caffemodel_file(const std::string& path) {
  return parse_caffemodel(io::read_file_bytes(path, "Caffe model", std::numeric_limits<int>::max()));
}

#endif  // SYMNET_HAVE_PROTOBUF

}  // namespace caffe
}  // namespace symnet
