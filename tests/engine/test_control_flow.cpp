// cond beyond its op cases: only the taken branch runs, gradients stay conds and
// differentiate again, mismatched branches and gradients it cannot give are classed errors,
// and a branch a device cannot run falls back to the CPU.
#include <cmath>
#include <memory>

#include "engine/cpu/sim_backend.h"
#include "engine/passes/lift.h"
#include "engine/passes/passes.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

namespace {

Value cond(const Value& pred, std::vector<Value> args, GraphPtr then_b, GraphPtr else_b) {
  std::vector<Value> ins{pred};
  ins.insert(ins.end(), args.begin(), args.end());
  return make_node("cond", ins, {{"then_branch", then_b}, {"else_branch", else_b}}, "branch").at(0);
}

// then: x^3, else: sin(x), on x [n] of f64.
std::pair<GraphPtr, GraphPtr> cube_or_sin() {
  Value x1 = op::input("x", DType::f64, {-1});
  Value x2 = op::input("x", DType::f64, {-1});
  return {body_of({x1}, {op::mul(op::mul(x1, x1), x1)}), body_of({x2}, {op::sin(x2)})};
}

}  // namespace

TEST_CASE("cond runs the taken branch only", "[control_flow]") {
  // The else branch gathers at index 7 of a 3-element axis: an index error when it runs.
  Value x = op::input("x", DType::f32, {3});
  Value p = op::input("p", DType::boolean, {});
  Value bx = op::input("x", DType::f32, {3});
  Value ex = op::input("x", DType::f32, {3});
  Tensor seven = make_tensor(DType::i64, {3}, {7, 7, 7});
  GraphPtr then_b = body_of({bx}, {op::mul(bx, op::scalar(2, DType::f32))});
  GraphPtr else_b = body_of({ex}, {op::apply("gather", {ex, op::constant(seven)}, {{"axis", int64_t(0)}})});
  Graph g = graph_of({p, x}, {cond(p, {x}, then_b, else_b)});
  Tensor xv = make_tensor(DType::f32, {3}, {1, 2, 3});
  std::vector<Tensor> out = run_graph(g, {make_tensor(DType::boolean, {}, {1}), xv});
  check_close(out[0], make_tensor(DType::f32, {3}, {2, 4, 6}), 0);
  try {
    run_graph(g, {make_tensor(DType::boolean, {}, {0}), xv});
    FAIL("the else branch did not run");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::index);
  }
}

TEST_CASE("the gradient of a cond is a cond and differentiates again", "[control_flow]") {
  auto [then_b, else_b] = cube_or_sin();
  Value x = op::input("x", DType::f64, {4});
  Value p = op::input("p", DType::boolean, {});
  Value y = op::reduce_sum(cond(p, {x}, then_b, else_b));
  Value g1 = gradients(y, {x})[0];
  Value g2 = gradients(op::reduce_sum(g1), {x})[0];
  Graph g = graph_of({p, x}, {g1, g2});
  CHECK(count_op(g, "cond") >= 2);  // first and second order, not inlined
  Tensor xv = make_tensor(DType::f64, {4}, {-1.5, -0.2, 0.3, 2});
  for (bool take : {true, false}) {
    std::vector<Tensor> out = run_graph(g, {make_tensor(DType::boolean, {}, {take ? 1.0 : 0.0}), xv});
    for (int64_t i = 0; i < 4; ++i) {
      const double v = xv.get_as_double(i);
      CHECK(out[0].get_as_double(i) == Approx(take ? 3 * v * v : std::cos(v)).epsilon(1e-12));
      CHECK(out[1].get_as_double(i) == Approx(take ? 6 * v : -std::sin(v)).epsilon(1e-12));
    }
  }
}

TEST_CASE("cond's branches must agree, and its predicate hold one value", "[control_flow]") {
  Value x = op::input("x", DType::f32, {2, 3});
  Value p = op::input("p", DType::boolean, {});
  Value a = op::input("a", DType::f32, {2, 3});
  Value b = op::input("b", DType::f32, {2, 3});
  auto expect = [&](ErrorKind kind, const Value& pred, GraphPtr t, GraphPtr e) {
    try {
      cond(pred, {x}, t, e);
      FAIL("built");
    } catch (const Error& err) {
      CHECK(err.kind() == kind);
    }
  };
  GraphPtr same = body_of({a}, {op::relu(a)});
  expect(ErrorKind::dtype, p, same, body_of({b}, {op::cast(b, DType::f64)}));
  expect(ErrorKind::shape, p, same, body_of({b}, {op::reduce_sum(b, {0})}));
  expect(ErrorKind::value, p, same, body_of({b}, {b, b}));
  expect(ErrorKind::shape, op::input("p2", DType::boolean, {2}), same, same);
  // The branches take the cond's arguments: one more input than arguments.
  Value c = op::input("c", DType::f32, {2, 3});
  expect(ErrorKind::value, p, same, body_of({b, c}, {op::add(b, c)}));
}

TEST_CASE("a gradient that would flow inside a cond's body is refused, not dropped", "[control_flow]") {
  auto w = Variable::create("w", make_tensor(DType::f32, {3}, {1, 2, 3}));
  Value wv = op::variable(w);
  Value a = op::input("a", DType::f32, {3});
  Value b = op::input("b", DType::f32, {3});
  Value x = op::input("x", DType::f32, {3});
  Value p = op::input("p", DType::boolean, {});
  Value y = op::reduce_sum(cond(p, {x}, body_of({a}, {op::mul(a, wv)}), body_of({b}, {b})));
  try {
    gradients(y, {wv});
    FAIL("a gradient that misses the body");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::unsupported);
    CHECK(std::string(e.what()).find("as an argument") != std::string::npos);
  }
  // Passed as an argument, it gets its gradient.
  Value a2 = op::input("a", DType::f32, {3}), w2 = op::input("w", DType::f32, {3});
  Value b2 = op::input("b", DType::f32, {3}), v2 = op::input("w", DType::f32, {3});
  std::vector<Value> ins{p, x, wv};
  Value c = make_node("cond", ins,
                      {{"then_branch", body_of({a2, w2}, {op::mul(a2, w2)})}, {"else_branch", body_of({b2, v2}, {b2})}},
                      "branch")
                .at(0);
  Value gw = gradients(op::reduce_sum(c), {wv})[0];
  Graph g = graph_of({p, x}, {gw});
  Tensor xv = make_tensor(DType::f32, {3}, {4, 5, 6});
  check_close(run_graph(g, {make_tensor(DType::boolean, {}, {1}), xv})[0], xv, 0);
  check_close(run_graph(g, {make_tensor(DType::boolean, {}, {0}), xv})[0], make_tensor(DType::f32, {3}, {0, 0, 0}), 0);
}

TEST_CASE("a cond whose branch a device lacks runs on the CPU there", "[control_flow][placement]") {
  register_sim_backend();
  Value x = op::input("x", DType::f32, {1, 1, 4, 4});
  Value p = op::input("p", DType::boolean, {});
  Tensor k = make_tensor(DType::f32, {1, 1, 3, 3}, {0, 1, 0, 1, -4, 1, 0, 1, 0});
  Value a = op::input("a", DType::f32, {1, 1, 4, 4});
  Value b = op::input("b", DType::f32, {1, 1, 4, 4});
  GraphPtr conv_b = body_of({a}, {op::apply("conv", {a, op::constant(k)}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}})});
  GraphPtr plain_b = body_of({b}, {op::neg(b)});
  Graph g = graph_of({p, x}, {op::relu(cond(p, {x}, conv_b, plain_b))});
  CompileOptions o;
  o.target = "sim_partial";
  auto ex = Executable::compile(g, {{DType::boolean, {}}, {DType::f32, {1, 1, 4, 4}}}, o);
  bool cond_on_cpu = false;
  for (const std::string& n : ex->stats().fallback_nodes) cond_on_cpu = cond_on_cpu || n.find("cond") != std::string::npos;
  CHECK(cond_on_cpu);
  Tensor xv = random_tensor(DType::f32, {1, 1, 4, 4}, 9);
  for (bool take : {true, false}) {
    Tensor pv = make_tensor(DType::boolean, {}, {take ? 1.0 : 0.0});
    ex->run({pv.view(), xv.view()});
    check_close(to_tensor(ex->output(0)), run_graph(g, {pv, xv}, true, "cpu")[0], 0);
  }
}

TEST_CASE("make_cond lifts traced branches: their nodes inside, outer values and variables as arguments",
          "[control_flow]") {
  auto w = Variable::create("w", make_tensor(DType::f64, {3}, {0.5, -2, 1.5}));
  Value wv = op::variable(w);
  Value x = op::input("x", DType::f64, {3});
  Value p = op::input("p", DType::boolean, {});
  Value outer = op::exp(x);  // made before either branch: an argument
  const uint64_t then_after = last_node_id();
  Value then_out = op::relu(op::mul(outer, wv));
  const uint64_t else_after = last_node_id();
  Value else_out = op::sub(x, op::scalar(1, DType::f64));
  Value y = make_cond(p, {then_out}, then_after, {else_out}, else_after, "branch").at(0);
  Graph g = graph_of({p, x}, {y, gradients(op::reduce_sum(y), {wv})[0]});
  // The branches' own nodes are inside the bodies: the outer graph computes exp only.
  CHECK(count_op(g, "relu") == 0);
  CHECK(count_op(g, "exp") == 1);
  CHECK(count_op(g, "cond") == 2);  // the op and its gradient
  Tensor xv = make_tensor(DType::f64, {3}, {0.1, 0.2, -0.3});
  std::vector<Tensor> on_true = run_graph(g, {make_tensor(DType::boolean, {}, {1}), xv});
  std::vector<Tensor> on_false = run_graph(g, {make_tensor(DType::boolean, {}, {0}), xv});
  for (int64_t i = 0; i < 3; ++i) {
    const double e = std::exp(xv.get_as_double(i)), wi = w->host().get_as_double(i);
    CHECK(on_true[0].get_as_double(i) == Approx(std::max(0.0, e * wi)).epsilon(1e-12));
    CHECK(on_true[1].get_as_double(i) == Approx(wi > 0 ? e : 0.0).epsilon(1e-12));
    CHECK(on_false[0].get_as_double(i) == Approx(xv.get_as_double(i) - 1).epsilon(1e-12));
    CHECK(on_false[1].get_as_double(i) == 0);
  }
  CHECK(graph_variables(g).size() == 1);
}
