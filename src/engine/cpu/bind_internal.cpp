// CPU kernel table of the internal ops gradient rules use.
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/internal_kernels.h"

namespace symnet {

void bind_internal_kernels(Backend& b) {
  b.add_kernel("sum_to", KernelImpl{sum_to_kernel});
  b.add_kernel("broadcast_like", KernelImpl{broadcast_like_kernel});
  KernelImpl rl{copy_like_kernel};
  rl.inplace = {{0, 0}};
  b.add_kernel("reshape_like", rl);
  b.add_kernel("fill_like",
               with_params<FillParams>(fill_like_kernel, [](const Node& n) { return FillParams{n.attrs.get_float("value")}; }));
}

}  // namespace symnet
