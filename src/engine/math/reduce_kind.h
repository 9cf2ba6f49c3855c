// The reductions, named once for the op schemas (their gradients) and every backend's kernels.
#pragma once

namespace symnet {

enum class ReduceKind { sum, mean, prod, max, min, l1, l2, logsumexp, variance };

}  // namespace symnet
