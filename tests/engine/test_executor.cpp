#include "harness.h"

#include "engine/passes/passes.h"

using namespace symnet;
using namespace symnet::test;

TEST_CASE("compile specializes unknown dimensions and caches nothing across shapes", "[exec]") {
  Value x = op::input("x", DType::f32, {-1, 3});
  Value y = op::mul(op::exp(x), op::scalar(2.0, DType::f32));
  Graph g = Graph::from_outputs({y});
  for (int64_t n : {1, 4}) {
    Tensor xt = random_tensor(DType::f32, {n, 3}, n);
    auto out = run_graph(g, {xt});
    REQUIRE(out[0].shape() == Shape{n, 3});
    for (int64_t i = 0; i < xt.numel(); ++i)
      CHECK(out[0].get_as_double(i) == Approx(2 * std::exp(xt.get_as_double(i))).epsilon(1e-6));
  }
}

TEST_CASE("feeds of the wrong shape or dtype are rejected with feed errors", "[exec]") {
  Value x = op::input("x", DType::f32, {2, 3});
  Graph g = Graph::from_outputs({op::neg(x)});
  REQUIRE_THROWS_AS(run_graph(g, {Tensor(DType::f32, {3, 2})}), Error);
  REQUIRE_THROWS_AS(run_graph(g, {Tensor(DType::f64, {2, 3})}), Error);
  auto ex = compile_on_target(g, {{DType::f32, {2, 3}}});
  Tensor bad(DType::f32, {2, 2});
  try {
    ex->run({bad.view()});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::feed);
  }
}

TEST_CASE("a dimension still unknown at compile time is a shape error", "[exec]") {
  Value x = op::input("x", DType::f32, {-1});
  Graph g = Graph::from_outputs({op::neg(x)});
  try {
    compile_on_target(g, {{DType::f32, {-1}}});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::shape);
  }
}

TEST_CASE("updates write variables simultaneously without copies of kernel outputs", "[exec]") {
  auto a = Variable::create("a", make_tensor(DType::f64, {2}, {1, 2}));
  auto b = Variable::create("b", make_tensor(DType::f64, {2}, {10, 20}));
  Value va = op::variable(a), vb = op::variable(b);
  // a <- a + b ; b <- a (old a): simultaneous semantics.
  Graph g;
  g.outputs = {op::add(va, vb), op::add(va, vb), va};
  g.output_names = {"sum", "a_new", "b_new"};
  CompileOptions opts;
  opts.update_vars = {a, b};
  auto ex = compile_on_target(g, {}, opts);
  ex->run({});
  CHECK(a->host().get_as_double(0) == 11);
  CHECK(a->host().get_as_double(1) == 22);
  CHECK(b->host().get_as_double(0) == 1);
  CHECK(b->host().get_as_double(1) == 2);
  CHECK(ex->output(0).ptr<double>()[0] == 11);
  ex->run({});
  CHECK(a->host().get_as_double(0) == 12);
  CHECK(b->host().get_as_double(0) == 11);
}

TEST_CASE("the arena of an MLP training graph is well below the naive sum", "[exec][plan]") {
  const int64_t n = 64, d = 32, h = 64, k = 10;
  auto w1 = Variable::create("w1", random_tensor(DType::f32, {d, h}, 1, -0.1, 0.1));
  auto w2 = Variable::create("w2", random_tensor(DType::f32, {h, k}, 2, -0.1, 0.1));
  Value x = op::input("x", DType::f32, {-1, d});
  Value t = op::input("t", DType::f32, {-1, k});
  Value v1 = op::variable(w1), v2 = op::variable(w2);
  Value hid = op::tanh(op::matmul(x, v1));
  Value logits = op::matmul(hid, v2);
  Value diff = op::sub(op::log_softmax(logits), t);
  Value loss = op::reduce_mean(op::mul(diff, diff));
  std::vector<Value> grads = gradients(loss, {v1, v2});
  Graph g = Graph::from_outputs({loss, grads[0], grads[1]});
  g.inputs = {x, t};
  auto ex = compile_on_target(g, {{DType::f32, {n, d}}, {DType::f32, {n, k}}});
  INFO(ex->describe_plan());
  CHECK(ex->stats().arena_bytes < 0.6 * ex->stats().naive_bytes);
  Tensor xt = random_tensor(DType::f32, {n, d}, 3), tt = random_tensor(DType::f32, {n, k}, 4);
  ex->run({xt.view(), tt.view()});
  auto unopt = run_graph(g, {xt, tt}, false);
  check_close(to_tensor(ex->output(0)), unopt[0], 1e-5);
  check_close(to_tensor(ex->output(1)), unopt[1], 1e-4);
  // The gradients must be real (not the zeros of an unrelated variable).
  double norm = 0;
  for (int64_t i = 0; i < unopt[2].numel(); ++i) norm += std::abs(unopt[2].get_as_double(i));
  CHECK(norm > 0);
}

TEST_CASE("specialisations sharing one arena take turns and need only the largest", "[exec]") {
  // y = sum over rows of tanh(x @ w) * 2: intermediates in the arena, workspace-free.
  Value x = op::input("x", DType::f32, {-1, 16});
  Value w = op::input("w", DType::f32, {16, 32});
  Value y = op::reduce_sum(op::mul(op::tanh(op::matmul(x, w)), op::scalar(2.0, DType::f32)), {1});
  Graph g = Graph::from_outputs({y});
  g.inputs = {x, w};
  auto shared = std::make_shared<SharedArena>();
  Tensor wt = random_tensor(DType::f32, {16, 32}, 3);
  std::vector<std::unique_ptr<Executable>> exs;
  for (int64_t n : {64, 8, 200}) {
    exs.push_back(compile_on_target(g, {{DType::f32, {n, 16}}, {DType::f32, {16, 32}}}));
    exs.back()->share_arena(shared);
  }
  size_t largest = 0;  // of the host arenas: on a device, only host-side values share it
  for (auto& e : exs)
    for (const auto& arena : e->stats().arenas)
      if (arena.first == "host") largest = std::max(largest, arena.second);
  for (int round = 0; round < 2; ++round) {
    for (size_t k = 0; k < exs.size(); ++k) {
      const int64_t n = exs[k]->input_types()[0].shape[0];
      Tensor xt = random_tensor(DType::f32, {n, 16}, 10 + k + round);
      exs[k]->run({xt.view(), wt.view()});
      Tensor got = to_tensor(exs[k]->output(0));
      Tensor want = run_graph(g, {xt, wt}, false).at(0);
      check_close(got, want, 1e-5);
    }
  }
  CHECK(shared->bytes() == largest);
}

TEST_CASE("a fused kernel run outside the executable, parameters prepared anew, agrees", "[exec]") {
  // A fused group made by the pipeline: its plan is prepared at compile time.
  Value x = op::input("x", DType::f32, {300, 7});
  Value y = op::sub(op::mul(op::exp(x), op::scalar(2.0, DType::f32)), x);
  Graph g = Graph::from_outputs({op::add(y, op::scalar(1.0, DType::f32))});
  g.inputs = {x};
  auto ex = compile_on_target(g, {{DType::f32, {300, 7}}});
  const NodePtr* fused = nullptr;
  std::vector<NodePtr> order = ex->graph().topo_order();
  for (const NodePtr& n : order)
    if (n->op_name() == "fused_elementwise") fused = &n;
  REQUIRE(fused != nullptr);
  REQUIRE(cpu_backend().kernel("fused_elementwise")->prepare);
  Tensor xt = random_tensor(DType::f32, {300, 7}, 5);
  ex->run({xt.view()});
  Tensor want = to_tensor(ex->output(0));
  Tensor got(DType::f32, {300, 7});
  std::vector<TensorView> ins;
  for (const Value& v : (*fused)->inputs) {
    if (v.node->op_name() == "constant") ins.push_back(v.node->attrs.get_tensor("value")->view());
    else ins.push_back(xt.view());
  }
  run_cpu_kernel(**fused, ins, {got.view()});
  check_close(got, want, 0);
}
