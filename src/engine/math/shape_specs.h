// Resolved slice and pad specifications, shared by the shape ops' inference
// (ops/shape_attrs.h computes them from attributes) and every backend's kernels.
#pragma once
#include <cstdint>
#include <vector>

namespace symnet {

// Per input dimension: first element, step and output length of a slice (ONNX Slice
// clamping). len is -1 when the dimension is unknown.
struct SliceSpec {
  std::vector<int64_t> start, step, len;
};

// Pads as [begin...] and [end...]; mode 0 constant, 1 reflect, 2 edge.
struct PadSpec {
  std::vector<int64_t> begin, end;
  int mode = 0;
};

}  // namespace symnet
