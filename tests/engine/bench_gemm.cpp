// Single-precision GEMM throughput of every backend on shapes the engine runs:
//   bench_gemm [reps]
// One thread (the engine splits work over its own threads above this level). Prints
// GFLOP/s from CPU time, which a loaded machine does not inflate. Run it also with
// OPENBLAS_CORETYPE=SkylakeX (or the CPU's name) to compare with OpenBLAS's tuned kernels
// where its detection fails.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "engine/kernels/cpu/blas.h"

using namespace symnet;

namespace {

double cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

struct Shape {
  const char* what;
  int64_t M, N, K;
  bool ta, tb;
};

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 5;
  const Shape shapes[] = {
      {"square 256", 256, 256, 256, false, false},
      {"square 1024", 1024, 1024, 1024, false, false},
      {"LSTM gates x*W^T (64, 4*128, 128)", 64, 512, 128, false, true},
      {"LSTM dW (512, 128, 64)", 512, 128, 64, true, false},
      {"dense 784->128 batch 128", 128, 128, 784, false, false},
      {"conv3x3 32->32 fwd, 32x32 image", 32, 1024, 288, false, false},
      {"conv3x3 32->32 dW, 32x32 image", 32, 288, 1024, false, true},
      {"conv3x3 32->32 dX, 32x32 image", 288, 1024, 32, true, false},
      {"conv1x1 64->128, 16x16", 128, 256, 64, false, false},
  };
  std::printf("%-40s", "shape (M, N, K)");
  const char* backends[] = {"symnet", "blas", "eigen"};
  for (const char* b : backends) {
    if (!set_gemm_backend(b)) continue;
    std::printf(" %14s", gemm_backend_name());
  }
  std::printf("   GFLOP/s, 1 thread, best of %d\n", reps);
  for (const Shape& s : shapes) {
    std::vector<float> A(static_cast<size_t>(s.M * s.K), 0.5f), B(static_cast<size_t>(s.K * s.N), 0.25f),
        C(static_cast<size_t>(s.M * s.N));
    const double flops = 2.0 * s.M * s.N * s.K;
    // Enough calls per repetition to run ~20 ms.
    const int calls = std::max(1, static_cast<int>(2e9 / flops / 10 * 1));
    std::printf("%-40s", s.what);
    for (const char* b : backends) {
      if (!set_gemm_backend(b)) continue;
      double best = 1e30;
      for (int r = 0; r <= reps; ++r) {
        const double t0 = cpu_ms();
        for (int c = 0; c < calls; ++c)
          sgemm_rowmajor(s.ta, s.tb, s.M, s.N, s.K, 1.f, A.data(), s.ta ? s.M : s.K, B.data(), s.tb ? s.K : s.N,
                         0.f, C.data(), s.N);
        if (r > 0) best = std::min(best, cpu_ms() - t0);  // r == 0 warms up
      }
      std::printf(" %14.1f", flops * calls / (best * 1e6));
    }
    std::printf("\n");
  }
  set_gemm_backend("auto");
  return 0;
}
