// Attribute resolution of the shape ops, shared by shape inference (ops/shape.cpp) and the
// backends' prepare(). Helpers accept unknown dims (-1) and throw attr errors.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/base/shape.h"
#include "engine/ir/attr.h"
#include "engine/math/shape_specs.h"

namespace symnet {

SliceSpec resolve_slice(const Shape& in, const AttrMap& attrs);
// Pads as [begin..., end...] with rank checks; mode is "constant", "reflect" or "edge".
PadSpec resolve_pad(int64_t rank, const AttrMap& attrs);
// Sizes of the parts of split along an axis of length `dim` (-1 unknown -> parts -1).
std::vector<int64_t> resolve_split(int64_t dim, const AttrMap& attrs);
// transpose's permutation (default: reversed axes), validated, negative entries normalized.
std::vector<int64_t> resolve_perm(const AttrMap& attrs, int64_t rank);

}  // namespace symnet
