#include "engine/kernels/cpu/collective.h"

#include <cstring>

#include "engine/base/error.h"
#include "engine/dist/communicator.h"

namespace symnet {

namespace {

// bool and uint8 travel as bytes: a logical "sum" is an or (max), so it cannot overflow.
CommReduce comm_op(CollectiveReduction r, DType t) {
  switch (r) {
    case CollectiveReduction::max: return CommReduce::max;
    case CollectiveReduction::min: return CommReduce::min;
    default: return t == DType::boolean ? CommReduce::max : CommReduce::sum;
  }
}

void copy_if_distinct(const TensorView& from, const TensorView& to) {
  if (from.data != to.data && from.bytes() > 0) std::memcpy(to.data, from.data, from.bytes());
}

void divide_by(const TensorView& y, int n) {
  if (y.dtype == DType::f32) {
    float* p = y.ptr<float>();
    const float s = 1.0f / static_cast<float>(n);
    for (int64_t i = 0; i < y.numel(); ++i) p[i] *= s;
  } else if (y.dtype == DType::f64) {
    double* p = y.ptr<double>();
    for (int64_t i = 0; i < y.numel(); ++i) p[i] /= n;
  }
}

// A graph built for N processes gathers N blocks: running it in another group would
// silently give outputs of the wrong size.
void check_world(const Communicator& comm, int64_t world_size, const char* op) {
  SN_CHECK(comm.size() == world_size, ErrorKind::comm,
           op << " was built for world_size = " << world_size << " processes but runs in a group of " << comm.size()
              << " (" << comm.description() << ")");
}

}  // namespace

void allreduce_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &y = k.out[0];
  const CollectiveParams& p = k.param<CollectiveParams>();
  Communicator& comm = current_communicator();
  copy_if_distinct(x, y);
  if (comm.size() == 1) return;
  comm.allreduce(y.data, y.numel(), y.dtype, comm_op(p.reduction, y.dtype));
  if (p.reduction == CollectiveReduction::mean) divide_by(y, comm.size());
}

void broadcast_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &y = k.out[0];
  Communicator& comm = current_communicator();
  copy_if_distinct(x, y);
  comm.broadcast(y.data, static_cast<int64_t>(y.bytes()), k.param<CollectiveParams>().root);
}

void allgather_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &y = k.out[0];
  Communicator& comm = current_communicator();
  check_world(comm, k.param<CollectiveParams>().world_size, "allgather");
  comm.allgather(x.data, y.data, static_cast<int64_t>(x.bytes()));
}

void reduce_scatter_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &y = k.out[0];
  const CollectiveParams& p = k.param<CollectiveParams>();
  Communicator& comm = current_communicator();
  check_world(comm, p.world_size, "reduce_scatter");
  // The whole sum, then this rank's block: the reduce-scatter of a ring allreduce would move
  // half the bytes, which matters only for large tensors across machines.
  void* all = k.workspace;
  std::memcpy(all, x.data, x.bytes());
  comm.allreduce(all, x.numel(), x.dtype, comm_op(p.reduction, x.dtype));
  const size_t block = y.bytes();
  std::memcpy(y.data, static_cast<const char*>(all) + block * static_cast<size_t>(comm.rank()), block);
  if (p.reduction == CollectiveReduction::mean) divide_by(y, comm.size());
}

void comm_rank_kernel(KernelContext& k) { *k.out[0].ptr<int32_t>() = current_communicator().rank(); }

}  // namespace symnet
