// ONNX export: every op case of the registry-wide table whose op exports is written to
// ONNX bytes, parsed and imported back, and must compute what the original graph does;
// ops without an ONNX equivalent are refused with `unsupported`, never written wrong.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>

#include "engine/io/onnx/onnx_export.h"
#include "engine/io/onnx/onnx_export_context.h"
#include "engine/io/onnx/onnx_import.h"
#include "engine/io/onnx/onnx_model.h"
#include "engine/passes/passes.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

#ifndef SYMNET_HAVE_PROTOBUF
TEST_CASE("without protobuf ONNX export says how to enable it", "[onnx_export]") {
  Value x = op::input("x", DType::f32, {2});
  try {
    onnx::serialize_model(onnx::export_model(Graph::from_outputs({op::relu(x)})));
    FAIL("no error");
  } catch (const Error& e) {
    REQUIRE(e.kind() == ErrorKind::unsupported);
    REQUIRE(std::string(e.what()).find("protobuf") != std::string::npos);
  }
}
#else

namespace {

// Export -> bytes -> parse -> import: the graph ONNX gives back, inputs in the same order.
Graph round_trip(const Graph& g, int64_t opset = 17, onnx::ModelDef* written = nullptr) {
  onnx::ExportOptions opt;
  opt.opset = opset;
  onnx::ModelDef m = onnx::export_model(g, opt);
  if (written) *written = m;
  const std::string bytes = onnx::serialize_model(m);
  onnx::ImportedModel im = onnx::import_model(onnx::parse_model(bytes, ""));
  Graph back = Graph::from_outputs(im.outputs);
  back.inputs = im.inputs;
  return back;
}

bool is_random(const std::string& op) { return op.rfind("random_", 0) == 0; }

// The case's graph with only the outputs ONNX has (a recurrent op's reserve is internal).
Graph exportable_graph(const OpCase& c) {
  Graph g = op_graph(c.op, c.inputs, c.attrs);
  if (c.op == "rnn" || c.op == "gru") g.outputs.resize(2);
  if (c.op == "lstm") g.outputs.resize(3);
  g.output_names.clear();
  return g;
}

// Largest difference between two tensors of the same type, or a message why they differ.
std::string compare(const Tensor& got, const Tensor& want, double tol) {
  if (got.dtype() != want.dtype() || got.shape() != want.shape())
    return std::string("type ") + dtype_name(got.dtype()) + shape_str(got.shape()) + " instead of " +
           dtype_name(want.dtype()) + shape_str(want.shape());
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double a = got.get_as_double(i), b = want.get_as_double(i);
    if (std::isnan(a) && std::isnan(b)) continue;
    if (a == b) continue;
    if (!(std::abs(a - b) <= tol * (1 + std::abs(b))))
      return "element " + std::to_string(i) + ": " + std::to_string(a) + " instead of " + std::to_string(b);
  }
  return "";
}

// One case: "" when it round-trips (or is refused with `unsupported` where no exporter
// exists), else what went wrong.
std::string check_case(const OpCase& c, std::set<std::string>& ops_exported, int& refused) {
  const auto& table = onnx::op_exporters();
  Graph g = exportable_graph(c);
  Graph back;
  try {
    back = round_trip(g);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::unsupported) return std::string("unclassed refusal: ") + e.what();
    ++refused;
    return "";
  }
  // `call` is inlined before export; every other op needs its exporter.
  if (!table.count(c.op) && c.op != "call") return "exported op '" + c.op + "', which has no exporter";
  // Training-mode cases run differently once exported for inference; the values of the
  // case in inference mode are what an exported model must reproduce.
  Graph inference = set_training_mode(g, false);
  std::vector<Tensor> want = run_graph(inference, c.inputs);
  std::vector<Tensor> got = run_graph(back, c.inputs);
  if (got.size() != want.size()) return "a different number of outputs";
  for (size_t i = 0; i < got.size(); ++i) {
    std::string diff;
    if (is_random(c.op)) {
      if (got[i].shape() != want[i].shape() || got[i].dtype() != want[i].dtype()) diff = "another type";
    } else {
      diff = compare(got[i], want[i], std::max(c.tol, 1e-5));
    }
    if (!diff.empty()) return "output " + std::to_string(i) + ": " + diff;
  }
  ops_exported.insert(c.op);
  return "";
}

}  // namespace

TEST_CASE("every exportable op case round-trips through ONNX with the same values", "[onnx_export]") {
  int refused = 0;
  std::set<std::string> ops_exported;
  std::vector<std::string> failures;
  for (const OpCase& c : all_cases()) {
    std::string why;
    try {
      why = check_case(c, ops_exported, refused);
    } catch (const std::exception& e) {
      why = std::string("threw: ") + e.what();
    }
    if (!why.empty()) failures.push_back(case_name(c) + ": " + why);
  }
  for (const std::string& f : failures) UNSCOPED_INFO(f);
  CHECK(failures.empty());
  // Most ops export (the rest: gradient, fused, loss and control-flow ops).
  INFO(ops_exported.size() << " ops exported, " << refused << " cases refused");
  CHECK(ops_exported.size() >= 90);
  for (const char* op : {"conv", "batch_norm", "lstm", "gru", "rnn", "gemm", "slice", "layer_norm", "max_pool"})
    CHECK(ops_exported.count(op));
}

TEST_CASE("ONNX export names inputs, outputs and initializers after the graph", "[onnx_export]") {
  Value x = op::input("features", DType::f32, {kUnknownDim, 3});
  VariablePtr w = Variable::create("dense/w", random_tensor(DType::f32, {3, 2}, 1));
  VariablePtr b = Variable::create("dense/b", random_tensor(DType::f32, {2}, 2));
  Value y = op::relu(op::add(op::matmul(x, op::variable(w)), op::variable(b)));
  Graph g = Graph::from_outputs({y, x}, {"scores", "echo"});
  onnx::ModelDef m = onnx::export_model(g);
  REQUIRE(m.opsets.at("") == 17);
  REQUIRE(m.ir_version == 8);
  REQUIRE(m.graph.inputs.size() == 1);
  REQUIRE(m.graph.inputs[0].name == "features");
  REQUIRE(m.graph.inputs[0].dims == std::vector<int64_t>{-1, 3});
  REQUIRE(m.graph.inputs[0].dim_params[0] == "N");
  REQUIRE(m.graph.outputs.size() == 2);
  REQUIRE(m.graph.outputs[0].name == "scores");
  REQUIRE(m.graph.outputs[1].name == "echo");  // an input as output goes through Identity
  std::set<std::string> inits;
  for (const auto& t : m.graph.initializers) inits.insert(t.name);
  REQUIRE(inits == std::set<std::string>{"dense/w", "dense/b"});
  bool relu_named = false;
  for (const auto& n : m.graph.nodes) relu_named = relu_named || (n.op_type == "Relu" && n.outputs[0] == "scores");
  REQUIRE(relu_named);

  // Imported back: the same parameters by name, and a free batch dimension.
  onnx::ImportedModel im = onnx::import_model(onnx::parse_model(onnx::serialize_model(m), ""));
  REQUIRE(im.input_names == std::vector<std::string>{"features"});
  REQUIRE(im.output_names == std::vector<std::string>{"scores", "echo"});
  REQUIRE(im.variables.size() == 2);
  Tensor feed = random_tensor(DType::f32, {5, 3}, 3);
  Graph back = Graph::from_outputs(im.outputs);
  back.inputs = im.inputs;
  std::vector<Tensor> got = run_graph(back, {feed});
  std::vector<Tensor> want = run_graph(g, {feed});
  check_close(got[0], want[0], 0);
  check_close(got[1], feed, 0);
}

TEST_CASE("ONNX export writes batch norm running statistics and drops dropout", "[onnx_export]") {
  Value x = op::input("x", DType::f32, {kUnknownDim, 2, 3, 3});
  auto var = [](const char* name, Shape s, uint64_t seed, double lo) {
    return op::variable(Variable::create(name, random_tensor(DType::f32, s, seed, lo, lo + 1)));
  };
  Value bn = op::apply("batch_norm", {x, var("g", {2}, 1, 0.5), var("b", {2}, 2, 0), var("m", {2}, 3, 0),
                                      var("v", {2}, 4, 0.5)},
                       {{"epsilon", 1e-3}, {"training", int64_t{0}}});
  Value y = op::apply("dropout", {bn}, {{"ratio", 0.5}, {"training", int64_t{1}}});
  Graph g = Graph::from_outputs({y}, {"y"});
  onnx::ModelDef m;
  Graph back = round_trip(g, 17, &m);
  std::set<std::string> ops;
  for (const auto& n : m.graph.nodes) ops.insert(n.op_type);
  REQUIRE(ops.count("BatchNormalization"));
  REQUIRE(!ops.count("Dropout"));
  Tensor feed = random_tensor(DType::f32, {4, 2, 3, 3}, 9);
  check_close(run_graph(back, {feed})[0], run_graph(set_training_mode(g, false), {feed})[0], 1e-6);
}

TEST_CASE("ONNX export before opset 17 composes layer norm; opsets outside 13..17 are refused", "[onnx_export]") {
  Value x = op::input("x", DType::f32, {2, 4});
  Value s = op::variable(Variable::create("s", random_tensor(DType::f32, {4}, 1)));
  Value bias = op::variable(Variable::create("b", random_tensor(DType::f32, {4}, 2)));
  Graph g = Graph::from_outputs({op::apply("layer_norm", {x, s, bias}, {{"epsilon", 1e-5}})});
  onnx::ModelDef m;
  Graph back = round_trip(g, 13, &m);
  for (const auto& n : m.graph.nodes) REQUIRE(n.op_type != "LayerNormalization");
  Tensor feed = random_tensor(DType::f32, {2, 4}, 5);
  check_close(run_graph(back, {feed})[0], run_graph(g, {feed})[0], 1e-5);
  for (int64_t bad : {12, 18}) {
    onnx::ExportOptions opt;
    opt.opset = bad;
    try {
      onnx::export_model(g, opt);
      FAIL("no error");
    } catch (const Error& e) {
      REQUIRE(e.kind() == ErrorKind::value);
    }
  }
}

TEST_CASE("ONNX export refuses internal outputs and writes files atomically", "[onnx_export]") {
  Tensor xs = random_tensor(DType::f32, {3, 2, 4}, 1);
  Value x = op::input("x", DType::f32, {3, 2, 4});
  Value w = op::variable(Variable::create("w", random_tensor(DType::f32, {1, 20, 4}, 2)));
  Value r = op::variable(Variable::create("r", random_tensor(DType::f32, {1, 20, 5}, 3)));
  std::vector<Value> outs = make_node("lstm", {x, w, r}, {{"hidden_size", int64_t{5}}});
  // The reserve output (the last) has no ONNX equivalent.
  try {
    onnx::export_model(Graph::from_outputs({outs.back()}));
    FAIL("no error");
  } catch (const Error& e) {
    REQUIRE(e.kind() == ErrorKind::unsupported);
    REQUIRE(std::string(e.what()).find("lstm") != std::string::npos);
  }
  // A failed write leaves the previous file; a good one replaces it.
  const std::string path = "test_onnx_export_tmp.onnx";
  { std::ofstream(path) << "old"; }
  onnx::ModelDef m = onnx::export_model(Graph::from_outputs({outs[0]}));
  try {
    onnx::write_model_file(m, "no_such_dir/x.onnx");
    FAIL("no error");
  } catch (const Error& e) {
    REQUIRE(e.kind() == ErrorKind::value);
  }
  onnx::write_model_file(m, path);
  onnx::ImportedModel im = onnx::import_model(onnx::read_model_file(path));
  std::remove(path.c_str());
  Graph back = Graph::from_outputs(im.outputs);
  back.inputs = im.inputs;
  check_close(run_graph(back, {xs})[0], run_graph(Graph::from_outputs({outs[0]}), {xs})[0], 1e-6);
}

#endif

#ifdef SYMNET_HAVE_PROTOBUF
TEST_CASE("ONNX export writes cond as If, scan as Scan and while_loop as Loop with their bodies as subgraphs",
          "[onnx_export]") {
  // The importer reads none of them yet: the written bytes are parsed back and their
  // structure checked here; ONNX Runtime runs them in tests/testthat/test-onnx-export.R.
  const std::map<std::string, std::string> want = {{"cond", "If"}, {"scan", "Scan"}, {"while_loop", "Loop"}};
  std::set<std::string> seen;
  for (const OpCase& c : all_cases()) {
    if (!want.count(c.op) || seen.count(c.op)) continue;
    if (c.op == "scan" && c.attrs.get_int("n_sequences", 0) == 0) continue;
    if (c.op == "while_loop" && (c.attrs.get_int("error_at_max", 0) || c.attrs.get_int("record", 0))) continue;
    Graph g = op_graph(c.op, c.inputs, c.attrs);
    onnx::ModelDef m = onnx::parse_model(onnx::serialize_model(onnx::export_model(g)), "");
    const onnx::Node* node = nullptr;
    for (const auto& n : m.graph.nodes)
      if (n.op_type == want.at(c.op)) node = &n;
    INFO(case_name(c));
    REQUIRE(node != nullptr);
    REQUIRE(node->outputs.size() == g.outputs.size());
    for (const char* body : {"then_branch", "else_branch", "body"}) {
      const onnx::Attribute* a = node->attr(body);
      if (!a) continue;
      REQUIRE(a->type == onnx::Attribute::g);
      const onnx::GraphDef& sub = *a->g_value;
      REQUIRE(!sub.nodes.empty());
      if (c.op == "cond") {
        // Branches read the arguments by name: no inputs of their own.
        REQUIRE(sub.inputs.empty());
        REQUIRE(sub.outputs.size() == g.outputs.size());
      } else if (c.op == "while_loop") {
        // (iteration, condition, loop variables...) -> (condition, new variables...)
        const int64_t V = c.attrs.get_int("n_vars");
        REQUIRE(static_cast<int64_t>(sub.inputs.size()) == V + 2);
        REQUIRE(static_cast<int64_t>(sub.outputs.size()) == V + 1);
        REQUIRE(sub.outputs[0].elem_type == onnx::kBool);
        REQUIRE(node->inputs.size() == static_cast<size_t>(V + 2));
      } else {
        const int64_t S = c.attrs.get_int("n_states"), Q = c.attrs.get_int("n_sequences");
        REQUIRE(static_cast<int64_t>(sub.inputs.size()) == S + Q);
        REQUIRE(node->inputs.size() == static_cast<size_t>(S + Q));
        REQUIRE(node->attr("num_scan_inputs")->i_value == Q);
      }
    }
    seen.insert(c.op);
  }
  REQUIRE(seen.size() == 3);
}
#endif
