// Iteration over NumPy-broadcast operands: each operand gets per-dimension strides
// (0 along broadcast dimensions) and the loop hands out runs of the innermost dimension.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/base/shape.h"

namespace symnet {

struct BroadcastPlan {
  Shape out;                                  // output shape (dims merged where possible)
  std::vector<std::vector<int64_t>> strides;  // per operand, per output dim (elements)
  int64_t inner = 1;                          // length of the innermost dimension
  int64_t rows = 0;                           // numel(out) / inner
};

// Operand shapes must broadcast to `out`. Adjacent dims that every operand treats the
// same way are merged so the inner runs are as long as possible.
BroadcastPlan make_broadcast_plan(const Shape& out, const std::vector<Shape>& ins);

// For each row r in [row_begin, row_end): f(out_offset, in_offsets, inner, in_inner_strides).
template <typename F>
void broadcast_rows(const BroadcastPlan& p, int64_t row_begin, int64_t row_end, F&& f) {
  const size_t nd = p.out.size();
  const size_t nin = p.strides.size();
  std::vector<int64_t> idx(nd, 0), offs(nin, 0), inner_strides(nin, 0);
  for (size_t k = 0; k < nin; ++k) inner_strides[k] = nd ? p.strides[k][nd - 1] : 0;
  // Decompose row_begin into the outer multi-index (all dims but the last).
  int64_t r = row_begin;
  for (int64_t d = static_cast<int64_t>(nd) - 2; d >= 0; --d) {
    idx[d] = r % p.out[d];
    r /= p.out[d];
  }
  for (size_t k = 0; k < nin; ++k) {
    int64_t o = 0;
    for (int64_t d = 0; d + 1 < static_cast<int64_t>(nd); ++d) o += idx[d] * p.strides[k][d];
    offs[k] = o;
  }
  for (int64_t row = row_begin; row < row_end; ++row) {
    f(row * p.inner, offs.data(), p.inner, inner_strides.data());
    // Increment the outer multi-index.
    for (int64_t d = static_cast<int64_t>(nd) - 2; d >= 0; --d) {
      ++idx[d];
      for (size_t k = 0; k < nin; ++k) offs[k] += p.strides[k][d];
      if (idx[d] < p.out[d]) break;
      for (size_t k = 0; k < nin; ++k) offs[k] -= p.strides[k][d] * p.out[d];
      idx[d] = 0;
    }
  }
}

}  // namespace symnet
