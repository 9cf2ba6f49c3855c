// share_recorded_loops: the forward scan and the scan its gradient re-runs become one loop,
// with the same numbers as running both.
#include "engine/passes/passes.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

namespace {

// A tanh RNN over xs [T, 3] with state [3] and a weight w [3, 3]; per-step outputs h * 2.
std::vector<Value> rnn(const Value& h0, const Value& xs, const Value& w, int64_t reverse) {
  Value h = op::input("h", DType::f64, {3}), x = op::input("x", DType::f64, {3}), wi = op::input("w", DType::f64, {3, 3});
  Value hn = op::tanh(op::add(op::matmul(op::unsqueeze(h, {0}), wi), op::unsqueeze(x, {0})));
  hn = op::reshape(hn, {3});
  GraphPtr body = body_of({h, x, wi}, {hn, op::mul(hn, op::scalar_like(2.0, hn))});
  AttrMap a{{"body", body}, {"n_states", int64_t{1}}, {"n_sequences", int64_t{1}}, {"reverse", reverse}};
  return make_node("scan", {h0, xs, w}, a, "rnn");
}

}  // namespace

TEST_CASE("a scan and the scan its gradient re-runs run as one loop", "[control_flow][passes]") {
  for (int64_t reverse : {0, 1}) {
    Value h0 = op::input("h0", DType::f64, {3}), xs = op::input("xs", DType::f64, {5, 3});
    Value w = op::input("w", DType::f64, {3, 3});
    std::vector<Value> out = rnn(h0, xs, w, reverse);
    Value loss = op::add(op::reduce_sum(op::mul(out[0], out[0])), op::reduce_sum(out[1]));
    std::vector<Value> g = gradients(loss, {w, xs, h0});
    Graph graph = graph_of({h0, xs, w}, {out[0], out[1], g[0], g[1], g[2]});
    CHECK(count_op(graph, "scan") == 3);  // forward, recording forward, backward
    Graph shared = share_recorded_loops(eliminate_common_subexpressions(graph));
    CHECK(count_op(eliminate_dead_code(shared), "scan") == 2);
    std::vector<Tensor> feeds = {random_tensor(DType::f64, {3}, 1), random_tensor(DType::f64, {5, 3}, 2),
                                 random_tensor(DType::f64, {3, 3}, 3)};
    std::vector<Tensor> plain = run_graph(graph, feeds, false);
    std::vector<Tensor> opt = run_graph(graph, feeds, true);
    REQUIRE(plain.size() == opt.size());
    for (size_t i = 0; i < plain.size(); ++i) check_close(opt[i], plain[i], 1e-12);
  }
}

TEST_CASE("scans that differ are not shared", "[control_flow][passes]") {
  Value h0 = op::input("h0", DType::f64, {3}), xs = op::input("xs", DType::f64, {5, 3});
  Value w = op::input("w", DType::f64, {3, 3});
  std::vector<Value> fwd = rnn(h0, xs, w, 0);
  std::vector<Value> back = rnn(h0, xs, w, 1);  // the other direction computes something else
  Value loss = op::add(op::reduce_sum(fwd[0]), op::reduce_sum(back[0]));
  std::vector<Value> g = gradients(loss, {w});
  Graph graph = graph_of({h0, xs, w}, {loss, g[0]});
  Graph shared = eliminate_dead_code(share_recorded_loops(eliminate_common_subexpressions(graph)));
  CHECK(count_op(shared, "scan") == 4);  // two forward loops, each with its gradient's
}
