// Custom operations: calls of traced functions (a name of their own, a gradient body that
// replaces the body's derivative) and host_callback (functions the host registers by name).
#include <atomic>
#include <cmath>
#include <memory>
#include <thread>

#include "engine/cpu/sim_backend.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/exec/executable.h"
#include "engine/ir/dot.h"
#include "engine/ops/host_callback.h"
#include "engine/passes/lift.h"
#include "engine/passes/passes.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

namespace {

// softplus(p) traced as a function, with the stable hand-derived gradient dy * sigmoid(p).
std::vector<Value> softplus_call(const Value& arg, bool custom) {
  Value p = op::input("p", DType::f64, arg.shape());
  uint64_t fn_after = last_node_id();
  Value y = op::log1p(op::exp(p));
  if (!custom) return make_function_call({p}, {y}, fn_after, {arg}, "my_softplus", "sp");
  CustomGradientTrace t;
  t.params = {p};
  t.outputs = {y};
  t.fn_after = fn_after;
  t.grad_params = {op::input("gp", DType::f64, arg.shape())};
  t.out_params = {op::input("gy", DType::f64, arg.shape())};
  t.cot_params = {op::input("gdy", DType::f64, arg.shape())};
  t.grad_after = last_node_id();
  t.grads = {op::mul(t.cot_params[0], op::sigmoid(t.grad_params[0]))};
  return make_custom_gradient_call(t, {arg}, "my_softplus", "sp");
}

}  // namespace

TEST_CASE("a traced function is a named call; its custom gradient replaces the body's derivative",
          "[custom][subgraph]") {
  register_sim_backend();
  Value x = op::input("x", DType::f64, {5});
  Value plain = softplus_call(x, false)[0];
  Value custom = softplus_call(x, true)[0];
  REQUIRE(plain.node->op_name() == "call");
  CHECK(plain.node->attrs.get_string("function") == "my_softplus");
  CHECK_FALSE(plain.node->attrs.has("grad"));
  CHECK(custom.node->attrs.has("grad"));
  CHECK(graph_to_dot(graph_of({x}, {custom}), "").find("my_softplus (call, custom gradient)") != std::string::npos);

  // Values and first and second derivatives agree with the body's own (the hand-derived
  // gradient is exact), on the CPU and the simulated device.
  auto grads = [&](const Value& y) {
    Value g1 = gradients(op::reduce_sum(y), {x})[0];
    Value g2 = gradients(op::reduce_sum(op::mul(g1, g1)), {x})[0];
    return graph_of({x}, {y, g1, g2});
  };
  std::vector<Tensor> feeds = {make_tensor(DType::f64, {5}, {-3, -0.5, 0, 1, 4})};
  std::vector<Tensor> want = run_graph(grads(plain), feeds, true, "cpu");
  for (const std::string& target : {std::string("cpu"), std::string("sim")}) {
    std::vector<Tensor> got = run_graph(grads(custom), feeds, true, target);
    for (size_t i = 0; i < got.size(); ++i) check_close(got[i], want[i], 1e-12);
  }
  for (int64_t i = 0; i < 5; ++i) {
    const double v = feeds[0].get_as_double(i);
    CHECK(std::abs(want[1].get_as_double(i) - 1 / (1 + std::exp(-v))) < 1e-12);
  }
}

TEST_CASE("a straight-through estimator: round forward, identity gradient", "[custom][subgraph]") {
  Value x = op::input("x", DType::f64, {4});
  CustomGradientTrace t;
  t.params = {op::input("p", DType::f64, {4})};
  t.fn_after = last_node_id();
  t.outputs = {op::round(t.params[0])};
  t.grad_params = {op::input("gp", DType::f64, {4})};
  t.out_params = {op::input("gy", DType::f64, {4})};
  t.cot_params = {op::input("gdy", DType::f64, {4})};
  t.grad_after = last_node_id();
  t.grads = {t.cot_params[0]};
  Value y = make_custom_gradient_call(t, {x}, "ste_round")[0];
  Value gx = gradients(op::reduce_sum(op::mul(y, op::scalar(3, DType::f64))), {x})[0];
  std::vector<Tensor> out = run_graph(graph_of({x}, {y, gx}), {make_tensor(DType::f64, {4}, {0.2, 1.7, -2.4, 3})});
  check_close(out[0], make_tensor(DType::f64, {4}, {0, 2, -2, 3}), 0);
  check_close(out[1], make_tensor(DType::f64, {4}, {3, 3, 3, 3}), 0);
}

TEST_CASE("custom gradients: captured values get none, wrong gradients and captured variables are errors",
          "[custom][subgraph][errors]") {
  Value x = op::input("x", DType::f64, {3});
  Value outer = op::exp(op::input("z", DType::f64, {3}));
  auto trace = [&](const std::function<Value(const Value&, const Value&)>& grad, const Value& captured) {
    CustomGradientTrace t;
    t.params = {op::input("p", DType::f64, {3})};
    t.fn_after = last_node_id();
    t.outputs = {op::mul(t.params[0], captured)};
    t.grad_params = {op::input("gp", DType::f64, {3})};
    t.out_params = {op::input("gy", DType::f64, {3})};
    t.cot_params = {op::input("gdy", DType::f64, {3})};
    t.grad_after = last_node_id();
    t.grads = {grad(t.grad_params[0], t.cot_params[0])};
    return t;
  };
  // dy/dp = captured; the gradient reads the captured value too (captured by the gradient).
  Value y = make_custom_gradient_call(trace([&](const Value&, const Value& dy) { return op::mul(dy, outer); }, outer),
                                      {x}, "scale")[0];
  Value z = outer.node->inputs[0];
  std::vector<Value> g = gradients(op::reduce_sum(y), {x, z});
  std::vector<Tensor> out = run_graph(graph_of({x, z}, g), {make_tensor(DType::f64, {3}, {1, 2, 3}),
                                                            make_tensor(DType::f64, {3}, {0, 1, 2})});
  check_close(out[0], make_tensor(DType::f64, {3}, {1, std::exp(1), std::exp(2)}), 1e-12);
  check_close(out[1], make_tensor(DType::f64, {3}, {0, 0, 0}), 0);  // documented: no gradient to captures

  // A gradient of another shape or dtype, or a captured parameter.
  CHECK(kind_of([&] {
          make_custom_gradient_call(trace([](const Value&, const Value& dy) { return op::reduce_sum(dy); }, outer),
                                    {x}, "bad");
        }) == ErrorKind::shape);
  CHECK(kind_of([&] {
          make_custom_gradient_call(
              trace([](const Value&, const Value& dy) { return op::cast(dy, DType::f32); }, outer), {x}, "bad");
        }) == ErrorKind::dtype);
  auto w = Variable::create("w", make_tensor(DType::f64, {3}, {1, 2, 3}));
  CHECK(kind_of([&] {
          make_custom_gradient_call(trace([](const Value&, const Value& dy) { return dy; }, op::variable(w)), {x},
                                    "bad");
        }) == ErrorKind::unsupported);
  // A plain traced function takes variables as arguments, so gradients reach them.
  Value p = op::input("p", DType::f64, {3});
  uint64_t after = last_node_id();
  Value wv = op::variable(w);
  Value yc = make_function_call({p}, {op::mul(p, wv)}, after, {x}, "scale_w")[0];
  std::vector<Value> gw = gradients(op::reduce_sum(yc), {wv});
  out = run_graph(graph_of({x}, gw), {make_tensor(DType::f64, {3}, {4, 5, 6})});
  check_close(out[0], make_tensor(DType::f64, {3}, {4, 5, 6}), 1e-12);
}

TEST_CASE("host_callback: infer, placement on the CPU, errors that leave the executable usable",
          "[custom][host_callback]") {
  register_sim_backend();
  register_test_host_callbacks();
  Value x = op::input("x", DType::f32, {-1, 3});
  Value y = make_node("host_callback", {x}, {{"callback", std::string("test_cube")}})[0];
  CHECK(y.shape() == Shape{-1, 3});  // from the registered infer function
  CHECK(graph_to_dot(graph_of({x}, {y}), "").find("test_cube (host callback)") != std::string::npos);
  Value z = op::add(y, op::scalar(1, DType::f32));
  Graph g = graph_of({x}, {z});
  Tensor xv = make_tensor(DType::f32, {2, 3}, {1, 2, 3, -1, 0, 0.5});
  Tensor want = make_tensor(DType::f32, {2, 3}, {2, 9, 28, 0, 1, 1.125});
  check_close(run_graph(g, {xv}, true, "cpu")[0], want, 1e-6);
  // On a device, the callback runs on the CPU with transfers around it.
  CompileOptions o;
  o.target = "sim";
  std::unique_ptr<Executable> ex = Executable::compile(g, {TensorType{DType::f32, {2, 3}}}, o);
  CHECK(ex->stats().transfers > 0);
  ex->run({xv.view()});
  check_close(to_tensor(ex->output(0)), want, 1e-6);

  // An error thrown by the callback names the op; the executable runs again afterwards.
  std::atomic<bool> fail{true};
  auto flaky = std::make_shared<HostCallback>();
  flaky->run = [&fail](const std::vector<TensorView>& in, const std::vector<TensorView>& out) {
    if (fail) throw Error(ErrorKind::value, "the callback failed");
    std::copy(in[0].ptr<float>(), in[0].ptr<float>() + in[0].numel(), out[0].ptr<float>());
  };
  register_host_callback("test_flaky", flaky);
  Value f = make_node("host_callback", {x},
                      {{"callback", std::string("test_flaky")}, {"output_like", std::vector<int64_t>{0}}})[0];
  std::unique_ptr<Executable> fx = compile_on_target(graph_of({x}, {op::mul(f, op::scalar(2, DType::f32))}),
                                                     {TensorType{DType::f32, {2, 3}}});
  try {
    fx->run({xv.view()});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::value);
    CHECK(e.op() == "test_flaky");
  }
  fail = false;
  fx->run({xv.view()});
  check_close(to_tensor(fx->output(0)), make_tensor(DType::f32, {2, 3}, {2, 4, 6, -2, 0, 1}), 1e-6);

  // Not registered: building works from declared types, compiling and running say how to
  // register it; no backward: no gradient; a second derivative through the backward: none.
  Value u = make_node("host_callback", {x}, {{"callback", std::string("test_missing")},
                                             {"output_like", std::vector<int64_t>{0}}})[0];
  std::string msg;
  try {
    compile_on_target(graph_of({x}, {u}), {TensorType{DType::f32, {2, 3}}})->run({xv.view()});
  } catch (const Error& e) {
    msg = e.what();
    CHECK(e.kind() == ErrorKind::unsupported);
  }
  CHECK(msg.find("'test_missing' is not registered") != std::string::npos);
  CHECK(kind_of([&] { gradients(op::reduce_sum(f), {x}); }) == ErrorKind::unsupported);
  Value x64 = op::input("x64", DType::f64, {3});
  Value c = make_node("host_callback", {x64}, {{"callback", std::string("test_cube")},
                                               {"grad_callback", std::string("test_cube_grad")}})[0];
  Value g1 = gradients(op::reduce_sum(c), {x64})[0];
  CHECK(kind_of([&] { gradients(op::reduce_sum(g1), {x64}); }) == ErrorKind::unsupported);
  register_host_callback("test_flaky", nullptr);
  CHECK(find_host_callback("test_flaky") == nullptr);
}

TEST_CASE("host_callback is never fused and runs on the thread that runs the executable",
          "[custom][host_callback]") {
  const int saved = engine_num_threads();
  set_engine_num_threads(4);
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<int> calls{0}, elsewhere{0};
  auto probe = std::make_shared<HostCallback>();
  probe->run = [&](const std::vector<TensorView>& in, const std::vector<TensorView>& out) {
    ++calls;
    if (std::this_thread::get_id() != caller) ++elsewhere;
    std::copy(in[0].ptr<float>(), in[0].ptr<float>() + in[0].numel(), out[0].ptr<float>());
  };
  register_host_callback("test_probe", probe);
  // Between elementwise and batchwise ops that fuse into chunks run on the pool.
  Value x = op::input("x", DType::f32, {256, 64});
  Value h = op::tanh(op::mul(op::exp(x), op::scalar(0.5, DType::f32)));
  Value c = make_node("host_callback", {h}, {{"callback", std::string("test_probe")},
                                            {"output_like", std::vector<int64_t>{0}}})[0];
  Value y = op::sigmoid(op::add(op::mul(c, c), op::scalar(1, DType::f32)));
  std::unique_ptr<Executable> ex = Executable::compile(graph_of({x}, {y}), {TensorType{DType::f32, {256, 64}}});
  CHECK(count_op(ex->graph(), "host_callback") == 1);  // a node of its own, not inside a fused body
  Tensor xv = random_tensor(DType::f32, {256, 64}, 7);
  for (int r = 0; r < 3; ++r) ex->run({xv.view()});
  CHECK(calls == 3);
  CHECK(elsewhere == 0);
  register_host_callback("test_probe", nullptr);
  set_engine_num_threads(saved);
}
