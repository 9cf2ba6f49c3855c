// CPU reduction kernels: axis reductions, arg-reductions and cumulative sums.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/base/tensor.h"
#include "engine/math/reduce_kind.h"

namespace symnet {

// y = reduction of x over `axes` (normalized, sorted). y holds the kept dims in order
// (with or without size-1 placeholders: only its element count matters).
// `correction` is used by variance only (divisor n - correction).
void reduce_cpu(ReduceKind kind, const TensorView& x, const TensorView& y,
                const std::vector<int64_t>& axes, double correction = 0);

// y (int64) = index of the max (or min) along `axis` (normalized). NaN counts as the
// extreme value (first NaN wins), as in NumPy.
void argreduce_cpu(bool is_max, const TensorView& x, const TensorView& y, int64_t axis,
                   bool select_last);

// Inclusive/exclusive, forward/reverse cumulative sum along `axis`; safe in place.
void cumsum_cpu(const TensorView& x, const TensorView& y, int64_t axis, bool exclusive,
                bool reverse);

// Splits `shape` around `axis` into (outer, n, inner) element counts.
void split_at_axis(const Shape& shape, int64_t axis, int64_t& outer, int64_t& n, int64_t& inner);

}  // namespace symnet
