// Pooling geometry from the op's attributes: shared by shape inference (ops/pool.cpp) and
// the backends' prepare() of their pooling kernels.
#pragma once
#include "engine/ir/attr.h"
#include "engine/math/pool_geometry.h"

namespace symnet {

// Validates the attributes (kernel_shape, strides, pads, dilations, ceil_mode, auto_pad,
// count_include_pad) against input shape x and computes the output geometry. Unknown
// input dims give unknown output dims. Throws attr/shape errors naming the attribute.
PoolGeometry pool_geometry(const AttrMap& a, const Shape& x, bool is_max);

}  // namespace symnet
