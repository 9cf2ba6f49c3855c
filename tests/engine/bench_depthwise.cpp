// MobileNetV2's depthwise 3x3 layers (224 x 224 input) at batch 1 and 16: the generic
// grouped im2col + GEMM path of conv.h ("before") against the direct kernels of
// conv_depthwise.h ("after"), for the forward product and the two gradients. Minimum of
// several runs (the machine may be shared); GB/s counts the compulsory traffic (input,
// output and weights once each), GFLOP/s two flops per tap.
//   build/engine/bench_depthwise [threads] [runs]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#include "engine/kernels/cpu/conv.h"
#include "engine/kernels/cpu/conv_depthwise.h"
#include "engine/kernels/cpu/parallel.h"

using namespace symnet;

namespace {

double min_ms(int runs, const std::function<void()>& f) {
  f();
  double best = 1e30;
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

Tensor filled(Shape s, std::mt19937& rng) {
  Tensor t(DType::f32, s);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = u(rng);
  return t;
}

struct Layer {
  int64_t C, H, s;
};

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 10;
  set_engine_num_threads(threads);
  std::mt19937 rng(1);
  std::printf("threads %d, min of %d runs, depthwise ISA %s; times in ms, before -> after (speed-up)\n", threads, runs,
              conv_depthwise_isa());
  const std::vector<Layer> layers = {{32, 112, 1}, {96, 112, 2}, {144, 56, 1}, {144, 56, 2}, {192, 28, 1},
                                     {192, 28, 2}, {384, 14, 1}, {576, 14, 1}, {576, 14, 2}, {960, 7, 1}};
  for (int64_t N : {int64_t(1), int64_t(16)}) {
    double tot_before = 0, tot_after = 0;
    std::printf("batch %lld\n", static_cast<long long>(N));
    std::printf("  %-16s %-30s %-10s %-10s %-28s %-28s\n", "layer", "forward", "GB/s", "GFLOP/s", "input grad",
                "weight grad");
    for (const Layer& l : layers) {
      const int64_t OH = (l.H + 2 - 3) / l.s + 1;
      const Shape bs{N, l.C, l.H, l.H}, ss{N, l.C, OH, OH}, wsh{l.C, 1, 3, 3};
      const ConvGeom g = make_conv_geom(bs, ss, wsh, {l.s, l.s}, {1, 1}, {1, 1}, l.C);
      Tensor x = filled(bs, rng), w = filled(wsh, rng), y(DType::f32, ss), gy = filled(ss, rng);
      Tensor dx(DType::f32, bs), dw(DType::f32, wsh);
      std::vector<unsigned char> ws(std::max({conv_forward_workspace(g, DType::f32),
                                              conv_backward_data_workspace(g, DType::f32),
                                              conv_backward_weight_workspace(g, DType::f32),
                                              conv_depthwise_workspace(g)}));
      const int r = N > 1 && l.H >= 56 ? std::max(2, runs / 3) : runs;
      const double f0 = min_ms(r, [&] { conv_forward_cpu(g, x.view(), w.view(), nullptr, y.view(), ws.data()); });
      const double f1 = min_ms(r, [&] { conv_depthwise_forward(g, x.view(), w.view(), nullptr, y.view(), ws.data()); });
      const double d0 = min_ms(r, [&] { conv_backward_data_cpu(g, gy.view(), w.view(), nullptr, dx.view(), ws.data()); });
      const double d1 =
          min_ms(r, [&] { conv_depthwise_backward_data(g, gy.view(), w.view(), nullptr, dx.view(), ws.data()); });
      const double w0 = min_ms(r, [&] { conv_backward_weight_cpu(g, x.view(), gy.view(), dw.view(), ws.data()); });
      const double w1 = min_ms(r, [&] { conv_depthwise_backward_weight(g, x.view(), gy.view(), dw.view(), ws.data()); });
      tot_before += f0;
      tot_after += f1;
      const double bytes = 4.0 * (x.numel() + y.numel() + w.numel());
      const double flops = 2.0 * 9 * y.numel();
      char name[32], fw[64], gbs[16], gfl[16], bd[64], bw[64];
      std::snprintf(name, sizeof name, "%lldch %lld s%lld", static_cast<long long>(l.C), static_cast<long long>(l.H),
                    static_cast<long long>(l.s));
      std::snprintf(fw, sizeof fw, "%7.3f -> %6.3f (%5.1fx)", f0, f1, f0 / f1);
      std::snprintf(gbs, sizeof gbs, "%5.1f", bytes / (f1 * 1e6));
      std::snprintf(gfl, sizeof gfl, "%5.1f", flops / (f1 * 1e6));
      std::snprintf(bd, sizeof bd, "%7.3f -> %6.3f (%5.1fx)", d0, d1, d0 / d1);
      std::snprintf(bw, sizeof bw, "%7.3f -> %6.3f (%5.1fx)", w0, w1, w0 / w1);
      std::printf("  %-16s %-30s %-10s %-10s %-28s %-28s\n", name, fw, gbs, gfl, bd, bw);
    }
    std::printf("  forward, all ten layers: %.3f -> %.3f ms (%.1fx)\n", tot_before, tot_after, tot_before / tot_after);
  }
  return 0;
}
