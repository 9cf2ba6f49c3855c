// Random ops inside loop bodies: every iteration draws its own numbers (its stream is the
// loop's mixed with the iteration's index), reproducibly: a gradient that reruns the body
// at a position sees the forward pass's numbers (so it matches finite differences), the
// same executable draws fresh numbers each run, a new one with the same seed repeats the
// first run's, and nested loops give every (outer, inner) pair its own numbers.
#include <cmath>
#include <memory>
#include <set>

#include "engine/ops/call.h"
#include "engine/passes/passes.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

namespace {

using Idx = std::vector<int64_t>;

AttrMap scan_attrs(GraphPtr body, int64_t states, int64_t sequences, int64_t n_steps = -1) {
  AttrMap a{{"body", body}, {"n_states", states}, {"n_sequences", sequences}};
  if (n_steps >= 0) a.set("n_steps", n_steps);
  return a;
}

// The rows of a [T, ...] tensor (its leading axis), as vectors.
std::vector<std::vector<double>> rows(const Tensor& t) {
  const int64_t T = t.shape()[0], n = t.numel() / T;
  std::vector<std::vector<double>> r(T);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t e = 0; e < n; ++e) r[i].push_back(t.get_as_double(i * n + e));
  return r;
}

void check_rows_distinct(const Tensor& t) {
  std::vector<std::vector<double>> r = rows(t);
  std::set<std::vector<double>> distinct(r.begin(), r.end());
  CHECK(distinct.size() == r.size());
}

bool same(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  for (int64_t i = 0; i < a.numel(); ++i)
    if (a.get_as_double(i) != b.get_as_double(i)) return false;
  return true;
}

// A scan over n_steps = 4 without sequences: s' = s + u, emitting u, where u is
// random_uniform [5] (with a `seed` attribute when seed >= 0).
Graph noise_scan(int64_t seed) {
  AttrMap ua{{"shape", Idx{5}}, {"dtype", std::string("float64")}};
  if (seed >= 0) ua.set("seed", seed);
  Value s = op::input("s", DType::f64, {5});
  Value u = op::apply("random_uniform", {}, ua, "noise");
  GraphPtr body = body_of({s}, {op::add(s, u), u});
  Value s0 = op::input("s0", DType::f64, {5});
  return graph_of({s0}, make_node("scan", {s0}, scan_attrs(body, 1, 0, 4), "loop"));
}

// s' = tanh(s * x) * mask + 0.5 s over sequences x [T, 3], where the mask is random: a
// dropout of ones (training, so it drops) or random_bernoulli(0.5) / 0.5. Emits the mask.
GraphPtr masked_body(bool dropout) {
  Value s = op::input("s", DType::f64, {3}), x = op::input("x", DType::f64, {3});
  Value ones = op::constant(make_tensor(DType::f64, {3}, {1, 1, 1}));
  Value mask = dropout ? make_node("dropout", {ones}, {{"ratio", 0.5}, {"training", int64_t(1)}}, "drop")[0]
                       : op::mul(op::apply("random_bernoulli", {op::constant(make_tensor(DType::f64, {3}, {.5, .5, .5}))},
                                           {}, "coin"),
                                 op::scalar(2, DType::f64));
  Value next = op::add(op::mul(op::tanh(op::mul(s, x)), mask), op::mul(s, op::scalar(0.5, DType::f64)));
  return body_of({s, x}, {next, mask});
}

}  // namespace

TEST_CASE("a random op in a scan body draws new numbers at every step", "[control_flow][random]") {
  for (int64_t seed : {-1, 7}) {
    INFO("seed " << seed);
    Graph g = noise_scan(seed);
    Tensor s0 = make_tensor(DType::f64, {5}, {0, 0, 0, 0, 0});
    auto ex = compile_on_target(g, {{DType::f64, {5}}});
    ex->run({s0.view()});
    Tensor first = to_tensor(ex->output(1));
    check_rows_distinct(first);
    // The same executable draws fresh numbers each run (its run index moves on)...
    ex->run({s0.view()});
    Tensor second = to_tensor(ex->output(1));
    CHECK_FALSE(same(first, second));
    // ... and a new one repeats the first run's, seed or not (same seed, same run index).
    auto again = compile_on_target(g, {{DType::f64, {5}}});
    again->run({s0.view()});
    CHECK(same(to_tensor(again->output(1)), first));
  }
  // A seed picks the stream: another seed draws other numbers.
  Tensor s0 = make_tensor(DType::f64, {5}, {0, 0, 0, 0, 0});
  CHECK_FALSE(same(run_graph(noise_scan(7), {s0})[1], run_graph(noise_scan(8), {s0})[1]));
}

TEST_CASE("the gradient of a scan whose body masks at random matches finite differences", "[control_flow][random]") {
  // The recomputing forward scan and the reverse scan of the vjp must see each position's
  // mask again; finite differences compile anew (run index 0 again), so they see it too.
  for (bool dropout : {false, true}) {
    for (int64_t reverse : {0, 1}) {
      INFO((dropout ? "dropout" : "random_bernoulli") << ", reverse " << reverse);
      OpCase c;
      c.op = "scan";
      c.attrs = scan_attrs(masked_body(dropout), 1, 1);
      c.attrs.set("reverse", reverse);
      c.inputs = {random_tensor(DType::f64, {3}, 31), random_tensor(DType::f64, {6, 3}, 32)};
      Graph g = op_graph(c.op, c.inputs, c.attrs);
      std::vector<Tensor> r = run_graph(g, c.inputs);
      // The steps' masks differ (6 equal masks of 3 fair coins would have odds 8^-5).
      std::vector<std::vector<double>> masks = rows(r[1]);
      CHECK(std::set<std::vector<double>>(masks.begin(), masks.end()).size() > 1);
      check_gradients(c);
    }
  }
}

TEST_CASE("the gradient of a while_loop whose body masks at random matches finite differences",
          "[control_flow][while][random]") {
  // Iteration i of the loop, of its recording rerun and slot i of the reverse scan share a stream.
  Value n = op::input("n", DType::i64, {}), s = op::input("s", DType::f64, {3}), x = op::input("x", DType::f64, {3});
  GraphPtr step = masked_body(true);
  Value next = splice_body(*step, {s, x}, "")[0];
  AttrMap a{{"cond", body_of({n, s, x}, {op::less(n, op::scalar(5, DType::i64))})},
            {"body", body_of({n, s, x}, {op::add(n, op::scalar(1, DType::i64)), next})},
            {"n_vars", int64_t(2)},
            {"max_iterations", int64_t(8)}};
  OpCase c;
  c.op = "while_loop";
  c.attrs = a;
  c.inputs = {make_tensor(DType::i64, {}, {0}), random_tensor(DType::f64, {3}, 33), random_tensor(DType::f64, {3}, 34)};
  check_gradients(c);
}

TEST_CASE("loops nested in loops draw new numbers for every pair of iterations", "[control_flow][random]") {
  // Outer scan of 3 steps; its body runs an inner scan of 2 steps emitting random_uniform [4].
  Value t = op::input("t", DType::f64, {});
  Value u = op::apply("random_uniform", {}, {{"shape", Idx{4}}, {"dtype", std::string("float64")}}, "noise");
  GraphPtr inner_body = body_of({t}, {t, u});
  Value o = op::input("o", DType::f64, {});
  std::vector<Value> inner = make_node("scan", {o}, scan_attrs(inner_body, 1, 0, 2), "inner");
  GraphPtr outer_body = body_of({o}, {o, inner[1]});
  Value o0 = op::input("o0", DType::f64, {});
  Graph g = graph_of({o0}, make_node("scan", {o0}, scan_attrs(outer_body, 1, 0, 3), "outer"));
  Tensor draws = run_graph(g, {make_tensor(DType::f64, {}, {0})})[1];
  REQUIRE(draws.shape() == Shape{3, 2, 4});
  std::set<std::vector<double>> distinct;
  for (int64_t r = 0; r < 6; ++r) {
    std::vector<double> row;
    for (int64_t e = 0; e < 4; ++e) row.push_back(draws.get_as_double(r * 4 + e));
    distinct.insert(row);
  }
  CHECK(distinct.size() == 6);
}
