// Collective ops across ranks (threads with their own communicators, thread_group_comm.h):
// values, gradients across ranks, and a graph built for another group size refused.
#include <cmath>

#include "engine/passes/passes.h"
#include "harness.h"
#include "thread_group_comm.h"

using namespace symnet;
using namespace symnet::test;

namespace {

// Rank r's input: x[i] = r * 10 + i (+ 0.5 for floats), so every rank's values differ.
Tensor rank_tensor(DType t, int rank, int64_t n) {
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(rank * 10.0 + static_cast<double>(i) + (is_float(t) ? 0.5 : 0.0));
  return make_tensor(t, {n}, v);
}

Tensor run_one(const std::string& op, AttrMap attrs, const Tensor& x) {
  Value in = op::input("x", x.dtype(), x.shape());
  Graph g = Graph::from_outputs({op::apply(op, {in}, std::move(attrs))});
  return run_graph(g, {x})[0];
}

}  // namespace

TEST_CASE("allreduce sums, averages and takes extrema over ranks", "[collective]") {
  const int n = 3;
  for (const char* red : {"sum", "mean", "max", "min"}) {
    for (DType t : {DType::f32, DType::f64, DType::i64}) {
      if (std::string(red) == "mean" && !is_float(t)) continue;
      std::vector<Tensor> got(n);
      run_ranks(n, [&](int r) { got[r] = run_one("allreduce", {{"reduction", std::string(red)}}, rank_tensor(t, r, 4)); });
      for (int r = 0; r < n; ++r) {
        for (int64_t i = 0; i < 4; ++i) {
          const double base = static_cast<double>(i) + (is_float(t) ? 0.5 : 0.0);
          const double want = std::string(red) == "sum"    ? 3 * base + 30
                              : std::string(red) == "mean" ? base + 10
                              : std::string(red) == "max"  ? base + 20
                                                           : base;
          INFO(red << " " << dtype_name(t) << " rank " << r << " element " << i);
          CHECK(got[r].get_as_double(i) == Approx(want));
        }
      }
    }
  }
}

TEST_CASE("allreduce of bool is a logical or; of uint8 a sum", "[collective]") {
  std::vector<Tensor> b(2), u(2);
  run_ranks(2, [&](int r) {
    b[r] = run_one("allreduce", {}, make_tensor(DType::boolean, {3}, {r == 0 ? 1.0 : 0.0, 0, r == 1 ? 1.0 : 0.0}));
    u[r] = run_one("allreduce", {}, make_tensor(DType::u8, {2}, {1, 2.0 + r}));
  });
  for (int r = 0; r < 2; ++r) {
    CHECK(b[r].get_as_double(0) == 1);
    CHECK(b[r].get_as_double(1) == 0);
    CHECK(b[r].get_as_double(2) == 1);
    CHECK(u[r].get_as_double(0) == 2);
    CHECK(u[r].get_as_double(1) == 5);
  }
}

TEST_CASE("broadcast, allgather, reduce_scatter and comm_rank across three ranks", "[collective]") {
  const int n = 3;
  std::vector<Tensor> bc(n), ag(n), rs(n), rk(n);
  run_ranks(n, [&](int r) {
    bc[r] = run_one("broadcast", {{"root", int64_t(1)}}, rank_tensor(DType::f32, r, 2));
    Tensor x2 = make_tensor(DType::f64, {1, 2}, {r * 1.0, r * 2.0});
    ag[r] = run_one("allgather", {{"world_size", int64_t(n)}}, x2);
    rs[r] = run_one("reduce_scatter", {{"world_size", int64_t(n)}, {"reduction", std::string("mean")}},
                    rank_tensor(DType::f64, r, 6));
    Graph g = Graph::from_outputs({op::apply("comm_rank", {})});
    rk[r] = run_graph(g, {})[0];
  });
  for (int r = 0; r < n; ++r) {
    CHECK(bc[r].get_as_double(0) == Approx(10.5));
    CHECK(bc[r].get_as_double(1) == Approx(11.5));
    REQUIRE(ag[r].shape() == Shape{3, 2});
    for (int q = 0; q < n; ++q) {
      CHECK(ag[r].get_as_double(2 * q) == q);
      CHECK(ag[r].get_as_double(2 * q + 1) == 2 * q);
    }
    // mean over ranks of (10 r + i + 0.5) is 10 + i + 0.5; rank r keeps elements 2r, 2r+1
    REQUIRE(rs[r].shape() == Shape{2});
    CHECK(rs[r].get_as_double(0) == Approx(10.5 + 2 * r));
    CHECK(rs[r].get_as_double(1) == Approx(11.5 + 2 * r));
    CHECK(rk[r].get_as_double(0) == r);
  }
}

TEST_CASE("gradients flow across ranks through every collective", "[collective]") {
  // Rank r: loss_r = sum(w_r * op(x_r)); the total loss is the sum over ranks, so the
  // gradient of rank r's x gathers every rank's w as each op's adjoint says.
  const int n = 2;
  struct Got { Tensor mean, bcast, gather, scatter; };
  std::vector<Got> got(n);
  auto w_of = [](int r, int64_t len) {
    std::vector<double> v;
    for (int64_t i = 0; i < len; ++i) v.push_back(1.0 + r * 100.0 + static_cast<double>(i));
    return v;
  };
  run_ranks(n, [&](int r) {
    auto grad_of = [&](const std::string& op, AttrMap attrs, int64_t len_in, int64_t len_out) {
      Value x = op::input("x", DType::f64, {len_in});
      Value w = op::constant(make_tensor(DType::f64, {len_out}, w_of(r, len_out)));
      Value loss = op::reduce_sum(op::mul(w, op::apply(op, {x}, std::move(attrs))));
      Graph g = Graph::from_outputs({gradients(loss, {x})[0]});
      g.inputs = {x};
      return run_graph(g, {rank_tensor(DType::f64, r, len_in)})[0];
    };
    got[r].mean = grad_of("allreduce", {{"reduction", std::string("mean")}}, 3, 3);
    got[r].bcast = grad_of("broadcast", {{"root", int64_t(0)}}, 3, 3);
    got[r].gather = grad_of("allgather", {{"world_size", int64_t(n)}}, 2, 4);
    got[r].scatter = grad_of("reduce_scatter", {{"world_size", int64_t(n)}}, 4, 2);
  });
  for (int r = 0; r < n; ++r) {
    for (int64_t i = 0; i < 3; ++i) {
      // d/dx_r sum_q w_q . mean(x) = mean_q w_q
      CHECK(got[r].mean.get_as_double(i) == Approx((w_of(0, 3)[i] + w_of(1, 3)[i]) / 2));
      // only the root's x reaches the outputs
      CHECK(got[r].bcast.get_as_double(i) == Approx(r == 0 ? w_of(0, 3)[i] + w_of(1, 3)[i] : 0.0));
    }
    for (int64_t i = 0; i < 2; ++i) {
      // x_r is block r of every rank's gathered output
      CHECK(got[r].gather.get_as_double(i) == Approx(w_of(0, 4)[2 * r + i] + w_of(1, 4)[2 * r + i]));
    }
    for (int64_t i = 0; i < 4; ++i) {
      // element i of x_r is summed into rank i / 2's output, weighted by that rank's w
      const int owner = static_cast<int>(i / 2);
      CHECK(got[r].scatter.get_as_double(i) == Approx(w_of(owner, 2)[i % 2]));
    }
  }
}

TEST_CASE("a graph built for another number of ranks is refused on every rank", "[collective]") {
  std::vector<ErrorKind> kinds(2, ErrorKind::internal);
  run_ranks(2, [&](int r) {
    kinds[r] = kind_of([&] { run_one("allgather", {{"world_size", int64_t(3)}}, rank_tensor(DType::f32, r, 2)); });
  });
  CHECK(kinds[0] == ErrorKind::comm);
  CHECK(kinds[1] == ErrorKind::comm);
}

TEST_CASE("collective ops are not folded, merged or fused away", "[collective]") {
  // Two identical allreduces of a constant must both run on every rank (the others wait
  // for each): folding or CSE would leave ranks with different numbers of collectives.
  Value c = op::constant(make_tensor(DType::f32, {2}, {1, 2}));
  Value a = op::apply("allreduce", {c});
  Value b = op::apply("allreduce", {c});
  Graph g = Graph::from_outputs({op::add(a, b)});
  std::vector<Tensor> out(2);
  run_ranks(2, [&](int r) { out[r] = run_graph(g, {}, true)[0]; });
  for (int r = 0; r < 2; ++r) {
    CHECK(out[r].get_as_double(0) == Approx(4));
    CHECK(out[r].get_as_double(1) == Approx(8));
  }
  CHECK(count_op(g, "allreduce") == 2);
}
