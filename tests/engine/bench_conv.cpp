// Benchmark of the float32 convolution kernels on the layers of common CNNs:
//   bench_conv [reps] [filter]
// For each layer (a substring `filter` selects some) prints GFLOP/s of the forward, the
// input gradient (backward-data) and the weight gradient (backward-weight) on 1 and on 2
// threads, with the algorithm each product takes and the largest workspace of the three
// (MiB, as the planner reserves it), next to the GFLOP/s of a large square
// sgemm on this machine in the same run (the ceiling the lowering is measured against).
// Figures are the best of `reps` runs (wall clock); on a shared machine they are noisy.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
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

template <typename F>
double best_ms(int reps, F&& f) {
  f();  // warm up (first touch, thread pool start)
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

struct Layer {
  const char* net;
  const char* name;
  int64_t N, Cin, H, W, Cout, k, stride, pad;
};

// Square sgemm through the same entry point the engine's dense layers use.
double sgemm_gflops(int threads, int reps) {
  set_engine_num_threads(threads);
  const int64_t n = 1024;
  Tensor a = filled({n, n}, 7), b = filled({n, n}, 8), c(DType::f32, {n, n});
  const double ms = best_ms(reps, [&] {
    gemm_rowmajor_parallel<float>(false, false, n, n, n, 1.f, a.ptr<float>(), n, b.ptr<float>(), n, 0.f,
                                  c.ptr<float>(), n);
  });
  return 2.0 * n * n * n / ms / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 3;
  const std::string filter = argc > 2 ? argv[2] : "";
  const Layer layers[] = {
      // VGG-style CIFAR net of the issue (batch 64).
      {"vgg", "conv1 3->32 3x3 32x32", 64, 3, 32, 32, 32, 3, 1, 1},
      {"vgg", "conv2 32->32 3x3 32x32", 64, 32, 32, 32, 32, 3, 1, 1},
      {"vgg", "conv3 32->64 3x3 16x16", 64, 32, 16, 16, 64, 3, 1, 1},
      {"vgg", "conv4 64->64 3x3 16x16", 64, 64, 16, 16, 64, 3, 1, 1},
      // CIFAR ResNet-18 (batch 32).
      {"resnet18", "stem 3->64 3x3 32x32", 32, 3, 32, 32, 64, 3, 1, 1},
      {"resnet18", "l1 64->64 3x3 32x32", 32, 64, 32, 32, 64, 3, 1, 1},
      {"resnet18", "l2 64->128 3x3/2 32x32", 32, 64, 32, 32, 128, 3, 2, 1},
      {"resnet18", "l2 64->128 1x1/2 32x32", 32, 64, 32, 32, 128, 1, 2, 0},
      {"resnet18", "l2 128->128 3x3 16x16", 32, 128, 16, 16, 128, 3, 1, 1},
      {"resnet18", "l3 256->256 3x3 8x8", 32, 256, 8, 8, 256, 3, 1, 1},
      {"resnet18", "l4 256->512 3x3/2 8x8", 32, 256, 8, 8, 512, 3, 2, 1},
      {"resnet18", "l4 512->512 3x3 4x4", 32, 512, 4, 4, 512, 3, 1, 1},
      // MobileNetV2 pointwise layers at 224 input (batch 4).
      {"mobilenetv2", "1x1 32->16 112x112", 4, 32, 112, 112, 16, 1, 1, 0},
      {"mobilenetv2", "1x1 16->96 112x112", 4, 16, 112, 112, 96, 1, 1, 0},
      {"mobilenetv2", "1x1 144->24 56x56", 4, 144, 56, 56, 24, 1, 1, 0},
      {"mobilenetv2", "1x1 32->192 28x28", 4, 32, 28, 28, 192, 1, 1, 0},
      {"mobilenetv2", "1x1 384->64 14x14", 4, 384, 14, 14, 64, 1, 1, 0},
      {"mobilenetv2", "1x1 960->160 7x7", 4, 960, 7, 7, 160, 1, 1, 0},
      {"mobilenetv2", "1x1 320->1280 7x7", 4, 320, 7, 7, 1280, 1, 1, 0},
      // Batch 1.
      {"batch1", "stem 3->64 7x7/2 224x224", 1, 3, 224, 224, 64, 7, 2, 3},
      {"batch1", "3x3 64->64 56x56", 1, 64, 56, 56, 64, 3, 1, 1},
      {"batch1", "3x3 512->512 7x7", 1, 512, 7, 7, 512, 3, 1, 1},
      // LeNet (batch 128).
      {"lenet", "conv1 1->20 5x5 28x28", 128, 1, 28, 28, 20, 5, 1, 0},
      {"lenet", "conv2 20->50 5x5 12x12", 128, 20, 12, 12, 50, 5, 1, 0},
  };
  std::printf("gemm backend %s, best of %d (wall clock)\n", gemm_backend_name(), reps);
  const double peak1 = sgemm_gflops(1, reps), peak2 = sgemm_gflops(2, reps);
  std::printf("sgemm 1024^3: %.1f GFLOP/s on 1 thread, %.1f on 2\n", peak1, peak2);
  std::printf("%-12s %-26s %6s %7s | %-34s | %-34s | %-34s\n", "net", "layer", "MFLOP", "ws MiB",
              "forward GF/s 1t 2t", "backward-data GF/s 1t 2t", "backward-weight GF/s 1t 2t");
  double total[2] = {0, 0};
  for (const Layer& l : layers) {
    if (!filter.empty() && std::string(l.net).find(filter) == std::string::npos &&
        std::string(l.name).find(filter) == std::string::npos)
      continue;
    const int64_t Ho = (l.H + 2 * l.pad - l.k) / l.stride + 1, Wo = (l.W + 2 * l.pad - l.k) / l.stride + 1;
    const Shape xs{l.N, l.Cin, l.H, l.W}, ws{l.Cout, l.Cin, l.k, l.k}, ys{l.N, l.Cout, Ho, Wo};
    const ConvGeom g = make_conv_geom(xs, ys, ws, {l.stride, l.stride}, {1, 1}, {l.pad, l.pad}, 1);
    Tensor x = filled(xs, 1), w = filled(ws, 2), gy = filled(ys, 4);
    Tensor dx(DType::f32, xs), dw(DType::f32, ws), y(DType::f32, ys);
    const size_t wsb = std::max({conv_forward_workspace(g, DType::f32), conv_backward_data_workspace(g, DType::f32),
                                 conv_backward_weight_workspace(g, DType::f32)});
    Storage work(std::max<size_t>(wsb, 64));
    const double mflop = g.flops() / 1e6;
    double gf[3][2];
    for (int t = 0; t < 2; ++t) {
      set_engine_num_threads(t + 1);
      const double f = best_ms(reps, [&] { conv_forward_cpu(g, x.view(), w.view(), nullptr, y.view(), work.data()); });
      const double d =
          best_ms(reps, [&] { conv_backward_data_cpu(g, gy.view(), w.view(), nullptr, dx.view(), work.data()); });
      const double k = best_ms(reps, [&] { conv_backward_weight_cpu(g, x.view(), gy.view(), dw.view(), work.data()); });
      gf[0][t] = mflop / f;
      gf[1][t] = mflop / d;
      gf[2][t] = mflop / k;
      total[t] += f + d + k;
    }
    char cell[3][64];
    for (int p = 0; p < 3; ++p) {
#ifndef SYMNET_BENCH_NO_ALGO
      const char* algo = conv_algorithm(g, DType::f32, static_cast<ConvProduct>(p));
#else
      const char* algo = "-";
#endif
      std::snprintf(cell[p], sizeof cell[p], "%6.1f %6.1f %-19s", gf[p][0], gf[p][1], algo);
    }
    std::printf("%-12s %-26s %6.0f %7.2f | %s | %s | %s\n", l.net, l.name, mflop, wsb / 1048576.0, cell[0], cell[1],
                cell[2]);
  }
  std::printf("total ms of all three products: %.1f on 1 thread, %.1f on 2\n", total[0], total[1]);
  return 0;
}
