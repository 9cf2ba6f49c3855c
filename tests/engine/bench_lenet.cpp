// LeNet training step (Fashion-MNIST shapes, batch 128) built from engine ops, with a
// per-kernel profile: where the time of one step goes, without R in the way.
//   build/engine/bench_lenet [threads] [steps]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>

#include "engine/exec/executable.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/ops/builder.h"
#include "engine/passes/passes.h"

using namespace symnet;

namespace {

VariablePtr param(const std::string& name, Shape shape, double scale, std::mt19937& rng) {
  Tensor t(DType::f32, shape);
  std::uniform_real_distribution<float> u(-scale, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = u(rng);
  return Variable::create(name, t);
}

Value conv_tanh(const Value& x, const Value& w, const Value& b) {
  return op::tanh(op::apply("conv", {x, w, b}));
}

Value pool2(const Value& x) {
  return op::apply("max_pool", {x}, {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}});
}

}  // namespace

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  int steps = argc > 2 ? std::atoi(argv[2]) : 50;
  set_engine_num_threads(threads);
  const int64_t n = 128;
  std::mt19937 rng(1);
  std::vector<VariablePtr> ps = {param("c1w", {20, 1, 5, 5}, 0.2, rng), param("c1b", {20}, 0.0, rng),
                                 param("c2w", {50, 20, 5, 5}, 0.05, rng), param("c2b", {50}, 0.0, rng),
                                 param("d1w", {800, 500}, 0.05, rng), param("d1b", {500}, 0.0, rng),
                                 param("d2w", {500, 10}, 0.1, rng), param("d2b", {10}, 0.0, rng)};
  std::vector<Value> pv;
  for (auto& p : ps) pv.push_back(op::variable(p));
  Value x = op::input("x", DType::f32, {n, 1, 28, 28});
  Value y = op::input("y", DType::i32, {n});
  Value h = pool2(conv_tanh(x, pv[0], pv[1]));
  h = pool2(conv_tanh(h, pv[2], pv[3]));
  h = op::reshape(h, {n, 800});
  h = op::tanh(op::add(op::matmul(h, pv[4]), pv[5]));
  Value logits = op::add(op::matmul(h, pv[6]), pv[7]);
  Value loss = op::reduce_mean(op::apply("softmax_cross_entropy", {logits, y}));
  std::vector<Value> grads = gradients(loss, pv);
  // SGD with momentum 0.9, lr 0.05: v <- 0.9 v + g; p <- p - lr v.
  Graph g;
  g.inputs = {x, y};
  g.outputs = {loss};
  g.output_names = {"loss"};
  CompileOptions opts;
  for (size_t i = 0; i < ps.size(); ++i) {
    auto vel = Variable::create(ps[i]->name + "_v", Tensor(DType::f32, ps[i]->shape()));
    Value v = op::variable(vel);
    Value v_new = op::add(op::mul(v, op::scalar(0.9, DType::f32)), grads[i]);
    g.outputs.push_back(op::sub(pv[i], op::mul(v_new, op::scalar(0.05, DType::f32))));
    g.outputs.push_back(v_new);
    g.output_names.push_back(ps[i]->name + "_new");
    g.output_names.push_back(vel->name + "_new");
    opts.update_vars.push_back(ps[i]);
    opts.update_vars.push_back(vel);
  }
  auto ex = Executable::compile(g, {{DType::f32, {n, 1, 28, 28}}, {DType::i32, {n}}}, opts);
  Tensor xt(DType::f32, {n, 1, 28, 28}), yt(DType::i32, {n});
  std::uniform_real_distribution<float> u(0, 1);
  for (int64_t i = 0; i < xt.numel(); ++i) xt.ptr<float>()[i] = u(rng);
  for (int64_t i = 0; i < n; ++i) yt.ptr<int32_t>()[i] = static_cast<int32_t>(i % 10);
  for (int i = 0; i < 5; ++i) ex->run({xt.view(), yt.view()});  // warm-up
  ex->set_profiling(true);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) ex->run({xt.view(), yt.view()});
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("threads %d: %.2f ms/step, %.0f train img/s; arena %zu KiB (naive %zu KiB), %zu steps\n", threads,
              ms / steps, n * steps * 1000.0 / ms, ex->stats().arena_bytes / 1024, ex->stats().naive_bytes / 1024,
              ex->stats().steps);
  std::map<std::string, double> by_op;
  for (const auto& p : ex->profile()) by_op[p.op] += p.ms / steps;
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& kv : by_op) rows.push_back({kv.second, kv.first});
  std::sort(rows.rbegin(), rows.rend());
  for (const auto& r : rows) std::printf("  %-28s %8.3f ms\n", r.second.c_str(), r.first);
  return 0;
}
