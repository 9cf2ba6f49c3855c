// Subgraphs: passes reach into bodies (graph-valued attributes), the call op and its
// inlining, gradients through calls, lambda lifting.
#include <cmath>
#include <memory>

#include "engine/backend/backend.h"
#include "engine/cpu/sim_backend.h"
#include "engine/passes/lift.h"
#include "engine/passes/passes.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

namespace {

std::vector<Value> call(const GraphPtr& body, std::vector<Value> args, const std::string& name = "") {
  return make_node("call", std::move(args), {{"body", body}}, name);
}

// The body of the first node (in topological order) that has one.
GraphPtr first_body(const Graph& g) {
  for (const NodePtr& n : g.topo_order())
    if (n->attrs.has("body")) return n->attrs.get_graph("body");
  return nullptr;
}

std::vector<GraphPtr> bodies(const Graph& g) {
  std::vector<GraphPtr> out;
  for (const NodePtr& n : g.topo_order())
    if (n->op_name() == "call") out.push_back(n->attrs.get_graph("body"));
  return out;
}

void check_all_close(const std::vector<Tensor>& got, const std::vector<Tensor>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("output " << i);
    check_close(got[i], want[i], tol);
  }
}

}  // namespace

TEST_CASE("CSE, simplification and folding optimize bodies, which stay immutable and shared", "[subgraph][passes]") {
  Value u = op::input("u", DType::f32, {4});
  // exp(u) twice, * 1, + 0, and a constant subexpression exp(2).
  Value two = op::constant(make_tensor(DType::f32, {}, {2}));
  Value e = op::add(op::exp(u), op::exp(u));
  Value r = op::add(op::mul(op::mul(e, op::scalar(1, DType::f32)), op::exp(two)), op::scalar(0, DType::f32));
  GraphPtr body = body_of({u}, {r});
  Value x = op::input("x", DType::f32, {4}), y = op::input("y", DType::f32, {4});
  Graph g = graph_of({x, y}, {call(body, {x})[0], call(body, {y})[0]});
  REQUIRE(count_op(*body, "exp") == 3);

  Graph c = eliminate_common_subexpressions(g);
  std::vector<GraphPtr> cb = bodies(c);
  REQUIRE(cb.size() == 2);
  CHECK(cb[0] == cb[1]);  // both calls shared the body; they share its rewrite
  CHECK(cb[0] != body);
  CHECK(count_op(*cb[0], "exp") == 2);  // exp(u) once, exp(2) once
  CHECK(count_op(*body, "exp") == 3);   // the original body is untouched

  Graph s = simplify_algebra(c);
  GraphPtr sb = first_body(s);
  CHECK(count_op(*sb, "mul") == 1);  // * 1 gone, * exp(2) kept
  CHECK(sb->outputs[0].node->op_name() == "mul");  // + 0 gone

  Graph f = fold_constants(s, host_evaluator(cpu_backend()));
  CHECK(count_op(*first_body(f), "exp") == 1);  // exp(2) folded into a constant inside the body

  std::vector<Tensor> feeds = {random_tensor(DType::f32, {4}, 1), random_tensor(DType::f32, {4}, 2)};
  std::vector<Tensor> want = run_graph(g, feeds, false);
  check_all_close(run_graph(c, feeds, false), want, 1e-6);
  check_all_close(run_graph(f, feeds, false), want, 1e-6);
  check_all_close(run_graph(g, feeds, true), want, 1e-6);
  // A body with nothing to change keeps its node.
  Graph again = eliminate_common_subexpressions(c);
  CHECK(bodies(again)[0] == cb[0]);
}

TEST_CASE("variables used only inside bodies are found and survive DCE", "[subgraph][passes]") {
  auto w = Variable::create("w", make_tensor(DType::f32, {3}, {1, 2, 3}));
  auto v = Variable::create("v", make_tensor(DType::f32, {3}, {0.5, 0.5, 0.5}));
  auto outer = Variable::create("outer", make_tensor(DType::f32, {3}, {1, 1, 1}));
  // inner body uses v; the outer body uses w and calls the inner one.
  Value p = op::input("p", DType::f32, {3});
  GraphPtr inner = body_of({p}, {op::mul(p, op::variable(v))});
  Value q = op::input("q", DType::f32, {3});
  GraphPtr body = body_of({q}, {op::add(call(inner, {q})[0], op::variable(w))});
  Value x = op::input("x", DType::f32, {3});
  Graph g = graph_of({x}, {op::add(call(body, {x})[0], op::variable(outer))});

  std::vector<VariablePtr> vars = graph_variables(g);
  REQUIRE(vars.size() == 3);
  CHECK(vars[0] == v);  // a body's variables come at the place of the node holding it
  CHECK(vars[1] == w);
  CHECK(vars[2] == outer);

  Graph d = eliminate_dead_code(g);
  CHECK(graph_variables(d).size() == 3);
  CHECK(count_op(d, "call") == 1);
  std::vector<Tensor> out = run_graph(d, {make_tensor(DType::f32, {3}, {2, 4, 6})}, false);
  check_close(out[0], make_tensor(DType::f32, {3}, {1 + 1 + 1, 2 + 2 + 1, 3 + 3 + 1}), 1e-6);
}

TEST_CASE("training mode reaches dropout and batch norm inside bodies", "[subgraph][passes]") {
  const int64_t n = 400;
  auto mean = Variable::create("mean", make_tensor(DType::f32, {2}, {0, 0}));
  auto var = Variable::create("var", make_tensor(DType::f32, {2}, {1, 1}));
  auto scale = Variable::create("scale", make_tensor(DType::f32, {2}, {1, 1}));
  auto bias = Variable::create("bias", make_tensor(DType::f32, {2}, {0, 0}));
  Value u = op::input("u", DType::f32, {n / 2, 2});
  Value bn = make_node("batch_norm", {u, op::variable(scale), op::variable(bias), op::variable(mean), op::variable(var)},
                       {{"epsilon", 0.0}, {"training", int64_t{0}}})[0];
  Value dr = make_node("dropout", {bn}, {{"ratio", 0.5}, {"seed", int64_t{7}}, {"training", int64_t{0}}})[0];
  GraphPtr body = body_of({u}, {dr});
  Value x = op::input("x", DType::f32, {n / 2, 2});
  Graph g = graph_of({x}, {call(body, {x})[0]});

  Graph t = set_training_mode(g, true);
  GraphPtr tb = first_body(t);
  REQUIRE(tb != body);
  for (const NodePtr& m : tb->topo_order())
    if (m->op_name() == "dropout" || m->op_name() == "batch_norm") CHECK(m->attrs.get_int("training") == 1);
  for (const NodePtr& m : body->topo_order())
    if (m->attrs.has("training")) CHECK(m->attrs.get_int("training") == 0);  // untouched
  // Already in inference mode: nothing to rewrite, the node keeps its body.
  CHECK(first_body(set_training_mode(g, false)) == body);

  // Values: inference is batch norm with the running statistics (identity here) and no
  // dropout; training normalizes with the batch's statistics and drops about half.
  Tensor xv = random_tensor(DType::f32, {n / 2, 2}, 3, 1, 5);
  check_close(run_graph(g, {xv})[0], xv, 1e-5);
  Tensor tv = run_graph(t, {xv})[0];
  int64_t zeros = 0;
  double sum_kept = 0;
  for (int64_t i = 0; i < tv.numel(); ++i) {
    zeros += tv.get_as_double(i) == 0;
    sum_kept += tv.get_as_double(i);
  }
  CHECK(zeros > n / 4);
  CHECK(zeros < 3 * n / 4);
  CHECK(std::abs(sum_kept) < n / 2.0);  // normalized: mean near 0, unlike the input's (about 3)
}

TEST_CASE("gradients flow through calls, again, and to variables inside bodies", "[subgraph][autodiff]") {
  // d/dx sum(call(x^3)) = 3 x^2; once more, 6 x.
  Value u = op::input("u", DType::f64, {4});
  GraphPtr cube = body_of({u}, {op::mul(op::mul(u, u), u)});
  Value x = op::input("x", DType::f64, {4});
  Value y = op::reduce_sum(call(cube, {x})[0]);
  Value g1 = gradients(y, {x})[0];
  Value g2 = gradients(op::reduce_sum(g1), {x})[0];
  Tensor xv = make_tensor(DType::f64, {4}, {-1, 0.5, 2, 3});
  std::vector<Tensor> out = run_graph(graph_of({x}, {g1, g2}), {xv});
  check_close(out[0], make_tensor(DType::f64, {4}, {3, 0.75, 12, 27}), 1e-12);
  check_close(out[1], make_tensor(DType::f64, {4}, {-6, 3, 12, 18}), 1e-12);

  // A parameter the body shares with the graph gets its gradient where the body uses it.
  auto w = Variable::create("w", make_tensor(DType::f64, {3}, {1, 2, 3}));
  Value wv = op::variable(w);
  Value a = op::input("a", DType::f64, {2, 3});
  GraphPtr scaled = body_of({a}, {op::mul(op::square(a), wv)});
  Value xs = op::input("xs", DType::f64, {2, 3});
  Value loss = op::reduce_sum(call(scaled, {xs})[0]);
  std::vector<Value> gr = gradients(loss, {wv, xs});
  Tensor xsv = make_tensor(DType::f64, {2, 3}, {1, 2, 3, 4, 5, 6});
  out = run_graph(graph_of({xs}, gr), {xsv});
  check_close(out[0], make_tensor(DType::f64, {3}, {1 + 16, 4 + 25, 9 + 36}), 1e-12);
  check_close(out[1], make_tensor(DType::f64, {2, 3}, {2, 8, 18, 8, 20, 36}), 1e-12);
}

TEST_CASE("a dropout inside a call drops the same elements forward and in its gradient", "[subgraph][autodiff]") {
  Value u = op::input("u", DType::f32, {64});
  GraphPtr body = body_of({u}, {make_node("dropout", {u}, {{"ratio", 0.5}, {"training", int64_t{1}}})[0]});
  Value x = op::input("x", DType::f32, {64});
  Value y = call(body, {x}, "drop_call")[0];
  Value gx = gradients(op::reduce_sum(y), {x})[0];
  std::vector<Tensor> out = run_graph(graph_of({x}, {y, gx}), {random_tensor(DType::f32, {64}, 4, 1, 2)});
  int64_t dropped = 0;
  for (int64_t i = 0; i < 64; ++i) {
    INFO("element " << i);
    const bool kept = out[0].get_as_double(i) != 0;
    CHECK(kept == (out[1].get_as_double(i) != 0));
    dropped += !kept;
  }
  CHECK(dropped > 8);
  CHECK(dropped < 56);
}

TEST_CASE("inline_calls splices bodies in, nested ones too; call runs everywhere", "[subgraph][inline]") {
  register_sim_backend();
  Value p = op::input("p", DType::f32, {-1});
  GraphPtr inner = body_of({p}, {op::exp(p)});
  Value q = op::input("q", DType::f32, {-1});
  GraphPtr outer = body_of({q}, {op::add(call(inner, {q}, "in")[0], q)});
  Value x = op::input("x", DType::f32, {5});
  Graph g = graph_of({x}, {op::tanh(call(outer, {x}, "out")[0])});
  Graph inl = inline_calls(g);
  CHECK(count_op(inl, "call") == 0);
  CHECK(count_op(inl, "exp") == 1);
  bool named = false;
  for (const NodePtr& n : inl.topo_order()) named = named || (n->op_name() == "exp" && n->name.rfind("out/in/", 0) == 0);
  CHECK(named);
  // The body was declared for any length; the expansion has the argument's shape.
  CHECK(inl.outputs[0].shape() == Shape{5});
  CHECK(count_op(optimize(g), "call") == 0);

  std::vector<Tensor> feeds = {random_tensor(DType::f32, {5}, 5)};
  Tensor want(DType::f32, {5});
  for (int64_t i = 0; i < 5; ++i) {
    double v = feeds[0].get_as_double(i);
    want.set_from_double(i, std::tanh(std::exp(v) + v));
  }
  check_close(run_graph(g, feeds, false, "cpu")[0], want, 1e-6);  // unoptimized: inlined anyway
  check_close(run_graph(g, feeds, true, "cpu")[0], want, 1e-6);
  check_close(run_graph(g, feeds, false, "sim")[0], want, 1e-6);
  check_close(run_graph(g, feeds, true, "sim")[0], want, 1e-6);
}

TEST_CASE("call checks its body and arguments", "[subgraph][errors]") {
  Value a = op::input("a", DType::f32, {2, 3});
  GraphPtr body = body_of({a}, {op::exp(a)});
  auto kind_of = [](const std::function<void()>& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return error_kind_name(e.kind());
    }
    return "none";
  };
  Value x = op::input("x", DType::f32, {2, 3});
  CHECK(kind_of([&] { call(body, {x, x}); }) == "value");
  CHECK(kind_of([&] { call(body, {op::input("i", DType::i32, {2, 3})}); }) == "dtype");
  CHECK(kind_of([&] { call(body, {op::input("y", DType::f32, {4, 3})}); }) == "shape");
  CHECK(kind_of([&] { make_node("call", {x}, {}); }) == "attr");
  // A body reading a value it does not take as an input is not closed.
  Value stray = op::input("stray", DType::f32, {2, 3});
  CHECK(kind_of([&] { call(body_of({a}, {op::add(a, stray)}), {x}); }) == "attr");
  CHECK(kind_of([&] { call(body_of({a, a}, {a}), {x, x}); }) == "attr");
  CHECK(kind_of([&] { call(body, {x}); }) == "none");
}

TEST_CASE("lambda lifting closes a body over outer values; calling it gives the same values and gradients",
          "[subgraph][lift]") {
  auto w = Variable::create("w", make_tensor(DType::f64, {3}, {0.5, -1, 2}));
  Value wv = op::variable(w);
  Value x = op::input("x", DType::f64, {2, 3});
  Value h = op::exp(x);  // computed outside the body
  Value c = op::constant(make_tensor(DType::f64, {}, {3}));
  Value p = op::input("p", DType::f64, {2, 3});  // the body's parameter
  Value expr = op::add(op::mul(op::add(op::mul(p, h), wv), c), op::tanh(x));

  LiftedBody lb = lift_body({p}, {expr});
  // h and tanh(x) (neither depends on the parameter) become inputs; w and c stay captured.
  REQUIRE(lb.captured.size() == 2);
  CHECK(lb.body->inputs.size() == 3);
  CHECK(lb.body->inputs[0] == p);
  bool has_var = false;
  for (const NodePtr& n : lb.body->topo_order()) has_var = has_var || n->op_name() == "variable";
  CHECK(has_var);
  CHECK(count_op(*lb.body, "exp") == 0);  // outer computation left outside

  Value z = op::input("z", DType::f64, {2, 3});  // the argument for p
  std::vector<Value> args{z};
  args.insert(args.end(), lb.captured.begin(), lb.captured.end());
  Value called = call(lb.body, args)[0];
  // The original expression with p := z.
  Value direct = op::add(op::mul(op::add(op::mul(z, h), wv), c), op::tanh(x));

  auto with_grads = [&](const Value& out) {
    Value loss = op::reduce_sum(op::mul(out, out));
    std::vector<Value> outs{out};
    for (const Value& gv : gradients(loss, {x, z, wv})) outs.push_back(gv);
    return graph_of({x, z}, outs);
  };
  std::vector<Tensor> feeds = {random_tensor(DType::f64, {2, 3}, 8), random_tensor(DType::f64, {2, 3}, 9)};
  check_all_close(run_graph(with_grads(called), feeds), run_graph(with_grads(direct), feeds), 1e-12);
  CHECK(graph_variables(graph_of({x, z}, {called})).size() == 1);
}

TEST_CASE("lambda lifting of nested bodies", "[subgraph][lift]") {
  register_sim_backend();
  Value x = op::input("x", DType::f64, {3});
  Value s = op::sin(x);  // outer to both bodies
  // inner(q) = q * sin(x), lifted: sin(x) becomes an input.
  Value q = op::input("q", DType::f64, {3});
  LiftedBody inner = lift_body({q}, {op::mul(q, s)});
  REQUIRE(inner.captured.size() == 1);
  // outer(p) = inner(p * x) + x, where the call of inner passes s: lifting outer captures
  // x and s; the inner call inside stays a call of the closed inner body.
  Value p = op::input("p", DType::f64, {3});
  Value inner_call = call(inner.body, {op::mul(p, x), inner.captured[0]})[0];
  LiftedBody outer = lift_body({p}, {op::add(inner_call, x)});
  CHECK(outer.captured.size() == 2);
  CHECK(count_op(*outer.body, "call") == 1);

  Value z = op::input("z", DType::f64, {3});
  std::vector<Value> args{z};
  args.insert(args.end(), outer.captured.begin(), outer.captured.end());
  Value called = call(outer.body, args)[0];
  Value direct = op::add(op::mul(op::mul(z, x), s), x);
  auto with_grads = [&](const Value& out) {
    std::vector<Value> outs{out};
    for (const Value& gv : gradients(op::reduce_sum(op::square(out)), {x, z})) outs.push_back(gv);
    return graph_of({x, z}, outs);
  };
  std::vector<Tensor> feeds = {random_tensor(DType::f64, {3}, 10), random_tensor(DType::f64, {3}, 11)};
  check_all_close(run_graph(with_grads(called), feeds), run_graph(with_grads(direct), feeds), 1e-12);
  check_all_close(run_graph(with_grads(called), feeds, true, "sim"), run_graph(with_grads(direct), feeds), 1e-12);

  // Parameters must be input nodes, each once.
  CHECK_THROWS_AS(lift_body({s}, {s}), Error);
  CHECK_THROWS_AS(lift_body({q, q}, {q}), Error);
}
