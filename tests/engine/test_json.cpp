// Graph JSON round trips, DOT rendering and the parser's handling of malformed input.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "engine/ir/dot.h"
#include "engine/ir/json.h"
#include "engine/passes/passes.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

namespace {

struct Model {
  Graph g;
  VariablePtr w;
};

// Touches every attribute type: ints, floats (with NaN/Inf), strings, tensors of several
// dtypes, a variable and a subgraph (fused body).
Model make_model() {
  AttrMap xa{{"name", std::string("x")},
             {"dtype", std::string("float32")},
             {"shape", std::vector<int64_t>{-1, 4}},
             {"_doc_float", std::nan("")},
             {"_doc_floats", std::vector<double>{INFINITY, -INFINITY, 0.1, 1e-300}},
             {"_doc_int", int64_t{-9007199254740993}},
             {"_doc_strings", std::vector<std::string>{"a\"b\\c", "caf\xc3\xa9\n\t\x01"}}};
  Value x = make_node("input", {}, xa, "x").at(0);
  VariablePtr w = Variable::create("w", random_tensor(DType::f32, {4}, 21));
  Value wv = op::variable(w);
  Value bias = op::constant(make_tensor(DType::f32, {4}, {0.5, -1, 2, 0}), "bias");
  Value mask = op::constant(make_tensor(DType::boolean, {4}, {1, 0, 1, 1}), "mask");
  Value idx = op::constant(make_tensor(DType::i64, {2}, {3, -4}), "idx");
  Value h = op::apply("clip", {op::add(op::mul(x, wv), bias)}, {{"min", -2.0}, {"max", INFINITY}});
  Value m = op::where(mask, h, op::neg(h));
  Value r = op::reshape(m, {-1, 2, 2});
  Value s = op::reduce_sum(r, {1, 2});
  Value k = op::cast(idx, DType::f32);
  Graph g = Graph::from_outputs({s, k}, {"s", "k"});
  g.inputs = {x};
  return {g, w};
}

std::vector<Tensor> run_json_model(const Graph& g, const Tensor& xin) { return run_graph(g, {xin}, false); }

ErrorKind parse_error_kind(const std::string& text) {
  try {
    graph_from_json(text);
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::internal;  // accepted
}

}  // namespace

TEST_CASE("graph JSON round trip preserves structure, attributes and results", "[json]") {
  Model mdl = make_model();
  std::string j1 = graph_to_json(mdl.g);
  CHECK(j1.find("\"format\": \"symnet-graph\"") != std::string::npos);
  CHECK(j1.find("\"version\": 1") != std::string::npos);
  std::vector<VariablePtr> vars;
  Graph back = graph_from_json(j1, &vars);
  REQUIRE(vars.size() == 1);
  CHECK(vars[0]->name == "w");
  CHECK(vars[0] != mdl.w);
  CHECK(std::memcmp(vars[0]->host().data(), mdl.w->host().data(), mdl.w->bytes()) == 0);
  CHECK(graph_to_json(back) == j1);
  CHECK(graph_to_dot(back, "m") == graph_to_dot(mdl.g, "m"));
  CHECK(back.output_names == mdl.g.output_names);

  const Node& xin = *back.inputs.at(0).node;
  CHECK(std::isnan(xin.attrs.get_float("_doc_float")));
  CHECK(xin.attrs.get_floats("_doc_floats") == mdl.g.inputs[0].node->attrs.get_floats("_doc_floats"));
  CHECK(xin.attrs.get_int("_doc_int") == -9007199254740993);
  CHECK(xin.attrs.get_strings("_doc_strings") == mdl.g.inputs[0].node->attrs.get_strings("_doc_strings"));
  CHECK(xin.outputs[0].shape == Shape{-1, 4});

  Tensor feed = random_tensor(DType::f32, {6, 4}, 22);
  std::vector<Tensor> want = run_json_model(mdl.g, feed), got = run_json_model(back, feed);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) check_close(got[i], want[i], 0);
}

TEST_CASE("graph JSON without variable values reads back zero-filled variables", "[json]") {
  Model mdl = make_model();
  std::string j = graph_to_json(mdl.g, false);
  std::vector<VariablePtr> vars;
  Graph back = graph_from_json(j, &vars);
  REQUIRE(vars.size() == 1);
  CHECK(vars[0]->shape() == Shape{4});
  CHECK(vars[0]->host().get_as_double(0) == 0);
  // Loading the values by name restores the model.
  vars[0]->host_for_write(false) = mdl.w->host().clone();
  Tensor feed = random_tensor(DType::f32, {2, 4}, 23);
  check_close(run_json_model(back, feed)[0], run_json_model(mdl.g, feed)[0], 0);
}

TEST_CASE("graph JSON carries fused subgraphs", "[json]") {
  Value x = op::input("x", DType::f64, {40, 60});
  Value y = op::mul(op::tanh(op::sub(x, op::scalar(0.5, DType::f64))), op::exp(x));
  Graph g = Graph::from_outputs({op::reduce_sum(y, {1}), y});
  g.inputs = {x};
  Graph f = optimize(g);
  REQUIRE(f.topo_order().size() > 0);
  bool has_fused = false;
  for (const NodePtr& n : f.topo_order()) has_fused = has_fused || n->op_name() == "fused_elementwise";
  REQUIRE(has_fused);
  std::string j = graph_to_json(f);
  Graph back = graph_from_json(j);
  CHECK(graph_to_json(back) == j);
  std::string dot = graph_to_dot(back);
  CHECK(dot == graph_to_dot(f));
  CHECK(dot.find("fused_elementwise") != std::string::npos);
  CHECK(dot.find("tanh") != std::string::npos);
  Tensor feed = random_tensor(DType::f64, {40, 60}, 24);
  std::vector<Tensor> want = run_graph(g, {feed}, false), got = run_graph(back, {feed}, false);
  for (size_t i = 0; i < got.size(); ++i) check_close(got[i], want[i], 1e-12);
}

TEST_CASE("graph_to_dot is deterministic and styles node kinds", "[json][dot]") {
  Model mdl = make_model();
  std::string d = graph_to_dot(mdl.g, "my \"model\"");
  CHECK(d == graph_to_dot(mdl.g, "my \"model\""));
  CHECK(d.rfind("digraph", 0) == 0);
  CHECK(d.find("label=\"my \\\"model\\\"\"") != std::string::npos);
  CHECK(d.find("shape=ellipse") != std::string::npos);   // input
  CHECK(d.find("shape=cylinder") != std::string::npos);  // variable
  CHECK(d.find("{0.5, -1, 2, 0}") != std::string::npos);  // tiny constant shows values
  CHECK(d.find("float32[?, 4]") != std::string::npos);    // edge / output types
  CHECK(d.find("label=\"s\", shape=plaintext") != std::string::npos);
  CHECK(d.back() == '\n');
}

TEST_CASE("graph_from_json rejects malformed input with value errors", "[json]") {
  Model mdl = make_model();
  std::string good = graph_to_json(mdl.g);
  REQUIRE(parse_error_kind(good) == ErrorKind::internal);

  // Every truncation is an error, never a crash.
  for (size_t n = 0; n < good.size(); n += (n < 200 ? 1 : 7)) {
    INFO("prefix length " << n);
    CHECK(parse_error_kind(good.substr(0, n)) == ErrorKind::value);
  }
  // Random byte damage: accepted or a value error, never a crash.
  std::mt19937 rng(42);
  for (int trial = 0; trial < 300; ++trial) {
    std::string bad = good;
    for (int k = 0; k < 3; ++k) bad[rng() % bad.size()] = static_cast<char>(rng() % 128);
    ErrorKind e = parse_error_kind(bad);
    CHECK((e == ErrorKind::value || e == ErrorKind::internal));
  }

  const char* cases[] = {
      "",
      "[]",
      "{}",
      "{\"format\": \"other\", \"version\": 1}",
      "{\"format\": \"symnet-graph\", \"version\": 2, \"nodes\": [], \"inputs\": [], \"outputs\": []}",
      "{\"format\": \"symnet-graph\", \"version\": 1, \"nodes\": [], \"inputs\": [], \"outputs\": [[0, 0]]}",
      "{\"format\": \"symnet-graph\", \"version\": 1, \"nodes\": [{\"id\": 0, \"op\": \"no_such_op\"}],"
      " \"inputs\": [], \"outputs\": [[0, 0]]}",
      // forward reference
      "{\"format\": \"symnet-graph\", \"version\": 1, \"nodes\": [{\"id\": 0, \"op\": \"exp\", \"inputs\": [[1, 0]]},"
      " {\"id\": 1, \"op\": \"input\", \"attrs\": {\"name\": {\"type\": \"string\", \"value\": \"x\"}}}],"
      " \"inputs\": [], \"outputs\": [[0, 0]]}",
      // bad base64 and wrong data length
      "{\"format\": \"symnet-graph\", \"version\": 1, \"nodes\": [{\"id\": 0, \"op\": \"constant\", \"attrs\":"
      " {\"value\": {\"type\": \"tensor\", \"value\": {\"dtype\": \"float32\", \"shape\": [2], \"data\": \"A$==\"}}}}],"
      " \"inputs\": [], \"outputs\": [[0, 0]]}",
      "{\"format\": \"symnet-graph\", \"version\": 1, \"nodes\": [{\"id\": 0, \"op\": \"constant\", \"attrs\":"
      " {\"value\": {\"type\": \"tensor\", \"value\": {\"dtype\": \"float32\", \"shape\": [2], \"data\": \"AAAA\"}}}}],"
      " \"inputs\": [], \"outputs\": [[0, 0]]}",
      // shape error inside a node: reported as a value error with the node named
      "{\"format\": \"symnet-graph\", \"version\": 1, \"nodes\": [{\"id\": 0, \"op\": \"input\", \"attrs\":"
      " {\"name\": {\"type\": \"string\", \"value\": \"x\"}, \"shape\": {\"type\": \"ints\", \"value\": [-7]}}}],"
      " \"inputs\": [[0, 0]], \"outputs\": [[0, 0]]}",
      "{\"format\": \"symnet-graph\", \"version\": 1, \"nodes\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
      "{\"a\": 1e999999, \"b\": -0.000e-99999, \"c\": \"\\ud800\"}",
  };
  for (const char* c : cases) {
    INFO(c);
    CHECK(parse_error_kind(c) == ErrorKind::value);
  }
  std::string deep(100000, '[');
  CHECK(parse_error_kind(deep) == ErrorKind::value);
}

TEST_CASE("graph JSON links map documents onto live nodes and variables", "[json]") {
  Value x = op::input("x", DType::f32, {-1, 3});
  VariablePtr w = Variable::create("w", random_tensor(DType::f32, {3}, 31));
  Value y = op::reduce_sum(op::mul(x, op::variable(w)), {1});
  Graph g = Graph::from_outputs({y}, {"y"});
  JsonLinks written;
  const std::string json = graph_to_json(g, false, &written);
  REQUIRE(written.nodes.size() == g.topo_order().size());
  REQUIRE(written.variables.size() == 1);
  CHECK(written.variables[0] == w);

  SECTION("bound variables are used, not created, and existing nodes are reused") {
    std::vector<VariablePtr> bound{w};
    JsonBindings bind;
    bind.variables = &bound;
    const size_t x_pos = std::find(written.nodes.begin(), written.nodes.end(), x.node) - written.nodes.begin();
    REQUIRE(x_pos < written.nodes.size());
    bind.existing = [&](size_t k) { return k == x_pos ? x.node : NodePtr(); };
    JsonLinks read;
    Graph r = graph_from_json(json, nullptr, -1, &bind, &read);
    REQUIRE(read.nodes.size() == written.nodes.size());
    CHECK(read.nodes[x_pos] == x.node);
    CHECK(read.variables[0] == w);
    CHECK(r.inputs.at(0).node == x.node);
    // the rebuilt product reads the live variable: same values as the original graph
    Tensor xv = random_tensor(DType::f32, {2, 3}, 32);
    CHECK(run_graph(r, {xv})[0].get_as_double(1) == Approx(run_graph(g, {xv})[0].get_as_double(1)));
  }
  SECTION("bindings that do not match the document are value errors") {
    std::vector<VariablePtr> wrong{Variable::create("w", random_tensor(DType::f32, {4}, 33))};
    JsonBindings bind;
    bind.variables = &wrong;
    CHECK_THROWS_AS(graph_from_json(json, nullptr, -1, &bind), Error);
    std::vector<VariablePtr> none;
    bind.variables = &none;
    CHECK_THROWS_AS(graph_from_json(json, nullptr, -1, &bind), Error);
    std::vector<VariablePtr> ok{w};
    bind.variables = &ok;
    bind.existing = [&](size_t) { return y.node; };  // wrong op for the first node
    CHECK_THROWS_AS(graph_from_json(json, nullptr, -1, &bind), Error);
  }
}
