// Device-parametrized op tests (ggml's test-backend-ops): every op case runs on every
// registered backend other than the CPU and must give the CPU's values, forward and
// through its gradient graph (optimized: lowering, constants, transfers). A backend that
// claims an op (has a kernel and supports the case's node) must pass all its cases; the
// rest of a case runs on the CPU, so mixed placement is tested too.
#include <set>

#include "engine/backend/plugin.h"
#include "engine/cpu/sim_backend.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

namespace {

void check_same(const std::vector<Tensor>& got, const std::vector<Tensor>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("output " << i);
    check_close(got[i], want[i], tol);
  }
}

}  // namespace

TEST_CASE("every op case gives the CPU's results on every backend", "[ops][backends]") {
  register_sim_backend();
  size_t ran = 0;
  for (const std::string& name : backends().names()) {
    if (name == "cpu") continue;
    for (const OpCase& c : all_cases()) {
      Graph g = op_graph(c.op, c.inputs, c.attrs);
      // What the backend cannot run falls back to the CPU, so every case runs everywhere
      // (on sim_partial, with transfers between the memories). Kernels shared with the CPU
      // give identical bits; other backends get the case's tolerance.
      const double tol = is_sim_backend(name) ? 0 : c.tol;
      DYNAMIC_SECTION(name << ": " << case_name(c)) {
        check_same(run_graph(g, c.inputs, false, name), run_graph(g, c.inputs, false, "cpu"), tol);
        const OpSchema& def = registry().get(c.op);
        if (c.grad && def.grad && !def.has(kZeroGrad) && !def.has(kRandom)) {
          GradientGraph gg = gradient_graph(c);
          if (!gg.wrt.empty())
            check_same(run_graph(gg.g, gg.feeds, true, name), run_graph(gg.g, gg.feeds, true, "cpu"), tol);
        }
      }
      ++ran;
    }
  }
  CHECK(ran >= 2 * all_cases().size());  // sim and sim_partial, at least
}

TEST_CASE("every kernel a backend registers has op cases to check it", "[ops][backends]") {
  register_sim_backend();
  std::set<std::string> with_cases;
  for (const OpCase& c : all_cases()) with_cases.insert(c.op);
  for (const std::string& name : backends().names())
    for (const std::string& op : backends().get(name).kernel_ops()) {
      INFO(name << " has a kernel for '" << op << "'");
      CHECK(with_cases.count(op) == 1);
    }
}

TEST_CASE("the simulated device keeps its memory from the host", "[backends]") {
  register_sim_backend();
  const Backend& sim = backends().get("sim");
  CHECK_FALSE(sim.buffer_type().is_host());
  std::unique_ptr<Buffer> buf = sim.buffer_type().allocate(64);
  CHECK(buf->data() == nullptr);
  CHECK(buf->device_ptr() != nullptr);
  float in[4] = {1, 2, 3, 4}, out[4] = {0, 0, 0, 0};
  buf->upload(8, in, sizeof in);
  buf->download(8, out, sizeof out);
  CHECK(out[3] == 4);
  CHECK_THROWS_AS(buf->upload(60, in, sizeof in), Error);

  // A training step with updates: feeds, constants and variables go up, outputs and new
  // variable values come down.
  auto var = Variable::create("w", make_tensor(DType::f32, {3}, {1, 2, 3}));
  Value x = op::input("x", DType::f32, {2, 3});
  Value w = op::variable(var);
  Value loss = op::reduce_sum(op::square(op::sub(x, w)));
  Value gw = gradients(loss, {w})[0];
  Graph g = graph_of({x}, {loss, op::sub(w, op::mul(gw, op::scalar(0.1, DType::f32)))});
  CompileOptions opts;
  opts.target = "sim";
  opts.update_vars = {var};
  auto ex = Executable::compile(g, {{DType::f32, {2, 3}}}, opts);
  Tensor xv = make_tensor(DType::f32, {2, 3}, {0, 0, 0, 2, 2, 2});
  ex->run({xv.view()});
  // loss = sum over both rows of (x - w)^2 = (1+4+9) + (1+0+1) = 16; dw = 2 sum(w - x).
  CHECK(to_tensor(ex->output(0)).get_as_double(0) == Approx(16));
  check_close(var->host(), make_tensor(DType::f32, {3}, {1 - 0.1 * 2 * (1 + -1), 2 - 0.1 * 2 * (2 + 0), 3 - 0.1 * 2 * (3 + 1)}),
              1e-6);
}

TEST_CASE("decompositions match their ops, and let a backend run what it lacks", "[backends][decompose]") {
  // A backend that has no kernel but that of ops without a decomposition: every case of a
  // decomposable op must give the kernel's values through its composition.
  size_t checked = 0;
  for (const OpCase& c : all_cases()) {
    const OpSchema& def = registry().get(c.op);
    if (!def.decompose) continue;
    DYNAMIC_SECTION("decomposed " << case_name(c)) {
      Graph g = op_graph(c.op, c.inputs, c.attrs);
      const Node& n = *g.outputs[0].node;
      std::vector<Value> outs = def.decompose(n, n.inputs);
      Graph d = g;
      d.outputs = outs;
      for (const Value& v : outs) CHECK(v.node->op_name() != c.op);
      check_same(run_graph(d, c.inputs, false), run_graph(g, c.inputs, false), std::max(c.tol, 1e-6));
    }
    ++checked;
  }
  CHECK(checked >= 17);

  // The test library's backend has only neg and add: sub, and rsqrt's composition in turn,
  // still reach it as far as its kernels go.
  if (!backends().find("plugin_test")) load_backend_library(SYMNET_TEST_BACKEND);
  const Backend& b = backends().get("plugin_test");
  Value x = op::input("x", DType::f32, {4});
  Value z = op::input("z", DType::f32, {4});
  Graph g = graph_of({x, z}, {op::sub(x, z)});
  Graph dg = decompose_for(g, b);
  CHECK(count_op(dg, "sub") == 0);
  CHECK(count_op(dg, "add") == 1);
  CHECK(count_op(dg, "neg") == 1);
  CompileOptions opts;
  opts.target = "plugin_test";
  auto ex = Executable::compile(g, {{DType::f32, {4}}, {DType::f32, {4}}}, opts);
  Tensor xv = make_tensor(DType::f32, {4}, {5, 6, 7, 8}), zv = make_tensor(DType::f32, {4}, {1, 1, 2, 2});
  ex->run({xv.view(), zv.view()});
  check_close(to_tensor(ex->output(0)), make_tensor(DType::f32, {4}, {4, 5, 5, 6}), 0);
  // On the CPU nothing is decomposed: it has every kernel.
  CHECK(count_op(decompose_for(g, cpu_backend()), "sub") == 1);
}
