// Tensor shapes. A dimension of -1 is unknown until compile time.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace symnet {

using Shape = std::vector<int64_t>;
constexpr int64_t kUnknownDim = -1;
// The largest rank a tensor may have. Inputs of unknown rank are probed at every rank up to
// it, and shapes from users or files beyond it are rejected (NumPy allows 32 as well;
// kernels iterate over axes, and no model needs more).
constexpr int64_t kMaxRank = 32;

std::string shape_str(const Shape& s);
bool shape_known(const Shape& s);
// Product of dims; -1 when any dimension is unknown.
int64_t shape_numel(const Shape& s);
// Bytes of a tensor of this shape with elements of elem_size bytes; a shape error when the
// count does not fit an int64 (a wrapped count would size a buffer too small).
int64_t shape_bytes(const Shape& s, size_t elem_size);
// Row-major strides in elements.
std::vector<int64_t> shape_strides(const Shape& s);

// NumPy broadcasting of two shapes; unknown dims broadcast to unknown unless the
// other side fixes them. Throws a shape error naming both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b);
// Normalizes a possibly negative axis to [0, rank); throws an attr error when out of range.
int64_t normalize_axis(int64_t axis, int64_t rank);
// Normalized, sorted axes; empty input means all axes; an axis named twice is an error.
std::vector<int64_t> normalize_axes(const std::vector<int64_t>& axes, int64_t rank);

}  // namespace symnet
