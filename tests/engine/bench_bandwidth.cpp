// Bandwidth-bound kernels of CNN training against the machine's memory bandwidth, measured
// in the same run: a plain memcpy and a float32 triad (a = b + s c) give the reference GB/s;
// then the fused ReLU-backward group (where(x > 0, g, 0) on float32 and float64, and with a
// bool mask input) and batch norm's training forward and backward at VGG shapes (batch 64,
// 64 channels, 32 x 32: 4 M elements). Bytes counted are the compulsory ones (each input
// read once, each output written once). Minimum and median of many runs (the machine is shared).
// GB/s of the graphs come from the kernels' time in the executable's profile.
//   build/engine/bench_bandwidth [threads] [runs]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <random>
#include <vector>

#include "engine/exec/executable.h"
#include "engine/kernels/cpu/elementwise_loops.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/ops/builder.h"

using namespace symnet;

namespace {

struct Times {
  double min_ms, med_ms, cpu_ms;
};

// CPU time of the calling thread: with one engine thread, the kernel's own time, which
// other processes on a shared machine do not inflate (they still share the memory bus).
double thread_cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

bool g_cpu_time = false;  // report GB/s from CPU time (one thread)

Times time_ms(int runs, const std::function<void()>& f) {
  for (int i = 0; i < 3; ++i) f();
  std::vector<double> ms, cpu;
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    const double c0 = thread_cpu_ms();
    f();
    cpu.push_back(thread_cpu_ms() - c0);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu.begin(), cpu.end());
  return {ms.front(), ms[ms.size() / 2], cpu.front()};
}

// Wall times of whole runs, and as cpu_ms the minimum over runs of the summed step times of
// the profile: the kernels alone, without the executor's per-run work (feeding inputs).
Times time_exec(int runs, Executable& ex, const std::vector<TensorView>& feeds) {
  Times t = time_ms(runs, [&] { ex.run(feeds); });
  double best = 1e30;
  for (int i = 0; i < runs; ++i) {
    ex.set_profiling(true);
    ex.run(feeds);
    double ms = 0;
    for (const auto& p : ex.profile()) ms += p.ms;
    best = std::min(best, ms);
  }
  ex.set_profiling(false);
  t.cpu_ms = best;
  return t;
}

// GB/s of an executable from its kernels' time (is_exec), of a plain loop from its CPU time
// on one thread, else from its wall time.
void report(const char* what, double bytes, Times t, double ref_gbs, bool is_exec = true) {
  const double gbs = bytes / ((is_exec || g_cpu_time ? t.cpu_ms : t.min_ms) * 1e6);
  std::printf("  %-36s min %7.3f ms  median %7.3f ms  %s %7.3f ms  %5.1f GB/s", what, t.min_ms, t.med_ms,
              is_exec ? "kernels" : "cpu    ", t.cpu_ms, gbs);
  if (ref_gbs > 0) std::printf("  (%3.0f%% of memcpy/triad)", 100.0 * gbs / ref_gbs);
  std::printf("\n");
}

Tensor filled(DType dt, Shape s, std::mt19937& rng) {
  Tensor t(dt, s);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double v = u(rng);
    if (dt == DType::f32) t.ptr<float>()[i] = static_cast<float>(v);
    else if (dt == DType::f64) t.ptr<double>()[i] = v;
    else if (dt == DType::boolean) t.ptr<bool>()[i] = v > 0;
  }
  return t;
}

std::unique_ptr<Executable> compile(const std::vector<Value>& inputs, const std::vector<Value>& outputs) {
  Graph g;
  g.inputs = inputs;
  g.outputs = outputs;
  for (size_t i = 0; i < outputs.size(); ++i) g.output_names.push_back("out" + std::to_string(i));
  std::vector<TensorType> types;
  for (const Value& v : inputs) types.push_back(v.type());
  return Executable::compile(g, types, CompileOptions{});
}

// The triad as the engine's float32 loops are built: vectorized for the CPU at hand.
SN_EW_CLONES void triad(const float* __restrict b, const float* __restrict c, float* __restrict a, int64_t n) {
  SN_EW_SIMD
  for (int64_t i = 0; i < n; ++i) a[i] = b[i] + 0.5f * c[i];
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 50;
  set_engine_num_threads(threads);
  g_cpu_time = threads == 1;
  std::mt19937 rng(1);
  const Shape shape = {64, 64, 32, 32};
  const int64_t n = shape_numel(shape);
  std::printf("threads %d, %d runs each, %lld elements; GB/s from the %s\n", threads, runs,
              static_cast<long long>(n), g_cpu_time ? "minimum thread CPU time" : "minimum wall time");

  // Reference bandwidth: memcpy (read + write) and triad (two reads + write), float32.
  std::vector<float> a(n), b(n, 1.0f), c(n, 2.0f);
  const Times tc = time_ms(runs, [&] {
    parallel_for(n, 1 << 16, [&](int64_t s, int64_t e) { std::memcpy(&a[s], &b[s], (e - s) * sizeof(float)); });
  });
  report("memcpy f32", 2.0 * n * 4, tc, 0, false);
  const Times tt = time_ms(runs, [&] {
    parallel_for(n, 1 << 16, [&](int64_t s, int64_t e) { triad(&b[s], &c[s], &a[s], e - s); });
  });
  report("triad f32", 3.0 * n * 4, tt, 0, false);
  // The reference: the faster of the two.
  const double ref = std::max(2.0 * n * 4 / ((g_cpu_time ? tc.cpu_ms : tc.min_ms) * 1e6),
                              3.0 * n * 4 / ((g_cpu_time ? tt.cpu_ms : tt.min_ms) * 1e6));

  for (DType dt : {DType::f32, DType::f64}) {
    Value x = op::input("x", dt, shape), g = op::input("g", dt, shape);
    Value zero = op::scalar(0.0, dt);
    auto ex = compile({x, g}, {op::where(op::greater(x, zero), g, zero)});
    Tensor xt = filled(dt, shape, rng), gt = filled(dt, shape, rng);
    char what[64];
    std::snprintf(what, sizeof what, "relu backward %s", dtype_name(dt));
    report(what, 3.0 * n * dtype_size(dt), time_exec(runs, *ex, {xt.view(), gt.view()}), ref);
  }
  {
    Value m = op::input("m", DType::boolean, shape), g = op::input("g", DType::f32, shape);
    auto ex = compile({m, g}, {op::where(m, g, op::scalar(0.0, DType::f32))});
    Tensor mt = filled(DType::boolean, shape, rng), gt = filled(DType::f32, shape, rng);
    report("relu backward bool mask f32", 9.0 * n, time_exec(runs, *ex, {mt.view(), gt.view()}), ref);
  }
  {
    // The ReLU backward as a mask multiply with a per-channel scale broadcast ([1, C, 1, 1]).
    Value x = op::input("x", DType::f32, shape), g = op::input("g", DType::f32, shape);
    Value s = op::input("s", DType::f32, {1, shape[1], 1, 1});
    auto ex = compile({x, g, s}, {op::mul(op::mul(g, op::cast(op::greater(x, op::scalar(0.0, DType::f32)), DType::f32)), s)});
    Tensor xt = filled(DType::f32, shape, rng), gt = filled(DType::f32, shape, rng);
    Tensor st = filled(DType::f32, {1, shape[1], 1, 1}, rng);
    report("mask multiply, channel scale f32", 12.0 * n,
           time_exec(runs, *ex, {xt.view(), gt.view(), st.view()}), ref);
  }
  for (DType dt : {DType::f32, DType::f64}) {
    const Shape cs = {shape[1]};
    Value x = op::input("x", dt, shape), sc = op::input("scale", dt, cs), bi = op::input("bias", dt, cs);
    Value rm = op::input("rm", dt, cs), rv = op::input("rv", dt, cs);
    std::vector<Value> outs = make_node("batch_norm", {x, sc, bi, rm, rv}, {{"training", int64_t(1)}, {"epsilon", 1e-5}});
    auto ex = compile({x, sc, bi, rm, rv}, outs);
    Tensor xt = filled(dt, shape, rng), st = filled(dt, cs, rng), bt = filled(dt, cs, rng);
    Tensor mt = filled(dt, cs, rng), vt(dt, cs);
    for (int64_t i = 0; i < cs[0]; ++i) vt.set_from_double(i, 1.0);
    const size_t es = dtype_size(dt);
    char what[64];
    std::snprintf(what, sizeof what, "batch_norm training forward %s", dtype_name(dt));
    report(what, 2.0 * n * es,
           time_exec(runs, *ex, {xt.view(), st.view(), bt.view(), mt.view(), vt.view()}), ref);
    Value gy = op::input("gy", dt, shape), bm = op::input("bm", dt, cs), bv = op::input("bv", dt, cs);
    std::vector<Value> gouts = make_node("batch_norm_grad", {x, sc, bm, bv, gy}, {{"epsilon", 1e-5}});
    auto exg = compile({x, sc, bm, bv, gy}, gouts);
    Tensor gyt = filled(dt, shape, rng);
    std::snprintf(what, sizeof what, "batch_norm training backward %s", dtype_name(dt));
    report(what, 3.0 * n * es,
           time_exec(runs, *exg, {xt.view(), st.view(), mt.view(), vt.view(), gyt.view()}), ref);
  }
  return 0;
}
