// sync_batch_norms (passes/sync_batch_norm.cpp): two ranks (threads) holding halves of a
// batch compute what one batch norm computes on the whole batch -- outputs, statistics,
// running statistics, and gradients (those of x per rank; of scale and bias summed over ranks).
#include "engine/passes/passes.h"
#include "harness.h"
#include "thread_group_comm.h"

using namespace symnet;
using namespace symnet::test;

namespace {

struct BnRun {
  std::vector<Tensor> outs;  // y, mean, var, new running mean, new running var, dx, dscale, dbias
};

// Batch norm in training mode on x [n, 3, 2, 2], its 5 outputs and the gradients of
// sum(w * y) with w a fixed pattern over the rows given (first_row onwards).
BnRun run_bn(const Tensor& x, int64_t first_row, bool sync) {
  const Shape s = x.shape();
  Value in = op::input("x", DType::f64, s);
  Value scale = op::constant(make_tensor(DType::f64, {3}, {1.5, 0.5, -1}));
  Value bias = op::constant(make_tensor(DType::f64, {3}, {0.1, 0.2, 0.3}));
  Value rm = op::constant(make_tensor(DType::f64, {3}, {0.5, 0, -0.5}));
  Value rv = op::constant(make_tensor(DType::f64, {3}, {1, 2, 3}));
  std::vector<double> w;
  for (int64_t i = 0; i < x.numel(); ++i) w.push_back(std::sin(0.7 * static_cast<double>(i + first_row * 12)));
  std::vector<Value> bn = make_node("batch_norm", {in, scale, bias, rm, rv},
                                    {{"epsilon", 1e-3}, {"momentum", 0.8}, {"training", int64_t(1)}});
  Graph fwd = Graph::from_outputs(bn);
  if (sync) fwd = sync_batch_norms(fwd);
  Value loss = op::reduce_sum(op::mul(op::constant(make_tensor(DType::f64, s, w)), fwd.outputs[0]));
  std::vector<Value> outs = fwd.outputs;
  for (const Value& g : gradients(loss, {in, scale, bias})) outs.push_back(g);
  Graph g = Graph::from_outputs(outs);
  g.inputs = {in};
  return {run_graph(g, {x})};
}

Tensor rows(const Tensor& x, int64_t from, int64_t n) {
  std::vector<double> v;
  for (int64_t i = from * 12; i < (from + n) * 12; ++i) v.push_back(x.get_as_double(i));
  return make_tensor(DType::f64, {n, 3, 2, 2}, v);
}

}  // namespace

TEST_CASE("synchronized batch norm on two ranks equals batch norm on the whole batch", "[collective][sync_bn]") {
  Tensor whole = random_tensor(DType::f64, {6, 3, 2, 2}, 17, -2, 3);
  BnRun ref = run_bn(whole, 0, false);
  // uneven shares: 4 rows on rank 0, 2 on rank 1
  const int64_t first[2] = {0, 4}, count[2] = {4, 2};
  std::vector<BnRun> got(2);
  run_ranks(2, [&](int r) { got[r] = run_bn(rows(whole, first[r], count[r]), first[r], true); });
  for (int r = 0; r < 2; ++r) {
    INFO("rank " << r);
    check_close(got[r].outs[0], rows(ref.outs[0], first[r], count[r]), 1e-10);  // y
    for (int k = 1; k <= 4; ++k) check_close(got[r].outs[k], ref.outs[k], 1e-10);  // statistics
    check_close(got[r].outs[5], rows(ref.outs[5], first[r], count[r]), 1e-9);  // dx
  }
  for (int k = 6; k <= 7; ++k) {  // dscale, dbias: each rank's share of the sum over the batch
    for (int64_t c = 0; c < 3; ++c) {
      CHECK(got[0].outs[k].get_as_double(c) + got[1].outs[k].get_as_double(c) ==
            Approx(ref.outs[k].get_as_double(c)).epsilon(1e-9));
    }
  }
}

TEST_CASE("synchronized batch norm on one rank is batch norm; inference nodes are left alone", "[sync_bn]") {
  Tensor x = random_tensor(DType::f64, {5, 3, 2, 2}, 3);
  BnRun a = run_bn(x, 0, false), b = run_bn(x, 0, true);
  for (size_t k = 0; k < a.outs.size(); ++k) check_close(b.outs[k], a.outs[k], 1e-10);
  Value in = op::input("x", DType::f32, {4, 2});
  Value c = op::constant(make_tensor(DType::f32, {2}, {1, 1}));
  Graph inf = Graph::from_outputs({op::apply("batch_norm", {in, c, c, c, c})});
  Graph same = sync_batch_norms(inf);
  CHECK(same.outputs[0].node->op_name() == "batch_norm");
}
