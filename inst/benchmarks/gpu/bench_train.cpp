// Training-step benchmark of the engine on one backend: LeNet (batch 128, 1x28x28) or
// ResNet-18 (batch 64, 3x224x224), built with the C++ graph API (models.h), compiled for
// --device, timed over --steps runs after --warmup runs. torch_train.py is its PyTorch
// companion (same nets, batches and optimizer); tools/gpu-check runs both and compares.
//
//   bench_train --net lenet|resnet18 [--device cpu|sim|cuda:N] [--cuda-library PATH]
//               [--batch B] [--image-size S] [--steps N] [--warmup W] [--threads T]
//               [--lr LR] [--feed host|resident] [--tf32] [--profile K] [--plan] [--seed S]
//
// Prints '#' comment lines and 'key value' lines (the same keys as torch_train.py):
// ms_per_step and img_per_s (wall time of the timed runs / steps: each run feeds the batch
// from host memory unless --feed resident, launches the step and waits for the device),
// loss_first / loss_last (the loss of the first warm-up run and of the last run: on the
// fixed batch it must fall; exit status 3 when it does not or is not finite), and on CUDA
// peak_device_mib from symnet_cuda_memory_stats_v1 (the most the backend's allocator held
// for tensors since the library was loaded: parameters, optimizer state, arena, workspace).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "cuda/cuda_abi.h"
#include "cuda_probe.h"
#include "engine/backend/plugin.h"
#include "engine/base/error.h"
#include "engine/cpu/sim_backend.h"
#include "engine/kernels/cpu/parallel.h"
#include "models.h"

using namespace symnet;
using namespace symnet_bench;

namespace {

struct Options {
  std::string net = "lenet", device = "cpu", cuda_library, feed = "host";
  int64_t batch = 0, image_size = 0;
  int steps = 20, warmup = 5, threads = 0, profile = 0;
  double lr = 0;
  bool tf32 = false, plan = false;
  uint32_t seed = 1;
};

[[noreturn]] void usage(const char* why) {
  if (why) std::fprintf(stderr, "bench_train: %s\n", why);
  std::fprintf(stderr,
               "usage: bench_train --net lenet|resnet18 [--device cpu|sim|cuda:N] [--cuda-library PATH]\n"
               "                   [--batch B] [--image-size S] [--steps N] [--warmup W] [--threads T]\n"
               "                   [--lr LR] [--feed host|resident] [--tf32] [--profile K] [--plan] [--seed S]\n");
  std::exit(why ? 2 : 0);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") usage(nullptr);
    if (a == "--tf32") { o.tf32 = true; continue; }
    if (a == "--plan") { o.plan = true; continue; }
    if (i + 1 >= argc) usage(("missing value for " + a).c_str());
    const std::string v = argv[++i];
    auto num = [&](double lo) {
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (*end || !(d >= lo)) usage((a + " takes a number >= " + std::to_string(lo) + ", got '" + v + "'").c_str());
      return d;
    };
    if (a == "--net") o.net = v;
    else if (a == "--device") o.device = v;
    else if (a == "--cuda-library") o.cuda_library = v;
    else if (a == "--feed") o.feed = v;
    else if (a == "--batch") o.batch = static_cast<int64_t>(num(2));
    else if (a == "--image-size") o.image_size = static_cast<int64_t>(num(32));
    else if (a == "--steps") o.steps = static_cast<int>(num(1));
    else if (a == "--warmup") o.warmup = static_cast<int>(num(1));
    else if (a == "--threads") o.threads = static_cast<int>(num(0));
    else if (a == "--profile") o.profile = static_cast<int>(num(0));
    else if (a == "--lr") o.lr = num(0);
    else if (a == "--seed") o.seed = static_cast<uint32_t>(num(0));
    else usage(("unknown argument " + a).c_str());
  }
  if (o.net != "lenet" && o.net != "resnet18") usage("--net must be lenet or resnet18");
  if (o.feed != "host" && o.feed != "resident") usage("--feed must be host or resident");
  return o;
}

double peak_rss_mib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  return NAN;
}

double mib(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

float loss_of(const Executable& exe) {
  TensorView v = exe.output(0);
  return static_cast<const float*>(v.data)[0];
}

// The slowest kernels over the profiled runs, by op: where a backend's time goes.
void print_profile(const Executable& exe, int runs) {
  std::map<std::string, double> by_op;
  double total = 0;
  for (const auto& p : exe.profile()) {
    by_op[p.op] += p.ms / runs;
    total += p.ms / runs;
  }
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& kv : by_op) rows.push_back({kv.second, kv.first});
  std::sort(rows.rbegin(), rows.rend());
  std::printf("# profile over %d runs (each step's host-side wall time; device kernels are asynchronous, so\n"
              "# on a device the time shows where the host waited): %.2f ms per step\n",
              runs, total);
  for (size_t i = 0; i < rows.size() && i < 20; ++i)
    std::printf("#   %-30s %9.3f ms %5.1f%%\n", rows[i].second.c_str(), rows[i].first, 100 * rows[i].first / total);
}

int run(const Options& o) {
  const int device_index = cuda_device_index(o.device);
  std::unique_ptr<CudaProbe> probe;
  if (device_index >= 0) {
    if (o.cuda_library.empty()) usage("--device cuda:N needs --cuda-library PATH (the built symnet_cuda library)");
    std::vector<std::string> added = load_backend_library(o.cuda_library);
    std::string names;
    for (const auto& n : added) names += " " + n;
    std::printf("# loaded %s: backends%s\n", o.cuda_library.c_str(), names.c_str());
    probe = std::make_unique<CudaProbe>(o.cuda_library);
    if (!probe->ok()) std::printf("# %s\n", probe->error().c_str());
    const std::string info = probe->info_json();
    std::printf("# cuda info: %s\n", info.empty() ? "(none: the library has no " SYMNET_CUDA_INFO ")" : info.c_str());
    const std::string err = probe->set_option("allow_tf32", o.tf32 ? "1" : "0");
    if (!err.empty()) std::printf("# allow_tf32: %s\n", err.c_str());
  } else if (o.tf32) {
    std::printf("# --tf32 applies to CUDA devices only; ignored on %s\n", o.device.c_str());
  }
  // The simulated devices (memory the executor cannot address, CPU kernels) are registered
  // on request only, as the test harness and R's developer option do.
  if (is_sim_backend(o.device)) register_sim_backend();
  if (!backends().find(o.device)) {
    std::string known;
    for (const auto& n : backends().names()) known += " " + n;
    std::fprintf(stderr, "bench_train: no backend '%s' (known:%s)\n", o.device.c_str(), known.c_str());
    return 2;
  }
  const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  set_engine_num_threads(threads);

  TrainConfig cfg;
  cfg.target = o.device;
  cfg.seed = o.seed;
  cfg.resident_batch = o.feed == "resident";
  NetFn net;
  if (o.net == "lenet") {
    cfg.batch = o.batch ? o.batch : 128;
    cfg.image = {1, 28, 28};
    cfg.classes = 10;
    cfg.lr = o.lr > 0 ? o.lr : 0.05;
    net = lenet;
  } else {
    const int64_t s = o.image_size ? o.image_size : 224;
    cfg.batch = o.batch ? o.batch : 64;
    cfg.image = {3, s, s};
    cfg.classes = 1000;
    cfg.lr = o.lr > 0 ? o.lr : 0.01;
    net = [](NetBuilder& b, const Value& x) { return resnet18(b, x, 1000); };
  }

  auto t0 = std::chrono::steady_clock::now();
  int64_t n_params = 0;
  TrainStep step = compile_train_step(net, cfg, &n_params);
  const double build_compile_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const CompileStats& st = step.exe->stats();
  std::printf("# %s: %lld parameters, batch %lld x %lld x %lld x %lld, %zu kernel launches per step, "
              "graph built and compiled in %.0f ms\n",
              o.net.c_str(), static_cast<long long>(n_params), static_cast<long long>(cfg.batch),
              static_cast<long long>(cfg.image[0]), static_cast<long long>(cfg.image[1]),
              static_cast<long long>(cfg.image[2]), st.steps, build_compile_ms);
  for (const auto& kv : st.steps_per_backend) std::printf("# steps on %s: %zu\n", kv.first.c_str(), kv.second);
  if (!st.fallback_nodes.empty()) {
    std::string list;
    for (size_t i = 0; i < st.fallback_nodes.size() && i < 12; ++i) list += " " + st.fallback_nodes[i];
    std::printf("# %zu nodes fell back to the CPU:%s%s\n", st.fallback_nodes.size(), list.c_str(),
                st.fallback_nodes.size() > 12 ? " ..." : "");
  }
  std::printf("# transfers per step: %zu (%.1f MiB)\n", st.transfers, mib(st.transfer_bytes));
  for (const auto& a : st.arenas) std::printf("# arena %s: %.1f MiB\n", a.first.c_str(), mib(a.second));
  if (o.plan) std::printf("%s", step.exe->describe_plan().c_str());

  // The warm-up runs' losses, printed: on the fixed batch they show the step learning (with
  // momentum the first few may rise before they fall).
  std::string warm_losses;
  float loss_first = NAN;
  for (int i = 0; i < o.warmup; ++i) {
    step.exe->run(step.feeds);
    const float l = loss_of(*step.exe);
    if (i == 0) loss_first = l;
    char buf[32];
    std::snprintf(buf, sizeof buf, " %.4f", l);
    warm_losses += buf;
  }
  std::printf("# warm-up losses:%s\n", warm_losses.c_str());
  auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < o.steps; ++i) step.exe->run(step.feeds);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
  const float loss_last = loss_of(*step.exe);
  if (o.profile > 0) {
    step.exe->set_profiling(true);
    for (int i = 0; i < o.profile; ++i) step.exe->run(step.feeds);
    print_profile(*step.exe, o.profile);
  }

  const bool loss_ok = std::isfinite(loss_first) && std::isfinite(loss_last) && loss_last < loss_first;
  std::printf("framework symnet\n");
  std::printf("net %s\n", o.net.c_str());
  std::printf("device %s\n", o.device.c_str());
  std::printf("feed %s\n", o.feed.c_str());
  std::printf("tf32 %d\n", o.tf32 && device_index >= 0 ? 1 : 0);
  std::printf("batch %lld\n", static_cast<long long>(cfg.batch));
  std::printf("threads %d\n", threads);
  std::printf("steps %d\n", o.steps);
  std::printf("ms_per_step %.3f\n", ms / o.steps);
  std::printf("img_per_s %.1f\n", cfg.batch * o.steps * 1000.0 / ms);
  std::printf("loss_first %.5f\n", loss_first);
  std::printf("loss_last %.5f\n", loss_last);
  std::printf("loss_check %s\n", loss_ok ? "ok" : "FAILED");
  if (probe) {
    CudaProbe::Memory m = probe->memory(device_index, false);
    if (m.ok) {
      std::printf("peak_device_mib %.1f\n", mib(m.peak));
      std::printf("device_in_use_mib %.1f\n", mib(m.in_use));
      std::printf("device_reserved_mib %.1f\n", mib(m.reserved));
    } else {
      std::printf("# no memory statistics from %s for device %d\n", o.cuda_library.c_str(), device_index);
    }
  }
  std::printf("peak_rss_mib %.1f\n", peak_rss_mib());
  if (!loss_ok)
    std::fprintf(stderr, "bench_train: the loss did not fall on the fixed batch (%g -> %g): the step is wrong\n",
                 loss_first, loss_last);
  return loss_ok ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train: %s\n", e.what());
    return 1;
  }
}
