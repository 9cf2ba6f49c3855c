// Every op case of the device-parametrized suite (tests/engine/cases_*.cpp) whose op has a
// CUDA kernel, run through that kernel directly on a GPU and compared with the CPU kernel on
// the same inputs and run state: values (float32 within max(tol, 1e-4) relative, since
// summation orders differ; exact for integers, masks and uniform draws), and cases the CPU
// rejects with an index error must leave a record in the device's error record. Checks the
// kernels apart from the backend (no allocator, no executor), so a failure here points at
// a kernel. Skipped, saying why, without a CUDA device.
//
// Not in the CMake suite (which globs *.cpp of tests/engine only); the lead's CMake or
// tools/gpu-check builds it with nvcc together with the harness and cases objects of the
// engine_tests target, the engine library, Catch2WithMain, src/cuda/kernels/*.cu and (when
// the backend's .cu files are not linked) throw_stubs.cu. Tag: [cuda].
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "../harness.h"
#include "cuda/cuda_context.h"

using namespace symnet;
using namespace symnet::test;

namespace {

class TableBackend : public Backend {
 public:
  TableBackend() : Backend("cuda-cases") {}
  const BufferType& buffer_type() const override { return host_buffer_type(); }
};

void ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) FAIL(what << ": " << cudaGetErrorString(e));
}

struct Device {
  cuda::DeviceContext ctx;
  Device() {
    ok(cudaSetDevice(0), "cudaSetDevice");
    ok(cudaStreamCreate(&ctx.stream), "cudaStreamCreate");
    REQUIRE(cublasCreate(&ctx.cublas) == CUBLAS_STATUS_SUCCESS);
    REQUIRE(cublasSetStream(ctx.cublas, ctx.stream) == CUBLAS_STATUS_SUCCESS);
    REQUIRE(cudnnCreate(&ctx.cudnn) == CUDNN_STATUS_SUCCESS);
    REQUIRE(cudnnSetStream(ctx.cudnn, ctx.stream) == CUDNN_STATUS_SUCCESS);
    ok(cudaMalloc(reinterpret_cast<void**>(&ctx.error_record), sizeof(cuda::DeviceErrorRecord)), "cudaMalloc");
    clear_error();
  }
  ~Device() {
    cudaFree(ctx.error_record);
    cudnnDestroy(ctx.cudnn);
    cublasDestroy(ctx.cublas);
    cudaStreamDestroy(ctx.stream);
  }
  void clear_error() {
    ok(cudaMemset(ctx.error_record, 0, sizeof(cuda::DeviceErrorRecord)), "cudaMemset");
  }
  cuda::DeviceErrorRecord error() {
    cuda::DeviceErrorRecord r{};
    ok(cudaMemcpy(&r, ctx.error_record, sizeof r, cudaMemcpyDeviceToHost), "cudaMemcpy");
    return r;
  }
};

// Device copy of a tensor (at least one byte, so empty tensors have an address).
struct DeviceTensor {
  void* p = nullptr;
  size_t bytes = 0;
  explicit DeviceTensor(size_t b) : bytes(b) { ok(cudaMalloc(&p, b ? b : 1), "cudaMalloc"); }
  ~DeviceTensor() { cudaFree(p); }
  DeviceTensor(const DeviceTensor&) = delete;
  DeviceTensor& operator=(const DeviceTensor&) = delete;
};

// Largest relative difference |a - b| / (1 + |b|); NaN/Inf must match exactly.
double max_error(const Tensor& got, const Tensor& want, int64_t* where) {
  double worst = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double a = got.get_as_double(i), b = want.get_as_double(i);
    double e;
    if (std::isnan(b)) e = std::isnan(a) ? 0 : INFINITY;
    else if (std::isinf(b)) e = a == b ? 0 : INFINITY;
    else e = std::abs(a - b) / (1 + std::abs(b));
    if (!(e <= worst)) {
      worst = e;
      *where = i;
    }
  }
  return worst;
}

}  // namespace

TEST_CASE("CUDA kernels match the CPU kernels on every op case", "[cuda]") {
  int count = 0;
  const cudaError_t probe = cudaGetDeviceCount(&count);
  if (probe != cudaSuccess || count == 0) {
    cudaGetLastError();
    WARN("skipped: no CUDA device (" << (probe != cudaSuccess ? cudaGetErrorString(probe) : "none found") << ")");
    return;
  }
  Device dev;
  TableBackend table;
  cuda::bind_cuda_kernels(table, &dev.ctx);
  std::vector<std::string> failures;
  int run = 0, skipped = 0;
  for (const OpCase& c : all_cases()) {
    const KernelImpl* impl = table.kernel(c.op);
    if (impl == nullptr) {
      ++skipped;
      continue;
    }
    const std::string name = case_name(c);
    Graph g = op_graph(c.op, c.inputs, c.attrs);
    const Node& n = *g.outputs.at(0).node;
    // CPU reference on host tensors, same run state (seed 0, run 0, stream 0).
    std::vector<Tensor> want;
    std::vector<TensorView> win, wout;
    for (const Tensor& t : c.inputs) win.push_back(t.view());
    for (const TensorType& t : n.outputs) {
      want.emplace_back(t.dtype, t.shape);
      wout.push_back(want.back().view());
    }
    bool cpu_index_error = false;
    try {
      run_cpu_kernel(n, win, wout);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::index) {
        ++skipped;  // a case of inputs the CPU refuses for other reasons: nothing to compare
        continue;
      }
      cpu_index_error = true;
    }
    ++run;
    try {
      std::vector<std::unique_ptr<DeviceTensor>> bufs;
      KernelContext k;
      for (const Tensor& t : c.inputs) {
        bufs.push_back(std::make_unique<DeviceTensor>(t.bytes()));
        if (t.bytes()) ok(cudaMemcpy(bufs.back()->p, t.data(), t.bytes(), cudaMemcpyHostToDevice), "upload");
        k.in.push_back(TensorView{bufs.back()->p, t.dtype(), t.shape()});
      }
      for (const TensorType& t : n.outputs) {
        const size_t bytes = static_cast<size_t>(shape_numel(t.shape)) * dtype_size(t.dtype);
        bufs.push_back(std::make_unique<DeviceTensor>(bytes));
        k.out.push_back(TensorView{bufs.back()->p, t.dtype, t.shape});
      }
      std::shared_ptr<const void> params = impl->prepare ? impl->prepare(n) : nullptr;
      const size_t ws = impl->workspace ? impl->workspace(n) : 0;
      DeviceTensor workspace(ws);
      k.params = params.get();
      k.workspace = ws ? workspace.p : nullptr;
      RunContext rc;
      k.run = &rc;
      dev.clear_error();
      impl->fn(k);
      ok(cudaStreamSynchronize(dev.ctx.stream), "cudaStreamSynchronize");
      const cuda::DeviceErrorRecord rec = dev.error();
      if (cpu_index_error) {
        if (rec.code == cuda::kDeviceOk) failures.push_back(name + ": the CPU raised an index error, CUDA recorded none");
        continue;
      }
      if (rec.code != cuda::kDeviceOk) {
        std::ostringstream m;
        m << name << ": CUDA recorded error " << rec.code << " at " << rec.position << " (value " << rec.value
          << ", bound " << rec.bound << ")";
        failures.push_back(m.str());
        continue;
      }
      for (size_t i = 0; i < want.size(); ++i) {
        Tensor got(want[i].dtype(), want[i].shape());
        if (got.bytes())
          ok(cudaMemcpy(got.data(), k.out[i].data, got.bytes(), cudaMemcpyDeviceToHost), "download");
        const double tol = want[i].dtype() == DType::f32 ? std::max(c.tol, 1e-4) : c.tol;
        int64_t where = -1;
        const double err = max_error(got, want[i], &where);
        if (!(err <= tol)) {
          std::ostringstream m;
          m << name << ": output " << i << " element " << where << ": CUDA " << got.get_as_double(where) << ", CPU "
            << want[i].get_as_double(where) << " (relative error " << err << ", tol " << tol << ")";
          failures.push_back(m.str());
        }
      }
    } catch (const std::exception& e) {
      failures.push_back(name + ": threw " + e.what());
      cudaGetLastError();
    }
  }
  for (const std::string& f : failures) std::printf("CUDA case failure: %s\n", f.c_str());
  std::printf("CUDA kernel cases: %d run, %d without a CUDA kernel or skipped, %zu failed\n", run, skipped,
              failures.size());
  CHECK(run > 0);
  CHECK(failures.empty());
}
