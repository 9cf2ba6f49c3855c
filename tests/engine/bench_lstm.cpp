// One LSTM layer (ONNX lstm op, forward direction) on the shapes: seq 50, batch 64,
// input 128, hidden 256, float32. Training step = forward + backward to X, W, R and B
// (dY a fed tensor, as PyTorch's y.backward(g)); inference = the forward alone.
// inst/benchmarks/lstm_torch.py measures nn.LSTM the same way.
//   build/engine/bench_lstm [reps] [threads...]     (default: 30 reps, threads 1 and 2)
// Both spend most of their time in the system BLAS's sgemm. On a VM whose CPU model
// OpenBLAS does not recognize it falls back to its generic kernels (OPENBLAS_VERBOSE=2
// prints "Core: Prescott", ~5x slower here); OPENBLAS_CORETYPE=SkylakeX (or Haswell)
// selects the right ones for both programs. Compare the two in one session.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "engine/exec/executable.h"
#include "engine/kernels/cpu/blas.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/ops/builder.h"
#include "engine/passes/passes.h"

using namespace symnet;

namespace {

constexpr int64_t kSeq = 50, kBatch = 64, kIn = 128, kHidden = 256;

Tensor uniform(Shape s, float scale, std::mt19937& rng) {
  Tensor t(DType::f32, std::move(s));
  std::uniform_real_distribution<float> u(-scale, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = u(rng);
  return t;
}

// Best wall time of one run, in ms, after two warm-up runs, and the best CPU time of the
// process (all threads) for one run: on a loaded machine the wall time also counts time
// spent descheduled; at one thread the CPU time does not.
struct Best {
  double wall = 1e30, cpu = 1e30;
};

double process_cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

Best best_ms(Executable& ex, const std::vector<TensorView>& feeds, int reps) {
  ex.run(feeds);
  ex.run(feeds);
  Best best;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    const double c0 = process_cpu_ms();
    ex.run(feeds);
    best.cpu = std::min(best.cpu, process_cpu_ms() - c0);
    best.wall = std::min(best.wall, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 30;
  std::vector<int> threads;
  for (int i = 2; i < argc; ++i) threads.push_back(std::atoi(argv[i]));
  if (threads.empty()) threads = {1, 2};

  std::mt19937 rng(1);
  const float k = 1.0f / std::sqrt(static_cast<float>(kHidden));  // PyTorch's init range
  Tensor xt = uniform({kSeq, kBatch, kIn}, 1.0f, rng), wt = uniform({1, 4 * kHidden, kIn}, k, rng),
         rt = uniform({1, 4 * kHidden, kHidden}, k, rng), bt = uniform({1, 8 * kHidden}, k, rng),
         gt = uniform({kSeq, 1, kBatch, kHidden}, 1.0f, rng);
  Value x = op::input("x", DType::f32, xt.shape()), w = op::input("w", DType::f32, wt.shape()),
        r = op::input("r", DType::f32, rt.shape()), b = op::input("b", DType::f32, bt.shape()),
        gy = op::input("gy", DType::f32, gt.shape());
  std::vector<Value> o = make_node("lstm", {x, w, r, b}, {{"has_bias", int64_t{1}}});
  // dY = gy fed directly (vjp), as PyTorch's y.backward(g).
  std::vector<Value> grads = vjp({o[0]}, {gy}, {x, w, r, b});

  Graph train;
  train.inputs = {x, w, r, b, gy};
  train.outputs = grads;
  Graph infer;
  infer.inputs = {x, w, r, b};
  infer.outputs = {o[0], o[1], o[2]};
  std::vector<TensorType> types;
  for (const Tensor* t : {&xt, &wt, &rt, &bt, &gt}) types.push_back({DType::f32, t->shape()});
  auto ex_train = Executable::compile(train, types);
  auto ex_infer = Executable::compile(infer, {types.begin(), types.end() - 1});
  std::vector<TensorView> feeds{xt.view(), wt.view(), rt.view(), bt.view(), gt.view()};
  std::vector<TensorView> infer_feeds(feeds.begin(), feeds.end() - 1);

  std::printf("symnet lstm (%s GEMM): seq %lld, batch %lld, input %lld, hidden %lld, float32, best of %d\n",
              gemm_backend_name(),
              static_cast<long long>(kSeq), static_cast<long long>(kBatch), static_cast<long long>(kIn),
              static_cast<long long>(kHidden), reps);
  for (int nt : threads) {
    set_engine_num_threads(nt);
    const Best tr = best_ms(*ex_train, feeds, reps), in = best_ms(*ex_infer, infer_feeds, reps);
    std::printf("threads %d: training %8.2f ms/step %8.0f seq/s | inference %8.2f ms %8.0f seq/s"
                " | CPU ms: training %8.2f inference %8.2f\n",
                nt, tr.wall, kBatch * 1000.0 / tr.wall, in.wall, kBatch * 1000.0 / in.wall, tr.cpu, in.cpu);
  }
  if (std::getenv("SYMNET_BENCH_PROFILE")) {  // per-kernel split of the training step
    ex_train->set_profiling(true);
    for (int i = 0; i < 3; ++i) ex_train->run(feeds);
    for (const auto& p : ex_train->profile())
      if (p.ms / 3 > 0.5) std::printf("  %-24s %8.2f ms\n", p.op.c_str(), p.ms / 3);
  }
  return 0;
}
