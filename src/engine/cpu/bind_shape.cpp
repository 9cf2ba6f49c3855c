// CPU kernel table of the shape family: attributes resolved once against the node's shapes.
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/shape_kernels.h"
#include "engine/ops/shape_attrs.h"

namespace symnet {

namespace {

int64_t rank_of(const Shape& s) { return static_cast<int64_t>(s.size()); }

KernelImpl shape_impl(KernelFn fn, std::function<ShapeParams(const Node&)> read) {
  return with_params<ShapeParams>(fn, std::move(read));
}

ShapeParams axis_of(const Node& n, const Shape& ref) {
  ShapeParams p;
  p.axis = normalize_axis(n.attrs.get_int("axis", 0), rank_of(ref));
  return p;
}

ShapeParams slice_of(const Node& n, const Shape& full) {
  ShapeParams p;
  p.slice = resolve_slice(full, n.attrs);
  return p;
}

ShapeParams pad_of(const Node& n, const Shape& unpadded) {
  ShapeParams p;
  p.pad = resolve_pad(rank_of(unpadded), n.attrs);
  p.value = n.attrs.get_float("value", 0.0);
  return p;
}

}  // namespace

void bind_shape_kernels(Backend& b) {
  for (const char* name : {"reshape", "flatten", "squeeze", "unsqueeze"}) {
    KernelImpl k{reshape_kernel};
    k.inplace = {{0, 0}};
    b.add_kernel(name, k);
  }
  b.add_kernel("transpose", shape_impl(transpose_kernel, [](const Node& n) {
                 ShapeParams p;
                 p.perm = resolve_perm(n.attrs, n.inputs.at(0).rank());
                 return p;
               }));
  b.add_kernel("expand", KernelImpl{expand_kernel});
  b.add_kernel("slice", shape_impl(slice_kernel, [](const Node& n) { return slice_of(n, n.inputs.at(0).shape()); }));
  b.add_kernel("slice_grad", shape_impl(slice_grad_kernel, [](const Node& n) { return slice_of(n, n.outputs.at(0).shape); }));
  b.add_kernel("concat", shape_impl(concat_kernel, [](const Node& n) { return axis_of(n, n.outputs.at(0).shape); }));
  b.add_kernel("split", shape_impl(split_kernel, [](const Node& n) { return axis_of(n, n.inputs.at(0).shape()); }));
  b.add_kernel("split_like", shape_impl(split_kernel, [](const Node& n) { return axis_of(n, n.inputs.at(0).shape()); }));
  b.add_kernel("stack", shape_impl(stack_kernel, [](const Node& n) { return axis_of(n, n.outputs.at(0).shape); }));
  auto repeats = [](const Node& n) {
    ShapeParams p;
    p.repeats = n.attrs.get_ints("repeats");
    return p;
  };
  b.add_kernel("tile", shape_impl(tile_kernel, repeats));
  b.add_kernel("tile_grad", shape_impl(tile_grad_kernel, repeats));
  b.add_kernel("pad", shape_impl(pad_kernel, [](const Node& n) { return pad_of(n, n.inputs.at(0).shape()); }));
  b.add_kernel("pad_grad", shape_impl(pad_grad_kernel, [](const Node& n) { return pad_of(n, n.outputs.at(0).shape); }));
}

}  // namespace symnet
