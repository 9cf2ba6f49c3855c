// Micro-benchmark of the pooling and normalization ops on LeNet's shapes (batch 128), run
// through compiled executables as a training step runs them:
//   bench_pool [threads] [reps]
// prints the best ms per forward and backward op. Compare with PyTorch, e.g.
//   torch.set_num_threads(2); y = F.max_pool2d(x, 2); y.backward(g)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "engine/exec/executable.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/ops/builder.h"

using namespace symnet;

namespace {

Tensor filled(Shape s, uint64_t seed) {
  Tensor t(DType::f32, std::move(s));
  float* p = t.ptr<float>();
  uint64_t x = seed * 2654435761u + 1;
  for (int64_t i = 0; i < t.numel(); ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = static_cast<float>((x >> 11) * (1.0 / 9007199254740992.0)) - 0.5f;
  }
  return t;
}

// Best ms of one run of `out` (a single op over inputs fed in order).
double time_op(const Value& out, const std::vector<Value>& inputs, const std::vector<Tensor>& feeds, int reps) {
  Graph g = Graph::from_outputs({out});
  g.inputs = inputs;
  std::vector<TensorType> types;
  std::vector<TensorView> views;
  for (const Tensor& f : feeds) {
    types.push_back({f.dtype(), f.shape()});
    views.push_back(f.view());
  }
  CompileOptions opts;
  opts.optimize = false;
  auto ex = Executable::compile(g, types, opts);
  ex->run(views);  // warm up (first touch of the arena, thread start)
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    ex->run(views);
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 50;
  set_engine_num_threads(threads);
  std::printf("%d threads, best of %d runs, float32\n", threads, reps);
  const AttrMap pool2{{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}};
  double total = 0;
  for (const Shape& s : {Shape{128, 20, 24, 24}, Shape{128, 50, 8, 8}}) {
    Shape ps{s[0], s[1], s[2] / 2, s[3] / 2};
    Tensor x = filled(s, 1), gy = filled(ps, 2);
    Value xi = op::input("x", DType::f32, s), gi = op::input("gy", DType::f32, ps);
    for (const char* name : {"max_pool", "avg_pool"}) {
      const std::string grad = std::string(name) + "_grad";
      double f = time_op(op::apply(name, {xi}, pool2), {xi}, {x}, reps);
      double b = name == std::string("max_pool")
                     ? time_op(op::apply(grad, {xi, gi}, pool2), {xi, gi}, {x, gy}, reps)
                     : time_op(op::apply(grad, {gi, xi}, pool2), {gi, xi}, {gy, x}, reps);
      std::printf("%-9s 2x2/2 %-18s fwd %7.3f ms | bwd %7.3f ms\n", name, shape_str(s).c_str(), f, b);
      if (name == std::string("max_pool")) total += f + b;
    }
  }
  std::printf("LeNet max-pool training step (both layers, fwd + bwd): %.3f ms per batch of 128\n", total);

  // Batch norm on the first LeNet activation, training mode (forward with statistics, backward).
  const Shape s{128, 20, 24, 24};
  const Shape cs{20};
  Tensor x = filled(s, 3), gy = filled(s, 4), sc = filled(cs, 5), bi = filled(cs, 6), mv = filled(cs, 7);
  Tensor var(DType::f32, cs);
  for (int64_t i = 0; i < 20; ++i) var.ptr<float>()[i] = 1.0f;
  std::vector<Value> in;
  const char* names[] = {"x", "scale", "bias", "mean", "var"};
  const Shape shapes[] = {s, cs, cs, cs, cs};
  for (int i = 0; i < 5; ++i) in.push_back(op::input(names[i], DType::f32, shapes[i]));
  double f = time_op(op::apply("batch_norm", in, {{"training", int64_t(1)}}), in, {x, sc, bi, mv, var}, reps);
  double fi = time_op(op::apply("batch_norm", in), in, {x, sc, bi, mv, var}, reps);
  std::vector<Value> gin{in[0], in[1], in[3], in[4], op::input("gy", DType::f32, s)};
  double b = time_op(make_node("batch_norm_grad", gin).at(0), gin, {x, sc, mv, var, gy}, reps);
  std::printf("batch_norm %-18s train fwd %7.3f ms | inference fwd %7.3f ms | train bwd %7.3f ms\n",
              shape_str(s).c_str(), f, fi, b);
  return 0;
}
