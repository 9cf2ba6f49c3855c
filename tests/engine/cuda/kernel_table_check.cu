// Checks the CUDA kernel table without a GPU: bind_cuda_kernels registers each kernel once,
// under the name of a registered op that the CPU also has, with the CPU's in-place pairs;
// prints the CPU ops that have no CUDA kernel (left to decomposition or CPU placement);
// cuda_kernel_supports takes convolutions with symmetric and asymmetric padding.
// Not part of the CMake suite (tests/engine/CMakeLists.txt globs *.cpp of its own folder
// only); built by hand against the engine library of a CMake build (one command line):
//
//   nvcc -std=c++17 -O1 -I src -gencode arch=compute_90,code=sm_90
//     tests/engine/cuda/kernel_table_check.cu tests/engine/cuda/throw_stubs.cu src/cuda/kernels/*.cu
//     -Lbuild/engine -lsymnet_engine -lprotobuf -lblas -ldl -lcublas -lcudnn -Xcompiler -fopenmp
//     -o kernel_table_check && ./kernel_table_check
//
// Nothing here reaches the driver: it runs on machines without a GPU.
#include <cstdio>
#include <set>
#include <string>

#include "cuda/cuda_context.h"
#include "cuda/kernels/supports.h"
#include "engine/ir/op_schema.h"
#include "engine/ops/builder.h"


namespace {

class TableBackend : public symnet::Backend {
 public:
  TableBackend() : Backend("cuda-table") {}
  const symnet::BufferType& buffer_type() const override { return symnet::host_buffer_type(); }
};

}  // namespace

int main() {
  using namespace symnet;
  TableBackend cuda_table;
  cuda::DeviceContext dev;
  try {
    cuda::bind_cuda_kernels(cuda_table, &dev);
  } catch (const std::exception& e) {
    std::printf("FAIL: bind_cuda_kernels threw: %s\n", e.what());
    return 1;
  }
  const Backend& cpu = backends().get("cpu");
  int failures = 0;
  for (const std::string& op : cuda_table.kernel_ops()) {
    if (registry().find(op) == nullptr) {
      std::printf("FAIL: CUDA kernel for unknown op '%s'\n", op.c_str());
      ++failures;
      continue;
    }
    const KernelImpl* c = cpu.kernel(op);
    if (c == nullptr) {
      std::printf("FAIL: CUDA kernel for '%s', which the CPU lacks\n", op.c_str());
      ++failures;
      continue;
    }
    const KernelImpl* g = cuda_table.kernel(op);
    if (!c->inplace_for && !g->inplace_for && c->inplace != g->inplace) {
      std::printf("FAIL: in-place pairs of '%s' differ from the CPU's\n", op.c_str());
      ++failures;
    }
    if (static_cast<bool>(c->inplace_for) != static_cast<bool>(g->inplace_for) && op != "identity" &&
        op != "stop_gradient") {
      std::printf("note: '%s' decides in-place pairs per node on one backend only\n", op.c_str());
    }
  }
  // Placement: a SAME_UPPER stride-2 conv on an even input pads (0, 1), which cuDNN cannot
  // express; it runs on an explicitly padded copy, so it stays on the GPU like symmetric pads.
  {
    Value x = op::input("x", DType::f32, {2, 3, 8, 8}), w = op::input("w", DType::f32, {4, 3, 3, 3});
    Value same = make_node("conv", {x, w}, {{"strides", std::vector<int64_t>{2, 2}}, {"auto_pad", std::string("SAME_UPPER")}})[0];
    Value sym = make_node("conv", {x, w}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}})[0];
    std::string why;
    if (!cuda::cuda_kernel_supports(*same.node, &why)) {
      std::printf("FAIL: asymmetric conv padding refused: %s\n", why.c_str());
      ++failures;
    }
    if (!cuda::cuda_kernel_supports(*sym.node, &why)) {
      std::printf("FAIL: symmetric conv refused: %s\n", why.c_str());
      ++failures;
    }
  }
  std::printf("%zu CUDA kernels\nCPU ops without a CUDA kernel:", cuda_table.kernel_ops().size());
  for (const std::string& op : cpu.kernel_ops())
    if (!cuda_table.kernel(op)) std::printf(" %s", op.c_str());
  std::printf("\n%s\n", failures ? "FAILED" : "OK");
  return failures ? 1 : 0;
}
