// Collective ops in a single process (the default communicator): allreduce and broadcast
// are the identity, allgather and reduce_scatter with world_size 1 too, comm_rank is 0.
// The multi-rank behaviour is tested with ranks as threads in test_collective.cpp and
// across MPI processes from R (tests/testthat/test-distributed.R).
#include "harness.h"

namespace symnet::test {

namespace {

OpCase identity_case(const std::string& op, AttrMap attrs, Tensor x, std::string label) {
  OpCase c;
  c.op = op;
  c.attrs = std::move(attrs);
  c.inputs = {std::move(x)};
  c.label = std::move(label);
  c.reference = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{in[0]}; };
  c.grad = is_float(c.inputs[0].dtype());
  return c;
}

}  // namespace

void add_collective_cases(std::vector<OpCase>& cases) {
  const Tensor x = random_tensor(DType::f32, {3, 4}, 71);
  const Tensor x64 = random_tensor(DType::f64, {2, 3}, 72);
  using S = std::string;
  cases.push_back(identity_case("allreduce", {}, x, "sum"));
  cases.push_back(identity_case("allreduce", {{"reduction", S("mean")}}, x64, "mean float64"));
  cases.push_back(identity_case("allreduce", {{"reduction", S("max")}}, x, "max"));
  cases.push_back(identity_case("allreduce", {{"reduction", S("min")}}, x64, "min"));
  cases.push_back(identity_case("allreduce", {}, make_tensor(DType::i32, {3}, {1, -2, 3}), "int32"));
  cases.push_back(identity_case("allreduce", {}, make_tensor(DType::boolean, {2}, {1, 0}), "bool"));
  cases.push_back(identity_case("broadcast", {{"root", int64_t(0)}}, x, "root 0"));
  cases.push_back(identity_case("allgather", {{"world_size", int64_t(1)}}, x64, "one rank"));
  cases.push_back(identity_case("reduce_scatter", {{"world_size", int64_t(1)}}, x, "sum, one rank"));
  cases.push_back(identity_case("reduce_scatter", {{"world_size", int64_t(1)}, {"reduction", S("mean")}}, x64,
                                "mean, one rank"));
  OpCase rank;
  rank.op = "comm_rank";
  rank.label = "single process";
  rank.reference = [](const std::vector<Tensor>&) { return std::vector<Tensor>{make_tensor(DType::i32, {}, {0})}; };
  rank.grad = false;
  cases.push_back(rank);
}

}  // namespace symnet::test
