// CPU kernel table of the collective ops: they run on the host communicator's buffers.
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/collective.h"

namespace symnet {

namespace {

CollectiveParams read_collective(const Node& n) {
  CollectiveParams p;
  const std::string r = n.attrs.get_string("reduction", "sum");
  p.reduction = r == "mean" ? CollectiveReduction::mean
              : r == "max"  ? CollectiveReduction::max
              : r == "min"  ? CollectiveReduction::min
                            : CollectiveReduction::sum;
  p.root = static_cast<int>(n.attrs.get_int("root", 0));
  p.world_size = n.attrs.get_int("world_size", 1);
  return p;
}

KernelImpl collective_impl(KernelFn fn) { return with_params<CollectiveParams>(fn, read_collective); }

}  // namespace

void bind_collective_kernels(Backend& b) {
  KernelImpl allreduce = collective_impl(allreduce_kernel);
  allreduce.inplace = {{0, 0}};
  b.add_kernel("allreduce", allreduce);
  KernelImpl broadcast = collective_impl(broadcast_kernel);
  broadcast.inplace = {{0, 0}};
  b.add_kernel("broadcast", broadcast);
  b.add_kernel("allgather", collective_impl(allgather_kernel));
  KernelImpl reduce_scatter = collective_impl(reduce_scatter_kernel);
  reduce_scatter.workspace = [](const Node& n) {
    const TensorType& t = n.inputs.at(0).type();
    return static_cast<size_t>(shape_numel(t.shape)) * dtype_size(t.dtype);
  };
  b.add_kernel("reduce_scatter", reduce_scatter);
  b.add_kernel("comm_rank", KernelImpl(comm_rank_kernel));
}

}  // namespace symnet
