// while_loop beyond its op cases: unbounded loops, the max_iterations policies, classed
// errors for mismatched bodies and bad attributes, the gradient's need of max_iterations,
// gradients that differentiate again, nested loops, an interrupt in an endless loop and
// training mode reaching into nested bodies.
#include <cmath>
#include <memory>

#include "engine/passes/lift.h"
#include "engine/passes/passes.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

namespace {

std::vector<Value> while_loop(std::vector<Value> ins, GraphPtr cond, GraphPtr body, int64_t vars,
                              int64_t max_iterations = -1, int64_t error_at_max = -1,
                              const std::string& name = "loop") {
  AttrMap a{{"cond", cond}, {"body", body}, {"n_vars", vars}};
  if (max_iterations >= 0) a.set("max_iterations", max_iterations);
  if (error_at_max >= 0) a.set("error_at_max", error_at_max);
  return make_node("while_loop", ins, a, name);
}

template <class Build>
void expect_error(ErrorKind kind, const std::string& words, Build build) {
  try {
    build();
    FAIL("no error");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.kind() == kind);
    CHECK(std::string(e.what()).find(words) != std::string::npos);
  }
}

// (n int64, x f64 [2]) with a f64 [2]: while n < k: n += 1, x = x * a. Final x = x0 a^k.
struct PowerLoop {
  Value n = op::input("n", DType::i64, {}), x = op::input("x", DType::f64, {2}), a = op::input("a", DType::f64, {2});
  GraphPtr cond(int64_t k) const { return body_of({n, x, a}, {op::less(n, op::scalar(double(k), DType::i64))}); }
  GraphPtr body() const { return body_of({n, x, a}, {op::add(n, op::scalar(1, DType::i64)), op::mul(x, a)}); }
};

}  // namespace

TEST_CASE("an unbounded while_loop runs until its cond fails", "[control_flow][while]") {
  // The Collatz sequence from 27 takes 111 steps to reach 1; the loop counts them.
  Value n = op::input("n", DType::i64, {}), steps = op::input("steps", DType::i64, {});
  Value one = op::scalar(1, DType::i64), two = op::scalar(2, DType::i64);
  Value even = op::equal(op::mod(n, two), op::scalar(0, DType::i64));
  Value next = op::where(even, op::div(n, two), op::add(op::mul(n, op::scalar(3, DType::i64)), one));
  GraphPtr cond = body_of({n, steps}, {op::greater(n, one)});
  GraphPtr body = body_of({n, steps}, {next, op::add(steps, one)});
  Value n0 = op::input("n0", DType::i64, {}), s0 = op::input("s0", DType::i64, {});
  Graph g = graph_of({n0, s0}, while_loop({n0, s0}, cond, body, 2));
  std::vector<Tensor> r = run_graph(g, {make_tensor(DType::i64, {}, {27}), make_tensor(DType::i64, {}, {0})});
  CHECK(r[0].get_as_double(0) == 1);
  int64_t c = 27, count = 0;
  for (; c > 1; ++count) c = c % 2 == 0 ? c / 2 : 3 * c + 1;
  CHECK(r[1].get_as_double(0) == count);
}

TEST_CASE("at max_iterations a while_loop stops, or fails with error_at_max = 1", "[control_flow][while]") {
  PowerLoop p;
  Value n0 = op::input("n0", DType::i64, {}), x0 = op::input("x0", DType::f64, {2});
  Value a = op::input("a0", DType::f64, {2});
  const std::vector<Tensor> feeds = {make_tensor(DType::i64, {}, {0}), make_tensor(DType::f64, {2}, {1, -2}),
                                     make_tensor(DType::f64, {2}, {3, 0.5})};
  for (int64_t error_at_max : {-1, 0, 1}) {  // -1: not given
    INFO("error_at_max " << error_at_max);
    // The cond wants 5 iterations; the bound allows 3.
    Graph stopped = graph_of({n0, x0, a}, while_loop({n0, x0, a}, p.cond(5), p.body(), 2, 3, error_at_max));
    if (error_at_max == 1) {
      expect_error(ErrorKind::value, "max_iterations = 3", [&] { run_graph(stopped, feeds); });
      expect_error(ErrorKind::value, "loop", [&] { run_graph(stopped, feeds); });
    } else {
      std::vector<Tensor> r = run_graph(stopped, feeds);
      CHECK(r[0].get_as_double(0) == 3);
      check_close(r[1], make_tensor(DType::f64, {2}, {27, -0.25}), 0);
    }
    // A loop that ends exactly at the bound is not an error.
    Graph exact = graph_of({n0, x0, a}, while_loop({n0, x0, a}, p.cond(3), p.body(), 2, 3, error_at_max));
    std::vector<Tensor> r = run_graph(exact, feeds);
    CHECK(r[0].get_as_double(0) == 3);
    check_close(r[1], make_tensor(DType::f64, {2}, {27, -0.25}), 0);
  }
}

TEST_CASE("while_loop's bodies and attributes are checked with classed errors", "[control_flow][while]") {
  Value x = op::input("x", DType::f32, {3}), c = op::input("c", DType::f32, {});
  Value x0 = op::input("x0", DType::f32, {3}), c0 = op::input("c0", DType::f32, {});
  GraphPtr cond = body_of({x, c}, {op::less(op::reduce_sum(x), c)});
  GraphPtr body = body_of({x, c}, {op::add(x, c)});
  // The body changes the loop variable's dtype or shape: named, with the body.
  expect_error(ErrorKind::dtype, "loop variable 1 ('x') is float32[3] but the body gives float64[3]", [&] {
    while_loop({x0, c0}, cond, body_of({x, c}, {op::cast(x, DType::f64)}), 1);
  });
  expect_error(ErrorKind::shape, "loop variable 1 ('x')",
               [&] { while_loop({x0, c0}, cond, body_of({x, c}, {op::reduce_sum(x, {0}, true)}), 1); });
  // Too many or too few new variables.
  expect_error(ErrorKind::value, "carries 1 variables", [&] { while_loop({x0, c0}, cond, body_of({x, c}, {x, x}), 1); });
  // The cond: one value, bool or number; one output.
  expect_error(ErrorKind::shape, "one value", [&] { while_loop({x0, c0}, body_of({x, c}, {op::less(x, c)}), body, 1); });
  expect_error(ErrorKind::value, "2 outputs",
               [&] { while_loop({x0, c0}, body_of({x, c}, {op::less(c, c), op::less(c, c)}), body, 1); });
  // Arguments of the wrong type for the bodies' inputs.
  expect_error(ErrorKind::dtype, "the cond",
               [&] { while_loop({op::input("y", DType::f64, {3}), c0}, cond, body, 1); });
  // Attributes.
  expect_error(ErrorKind::attr, "n_vars", [&] { while_loop({x0, c0}, cond, body, 0); });
  expect_error(ErrorKind::attr, "n_vars", [&] { while_loop({x0, c0}, cond, body, 3); });
  expect_error(ErrorKind::attr, "max_iterations must be non-negative", [&] {
    make_node("while_loop", {x0, c0},
              {{"cond", cond}, {"body", body}, {"n_vars", int64_t(1)}, {"max_iterations", int64_t(-2)}});
  });
  expect_error(ErrorKind::attr, "error_at_max must be 0 or 1", [&] { while_loop({x0, c0}, cond, body, 1, 4, 2); });
  expect_error(ErrorKind::attr, "record = 1 needs max_iterations", [&] {
    make_node("while_loop", {x0, c0}, {{"cond", cond}, {"body", body}, {"n_vars", int64_t(1)}, {"record", int64_t(1)}});
  });
}

TEST_CASE("the gradient of a while_loop needs max_iterations", "[control_flow][while]") {
  PowerLoop p;
  Value n0 = op::input("n0", DType::i64, {}), x0 = op::input("x0", DType::f64, {2});
  Value a = op::input("a0", DType::f64, {2});
  Value y = op::reduce_sum(while_loop({n0, x0, a}, p.cond(3), p.body(), 2, -1, -1, "unbounded")[1]);
  expect_error(ErrorKind::unsupported, "needs max_iterations: set it", [&] { gradients(y, {x0, a}); });
  expect_error(ErrorKind::unsupported, "'unbounded'", [&] { gradients(y, {x0}); });
}

TEST_CASE("the gradient of a while_loop is made of loops and differentiates again", "[control_flow][while]") {
  // x0 a^k after k iterations: d/da sum = k x0 a^(k-1), and again k (k-1) x0 a^(k-2); the
  // bound is above k, so the slots past the trip count are skipped.
  PowerLoop p;
  const int64_t k = 4;
  Value n0 = op::input("n0", DType::i64, {}), x0 = op::input("x0", DType::f64, {2});
  Value a = op::input("a0", DType::f64, {2});
  Value y = op::reduce_sum(while_loop({n0, x0, a}, p.cond(k), p.body(), 2, 7)[1]);
  std::vector<Value> g1 = gradients(y, {x0, a});
  std::vector<Value> g2 = gradients(op::reduce_sum(g1[1]), {x0, a});
  Graph g = graph_of({n0, x0, a}, {g1[0], g1[1], g2[0], g2[1]});
  CHECK(count_op(g, "while_loop") >= 2);
  CHECK(count_op(g, "scan") >= 2);
  Tensor xv = make_tensor(DType::f64, {2}, {0.7, -1.2}), av = make_tensor(DType::f64, {2}, {1.3, -0.6});
  std::vector<Tensor> r = run_graph(g, {make_tensor(DType::i64, {}, {0}), xv, av});
  for (int64_t i = 0; i < 2; ++i) {
    const double x = xv.get_as_double(i), s = av.get_as_double(i);
    CHECK(r[0].get_as_double(i) == Approx(std::pow(s, k)).epsilon(1e-12));
    CHECK(r[1].get_as_double(i) == Approx(k * x * std::pow(s, k - 1)).epsilon(1e-12));
    CHECK(r[2].get_as_double(i) == Approx(k * std::pow(s, k - 1)).epsilon(1e-12));
    CHECK(r[3].get_as_double(i) == Approx(k * (k - 1) * x * std::pow(s, k - 2)).epsilon(1e-12));
  }
}

TEST_CASE("a while_loop nested in another runs and differentiates", "[control_flow][while]") {
  // Outer: while i < 3: i += 1, x = inner(x, a); inner: while j < 2: j += 1, x = x * a.
  // So x0 a^6, and d/da sum = 6 x0 a^5.
  PowerLoop inner;
  Value i = op::input("i", DType::i64, {}), x = op::input("x", DType::f64, {2}), a = op::input("a", DType::f64, {2});
  Value inner_x =
      while_loop({op::scalar(0, DType::i64), x, a}, inner.cond(2), inner.body(), 2, 2, -1, "inner")[1];
  GraphPtr cond = body_of({i, x, a}, {op::less(i, op::scalar(3, DType::i64))});
  GraphPtr body = body_of({i, x, a}, {op::add(i, op::scalar(1, DType::i64)), inner_x});
  Value i0 = op::input("i0", DType::i64, {}), x0 = op::input("x0", DType::f64, {2});
  Value a0 = op::input("a0", DType::f64, {2});
  Value out = while_loop({i0, x0, a0}, cond, body, 2, 5)[1];
  Value da = gradients(op::reduce_sum(out), {a0})[0];
  Graph g = graph_of({i0, x0, a0}, {out, da});
  Tensor xv = make_tensor(DType::f64, {2}, {0.5, 2}), av = make_tensor(DType::f64, {2}, {1.1, -0.9});
  std::vector<Tensor> r = run_graph(g, {make_tensor(DType::i64, {}, {0}), xv, av});
  for (int64_t e = 0; e < 2; ++e) {
    const double x = xv.get_as_double(e), s = av.get_as_double(e);
    CHECK(r[0].get_as_double(e) == Approx(x * std::pow(s, 6)).epsilon(1e-12));
    CHECK(r[1].get_as_double(e) == Approx(6 * x * std::pow(s, 5)).epsilon(1e-12));
  }
}

TEST_CASE("an endless while_loop honours the host's interrupt", "[control_flow][while]") {
  Value x = op::input("x", DType::f64, {});
  GraphPtr forever = body_of({x}, {op::greater(x, op::scalar(0, DType::f64))});
  Value x0 = op::input("x0", DType::f64, {});
  Graph g = graph_of({x0}, while_loop({x0}, forever, body_of({x}, {op::add(x, op::scalar(1, DType::f64))}), 1));
  auto ex = compile_on_target(g, {{DType::f64, {}}});
  RunContext ctx;
  int polls = 0;
  ctx.check_interrupt = [&] {
    if (++polls == 3) throw Error(ErrorKind::interrupt, "interrupted");
  };
  Tensor one = make_tensor(DType::f64, {}, {1});
  expect_error(ErrorKind::interrupt, "interrupted", [&] { ex->run({one.view()}, &ctx); });
  CHECK(polls == 3);
}

TEST_CASE("training mode reaches a dropout in a scan inside a while_loop's body", "[control_flow][while][passes]") {
  // while i < 3: i += 1, acc += (a scan of 2 steps adding dropout(ones)): acc sums six
  // dropouts of ones. Inference: 6 everywhere. Training: six draws of 0 or 2 per element,
  // new at every (outer, inner) iteration, so few elements are all-kept or all-dropped.
  const int64_t n = 400;
  Value t = op::input("t", DType::f32, {n});
  Value ones = op::constant(make_tensor(DType::f32, {n}, std::vector<double>(n, 1.0)));
  Value drop = make_node("dropout", {ones}, {{"ratio", 0.5}, {"training", int64_t{0}}}, "drop")[0];
  AttrMap sa{{"body", body_of({t}, {op::add(t, drop)})}, {"n_states", int64_t(1)}, {"n_sequences", int64_t(0)},
             {"n_steps", int64_t(2)}};
  Value i = op::input("i", DType::i64, {}), acc = op::input("acc", DType::f32, {n});
  Value inner = make_node("scan", {op::zeros_like(acc)}, sa, "inner")[0];
  GraphPtr cond = body_of({i, acc}, {op::less(i, op::scalar(3, DType::i64))});
  GraphPtr body = body_of({i, acc}, {op::add(i, op::scalar(1, DType::i64)), op::add(acc, inner)});
  Value i0 = op::input("i0", DType::i64, {}), acc0 = op::input("acc0", DType::f32, {n});
  Graph g = graph_of({i0, acc0}, {while_loop({i0, acc0}, cond, body, 2)[1]});
  const std::vector<Tensor> feeds = {make_tensor(DType::i64, {}, {0}), Tensor(DType::f32, {n})};
  check_close(run_graph(g, feeds)[0], make_tensor(DType::f32, {n}, std::vector<double>(n, 6.0)), 0);
  Tensor tv = run_graph(set_training_mode(g, true), feeds)[0];
  int64_t extreme = 0, changed = 0;
  double sum = 0;
  for (int64_t e = 0; e < n; ++e) {
    const double v = tv.get_as_double(e);
    CHECK((v >= 0 && v <= 12 && std::fmod(v, 2.0) == 0));
    extreme += v == 0 || v == 12;
    changed += v != 6;
    sum += v;
  }
  CHECK(changed > n / 2);  // in training mode (6 is three kept of six: 20/64 of the elements)
  CHECK(extreme < n / 5);  // independent draws: 1/32 of the elements; the same draw six times: all
  CHECK(sum / n == Approx(6).margin(0.6));
}

TEST_CASE("a while_loop and the loop its gradient re-runs to record run as one loop", "[control_flow][while][passes]") {
  PowerLoop p;
  Value n0 = op::input("n0", DType::i64, {}), x0 = op::input("x0", DType::f64, {2});
  Value a = op::input("a0", DType::f64, {2});
  std::vector<Value> out = while_loop({n0, x0, a}, p.cond(4), p.body(), 2, 6);
  // Another loop (a different cond) with its own gradient: not shared with the first.
  std::vector<Value> other = while_loop({n0, x0, a}, p.cond(2), p.body(), 2, 6, -1, "other");
  Value loss = op::add(op::reduce_sum(op::mul(out[1], out[1])), op::reduce_sum(other[1]));
  std::vector<Value> g = gradients(loss, {x0, a});
  Graph graph = graph_of({n0, x0, a}, {out[0], out[1], other[1], g[0], g[1]});
  CHECK(count_op(graph, "while_loop") == 4);  // two loops, each with its recording rerun
  Graph shared = eliminate_dead_code(share_recorded_loops(eliminate_common_subexpressions(graph)));
  CHECK(count_op(shared, "while_loop") == 2);
  std::vector<Tensor> feeds = {make_tensor(DType::i64, {}, {0}), random_tensor(DType::f64, {2}, 5),
                               random_tensor(DType::f64, {2}, 6, 0.5, 1.5)};
  std::vector<Tensor> plain = run_graph(graph, feeds, false);
  std::vector<Tensor> opt = run_graph(graph, feeds, true);
  REQUIRE(plain.size() == opt.size());
  for (size_t i = 0; i < plain.size(); ++i) check_close(opt[i], plain[i], 0);
}

TEST_CASE("make_while_loop builds a while_loop from a traced cond and body; gradients reach variables in it",
          "[control_flow][while]") {
  // while n < k: n += 1, x = x * (w * exp(z)); w a variable, k and z outer inputs, the
  // exp made by the body's code (so inside the body although it uses no loop variable).
  // With z = 0: x0 w^k, and d/dw sum = k x0 w^(k-1).
  auto w = Variable::create("w", make_tensor(DType::f64, {2}, {1.5, -0.5}));
  Value wv = op::variable(w);
  Value k = op::input("k", DType::i64, {}), z = op::input("z", DType::f64, {});
  Value n0 = op::input("n0", DType::i64, {}), x0 = op::input("x0", DType::f64, {2});
  Value n = op::input("n", DType::i64, {}), x = op::input("x", DType::f64, {2});
  const uint64_t cond_after = last_node_id();
  Value more = op::less(n, k);
  const uint64_t body_after = last_node_id();
  std::vector<Value> next = {op::add(n, op::scalar(1, DType::i64)), op::mul(x, op::mul(wv, op::exp(z)))};
  for (bool error_at_max : {false, true}) {
    std::vector<Value> out = make_while_loop({n, x}, more, cond_after, next, body_after, {n0, x0}, 6, error_at_max,
                                             "loop");
    REQUIRE(out.size() == 2);
    const Node& loop = *out[1].node;
    CHECK(loop.inputs.size() == 2 + 1 + 2);  // n0, x0; k for the cond; w and z for the body
    CHECK(loop.attrs.get_int("max_iterations") == 6);
    Graph g = graph_of({k, z, n0, x0}, {out[0], out[1], gradients(op::reduce_sum(out[1]), {wv})[0]});
    CHECK(count_op(g, "exp") == 0);
    CHECK(graph_variables(g).size() == 1);
    Tensor xv = make_tensor(DType::f64, {2}, {0.8, 2});
    auto feeds = [&](int64_t kv) {
      return std::vector<Tensor>{make_tensor(DType::i64, {}, {double(kv)}), make_tensor(DType::f64, {}, {0}),
                                 make_tensor(DType::i64, {}, {0}), xv};
    };
    std::vector<Tensor> r = run_graph(g, feeds(3));
    CHECK(r[0].get_as_double(0) == 3);
    for (int64_t e = 0; e < 2; ++e) {
      const double x_ = xv.get_as_double(e), w_ = w->host().get_as_double(e);
      CHECK(r[1].get_as_double(e) == Approx(x_ * std::pow(w_, 3)).epsilon(1e-12));
      CHECK(r[2].get_as_double(e) == Approx(3 * x_ * w_ * w_).epsilon(1e-12));
    }
    // k = 9 wants more iterations than the bound of 6.
    if (error_at_max) {
      expect_error(ErrorKind::value, "max_iterations = 6", [&] { run_graph(g, feeds(9)); });
    } else {
      CHECK(run_graph(g, feeds(9))[0].get_as_double(0) == 6);
    }
  }
}
