// CPU kernel table of the reduction family: axes are normalized once, at compile time.
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/reduce.h"

namespace symnet {

namespace {

struct ReduceParams {
  ReduceKind kind;
  std::vector<int64_t> axes;  // normalized, sorted
  double correction = 0;
};

struct AxisParams {
  int64_t axis = 0;
  bool flag1 = false, flag2 = false;  // argmax/argmin: select_last_index; cumsum: exclusive, reverse
};

std::vector<int64_t> reduced_axes(const Node& n) {
  const int64_t rank = n.inputs.at(0).rank();
  std::vector<int64_t> axes = normalize_axes(n.attrs.get_ints("axes", {}), rank);
  if (rank == 0) axes.clear();  // a scalar accepts axis 0 and reduces nothing
  return axes;
}

void reduce_kernel(KernelContext& k) {
  const ReduceParams& p = k.param<ReduceParams>();
  reduce_cpu(p.kind, k.in[0], k.out[0], p.axes, p.correction);
}

template <bool IsMax>
void argreduce_kernel(KernelContext& k) {
  const AxisParams& p = k.param<AxisParams>();
  argreduce_cpu(IsMax, k.in[0], k.out[0], p.axis, p.flag1);
}

void cumsum_kernel(KernelContext& k) {
  const AxisParams& p = k.param<AxisParams>();
  cumsum_cpu(k.in[0], k.out[0], p.axis, p.flag1, p.flag2);
}

AxisParams read_axis(const Node& n, const char* flag1, const char* flag2) {
  AxisParams p;
  p.axis = normalize_axis(n.attrs.get_int("axis", 0), n.inputs.at(0).rank());
  p.flag1 = n.attrs.get_int(flag1, 0) == 1;
  p.flag2 = flag2 && n.attrs.get_int(flag2, 0) == 1;
  return p;
}

}  // namespace

void bind_reduce_kernels(Backend& b) {
  const std::pair<const char*, ReduceKind> reductions[] = {
      {"reduce_sum", ReduceKind::sum},   {"reduce_mean", ReduceKind::mean},
      {"reduce_prod", ReduceKind::prod}, {"reduce_max", ReduceKind::max},
      {"reduce_min", ReduceKind::min},   {"reduce_l1", ReduceKind::l1},
      {"reduce_l2", ReduceKind::l2},     {"reduce_logsumexp", ReduceKind::logsumexp},
      {"reduce_variance", ReduceKind::variance},
  };
  for (const auto& [name, kind] : reductions) {
    ReduceKind kd = kind;
    b.add_kernel(name, with_params<ReduceParams>(reduce_kernel, [kd](const Node& n) {
                   return ReduceParams{kd, reduced_axes(n), n.attrs.get_float("correction", 0)};
                 }));
  }
  b.add_kernel("argmax", with_params<AxisParams>(argreduce_kernel<true>, [](const Node& n) {
                 return read_axis(n, "select_last_index", nullptr);
               }));
  b.add_kernel("argmin", with_params<AxisParams>(argreduce_kernel<false>, [](const Node& n) {
                 return read_axis(n, "select_last_index", nullptr);
               }));
  KernelImpl cs = with_params<AxisParams>(cumsum_kernel, [](const Node& n) { return read_axis(n, "exclusive", "reverse"); });
  cs.inplace = {{0, 0}};
  b.add_kernel("cumsum", cs);
}

}  // namespace symnet
