// Synchronized batch norm for data-parallel training (passes.h: sync_batch_norms). Each
// training-mode batch_norm becomes ops whose per-channel sums go through all-reduces, so
// every rank normalizes with the statistics of the whole batch (all ranks' shares), and
// the gradients reach the other ranks' examples through the all-reduces' own gradient
// (again an all-reduce): nothing here knows about ranks, the collective ops do.
#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/passes/passes.h"

namespace symnet {

namespace {

// A [C] vector shaped to broadcast against x [N, C, ...].
Value per_channel(const Value& v, int64_t rank) {
  if (rank <= 2) return v;
  std::vector<int64_t> ax;
  for (int64_t d = 1; d + 1 < rank; ++d) ax.push_back(d);
  return op::unsqueeze(v, ax);
}

std::vector<Value> synced(const Node& n, const std::vector<Value>& ins) {
  const Value &x = ins[0], &scale = ins[1], &bias = ins[2], &run_mean = ins[3], &run_var = ins[4];
  const int64_t rank = x.rank();
  const int64_t channels = rank >= 2 ? x.shape()[1] : -1;
  SN_CHECK(rank >= 2 && channels > 0, ErrorKind::shape,
           "synchronized batch norm needs an input [N, C, ...] with a known C, got " << shape_str(x.shape()));
  const double eps = n.attrs.get_float("epsilon", 1e-5);
  const double mom = n.attrs.get_float("momentum", 0.9);
  auto k = [&](double v) { return op::scalar_like(v, x); };
  std::vector<int64_t> ax{0};
  for (int64_t d = 2; d < rank; ++d) ax.push_back(d);
  auto allreduce = [](const Value& v) { return op::apply("allreduce", {v}, {{"reduction", std::string("sum")}}); };
  // One all-reduce for the sums and the value counts (ranks may hold different batch shares).
  Value local = op::apply("concat", {op::reduce_sum(x, ax), op::reduce_sum(op::ones_like(x), ax)},
                          {{"axis", int64_t(0)}});
  std::vector<Value> parts = make_node("split", {allreduce(local)},
                                       {{"axis", int64_t(0)}, {"sizes", std::vector<int64_t>{channels, channels}}});
  const Value& count = parts[1];
  Value mean = op::div(parts[0], count);
  // Centred before squaring (a second all-reduce): E[x^2] - E[x]^2 loses float32 digits.
  Value centred = op::sub(x, per_channel(mean, rank));
  Value var = op::div(allreduce(op::reduce_sum(op::square(centred), ax)), count);
  Value inv = op::rsqrt(op::add(var, k(eps)));
  Value y = op::add(op::mul(centred, per_channel(op::mul(inv, scale), rank)), per_channel(bias, rank));
  // The node's running statistics (ops/norm.cpp): momentum-weighted, the unbiased variance.
  Value new_mean = op::add(op::mul(run_mean, k(mom)), op::mul(mean, k(1 - mom)));
  Value unbiased = op::mul(var, op::div(count, op::sub(count, k(1))));
  Value new_var = op::add(op::mul(run_var, k(mom)), op::mul(unbiased, k(1 - mom)));
  std::vector<Value> outs{y, mean, var, new_mean, new_var};
  outs.resize(n.outputs.size());
  return outs;
}

}  // namespace

Graph sync_batch_norms(const Graph& g) {
  return rewrite_graph(g, [](const Node& n, const std::vector<Value>& ins) -> std::vector<Value> {
    if (n.op_name() != "batch_norm" || n.attrs.get_int("training", 0) != 1) return {};
    return synced(n, ins);
  });
}

}  // namespace symnet
