// Graph passes: each rewrite is checked structurally and against the unoptimized results.
#include <algorithm>
#include <cmath>

#include "engine/exec/executable.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/passes/passes.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

namespace {

// The rewritten graph computes what the original does (run without the pipeline).
void check_same_results(const Graph& before, const Graph& after, const std::vector<Tensor>& feeds,
                        double tol = 1e-6) {
  std::vector<Tensor> want = run_graph(before, feeds, false);
  std::vector<Tensor> got = run_graph(after, feeds, false);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) check_close(got[i], want[i], tol);
}

}  // namespace

TEST_CASE("cse merges identical pure nodes and equal constants", "[passes]") {
  Value x = op::input("x", DType::f32, {4});
  Value a = op::exp(x), b = op::exp(x);
  Value c1 = op::constant(make_tensor(DType::f32, {}, {2})), c2 = op::constant(make_tensor(DType::f32, {}, {2}));
  Value c3 = op::constant(make_tensor(DType::f32, {}, {3}));
  Value y = op::add(op::mul(a, c1), op::mul(b, c2));
  Value z = op::mul(a, c3);  // different constant: stays apart
  Graph g = graph_of({x}, {y, z});
  REQUIRE(g.num_nodes() == 10);
  Graph h = eliminate_common_subexpressions(g);
  CHECK(count_op(h, "exp") == 1);
  CHECK(count_op(h, "constant") == 2);
  CHECK(count_op(h, "mul") == 2);
  CHECK(h.num_nodes() == 7);
  REQUIRE(h.inputs.size() == 1);
  CHECK(h.inputs[0] == x);
  CHECK(h.output_names == g.output_names);
  check_same_results(g, h, {random_tensor(DType::f32, {4}, 1)});
  // Idempotent.
  CHECK(eliminate_common_subexpressions(h).num_nodes() == h.num_nodes());
}

TEST_CASE("cse never merges random ops", "[passes]") {
  for (const std::string& name : registry().names()) {
    const OpSchema& d = registry().get(name);
    if (!d.has(kRandom)) continue;
    // The merge rule is the same for every op: kPure without kRandom/kSource.
    CHECK_FALSE((d.has(kPure) && !d.has(kRandom)));
  }
  Value x = op::input("x", DType::f32, {3});
  Graph g = graph_of({x}, {op::add(op::exp(x), op::exp(x))});
  CHECK(eliminate_common_subexpressions(g).num_nodes() == 3);
}

TEST_CASE("fold_constants evaluates constant subgraphs", "[passes]") {
  Value x = op::input("x", DType::f32, {3});
  Value c = op::constant(make_tensor(DType::f32, {3}, {1, 2, 3}));
  Value e = op::mul(op::exp(c), op::scalar(2, DType::f32));
  Value y = op::add(x, e);
  Graph g = graph_of({x}, {y});
  Graph h = fold_constants(g, host_evaluator(cpu_backend()));
  CHECK(h.num_nodes() == 3);
  CHECK(count_op(h, "constant") == 1);
  CHECK(count_op(h, "exp") == 0);
  const Value& folded = h.outputs[0].node->inputs[1];
  REQUIRE(folded.node->op_name() == "constant");
  TensorPtr t = folded.node->attrs.get_tensor("value");
  for (int i = 0; i < 3; ++i) CHECK(t->get_as_double(i) == Approx(2 * std::exp(i + 1.0)).epsilon(1e-6));
  check_same_results(g, h, {random_tensor(DType::f32, {3}, 2)});

  // A fully constant graph output becomes a constant.
  Graph k = fold_constants(graph_of({x}, {e, x}), host_evaluator(cpu_backend()));
  CHECK(k.outputs[0].node->op_name() == "constant");
  CHECK(k.inputs.size() == 1);
}

TEST_CASE("fold_constants leaves huge results to run time", "[passes]") {
  Value big = op::constant(Tensor(DType::f32, {(int64_t{1} << 20) + 1}));
  Graph g = Graph::from_outputs({op::exp(big)});
  Graph h = fold_constants(g, host_evaluator(cpu_backend()));
  CHECK(count_op(h, "exp") == 1);
}

TEST_CASE("simplify_algebra removes neutral operations", "[passes]") {
  Value x = op::input("x", DType::f32, {2, 3});
  Value zero = op::scalar(0, DType::f32), one = op::scalar(1, DType::f32);
  Value ones = op::constant(make_tensor(DType::f32, {2, 3}, {1, 1, 1, 1, 1, 1}));
  auto simplified = [&](const Value& v) { return simplify_algebra(graph_of({x}, {v})).outputs[0]; };

  CHECK(simplified(op::add(x, zero)) == x);
  CHECK(simplified(op::add(zero, x)) == x);
  CHECK(simplified(op::sub(x, zero)) == x);
  CHECK(simplified(op::mul(x, one)) == x);
  CHECK(simplified(op::mul(ones, x)) == x);
  CHECK(simplified(op::div(x, one)) == x);
  CHECK(simplified(op::pow(x, one)) == x);
  CHECK(simplified(op::neg(op::neg(x))) == x);
  CHECK(simplified(op::neg(op::neg(op::neg(op::neg(x))))) == x);
  CHECK(simplified(op::identity(x)) == x);
  CHECK(simplified(op::cast(x, DType::f32)) == x);
  CHECK(simplified(op::exp(op::add(op::mul(x, one), zero))).node->inputs[0] == x);

  Value sq = simplified(op::pow(x, op::scalar(2, DType::f32)));
  CHECK(sq.node->op_name() == "square");
  CHECK(sq.node->inputs[0] == x);

  // Not exact, or would change the type: left alone.
  Value zeros_big = op::constant(Tensor(DType::f32, {4, 2, 3}));
  CHECK(simplified(op::add(x, zeros_big)).node->op_name() == "add");  // broadcasts x
  CHECK(simplified(op::mul(x, zero)).node->op_name() == "mul");       // NaN * 0
  CHECK(simplified(op::sub(zero, x)).node->op_name() == "sub");
  CHECK(simplified(op::add(x, op::constant(make_tensor(DType::f32, {3}, {0, 1, 0})))).node->op_name() == "add");
  CHECK(simplified(op::cast(x, DType::f64)).node->op_name() == "cast");
  CHECK(simplified(op::stop_gradient(x)).node->op_name() == "stop_gradient");

  std::vector<Tensor> feeds = {random_tensor(DType::f32, {2, 3}, 3)};
  Graph g = graph_of({x}, {op::pow(op::add(op::neg(op::neg(x)), zero), op::scalar(2, DType::f32))});
  check_same_results(g, simplify_algebra(g), feeds);
}

TEST_CASE("simplify_algebra composes reshapes and transposes", "[passes]") {
  Value x = op::input("x", DType::f32, {2, 3, 4});
  std::vector<Tensor> feeds = {random_tensor(DType::f32, {2, 3, 4}, 4)};
  auto simplified = [&](const Value& v) { return simplify_algebra(graph_of({x}, {v})); };

  Graph r = simplified(op::reshape(op::reshape(x, {6, 4}), {4, 6}));
  CHECK(count_op(r, "reshape") == 1);
  CHECK(r.outputs[0].shape() == Shape{4, 6});
  CHECK(r.outputs[0].node->inputs[0] == x);
  check_same_results(graph_of({x}, {op::reshape(op::reshape(x, {6, 4}), {4, 6})}), r, feeds);
  CHECK(simplified(op::reshape(op::reshape(x, {24}), {2, 3, 4})).outputs[0] == x);

  CHECK(simplified(op::transpose(op::transpose(x, {1, 0, 2}), {1, 0, 2})).outputs[0] == x);
  Value tt = op::transpose(op::transpose(x, {1, 2, 0}), {1, 2, 0});
  Graph t = simplified(tt);
  CHECK(count_op(t, "transpose") == 1);
  CHECK(t.outputs[0].node->attrs.get_ints("perm") == std::vector<int64_t>{2, 0, 1});
  check_same_results(graph_of({x}, {tt}), t, feeds);
}

TEST_CASE("strip_identities drops identity and stop_gradient", "[passes]") {
  Value x = op::input("x", DType::f32, {3});
  Graph g = graph_of({x}, {op::exp(op::stop_gradient(op::identity(x)))});
  Graph h = strip_identities(g);
  CHECK(h.num_nodes() == 2);
  CHECK(h.outputs[0].node->inputs[0] == x);
}

TEST_CASE("dead code elimination keeps formal inputs", "[passes]") {
  Value x = op::input("x", DType::f32, {3});
  Value unused = op::input("unused", DType::f32, {5});
  Graph g = graph_of({x, unused}, {op::exp(x)});
  Graph h = eliminate_dead_code(g);
  REQUIRE(h.inputs.size() == 2);
  CHECK(h.inputs[1] == unused);
  CHECK(h.num_nodes() == 3);
  Graph o = optimize(g);
  REQUIRE(o.inputs.size() == 2);
  CHECK(o.inputs[1] == unused);
}

TEST_CASE("specialize resolves unknown dimensions and rejects mismatches", "[passes]") {
  Value x = op::input("x", DType::f32, {-1, 4});
  Value y = op::reduce_sum(op::exp(x), {1});
  Graph g = graph_of({x}, {y});
  CHECK(g.outputs[0].shape() == Shape{-1});
  Graph s = specialize(g, {{DType::f32, {5, 4}}});
  CHECK(s.outputs[0].shape() == Shape{5});
  CHECK(s.inputs[0].shape() == Shape{5, 4});
  CHECK(s.inputs[0].node->name == "x");

  auto kind_of = [&](const std::vector<TensorType>& t) {
    try {
      specialize(g, t);
    } catch (const Error& e) {
      return e.kind();
    }
    return ErrorKind::internal;
  };
  CHECK(kind_of({{DType::f64, {5, 4}}}) == ErrorKind::feed);
  CHECK(kind_of({{DType::f32, {5, 4, 1}}}) == ErrorKind::feed);
  CHECK(kind_of({{DType::f32, {5, 3}}}) == ErrorKind::feed);
  CHECK(kind_of({}) == ErrorKind::feed);
  try {
    specialize(g, {{DType::f32, {5, 3}}});
  } catch (const Error& e) {
    std::string m = e.what();
    CHECK(m.find("'x'") != std::string::npos);
    CHECK(m.find("[?, 4]") != std::string::npos);
    CHECK(m.find("[5, 3]") != std::string::npos);
  }
}

TEST_CASE("fusion groups elementwise chains and keeps results", "[passes][fuse]") {
  for (Shape shape : {Shape{3, 5}, Shape{300, 101}}) {  // one chunk; many chunks, threads
    Value x = op::input("x", DType::f32, shape);
    Value w = op::input("w", DType::f32, shape);
    Value s = op::input("s", DType::f32, {});
    Value y = op::tanh(op::add(op::mul(x, w), s));
    Value z = op::mul(op::exp(y), y);
    Graph g = graph_of({x, w, s}, {z, y});
    Graph f = fuse_elementwise(g);
    CHECK(count_op(f, "fused_elementwise") == 1);
    CHECK(count_op(f, "mul") == 0);
    CHECK(count_op(f, "tanh") == 0);
    CHECK(f.num_nodes() == 4);
    const Node& fused = *f.outputs[0].node;
    CHECK(fused.outputs.size() == 2);  // y escapes as a graph output
    CHECK(f.outputs[1].node.get() == &fused);
    CHECK(fused.attrs.get_graph("body")->inputs.size() == 3);
    CHECK(f.output_names == g.output_names);
    std::vector<Tensor> feeds = {random_tensor(DType::f32, shape, 5), random_tensor(DType::f32, shape, 6),
                                 make_tensor(DType::f32, {}, {0.25})};
    check_same_results(g, f, feeds, 0);
    // The full pipeline fuses too, and agrees.
    check_same_results(g, optimize(g), feeds, 0);
  }
}

TEST_CASE("fusion never creates a cycle through outside nodes", "[passes][fuse]") {
  Value x = op::input("x", DType::f64, {100});
  Value a = op::exp(x);
  Value s = op::reduce_sum(a, {}, true);  // depends on a, feeds a's consumer
  Value b = op::mul(a, s);
  Value c = op::add(b, op::scalar(1, DType::f64));
  Graph g = graph_of({x}, {c});
  Graph f = fuse_elementwise(g);
  CHECK(count_op(f, "fused_elementwise") == 1);
  CHECK(count_op(f, "exp") == 1);  // exp cannot join mul/add: reduce_sum sits between them
  check_same_results(g, f, {random_tensor(DType::f64, {100}, 7)}, 0);

  // Two independent producers merged through their common consumer.
  Value p = op::exp(x), q = op::sin(x);
  Value r = op::add(p, q);
  Graph g2 = graph_of({x}, {r});
  Graph f2 = fuse_elementwise(g2);
  CHECK(count_op(f2, "fused_elementwise") == 1);
  CHECK(f2.num_nodes() == 2);
  check_same_results(g2, f2, {random_tensor(DType::f64, {100}, 8)}, 0);

  // Group members joined only through a non-member: u = exp(x), v = reduce(u) [1],
  // w = u * v, and t = sin(x) + w: the merge of {sin} with {mul} via add must not pull
  // exp in as well.
  Value u = op::exp(x);
  Value v = op::reduce_sum(u, {}, true);
  Value w = op::mul(u, v);
  Value t = op::add(op::sin(x), w);
  Graph g3 = graph_of({x}, {t, u});
  Graph f3 = fuse_elementwise(g3);
  check_same_results(g3, f3, {random_tensor(DType::f64, {100}, 9)}, 0);
}

TEST_CASE("fusion sees cycles through groups that span early and late nodes", "[passes][fuse]") {
  // G = {g0, u, m} starts before R = {a, r1} and ends after it: R -> t -> m is a path into
  // G, and u -> i one out of it. Adding i to R would close R -> G -> R although u, the
  // producer of i, comes before every member of R; a search bounded by node positions
  // stops at u and misses it.
  Value sv = op::input("sv", DType::f64, {1});
  Value x = op::input("x", DType::f64, {4, 8});
  Value g0 = op::sin(sv);
  Value u = op::cos(g0);
  Value a = op::cos(x);
  Value r1 = op::exp(a);
  Value t = op::reduce_sum(r1);
  Value m = op::mul(g0, t);
  Value i = op::add(u, a);
  Graph g = graph_of({sv, x}, {u, m, i});
  Graph f = fuse_elementwise(g);
  CHECK(count_op(f, "fused_elementwise") == 2);  // {g0, u, m} and {a, r1}
  CHECK(count_op(f, "add") == 1);                // i stays alone
  std::vector<Tensor> feeds = {make_tensor(DType::f64, {1}, {0.5}), random_tensor(DType::f64, {4, 8}, 12)};
  check_same_results(g, f, feeds, 0);
  check_same_results(g, optimize(g), feeds, 0);
}

TEST_CASE("fusion leaves broadcasts and lone ops alone", "[passes][fuse]") {
  Value x = op::input("x", DType::f32, {3, 4});
  Value b = op::input("b", DType::f32, {4});
  Value y = op::exp(op::add(x, b));  // add broadcasts b: not flat
  Graph g = graph_of({x, b}, {y});
  Graph f = fuse_elementwise(g);
  CHECK(count_op(f, "fused_elementwise") == 0);
  CHECK(f.num_nodes() == g.num_nodes());

  // Different shapes do not share a group.
  Value e = op::exp(x);
  Value r = op::reduce_sum(e, {1});
  Value z = op::sin(op::sqrt(op::abs(r)));
  Graph g2 = graph_of({x}, {e, z});
  Graph f2 = fuse_elementwise(g2);
  CHECK(count_op(f2, "fused_elementwise") == 1);
  CHECK(count_op(f2, "exp") == 1);
  check_same_results(g2, f2, {random_tensor(DType::f32, {3, 4}, 10)}, 0);
}

TEST_CASE("fusion keeps mixed dtypes and escaping intermediates", "[passes][fuse]") {
  Value x = op::input("x", DType::f32, {50, 50});
  Value m = op::greater(x, op::scalar(0, DType::f32));  // bool
  Value y = op::where(m, op::exp(x), op::neg(x));
  Value k = op::cast(y, DType::f64);
  Value r = op::reduce_sum(op::sqrt(op::abs(y)));  // y also feeds sqrt/abs, same group
  Graph g = graph_of({x}, {k, r});
  Graph f = fuse_elementwise(g);
  CHECK(count_op(f, "fused_elementwise") == 1);
  check_same_results(g, f, {random_tensor(DType::f32, {50, 50}, 11)}, 0);
}

TEST_CASE("optimize records pass statistics", "[passes]") {
  Value x = op::input("x", DType::f32, {8});
  Value c = op::mul(op::constant(make_tensor(DType::f32, {}, {2})), op::scalar(3, DType::f32));
  Value y = op::add(op::mul(op::exp(x), c), op::mul(op::exp(x), c));
  Graph g = graph_of({x}, {op::add(y, op::scalar(0, DType::f32))});
  std::vector<PassStats> stats;
  Graph o = optimize(g, &stats, true);
  std::vector<std::string> names;
  for (const PassStats& s : stats) names.push_back(s.name);
  CHECK(names ==
        std::vector<std::string>{"inline", "simplify", "fold_bn", "fold", "cse", "share_loops", "simplify", "dce", "conv_clip", "per_sample",
                                 "fuse", "dce"});
  CHECK(stats.front().nodes_before == g.num_nodes());
  CHECK(stats.back().nodes_after == o.num_nodes());
  for (size_t i = 1; i < stats.size(); ++i) CHECK(stats[i].nodes_before == stats[i - 1].nodes_after);
  CHECK(o.num_nodes() < g.num_nodes());
  check_same_results(g, o, {random_tensor(DType::f32, {8}, 12)});

  std::vector<PassStats> no_fuse;
  Graph u = optimize(g, &no_fuse, false);
  CHECK(no_fuse.size() == 8);
  CHECK(count_op(u, "fused_elementwise") == 0);
}

TEST_CASE("fused_elementwise validates its body", "[passes][fuse]") {
  auto body = std::make_shared<Graph>();
  Value a = op::input("in0", DType::f32, {4});
  body->inputs = {a};
  body->outputs = {op::reduce_sum(a)};
  Value x = op::input("x", DType::f32, {4});
  REQUIRE_THROWS_AS(make_node("fused_elementwise", {x}, {{"body", GraphPtr(body)}}), Error);

  auto ok = std::make_shared<Graph>();
  ok->inputs = {a};
  ok->outputs = {op::exp(a)};
  REQUIRE_THROWS_AS(make_node("fused_elementwise", {x, x}, {{"body", GraphPtr(ok)}}), Error);
  Value xd = op::input("xd", DType::f64, {4});
  REQUIRE_THROWS_AS(make_node("fused_elementwise", {xd}, {{"body", GraphPtr(ok)}}), Error);
  Value x5 = op::input("x5", DType::f32, {5});
  CHECK(make_node("fused_elementwise", {x5}, {{"body", GraphPtr(ok)}})[0].shape() == Shape{5});
}

TEST_CASE("fused_elementwise handles pass-through and repeated outputs", "[passes][fuse]") {
  auto body = std::make_shared<Graph>();
  Value a = op::input("in0", DType::f64, {5000});
  Value s = op::input("in1", DType::f64, {1});
  Value e = op::mul(op::exp(a), s);
  body->inputs = {a, s};
  body->outputs = {a, e, e, op::add(e, op::constant(Tensor(DType::f64, {5000})))};
  Value x = op::input("x", DType::f64, {5000});
  Value k = op::input("k", DType::f64, {1});
  std::vector<Value> outs = make_node("fused_elementwise", {x, k}, {{"body", GraphPtr(body)}});
  REQUIRE(outs.size() == 4);
  Graph g = graph_of({x, k}, outs);
  Tensor xt = random_tensor(DType::f64, {5000}, 13);
  std::vector<Tensor> got = run_graph(g, {xt, make_tensor(DType::f64, {1}, {3})}, false);
  for (int64_t i = 0; i < 5000; i += 97) {
    double want = std::exp(xt.get_as_double(i)) * 3;
    CHECK(got[0].get_as_double(i) == xt.get_as_double(i));
    CHECK(got[1].get_as_double(i) == Approx(want).epsilon(1e-14));
    CHECK(got[2].get_as_double(i) == got[1].get_as_double(i));
    CHECK(got[3].get_as_double(i) == got[1].get_as_double(i));
  }
}

// Every op case, with its gradient graph when it has one (long elementwise chains, many
// constants and broadcasts): the optimized and fused graph must compute the same values.
TEST_CASE("optimized graphs agree with unoptimized ones on every op case", "[passes][fuse]") {
  for (const OpCase& c : all_cases()) {
    DYNAMIC_SECTION(case_name(c)) {
      const OpSchema& def = registry().get(c.op);
      std::vector<Value> ins;
      for (size_t i = 0; i < c.inputs.size(); ++i)
        ins.push_back(op::input("x" + std::to_string(i), c.inputs[i].dtype(), c.inputs[i].shape()));
      std::vector<Value> results = make_node(c.op, ins, c.attrs);
      const size_t n_outs = results.size();
      std::vector<int> wrt = c.grad_inputs;
      if (wrt.empty())
        for (size_t i = 0; i < c.inputs.size(); ++i)
          if (is_float(c.inputs[i].dtype())) wrt.push_back(static_cast<int>(i));
      Value y;
      if (c.grad && def.grad && !def.has(kZeroGrad) && !def.has(kRandom)) {
        for (size_t k = 0; k < n_outs; ++k) {
          if (!is_float(results[k].dtype())) continue;
          Tensor w = random_tensor(results[k].dtype(), results[k].shape(), 1000 + k, 0.5, 1.5);
          Value term = op::reduce_sum(op::mul(results[k], op::constant(w)));
          y = y.defined() ? op::add(y, term) : term;
        }
      }
      if (y.defined() && !wrt.empty()) {
        std::vector<Value> wrt_vals;
        for (int i : wrt) wrt_vals.push_back(ins[i]);
        std::vector<Value> grads = gradients(y, wrt_vals);
        results.insert(results.end(), grads.begin(), grads.end());
      }
      Graph g = graph_of(ins, results);
      std::vector<Tensor> want = run_graph(g, c.inputs, false);
      std::vector<Tensor> got = run_graph(g, c.inputs, true);
      REQUIRE(got.size() == want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        INFO("output " << i);
        // Same kernels either way, but float32 reductions may sum in another order.
        check_close(got[i], want[i], got[i].dtype() == DType::f64 ? 1e-9 : std::max(c.tol, 1e-5));
      }
    }
  }
}

namespace {

// LeNet's feature extractor: (x / 255) -> conv 5x5 -> tanh -> max-pool 2 -> conv -> tanh ->
// max-pool -> flatten -> dense.
struct LenetFeatures {
  Value x, w1, b1, w2, b2, wd, out;
};

LenetFeatures lenet_features(int64_t batch) {
  LenetFeatures f;
  AttrMap pool{{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}};
  f.x = op::input("x", DType::f32, {batch, 1, 28, 28});
  f.w1 = op::input("w1", DType::f32, {6, 1, 5, 5});
  f.b1 = op::input("b1", DType::f32, {6});
  f.w2 = op::input("w2", DType::f32, {8, 6, 5, 5});
  f.b2 = op::input("b2", DType::f32, {8});
  f.wd = op::input("wd", DType::f32, {128, 10});
  Value h = op::mul(f.x, op::scalar(1.0 / 255, DType::f32));
  h = op::apply("max_pool", {op::tanh(op::apply("conv", {h, f.w1, f.b1}))}, pool);
  h = op::apply("max_pool", {op::tanh(op::apply("conv", {h, f.w2, f.b2}))}, pool);
  f.out = op::matmul(op::reshape(h, {batch, 128}), f.wd);
  return f;
}

std::vector<Tensor> lenet_feeds(int64_t batch) {
  return {random_tensor(DType::f32, {batch, 1, 28, 28}, 41, 0, 255), random_tensor(DType::f32, {6, 1, 5, 5}, 42),
          random_tensor(DType::f32, {6}, 43), random_tensor(DType::f32, {8, 6, 5, 5}, 44, -0.2, 0.2),
          random_tensor(DType::f32, {8}, 45), random_tensor(DType::f32, {128, 10}, 46)};
}

}  // namespace

TEST_CASE("fuse_per_sample runs an inference chain sample by sample in less memory", "[passes]") {
  const int64_t batch = 100;  // conv1's output: 100 x 6 x 24 x 24 floats, 1.3 MiB
  LenetFeatures f = lenet_features(batch);
  Graph g = graph_of({f.x, f.w1, f.b1, f.w2, f.b2, f.wd}, {f.out});
  Graph p = fuse_per_sample(g);
  REQUIRE(count_op(p, "fused_per_sample") == 1);
  CHECK(count_op(p, "conv") == 0);  // both convolutions, the pools and the scaling are inside
  CHECK(count_op(p, "max_pool") == 0);
  CHECK(count_op(p, "matmul") == 1);
  check_same_results(g, p, lenet_feeds(batch), 1e-5);
  for (int threads : {1, 2, 3}) {  // more threads than samples per thread, and serial
    const int old = engine_num_threads();
    set_engine_num_threads(threads);
    check_same_results(g, p, lenet_feeds(batch), 1e-5);
    set_engine_num_threads(old);
  }
  // The whole pipeline plans less memory with it than without.
  std::vector<TensorType> types;
  for (const Tensor& t : lenet_feeds(batch)) types.push_back({t.dtype(), t.shape()});
  CompileOptions fused, unfused;
  unfused.fuse = false;
  auto a = compile_on_target(g, types, fused);
  auto b = compile_on_target(g, types, unfused);
  CHECK(a->stats().arena_bytes * 2 < b->stats().arena_bytes);
}

TEST_CASE("fuse_per_sample leaves training graphs and small batches alone", "[passes]") {
  // Small: the intermediates are below the threshold; nothing to save.
  LenetFeatures small = lenet_features(4);
  Graph gs = graph_of({small.x, small.w1, small.b1, small.w2, small.b2, small.wd}, {small.out});
  CHECK(count_op(fuse_per_sample(gs), "fused_per_sample") == 0);
  // One large sample: its intermediates are big (1.6 MB), but the fused node would hold
  // them all the same, and would only run the chain on one thread.
  auto conv_pool = [](int64_t batch) {
    Value x = op::input("x", DType::f32, {batch, 4, 160, 160});
    Value w = op::input("w", DType::f32, {16, 4, 3, 3});
    AttrMap pool{{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}};
    return graph_of({x, w}, {op::apply("max_pool", {op::tanh(op::apply("conv", {x, w}))}, pool)});
  };
  CHECK(count_op(fuse_per_sample(conv_pool(1)), "fused_per_sample") == 0);
  CHECK(count_op(fuse_per_sample(conv_pool(32)), "fused_per_sample") == 1);
  // Training: the backward pass reads the forward values, so no chain has private
  // intermediates worth fusing.
  LenetFeatures f = lenet_features(100);
  Value loss = op::reduce_sum(op::square(f.out));
  Graph g = graph_of({f.x, f.w1, f.b1, f.w2, f.b2, f.wd}, {loss});
  Graph t = autodiff(g, {f.w1, f.b1, f.w2, f.b2, f.wd});
  CHECK(count_op(fuse_per_sample(t), "fused_per_sample") == 0);
  CHECK(count_op(optimize(t), "fused_per_sample") == 0);
}

TEST_CASE("fuse_per_sample stops at values used twice and at ops that mix samples", "[passes]") {
  Value x = op::input("x", DType::f32, {64, 4, 32, 32});  // 1 MiB per 4 x 32 x 32 x 64 floats
  Value w = op::input("w", DType::f32, {8, 4, 3, 3});
  AttrMap pool{{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}};
  Value c = op::tanh(op::apply("conv", {x, w}));
  Value p = op::apply("max_pool", {c}, pool);
  // c is also read by a reduction over the batch: the chain must end at c.
  Value side = op::reduce_mean(c, {0});
  Graph g = graph_of({x, w}, {p, side});
  Graph f = fuse_per_sample(g);
  CHECK(count_op(f, "fused_per_sample") == 0);  // conv -> tanh alone saves nothing
  check_same_results(g, f, {random_tensor(DType::f32, {64, 4, 32, 32}, 51), random_tensor(DType::f32, {8, 4, 3, 3}, 52)});
}
