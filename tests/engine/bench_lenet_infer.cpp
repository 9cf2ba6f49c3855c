// LeNet inference (Fashion-MNIST shapes, batch 1000) built from engine ops, with a per-kernel
// profile: the forward chain runs as the CPU's fused ops (fused_per_sample for the conv/pool
// chain, fused_elementwise), so this is where their runners' speed shows.
//   build/engine/bench_lenet_infer [threads] [runs]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>

#include "engine/exec/executable.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/ops/builder.h"

using namespace symnet;

namespace {

Value param(Shape shape, double scale, std::mt19937& rng) {
  Tensor t(DType::f32, shape);
  std::uniform_real_distribution<float> u(-scale, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = u(rng);
  return op::variable(Variable::create("p" + std::to_string(rng()), t));
}

Value pool2(const Value& x) {
  return op::apply("max_pool", {x}, {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}});
}

}  // namespace

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  int runs = argc > 2 ? std::atoi(argv[2]) : 20;
  set_engine_num_threads(threads);
  const int64_t n = 1000;
  std::mt19937 rng(1);
  Value x = op::input("x", DType::f32, {n, 1, 28, 28});
  Value h = pool2(op::tanh(op::apply("conv", {x, param({20, 1, 5, 5}, 0.2, rng), param({20}, 0.1, rng)})));
  h = pool2(op::tanh(op::apply("conv", {h, param({50, 20, 5, 5}, 0.05, rng), param({50}, 0.1, rng)})));
  h = op::reshape(h, {n, 800});
  h = op::tanh(op::add(op::matmul(h, param({800, 500}, 0.05, rng)), param({500}, 0.1, rng)));
  Value logits = op::add(op::matmul(h, param({500, 10}, 0.1, rng)), param({10}, 0.1, rng));
  Graph g;
  g.inputs = {x};
  g.outputs = {logits};
  g.output_names = {"logits"};
  auto ex = Executable::compile(g, {{DType::f32, {n, 1, 28, 28}}}, CompileOptions{});
  Tensor xt(DType::f32, {n, 1, 28, 28});
  std::uniform_real_distribution<float> u(0, 1);
  for (int64_t i = 0; i < xt.numel(); ++i) xt.ptr<float>()[i] = u(rng);
  for (int i = 0; i < 3; ++i) ex->run({xt.view()});  // warm-up
  ex->set_profiling(true);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < runs; ++i) ex->run({xt.view()});
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("threads %d: %.2f ms/run, %.0f img/s; arena %zu KiB, %zu steps\n", threads, ms / runs,
              n * runs * 1000.0 / ms, ex->stats().arena_bytes / 1024, ex->stats().steps);
  std::map<std::string, double> by_op;
  for (const auto& p : ex->profile()) by_op[p.op] += p.ms / runs;
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& kv : by_op) rows.push_back({kv.second, kv.first});
  std::sort(rows.rbegin(), rows.rend());
  for (const auto& r : rows) std::printf("  %-28s %8.3f ms\n", r.second.c_str(), r.first);
  return 0;
}
