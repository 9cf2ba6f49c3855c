// scan beyond its op cases: zero steps, gradients that differentiate again, classed errors
// for mismatched states and sequences, gradients it cannot give, and a body a device lacks
// falling back to the CPU.
#include <cmath>
#include <memory>

#include "engine/cpu/sim_backend.h"
#include "engine/passes/passes.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

namespace {

std::vector<Value> scan(std::vector<Value> ins, GraphPtr body, int64_t states, int64_t sequences,
                        int64_t reverse = 0, int64_t n_steps = -1) {
  AttrMap a{{"body", body}, {"n_states", states}, {"n_sequences", sequences}, {"reverse", reverse}};
  if (n_steps >= 0) a.set("n_steps", n_steps);
  return make_node("scan", ins, a, "loop");
}

// (s, x) -> (s * x, s * x) on f64 [n]: a running product.
GraphPtr product_body() {
  Value s = op::input("s", DType::f64, {-1});
  Value x = op::input("x", DType::f64, {-1});
  Value y = op::mul(s, x);
  return body_of({s, x}, {y, y});
}

}  // namespace

// Its gradient graph holds several zero-byte values (the planner once looped on them).
TEST_CASE("a scan of zero steps gives the initial states and empty stacked outputs", "[control_flow]") {
  Value s0 = op::input("s0", DType::f64, {3});
  Value xs = op::input("xs", DType::f64, {0, 3});
  std::vector<Value> out = scan({s0, xs}, product_body(), 1, 1);
  CHECK(out[1].shape() == Shape{0, 3});
  std::vector<Value> g = gradients(op::reduce_sum(out[0]), {s0, xs});
  Graph graph = graph_of({s0, xs}, {out[0], out[1], g[0], g[1]});
  Tensor sv = make_tensor(DType::f64, {3}, {1.5, -2, 0.25});
  std::vector<Tensor> r = run_graph(graph, {sv, Tensor(DType::f64, {0, 3})}, true, "cpu");
  check_close(r[0], sv, 0);
  CHECK(r[1].shape() == Shape{0, 3});
  check_close(r[2], make_tensor(DType::f64, {3}, {1, 1, 1}), 0);  // the final state is the initial one
  CHECK(r[3].shape() == Shape{0, 3});
}

TEST_CASE("scan runs one, two and more steps, a state passed through unchanged", "[control_flow]") {
  // The first step reads the initial states in place and the last writes the outputs:
  // one and two steps are the edge cases of the double buffering. State 2 passes through.
  Value s = op::input("s", DType::f64, {-1}), k = op::input("k", DType::f64, {-1});
  Value x = op::input("x", DType::f64, {-1});
  Value y = op::mul(s, x);
  GraphPtr body = body_of({s, k, x}, {y, k, op::add(y, k)});
  for (int64_t T : {1, 2, 5}) {
    Value s0 = op::input("s0", DType::f64, {2}), k0 = op::input("k0", DType::f64, {2});
    Value xs = op::input("xs", DType::f64, {T, 2});
    std::vector<Value> out = scan({s0, k0, xs}, body, 2, 1);
    Graph g = graph_of({s0, k0, xs}, out);
    Tensor sv = make_tensor(DType::f64, {2}, {0.5, -1.5}), kv = make_tensor(DType::f64, {2}, {3, 4});
    Tensor xv = random_tensor(DType::f64, {T, 2}, 20 + T);
    std::vector<Tensor> r = run_graph(g, {sv, kv, xv});
    for (int64_t i = 0; i < 2; ++i) {
      double p = sv.get_as_double(i);
      for (int64_t t = 0; t < T; ++t) {
        p *= xv.get_as_double(t * 2 + i);
        CHECK(r[2].get_as_double(t * 2 + i) == Approx(p + kv.get_as_double(i)).epsilon(1e-14));
      }
      CHECK(r[0].get_as_double(i) == Approx(p).epsilon(1e-14));
      CHECK(r[1].get_as_double(i) == kv.get_as_double(i));
    }
  }
}

TEST_CASE("the gradient of a scan is made of scans and differentiates again", "[control_flow]") {
  // Running product over 3 steps: final = s0 * x0 * x1 * x2, so d final / d s0 = x0 x1 x2
  // and the second derivative of sum(d/ds0 ...) w.r.t. xs is checked in closed form.
  Value s0 = op::input("s0", DType::f64, {2});
  Value xs = op::input("xs", DType::f64, {3, 2});
  for (int64_t reverse : {0, 1}) {
    std::vector<Value> out = scan({s0, xs}, product_body(), 1, 1, reverse);
    Value y = op::reduce_sum(op::mul(out[0], out[0]));  // sum(s0^2 P^2), P = prod_t x_t
    std::vector<Value> g1 = gradients(y, {s0, xs});
    Value g2 = gradients(op::reduce_sum(g1[0]), {xs})[0];  // d/dxs sum(2 s0 P^2)
    Graph g = graph_of({s0, xs}, {g1[0], g1[1], g2});
    CHECK(count_op(g, "scan") >= 3);
    Tensor sv = make_tensor(DType::f64, {2}, {0.7, -1.2});
    Tensor xv = make_tensor(DType::f64, {3, 2}, {1.1, -0.5, 0.9, 1.3, -1.4, 0.6});
    std::vector<Tensor> r = run_graph(g, {sv, xv});
    for (int64_t i = 0; i < 2; ++i) {
      double p = 1;
      for (int64_t t = 0; t < 3; ++t) p *= xv.get_as_double(t * 2 + i);
      const double s = sv.get_as_double(i);
      CHECK(r[0].get_as_double(i) == Approx(2 * s * p * p).epsilon(1e-12));
      for (int64_t t = 0; t < 3; ++t) {
        const double x = xv.get_as_double(t * 2 + i);
        CHECK(r[1].get_as_double(t * 2 + i) == Approx(2 * s * s * p * p / x).epsilon(1e-12));
        CHECK(r[2].get_as_double(t * 2 + i) == Approx(4 * s * p * p / x).epsilon(1e-12));
      }
    }
  }
}

TEST_CASE("scan's states, sequences and step count are checked with classed errors", "[control_flow]") {
  Value s0 = op::input("s0", DType::f32, {3});
  Value xs = op::input("xs", DType::f32, {4, 3});
  Value zs = op::input("zs", DType::f32, {5, 3});
  auto expect = [](ErrorKind kind, const std::string& words, auto build) {
    try {
      build();
      FAIL("built");
    } catch (const Error& e) {
      CHECK(e.kind() == kind);
      CHECK(std::string(e.what()).find(words) != std::string::npos);
    }
  };
  Value s = op::input("h", DType::f32, {3}), x = op::input("x", DType::f32, {3});
  // The new state changes dtype, or shape.
  expect(ErrorKind::dtype, "state 1 ('h')",
         [&] { scan({s0, xs}, body_of({s, x}, {op::cast(op::add(s, x), DType::f64)}), 1, 1); });
  expect(ErrorKind::shape, "state 1 ('h')",
         [&] { scan({s0, xs}, body_of({s, x}, {op::reduce_sum(s, {0}, true)}), 1, 1); });
  // Sequences of different lengths; n_steps disagreeing with them.
  Value z = op::input("z", DType::f32, {3});
  expect(ErrorKind::shape, "length 5", [&] { scan({s0, xs, zs}, body_of({s, x, z}, {op::add(x, z)}), 1, 2); });
  expect(ErrorKind::shape, "n_steps is 3", [&] { scan({s0, xs}, body_of({s, x}, {op::add(s, x)}), 1, 1, 0, 3); });
  // No sequences and no n_steps.
  expect(ErrorKind::attr, "n_steps", [&] { scan({s0}, body_of({s}, {op::neg(s)}), 1, 0); });
  // Fewer body outputs than states; counts beyond the inputs.
  Value t = op::input("t", DType::f32, {3});
  expect(ErrorKind::value, "2 states", [&] { scan({s0, s0}, body_of({s, t}, {s}), 2, 0, 0, 2); });
  expect(ErrorKind::attr, "n_states", [&] { scan({s0}, body_of({s}, {s}), 2, 0, 0, 2); });
}

TEST_CASE("a gradient that would flow inside a scan's body is refused, not dropped", "[control_flow]") {
  auto w = Variable::create("w", make_tensor(DType::f64, {2}, {1, 2}));
  Value wv = op::variable(w);
  Value s = op::input("s", DType::f64, {2}), x = op::input("x", DType::f64, {2});
  Value s0 = op::input("s0", DType::f64, {2});
  Value xs = op::input("xs", DType::f64, {3, 2});
  Value y = op::reduce_sum(scan({s0, xs}, body_of({s, x}, {op::add(op::mul(s, wv), x)}), 1, 1)[0]);
  try {
    gradients(y, {wv});
    FAIL("a gradient that misses the body");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::unsupported);
  }
}

TEST_CASE("a scan whose body a device lacks runs on the CPU there", "[control_flow][placement]") {
  register_sim_backend();
  Tensor k = make_tensor(DType::f32, {1, 1, 3, 3}, {0, 1, 0, 1, -4, 1, 0, 1, 0});
  Value s = op::input("s", DType::f32, {1, 1, 4, 4});
  Value x = op::input("x", DType::f32, {1, 1, 4, 4});
  Value next = op::add(op::apply("conv", {s, op::constant(k)}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}}), x);
  Value s0 = op::input("s0", DType::f32, {1, 1, 4, 4});
  Value xs = op::input("xs", DType::f32, {2, 1, 1, 4, 4});
  Graph g = graph_of({s0, xs}, {op::relu(scan({s0, xs}, body_of({s, x}, {next}), 1, 1)[0])});
  CompileOptions o;
  o.target = "sim_partial";
  auto ex = Executable::compile(g, {{DType::f32, {1, 1, 4, 4}}, {DType::f32, {2, 1, 1, 4, 4}}}, o);
  bool on_cpu = false;
  for (const std::string& n : ex->stats().fallback_nodes) on_cpu = on_cpu || n.find("loop") != std::string::npos;
  CHECK(on_cpu);
  Tensor sv = random_tensor(DType::f32, {1, 1, 4, 4}, 11), xv = random_tensor(DType::f32, {2, 1, 1, 4, 4}, 12);
  ex->run({sv.view(), xv.view()});
  check_close(to_tensor(ex->output(0)), run_graph(g, {sv, xv}, true, "cpu")[0], 0);
}
