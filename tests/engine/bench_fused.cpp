// The CPU's fused ops alone, timed as the minimum and median of many runs (robust on a
// shared machine): fused_elementwise on a large range (a tanh gradient with an SGD-style
// update, as in LeNet's backward pass) and on a bias-sized one (per-call overhead), and
// fused_per_sample on LeNet's conv/pool chain at batch 1000.
//   build/engine/bench_fused [threads] [runs]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "engine/exec/executable.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/ops/builder.h"

using namespace symnet;

namespace {

Tensor filled(Shape s, std::mt19937& rng, float lo, float hi) {
  Tensor t(DType::f32, s);
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = u(rng);
  return t;
}

int count_op(const Executable& ex, const std::string& op) {
  int c = 0;
  for (const auto& p : ex.profile()) c += p.op == op;
  return c;
}

void time_it(const char* what, Executable& ex, const std::vector<TensorView>& feeds, int runs, const std::string& op) {
  for (int i = 0; i < 3; ++i) ex.run(feeds);
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    ex.run(feeds);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  ex.set_profiling(true);
  ex.run(feeds);
  std::printf("  %-34s min %10.5f ms  median %10.5f ms  (%d %s node(s))\n", what, ms.front(), ms[ms.size() / 2],
              count_op(ex, op), op.c_str());
}

Value pool2(const Value& x) {
  return op::apply("max_pool", {x}, {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}});
}

}  // namespace

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  int runs = argc > 2 ? std::atoi(argv[2]) : 200;
  set_engine_num_threads(threads);
  std::mt19937 rng(1);
  std::printf("threads %d, %d runs each\n", threads, runs);
  for (int64_t n : {int64_t(128) * 20 * 24 * 24, int64_t(500)}) {
    Value dy = op::input("dy", DType::f32, {n});
    Value y = op::input("y", DType::f32, {n});
    Value p = op::input("p", DType::f32, {n});
    Value one = op::scalar(1.0, DType::f32);
    Value g = op::mul(dy, op::sub(one, op::mul(y, y)));
    Value out = op::sub(p, op::mul(g, op::scalar(0.05, DType::f32)));
    Graph gr;
    gr.inputs = {dy, y, p};
    gr.outputs = {out, g};
    gr.output_names = {"p_new", "g"};
    auto ex = Executable::compile(gr, {{DType::f32, {n}}, {DType::f32, {n}}, {DType::f32, {n}}}, CompileOptions{});
    Tensor a = filled({n}, rng, -1, 1), b = filled({n}, rng, -1, 1), c = filled({n}, rng, -1, 1);
    char what[64];
    std::snprintf(what, sizeof what, "fused_elementwise n=%lld", static_cast<long long>(n));
    time_it(what, *ex, {a.view(), b.view(), c.view()}, n > 10000 ? runs : runs * 50, "fused_elementwise");
  }
  {
    const int64_t n = 1000;
    auto w = [&](Shape s, float sc) { return op::constant(filled(s, rng, -sc, sc)); };
    Value x = op::input("x", DType::f32, {n, 1, 28, 28});
    Value h = pool2(op::tanh(op::apply("conv", {x, w({20, 1, 5, 5}, 0.2f), w({20}, 0.1f)})));
    h = pool2(op::tanh(op::apply("conv", {h, w({50, 20, 5, 5}, 0.05f), w({50}, 0.1f)})));
    Graph gr;
    gr.inputs = {x};
    gr.outputs = {h};
    gr.output_names = {"h"};
    auto ex = Executable::compile(gr, {{DType::f32, {n, 1, 28, 28}}}, CompileOptions{});
    Tensor xt = filled({n, 1, 28, 28}, rng, 0, 1);
    time_it("fused_per_sample lenet conv/pool", *ex, {xt.view()}, std::max(3, runs / 20), "fused_per_sample");
  }
  return 0;
}
