#include "engine/io/model_file.h"

#include <cstring>
#include <string>

#include "engine/base/error.h"
#include "engine/base/json_value.h"
#include "engine/ir/json.h"

namespace symnet {
namespace io {

namespace {

std::string st_shape_str(const std::string& dtype, const std::vector<int64_t>& s) {
  std::string o = dtype + "[";
  for (size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
  return o + "]";
}

// A metadata entry that holds a JSON array of strings.
std::vector<std::string> string_list(const StFile& st, const char* key) {
  const std::string* s = st.meta(key);
  if (!s) SN_THROW(ErrorKind::value, "Metadata " << key << " is missing.");
  json::Value v;
  try {
    v = json::parse(*s);
  } catch (const Error& e) {
    SN_THROW(ErrorKind::value, "Metadata " << key << " is not valid JSON (" << e.what() << ").");
  }
  if (v.kind != json::Value::array) SN_THROW(ErrorKind::value, "Metadata " << key << " is not a JSON array.");
  std::vector<std::string> out;
  for (const auto& x : v.items) {
    if (x.kind != json::Value::string) SN_THROW(ErrorKind::value, "Metadata " << key << " holds a non-string.");
    out.push_back(x.s);
  }
  return out;
}

}  // namespace

void bind_variable(Variable& v, const StFile& st, const StTensor& t, const uint8_t* p, size_t n) {
  const Tensor& cur = v.host_for_write(false);
  const char* want = st_dtype_code(cur.dtype());
  if (t.dtype != want || t.shape != cur.shape())
    SN_THROW(ErrorKind::value, "Variable \"" << v.name << "\" is " << st_shape_str(t.dtype, t.shape)
                                             << " in the data but " << st_shape_str(want, cur.shape())
                                             << " in the graph.");
  // parse_safetensors checked end <= data_len and end - begin = numel * size
  SN_CHECK(st.data_start + t.end <= n && t.end - t.begin == cur.bytes(), ErrorKind::internal,
           "bind_variable: tensor bounds not validated");
  if (cur.bytes()) std::memcpy(v.host_for_write(false).data(), p + st.data_start + t.begin, cur.bytes());
}

ModelFile read_model_file(const uint8_t* p, size_t n) {
  ModelFile m;
  m.st = parse_safetensors(p, n);
  const StFile& st = m.st;
  const std::string* format = st.meta("format");
  if (!format || *format != "symnet-model")
    SN_THROW(ErrorKind::value, "This is not a symnet model file (no __metadata__ with format \"symnet-model\").");
  const std::string* version = st.meta("version");
  if (!version || *version != "1")
    SN_THROW(ErrorKind::value, "Model format version \"" << (version ? *version : std::string("?"))
                                                         << "\" is not supported (this symnet reads version 1).");
  const std::string* graph = st.meta("graph");
  if (!graph) SN_THROW(ErrorKind::value, "Metadata graph is missing.");
  m.graph = graph_from_json(*graph, &m.variables, static_cast<int64_t>(st.data_len));
  for (const VariablePtr& v : m.variables) {
    const StTensor* t = st.find(v->name);
    if (!t) SN_THROW(ErrorKind::value, "The file has no data for variable \"" << v->name << "\".");
    bind_variable(*v, st, *t, p, n);
  }
  for (const std::string& o : string_list(st, "outputs")) {
    bool found = false;
    for (const auto& gn : m.graph.output_names) found = found || gn == o;
    if (!found) SN_THROW(ErrorKind::value, "The graph lacks output \"" << o << "\".");
  }
  string_list(st, "inputs");
  return m;
}

}  // namespace io
}  // namespace symnet
