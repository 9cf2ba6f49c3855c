#include "onnx_conformance.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <memory>
#include <set>
#include <sstream>
#include <sys/stat.h>

#include "engine/exec/executable.h"
#include "engine/io/onnx/onnx_import.h"

namespace symnet {
namespace test {

namespace {

std::vector<std::string> list_dir(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.rfind(prefix, 0) == 0) out.push_back(n);
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

// The scope: no string, sequence, optional, quantized, training or signal ops.
bool out_of_scope(const onnx::ModelDef& m) {
  static const std::set<std::string> ops = {
      "StringNormalizer", "RegexFullMatch", "StringConcat", "StringSplit", "TfIdfVectorizer", "SequenceAt",
      "SequenceConstruct", "SequenceEmpty", "SequenceErase", "SequenceInsert", "SequenceLength", "SequenceMap",
      "SplitToSequence", "ConcatFromSequence", "Optional", "OptionalGetElement", "OptionalHasElement",
      "QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger",
      "DynamicQuantizeLinear", "Adam", "Adagrad", "Momentum", "Gradient", "DFT", "STFT", "HannWindow",
      "HammingWindow", "BlackmanWindow", "MelWeightMatrix"};
  for (const onnx::Node& n : m.graph.nodes)
    if (ops.count(n.op_type)) return true;
  for (const auto* list : {&m.graph.inputs, &m.graph.outputs})
    for (const onnx::ValueInfo& v : *list)
      if (v.kind != "tensor" || v.elem_type == onnx::kString) return true;
  return false;
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// ONNX's backend tests compare with rtol 1e-3, atol 1e-7; float32 kernels here are
// allowed a little more absolute slack (summation order).
std::string compare(const Tensor& got, const onnx::TensorData& want) {
  const Tensor& w = want.value;
  if (got.shape() != w.shape())
    return "shape " + shape_str(got.shape()) + " instead of " + shape_str(w.shape());
  if (got.dtype() != w.dtype())
    return std::string("dtype ") + dtype_name(got.dtype()) + " instead of " + dtype_name(w.dtype());
  for (int64_t i = 0; i < w.numel(); ++i) {
    const double a = got.get_as_double(i), b = w.get_as_double(i);
    if (std::isnan(b) ? !std::isnan(a) : std::abs(a - b) > 1e-3 * std::abs(b) + 1e-5) {
      std::ostringstream s;
      s << "element " << i << ": " << a << " instead of " << b;
      return s.str();
    }
  }
  return "";
}

// The test data store bfloat16 (and some float16) tensors as their uint16 bits: read
// them as the graph declares them.
float bits_to_float(uint16_t b, int declared) {
  if (declared == onnx::kBfloat16) {
    const uint32_t u = static_cast<uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  const uint32_t sign = (b & 0x8000u) << 16, exp = (b >> 10) & 0x1Fu, man = b & 0x3FFu;
  if (exp == 0) return (sign ? -1.f : 1.f) * std::ldexp(static_cast<float>(man), -24);
  uint32_t u = exp == 0x1F ? (sign | 0x7F800000u | man << 13) : (sign | (exp + 112) << 23 | man << 13);
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

onnx::TensorData as_declared(onnx::TensorData t, int declared) {
  if ((declared == onnx::kBfloat16 || declared == onnx::kFloat16) && t.elem_type == onnx::kUint16) {
    Tensor f(DType::f32, t.value.shape());
    for (int64_t i = 0; i < f.numel(); ++i)
      f.ptr<float>()[i] = bits_to_float(static_cast<uint16_t>(t.value.ptr<int32_t>()[i]), declared);
    t.value = f;
    t.elem_type = declared;
  }
  return t;
}

int declared_type(const std::vector<onnx::ValueInfo>& list, size_t i) {
  return i < list.size() ? list[i].elem_type : onnx::kUndefined;
}

// Runs one data set; "" when every output matches.
std::string run_set(const onnx::ModelDef& m, const std::string& set_dir, bool bind, bool& used_binding) {
  std::vector<onnx::TensorData> inputs, outputs;
  for (size_t i = 0;; ++i) {
    const std::string p = set_dir + "/input_" + std::to_string(i) + ".pb";
    if (!exists(p)) break;
    inputs.push_back(onnx::read_tensor_file(p));
  }
  for (size_t i = 0;; ++i) {
    const std::string p = set_dir + "/output_" + std::to_string(i) + ".pb";
    if (!exists(p)) break;
    outputs.push_back(onnx::read_tensor_file(p));
  }
  // Graph inputs that are not initializers, in order, receive the data set's inputs.
  std::set<std::string> inits;
  for (const auto& t : m.graph.initializers) inits.insert(t.name);
  std::vector<std::string> names;
  std::vector<int> declared;
  for (const auto& v : m.graph.inputs)
    if (!inits.count(v.name)) {
      names.push_back(v.name);
      declared.push_back(v.elem_type);
    }
  for (size_t i = 0; i < inputs.size() && i < declared.size(); ++i) inputs[i] = as_declared(inputs[i], declared[i]);
  for (size_t i = 0; i < outputs.size(); ++i) outputs[i] = as_declared(outputs[i], declared_type(m.graph.outputs, i));
  if (names.size() < inputs.size()) return "more input files than graph inputs";
  onnx::ImportOptions opt;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (bind) opt.bound_inputs[names[i]] = inputs[i].value;
    else opt.input_shapes[names[i]] = inputs[i].value.shape();
  }
  used_binding = bind;
  onnx::ImportedModel im = onnx::import_model(m, opt);
  std::vector<TensorType> types;
  std::vector<TensorView> feeds;
  for (size_t i = 0; i < im.inputs.size(); ++i) {
    const auto it = std::find(names.begin(), names.end(), im.input_names[i]);
    const size_t k = static_cast<size_t>(it - names.begin());
    if (k >= inputs.size()) return "no data for input '" + im.input_names[i] + "'";
    types.push_back({inputs[k].value.dtype(), inputs[k].value.shape()});
    feeds.push_back(inputs[k].value.view());
  }
  Graph g = Graph::from_outputs(im.outputs);
  g.inputs = im.inputs;
  std::unique_ptr<Executable> ex = Executable::compile(g, types, CompileOptions{});
  ex->run(feeds);
  if (ex->num_outputs() != outputs.size())
    return std::to_string(ex->num_outputs()) + " outputs instead of " + std::to_string(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const TensorView v = ex->output(i);
    Tensor t(v.dtype, v.shape);
    if (t.bytes()) std::memcpy(t.data(), v.data, t.bytes());
    const std::string bad = compare(t, outputs[i]);
    if (!bad.empty()) return "output " + std::to_string(i) + ": " + bad;
  }
  return "";
}

}  // namespace

std::string onnx_node_test_dir() {
  const char* env = std::getenv("SYMNET_ONNX_NODE_TESTS");
  return env && *env ? env : "/usr/share/libonnx-testdata/data/node";
}

std::vector<ConformanceResult> run_onnx_node_tests(const std::string& dir) {
  std::vector<ConformanceResult> results;
  for (const std::string& name : list_dir(dir, "test_")) {
    ConformanceResult r;
    r.test = name;
    const std::string base = dir + "/" + name;
    try {
      onnx::ModelDef m = onnx::read_model_file(base + "/model.onnx");
      for (const onnx::Node& n : m.graph.nodes)
        if (n.op_type != "Constant") {
          r.op = n.op_type;
          break;
        }
      if (r.op.empty() && !m.graph.nodes.empty()) r.op = m.graph.nodes[0].op_type;
      if (name.size() > 9 && name.compare(name.size() - 9, 9, "_expanded") == 0) r.op += " (expanded)";
      r.in_scope = !out_of_scope(m);
      std::string failure;
      for (const std::string& set : list_dir(base, "test_data_set_")) {
        bool bound = false;
        std::string bad;
        try {
          bad = run_set(m, base + "/" + set, false, bound);
        } catch (const Error& e) {
          if (std::string(e.what()).find("must be known when the model is imported") == std::string::npos) throw;
          bad = run_set(m, base + "/" + set, true, bound);
        }
        r.bound = r.bound || bound;
        if (!bad.empty()) {
          failure = set + ": " + bad;
          break;
        }
      }
      r.passed = failure.empty();
      r.reason = failure;
    } catch (const Error& e) {
      r.reason = std::string(error_kind_name(e.kind())) + ": " + first_line(e.what());
    } catch (const std::exception& e) {
      r.reason = std::string("exception: ") + first_line(e.what());
    }
    results.push_back(r);
  }
  return results;
}

std::string conformance_report(const std::vector<ConformanceResult>& results, bool list_failures) {
  struct Count {
    int pass = 0, total = 0, bound = 0;
  };
  std::map<std::string, Count> per_op;
  int pass = 0, total = 0, bound = 0, out_scope = 0;
  for (const auto& r : results) {
    if (!r.in_scope) {
      ++out_scope;
      continue;
    }
    Count& c = per_op[r.op.empty() ? "(none)" : r.op];
    ++c.total;
    ++total;
    if (r.passed) {
      ++c.pass;
      ++pass;
      bound += r.bound;
      c.bound += r.bound;
    }
  }
  std::ostringstream s;
  s << "op                                  passed/tests\n"
    << "(\"bound\": the test feeds a shape-like operand (shape, axes, pads, ...) as a graph input; it\n"
    << " passes when that input is bound to the test's value at import, as import_onnx() allows)\n";
  for (const auto& kv : per_op) {
    s << "  " << kv.first;
    for (size_t i = kv.first.size(); i < 34; ++i) s << ' ';
    s << kv.second.pass << "/" << kv.second.total << (kv.second.pass == kv.second.total ? "" : "  FAIL");
    if (kv.second.bound) s << "  (" << kv.second.bound << " with inputs bound at import)";
    s << "\n";
  }
  if (list_failures) {
    s << "\nfailures:\n";
    for (const auto& r : results)
      if (r.in_scope && !r.passed) s << "  " << r.test << ": " << r.reason << "\n";
  }
  s << "\nin scope: " << pass << " of " << total << " passed (" << (total ? 100.0 * pass / total : 0.0) << " %; "
    << bound << " with shape-like inputs bound at import); " << out_scope
    << " tests out of scope (string, sequence, optional, quantized, training, signal)\n";
  return s.str();
}

}  // namespace test
}  // namespace symnet
