// CPU kernel table of the index family: attributes -> IndexParams.
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/index_kernels.h"
#include "engine/kernels/cpu/param_readers.h"

namespace symnet {

namespace {


}  // namespace

void bind_index_kernels(Backend& b) {
  b.add_kernel("gather", with_params<IndexParams>(gather_kernel, [](const Node& n) { return read_index(n, 0, 0); }));
  b.add_kernel("gather_grad",
               with_params<IndexParams>(gather_grad_kernel, [](const Node& n) { return read_index(n, -1, 0); }));
  b.add_kernel("gather_elements",
               with_params<IndexParams>(gather_elements_kernel, [](const Node& n) { return read_index(n, 0, 0); }));
  KernelImpl scatter =
      with_params<IndexParams>(scatter_elements_kernel, [](const Node& n) { return read_index(n, 0, 0); });
  scatter.inplace = {{0, 0}};
  b.add_kernel("scatter_elements", scatter);
  b.add_kernel("one_hot", with_params<IndexParams>(one_hot_kernel, [](const Node& n) { return read_index(n, -1, -1); }));
}

}  // namespace symnet
