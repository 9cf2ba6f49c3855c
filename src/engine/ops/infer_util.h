// Shared pieces of shape/dtype inference.
#pragma once
#include <string>
#include <vector>

#include "engine/base/error.h"
#include "engine/ops/registry.h"

namespace symnet {

inline void require_float(const InferContext& c, size_t i) {
  SN_CHECK(is_float(c.in(i).dtype), ErrorKind::dtype,
           "input " << i + 1 << " must be a floating-point tensor, not " << dtype_name(c.in(i).dtype));
}
inline void require_same_dtype(const InferContext& c, size_t i, size_t j) {
  SN_CHECK(c.in(i).dtype == c.in(j).dtype, ErrorKind::dtype,
           "inputs " << i + 1 << " and " << j + 1 << " must have the same dtype ("
                     << dtype_name(c.in(i).dtype) << " vs " << dtype_name(c.in(j).dtype) << ")");
}
inline void require_rank(const InferContext& c, size_t i, int64_t lo, int64_t hi = -1) {
  int64_t r = static_cast<int64_t>(c.in(i).shape.size());
  SN_CHECK(r >= lo && (hi < 0 || r <= hi), ErrorKind::shape,
           "input " << i + 1 << " must have rank " << lo << (hi == lo ? "" : hi < 0 ? " or more" : " to " + std::to_string(hi))
                    << ", got shape " << shape_str(c.in(i).shape));
}
inline bool require_integer_index(const InferContext& c, size_t i) {
  SN_CHECK(c.in(i).dtype == DType::i32 || c.in(i).dtype == DType::i64, ErrorKind::dtype,
           "input " << i + 1 << " (indices) must be int32 or int64, not " << dtype_name(c.in(i).dtype));
  return true;
}
// Output = input i's type.
inline std::vector<TensorType> same_as_input(const InferContext& c, size_t i = 0) { return {c.in(i)}; }

// Both shapes known and equal, or compatible where unknown.
inline bool shapes_compatible(const Shape& a, const Shape& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] >= 0 && b[i] >= 0 && a[i] != b[i]) return false;
  return true;
}

}  // namespace symnet
