// A VGG-style training step (two conv-BN-ReLU layers of 32 channels on 32 x 32 inputs,
// batch 64, then global average pooling and a linear classifier), with the time of each
// op family per step and of each fused elementwise group with its element count and GB/s
// (compulsory bytes: inputs read once, outputs written once). Shows where the
// bandwidth-bound part of a CNN's training step goes.
//   build/engine/bench_vgg_block [threads] [steps]
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

VariablePtr param(const std::string& name, Shape shape, double lo, double hi, std::mt19937& rng) {
  Tensor t(DType::f32, shape);
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = u(rng);
  return Variable::create(name, t);
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int steps = argc > 2 ? std::atoi(argv[2]) : 20;
  set_engine_num_threads(threads);
  const int64_t n = 64, C = 32, S = 32;
  std::mt19937 rng(1);
  std::vector<VariablePtr> ps;
  std::vector<Value> pv;  // the parameters' nodes, as the forward pass uses them
  auto add = [&](VariablePtr v) {
    ps.push_back(v);
    pv.push_back(op::variable(v));
    return pv.back();
  };
  Value x = op::input("x", DType::f32, {n, 3, S, S});
  Value y = op::input("y", DType::i32, {n});
  Value h = x;
  int64_t cin = 3;
  for (int l = 0; l < 2; ++l) {
    const std::string p = "l" + std::to_string(l);
    Value w = add(param(p + "w", {C, cin, 3, 3}, -0.2, 0.2, rng));
    Value scale = add(param(p + "scale", {C}, 0.9, 1.1, rng));
    Value bias = add(param(p + "bias", {C}, -0.1, 0.1, rng));
    Value rm = op::constant(Tensor(DType::f32, {C}));
    Tensor ones(DType::f32, {C});
    for (int64_t i = 0; i < C; ++i) ones.ptr<float>()[i] = 1;
    Value rv = op::constant(ones);
    h = op::apply("conv", {h, w}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
    h = make_node("batch_norm", {h, scale, bias, rm, rv}, {{"epsilon", 1e-5}, {"training", int64_t(1)}}).at(0);
    h = op::relu(h);
    cin = C;
  }
  h = op::reduce_mean(h, {2, 3});
  Value fw = add(param("fw", {C, 10}, -0.2, 0.2, rng));
  Value logits = op::matmul(h, fw);
  Value loss = op::reduce_mean(op::apply("softmax_cross_entropy", {logits, y}));
  std::vector<Value> grads = gradients(loss, pv);
  Graph g;
  g.inputs = {x, y};
  g.outputs = {loss};
  g.output_names = {"loss"};
  CompileOptions opts;
  for (size_t i = 0; i < ps.size(); ++i) {
    g.outputs.push_back(op::sub(pv[i], op::mul(grads[i], op::scalar(0.01, DType::f32))));
    g.output_names.push_back(ps[i]->name + "_new");
    opts.update_vars.push_back(ps[i]);
  }
  auto ex = Executable::compile(g, {{DType::f32, {n, 3, S, S}}, {DType::i32, {n}}}, opts);
  Tensor xt(DType::f32, {n, 3, S, S}), yt(DType::i32, {n});
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t i = 0; i < xt.numel(); ++i) xt.ptr<float>()[i] = u(rng);
  for (int64_t i = 0; i < n; ++i) yt.ptr<int32_t>()[i] = static_cast<int32_t>(i % 10);
  for (int i = 0; i < 3; ++i) ex->run({xt.view(), yt.view()});
  ex->set_profiling(true);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) ex->run({xt.view(), yt.view()});
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("threads %d: %.2f ms/step over %d steps (shared machine: expect noise)\n", threads, ms / steps, steps);
  std::map<std::string, double> by_op;
  for (const auto& p : ex->profile()) by_op[p.op] += p.ms / steps;
  for (const auto& kv : by_op) std::printf("  %-28s %8.3f ms\n", kv.first.c_str(), kv.second);
  // Each fused elementwise group: its node, element count, time and GB/s.
  std::map<std::string, const Node*> nodes;
  for (const NodePtr& nd : ex->graph().topo_order()) nodes[nd->name] = nd.get();
  std::printf("fused elementwise groups:\n");
  for (const auto& p : ex->profile()) {
    if (p.op != "fused_elementwise") continue;
    auto it = nodes.find(p.node);
    if (it == nodes.end()) continue;
    const Node& nd = *it->second;
    double bytes = 0;
    for (const Value& v : nd.inputs) bytes += static_cast<double>(shape_numel(v.shape())) * dtype_size(v.dtype());
    for (const TensorType& o : nd.outputs) bytes += static_cast<double>(shape_numel(o.shape)) * dtype_size(o.dtype);
    std::string body;
    for (const NodePtr& b : nd.attrs.get_graph("body")->topo_order())
      if (b->op_name() != "input" && b->op_name() != "constant") body += b->op_name() + " ";
    const double t = p.ms / steps;
    std::printf("  %-24s %9lld elements %7.3f ms %6.1f GB/s  [%s]\n", p.node.c_str(),
                static_cast<long long>(shape_numel(nd.outputs.at(0).shape)), t, bytes / (t * 1e6), body.c_str());
  }
  return 0;
}
