// Folding inference-mode batch norms into the conv or dense product before them
// (passes/fold_batch_norm.cpp): same results as the unfolded graph, weights and statistics
// read from the variables at every run, training graphs and shared products untouched.
#include "engine/exec/executable.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/ops/builder.h"
#include "engine/passes/passes.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

namespace {

struct Bn {
  VariablePtr gamma, beta, mean, var;
};

Value param(const std::string& name, DType t, const Shape& s, uint64_t seed, double lo, double hi,
            std::vector<VariablePtr>* vars = nullptr) {
  VariablePtr v = Variable::create(name, random_tensor(t, s, seed, lo, hi));
  if (vars) vars->push_back(v);
  return op::variable(v);
}

// A batch norm over c channels of x with random statistics (var in [0.5, 2]).
Value batch_norm(const Value& x, int64_t c, uint64_t seed, Bn* bn = nullptr, int64_t training = 0) {
  std::vector<VariablePtr> v;
  const DType t = x.dtype();
  Value g = param("gamma", t, {c}, seed, 0.5, 1.5, &v), b = param("beta", t, {c}, seed + 1, -1, 1, &v);
  Value m = param("mean", t, {c}, seed + 2, -1, 1, &v), s = param("var", t, {c}, seed + 3, 0.5, 2, &v);
  if (bn) *bn = {v[0], v[1], v[2], v[3]};
  return op::apply("batch_norm", {x, g, b, m, s}, {{"epsilon", 1e-3}, {"training", training}});
}

Value conv(const Value& x, const Value& w, const Value& b, int64_t group = 1) {
  std::vector<Value> in{x, w};
  if (b.defined()) in.push_back(b);
  return op::apply("conv", in, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}, {"group", group}});
}

void check_folds_to_same(const Graph& g, const std::vector<Tensor>& feeds, double tol) {
  Graph f = fold_batch_norms(g);
  CHECK(count_op(g, "batch_norm") == 1);
  CHECK(count_op(f, "batch_norm") == 0);
  std::vector<Tensor> want = run_graph(g, feeds, false);
  std::vector<Tensor> folded = run_graph(f, feeds, false);
  std::vector<Tensor> optimized = run_graph(g, feeds, true);
  REQUIRE(folded.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    check_close(folded[i], want[i], tol);
    check_close(optimized[i], want[i], tol);
  }
}

}  // namespace

TEST_CASE("fold_batch_norms folds conv + batch norm + relu", "[passes][fold_bn]") {
  Value x = op::input("x", DType::f32, {2, 3, 7, 7});
  Value y = op::relu(batch_norm(conv(x, param("w", DType::f32, {4, 3, 3, 3}, 1, -1, 1),
                                     param("b", DType::f32, {4}, 2, -1, 1)),
                                4, 10));
  Graph g = graph_of({x}, {y});
  check_folds_to_same(g, {random_tensor(DType::f32, {2, 3, 7, 7}, 3)}, 1e-5);
  // The folded conv carries a bias; nothing of the batch norm survives optimization.
  Graph o = optimize(g, nullptr, false);
  CHECK(count_op(o, "batch_norm") == 0);
  CHECK(count_op(o, "conv") == 1);
}

TEST_CASE("fold_batch_norms folds a conv without bias, grouped and depthwise convs", "[passes][fold_bn]") {
  Value x = op::input("x", DType::f32, {2, 4, 6, 6});
  SECTION("no bias") {
    Value y = batch_norm(conv(x, param("w", DType::f32, {5, 4, 3, 3}, 1, -1, 1), Value{}), 5, 20);
    check_folds_to_same(graph_of({x}, {y}), {random_tensor(DType::f32, {2, 4, 6, 6}, 4)}, 1e-5);
  }
  SECTION("two groups") {
    Value y = batch_norm(conv(x, param("w", DType::f32, {6, 2, 3, 3}, 1, -1, 1), param("b", DType::f32, {6}, 2, -1, 1), 2),
                         6, 30);
    check_folds_to_same(graph_of({x}, {y}), {random_tensor(DType::f32, {2, 4, 6, 6}, 5)}, 1e-5);
  }
  SECTION("depthwise, then clip as ReLU6") {
    Value y = batch_norm(conv(x, param("w", DType::f32, {4, 1, 3, 3}, 1, -1, 1), Value{}, 4), 4, 40);
    y = op::apply("clip", {y}, {{"min", 0.0}, {"max", 6.0}});
    check_folds_to_same(graph_of({x}, {y}), {random_tensor(DType::f32, {2, 4, 6, 6}, 6, -4, 4)}, 1e-5);
  }
}

TEST_CASE("fold_batch_norms folds a dense layer's matmul, with and without its bias add", "[passes][fold_bn]") {
  Value x = op::input("x", DType::f32, {5, 8});
  Value w = param("w", DType::f32, {8, 6}, 1, -1, 1);
  SECTION("bias [C]") {
    Value y = batch_norm(op::add(op::matmul(x, w), param("b", DType::f32, {6}, 2, -1, 1)), 6, 50);
    check_folds_to_same(graph_of({x}, {y}), {random_tensor(DType::f32, {5, 8}, 7)}, 1e-5);
  }
  SECTION("bias [1, C], first operand of the add") {
    Value y = batch_norm(op::add(param("b", DType::f32, {1, 6}, 2, -1, 1), op::matmul(x, w)), 6, 60);
    check_folds_to_same(graph_of({x}, {y}), {random_tensor(DType::f32, {5, 8}, 8)}, 1e-5);
  }
  SECTION("no bias") {
    Value y = batch_norm(op::matmul(x, w), 6, 70);
    check_folds_to_same(graph_of({x}, {y}), {random_tensor(DType::f32, {5, 8}, 9)}, 1e-5);
  }
}

TEST_CASE("fold_batch_norms is exact up to rounding in float64", "[passes][fold_bn]") {
  Value x = op::input("x", DType::f64, {2, 3, 5, 5});
  Value y = batch_norm(conv(x, param("w", DType::f64, {4, 3, 3, 3}, 1, -1, 1), param("b", DType::f64, {4}, 2, -1, 1)),
                       4, 80);
  check_folds_to_same(graph_of({x}, {y}), {random_tensor(DType::f64, {2, 3, 5, 5}, 10)}, 1e-12);
}

TEST_CASE("fold_batch_norms leaves shared products and training-mode batch norms alone", "[passes][fold_bn]") {
  Value x = op::input("x", DType::f32, {2, 3, 6, 6});
  Value c = conv(x, param("w", DType::f32, {4, 3, 3, 3}, 1, -1, 1), Value{});
  SECTION("the conv's output has a second reader") {
    Graph g = graph_of({x}, {op::add(batch_norm(c, 4, 90), op::relu(c))});
    Graph f = fold_batch_norms(g);
    CHECK(count_op(f, "batch_norm") == 1);
    check_close(run_graph(g, {random_tensor(DType::f32, {2, 3, 6, 6}, 11)}, true).at(0),
                run_graph(g, {random_tensor(DType::f32, {2, 3, 6, 6}, 11)}, false).at(0), 1e-5);
  }
  SECTION("the conv's output is also a graph output") {
    Graph g = graph_of({x}, {batch_norm(c, 4, 91), c});
    CHECK(count_op(fold_batch_norms(g), "batch_norm") == 1);
  }
  SECTION("training mode") {
    Graph g = graph_of({x}, {batch_norm(c, 4, 92, nullptr, 1)});
    Graph f = fold_batch_norms(g);
    CHECK(count_op(f, "batch_norm") == 1);
    CHECK(f.num_nodes() == g.num_nodes());
  }
  SECTION("a batch norm after something other than a product") {
    Graph g = graph_of({x}, {batch_norm(op::relu(c), 4, 93)});
    CHECK(count_op(fold_batch_norms(g), "batch_norm") == 1);
  }
}

TEST_CASE("folded weights follow the variables between runs", "[passes][fold_bn]") {
  Value x = op::input("x", DType::f32, {2, 3, 6, 6});
  std::vector<VariablePtr> wv;
  Bn bn;
  Value y = batch_norm(conv(x, param("w", DType::f32, {4, 3, 3, 3}, 1, -1, 1, &wv), Value{}), 4, 100, &bn);
  Graph g = graph_of({x}, {y});
  Tensor xv = random_tensor(DType::f32, {2, 3, 6, 6}, 12);
  auto ex = compile_on_target(g, {{DType::f32, {2, 3, 6, 6}}});
  CHECK(count_op(ex->graph(), "batch_norm") == 0);
  for (int round = 0; round < 3; ++round) {
    ex->run({xv.view()});
    Tensor got = to_tensor(ex->output(0));
    check_close(got, run_graph(g, {xv}, false).at(0), 1e-5);
    // As training or set_weights would: new weights and statistics for the next run.
    wv[0]->host_for_write(false) = random_tensor(DType::f32, {4, 3, 3, 3}, 200 + round);
    bn.gamma->host_for_write(false) = random_tensor(DType::f32, {4}, 300 + round, 0.5, 1.5);
    bn.mean->host_for_write(false) = random_tensor(DType::f32, {4}, 400 + round);
    bn.var->host_for_write(false) = random_tensor(DType::f32, {4}, 500 + round, 0.5, 2);
  }
}

TEST_CASE("batch norms on constant weights fold away entirely", "[passes][fold_bn]") {
  Value x = op::input("x", DType::f32, {1, 2, 5, 5});
  auto k = [](const Shape& s, uint64_t seed, double lo, double hi) { return op::constant(random_tensor(DType::f32, s, seed, lo, hi)); };
  Value c = conv(x, k({3, 2, 3, 3}, 1, -1, 1), Value{});
  Value y = op::apply("batch_norm", {c, k({3}, 2, 0.5, 1.5), k({3}, 3, -1, 1), k({3}, 4, -1, 1), k({3}, 5, 0.5, 2)},
                      {{"epsilon", 1e-5}});
  Graph g = graph_of({x}, {y});
  Graph o = optimize(g, nullptr, false);
  CHECK(count_op(o, "batch_norm") == 0);
  CHECK(o.num_nodes() == 4);  // x, the folded weights and bias (constants), conv
  check_close(run_graph(g, {random_tensor(DType::f32, {1, 2, 5, 5}, 6)}, true).at(0),
              run_graph(g, {random_tensor(DType::f32, {1, 2, 5, 5}, 6)}, false).at(0), 1e-5);
}

TEST_CASE("the CPU runs conv -> batch norm -> relu / ReLU6 as one conv_clip node", "[passes][fold_bn][conv_clip]") {
  Value x = op::input("x", DType::f32, {2, 4, 6, 6});
  Value c = conv(x, param("w", DType::f32, {4, 1, 3, 3}, 1, -1, 1), Value{}, 4);
  Value relu6 = op::apply("clip", {batch_norm(c, 4, 110)}, {{"min", 0.0}, {"max", 6.0}});
  Value c2 = conv(relu6, param("w2", DType::f32, {3, 4, 3, 3}, 2, -1, 1), param("b2", DType::f32, {3}, 3, -1, 1));
  Value y = op::relu(c2);
  Graph g = graph_of({x}, {y});
  Graph o = optimize(g, nullptr, true, "cpu");
  CHECK(count_op(o, "conv_clip") == 2);
  CHECK(count_op(o, "conv") == 0);
  CHECK(count_op(o, "clip") == 0);
  CHECK(count_op(o, "relu") == 0);
  Tensor xv = random_tensor(DType::f32, {2, 4, 6, 6}, 13, -4, 4);
  check_close(run_graph(g, {xv}, true).at(0), run_graph(g, {xv}, false).at(0), 1e-5);
}

TEST_CASE("conv_clip is not formed when the unbounded conv output is needed", "[passes][conv_clip]") {
  Value x = op::input("x", DType::f32, {1, 2, 5, 5});
  Value c = conv(x, param("w", DType::f32, {3, 2, 3, 3}, 1, -1, 1), Value{});
  Graph g = graph_of({x}, {op::relu(c), op::neg(c)});
  Graph o = fuse_conv_clip(g);
  CHECK(count_op(o, "conv_clip") == 0);
  CHECK(count_op(o, "relu") == 1);
  // A clip with one bound only is fused when the conv has one reader.
  Graph h = graph_of({x}, {op::apply("clip", {c}, {{"max", 0.25}})});
  Graph ho = fuse_conv_clip(h);
  REQUIRE(count_op(ho, "conv_clip") == 1);
  Tensor xv = random_tensor(DType::f32, {1, 2, 5, 5}, 14);
  check_close(run_graph(ho, {xv}, false).at(0), run_graph(h, {xv}, false).at(0), 1e-6);
}

TEST_CASE("clips in a row after a conv join its conv_clip when their bounds overlap", "[passes][conv_clip]") {
  Value x = op::input("x", DType::f32, {1, 2, 5, 5});
  Value c = conv(x, param("w", DType::f32, {3, 2, 3, 3}, 1, -1, 1), Value{});
  Tensor xv = random_tensor(DType::f32, {1, 2, 5, 5}, 15, -3, 3);
  // ReLU6 as ONNX importers write it: a clip to the lower bound, then one to the upper.
  Value relu6 = op::apply("clip", {op::apply("clip", {c}, {{"min", 0.0}})}, {{"max", 0.5}});
  Graph g = graph_of({x}, {relu6});
  Graph o = fuse_conv_clip(g);
  CHECK(count_op(o, "conv_clip") == 1);
  CHECK(count_op(o, "clip") == 0);
  check_close(run_graph(o, {xv}, false).at(0), run_graph(g, {xv}, false).at(0), 1e-6);
  // Disjoint bounds: clip to [0, 0.5], then to [2, 3], gives 2 everywhere; the intersection
  // is empty, so the second clip stays a node of its own.
  Value disjoint = op::apply("clip", {op::apply("clip", {c}, {{"min", 0.0}, {"max", 0.5}})}, {{"min", 2.0}, {"max", 3.0}});
  Graph h = graph_of({x}, {disjoint});
  Graph ho = fuse_conv_clip(h);
  CHECK(count_op(ho, "conv_clip") == 1);
  CHECK(count_op(ho, "clip") == 1);
  check_close(run_graph(ho, {xv}, false).at(0), run_graph(h, {xv}, false).at(0), 1e-6);
}
