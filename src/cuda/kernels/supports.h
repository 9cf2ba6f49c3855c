// What the CUDA kernels can run beyond having a kernel for the op, for the backend's
// supports(node): nodes this refuses (convolutions too large for cuDNN's int descriptors,
// dtypes the kernels lack) belong on the CPU, where the executor's placement puts them, instead of
// failing when the kernel is prepared at compile time.
#pragma once
#include <string>

#include "engine/ir/node.h"

namespace symnet {
namespace cuda {

// False (with the reason in `why` when given) for a node whose op has a CUDA kernel that
// cannot run it: float16/bfloat16 tensors (the kernels compute in the core dtypes only) and
// convolutions whose samples exceed cuDNN's int sizes. True otherwise, also for ops without a CUDA kernel
// (the backend's kernel table answers that).
bool cuda_kernel_supports(const Node& n, std::string* why = nullptr);

}  // namespace cuda
}  // namespace symnet
