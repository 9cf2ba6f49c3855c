// Micro-benchmark of the convolution kernels on LeNet's layers (batch 128):
//   bench_conv [threads] [reps]
// prints ms per forward / backward-data / backward-weight and GFLOP/s.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <vector>

#include "engine/kernels/cpu/blas.h"
#include "engine/kernels/cpu/conv.h"
#include "engine/kernels/cpu/parallel.h"

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

double cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

// Best wall-clock time, and the best CPU time summed over threads (robust to a loaded
// machine: time spent descheduled is not counted).
struct Timing {
  double wall = 1e30, cpu = 1e30;
};

template <typename F>
Timing best_ms(int reps, F&& f) {
  f();  // warm up (first touch, thread pool start)
  Timing t;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    double c0 = cpu_ms();
    f();
    t.cpu = std::min(t.cpu, cpu_ms() - c0);
    t.wall = std::min(t.wall, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return t;
}

struct Layer {
  const char* name;
  Shape x, w;
};

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 20;
  set_engine_num_threads(threads);
  std::printf("gemm backend %s, %d threads, best of %d\n", gemm_backend_name(), threads, reps);
  const Layer layers[] = {{"conv1 [128,1,28,28]*[20,1,5,5]", {128, 1, 28, 28}, {20, 1, 5, 5}},
                          {"conv2 [128,20,12,12]*[50,20,5,5]", {128, 20, 12, 12}, {50, 20, 5, 5}}};
  double total = 0, total_cpu = 0;
  for (const Layer& l : layers) {
    Shape y{l.x[0], l.w[0], l.x[2] - l.w[2] + 1, l.x[3] - l.w[3] + 1};
    ConvGeom g = make_conv_geom(l.x, y, l.w, {1, 1}, {1, 1}, {0, 0}, 1);
    Tensor x = filled(l.x, 1), w = filled(l.w, 2), b = filled({l.w[0]}, 3), yt = filled(y, 4);
    Tensor dx(DType::f32, l.x), dw(DType::f32, l.w), out(DType::f32, y);
    size_t wsb = std::max({conv_forward_workspace(g, DType::f32), conv_backward_data_workspace(g, DType::f32),
                           conv_backward_weight_workspace(g, DType::f32)});
    Storage ws(std::max<size_t>(wsb, 64));
    TensorView bv = b.view();
    const double gf = g.flops() / 1e9;
    Timing f = best_ms(reps, [&] { conv_forward_cpu(g, x.view(), w.view(), &bv, out.view(), ws.data()); });
    Timing d = best_ms(reps, [&] { conv_backward_data_cpu(g, yt.view(), w.view(), nullptr, dx.view(), ws.data()); });
    Timing k = best_ms(reps, [&] { conv_backward_weight_cpu(g, x.view(), yt.view(), dw.view(), ws.data()); });
    std::printf("%s (%.1f MFLOP each)\n", l.name, gf * 1e3);
    for (auto [what, t] : {std::pair<const char*, Timing>{"forward", f}, {"backward-data", d}, {"backward-weight", k}})
      std::printf("  %-16s wall %7.3f ms %6.1f GF/s | cpu %7.3f ms (%6.1f GF/s per busy core)\n", what, t.wall,
                  gf / t.wall * 1e3, t.cpu, gf / t.cpu * 1e3);
    const bool need_dx = l.x[1] > 1;  // LeNet needs no input gradient for conv1
    total += f.wall + k.wall + (need_dx ? d.wall : 0);
    total_cpu += f.cpu + k.cpu + (need_dx ? d.cpu : 0);
  }
  // LeNet's dense layers through gemm_rowmajor_parallel on each backend.
  struct Mm {
    const char* name;
    bool ta, tb;
    int64_t M, N, K;
  } mms[] = {{"dense1 fwd  x[128,800] * W[800,500]", false, false, 128, 500, 800},
             {"dense1 dW   x^T[800,128] * gy[128,500]", true, false, 800, 500, 128},
             {"dense1 dx   gy[128,500] * W^T[500,800]", false, true, 128, 800, 500}};
  for (const char* backend : {"blas", "eigen"}) {
    if (!set_gemm_backend(backend)) continue;
    for (const Mm& m : mms) {
      Tensor a = filled({m.ta ? m.K : m.M, m.ta ? m.M : m.K}, 5), b = filled({m.tb ? m.N : m.K, m.tb ? m.K : m.N}, 6);
      Tensor c(DType::f32, {m.M, m.N});
      Timing t = best_ms(reps, [&] {
        gemm_rowmajor_parallel<float>(m.ta, m.tb, m.M, m.N, m.K, 1.f, a.ptr<float>(), a.shape()[1], b.ptr<float>(),
                                      b.shape()[1], 0.f, c.ptr<float>(), m.N);
      });
      const double gf = 2.0 * m.M * m.N * m.K / 1e9;
      std::printf("%-6s %-40s wall %7.3f ms %6.1f GF/s\n", gemm_backend_name(), m.name, t.wall, gf / t.wall * 1e3);
    }
  }
  set_gemm_backend("auto");
  std::printf("LeNet conv training step (fwd + bwd-weight of both, bwd-data of conv2): wall %.3f ms, cpu %.3f ms "
              "per batch of 128\n", total, total_cpu);
  return 0;
}
