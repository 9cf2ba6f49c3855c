// Convolution geometry from the op's attributes and the frame's concrete shapes: shared by
// the backends' prepare() of their convolution kernels (defined in ops/conv.cpp, beside
// the attribute parsing of shape inference).
#pragma once
#include "engine/ir/attr.h"
#include "engine/math/conv_geometry.h"

namespace symnet {

// big = conv input side, small = conv output side, w = weights (full NC... shapes, known).
ConvGeom conv_geometry(const AttrMap& attrs, bool transposed, const Shape& big, const Shape& small, const Shape& w);
// Whether a frame product (conv_forward_like, conv_grad_input, conv_grad_weight) belongs
// to a conv_transpose.
bool conv_frame_transposed(const AttrMap& a);

}  // namespace symnet
