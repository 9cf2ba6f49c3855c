// CPU kernel table of the index family: attributes -> IndexParams.
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/index_kernels.h"

namespace symnet {

namespace {

// `axis_rank_input`: which tensor's rank the axis refers to (-1: the output's).
IndexParams read_index(const Node& n, int axis_rank_input, int64_t default_axis) {
  const AttrMap& a = n.attrs;
  IndexParams p;
  const Shape& s = axis_rank_input < 0 ? n.outputs.at(0).shape : n.inputs.at(axis_rank_input).shape();
  p.axis = normalize_axis(a.get_int("axis", default_axis), static_cast<int64_t>(s.size()));
  p.index_base = a.get_int("index_base", 0);
  const std::string red = a.get_string("reduction", "none");
  p.reduction = red == "add" ? 1 : red == "mul" ? 2 : 0;
  p.depth = a.get_int("depth", 0);
  p.on_value = a.get_float("on_value", 1.0);
  p.off_value = a.get_float("off_value", 0.0);
  return p;
}

}  // namespace

void bind_index_kernels(Backend& b) {
  b.add_kernel("gather", with_params<IndexParams>(gather_kernel, [](const Node& n) { return read_index(n, 0, 0); }));
  b.add_kernel("gather_grad",
               with_params<IndexParams>(gather_grad_kernel, [](const Node& n) { return read_index(n, -1, 0); }));
  b.add_kernel("gather_elements",
               with_params<IndexParams>(gather_elements_kernel, [](const Node& n) { return read_index(n, 0, 0); }));
  KernelImpl scatter =
      with_params<IndexParams>(scatter_elements_kernel, [](const Node& n) { return read_index(n, 0, 0); });
  scatter.inplace = {{0, 0}};
  b.add_kernel("scatter_elements", scatter);
  b.add_kernel("one_hot", with_params<IndexParams>(one_hot_kernel, [](const Node& n) { return read_index(n, -1, -1); }));
}

}  // namespace symnet
