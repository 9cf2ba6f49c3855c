// Inputs declared without a shape ("input" without a "shape" attribute): any rank, known
// when fed. Their values carry TensorType::unknown_rank until specialisation.
#include "engine/ir/json.h"
#include "engine/passes/passes.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

namespace {

Value any_input(const std::string& name, DType dt = DType::f32) {
  return make_node("input", {}, {{"name", name}, {"dtype", std::string(dtype_name(dt))}}, name).at(0);
}

Tensor vec(std::vector<double> v) {
  Shape s{static_cast<int64_t>(v.size())};
  return make_tensor(DType::f32, s, std::move(v));
}

}  // namespace

TEST_CASE("an input without a shape has unknown rank and prints as [...]", "[unknown_rank]") {
  Value x = any_input("x");
  REQUIRE_FALSE(x.rank_known());
  REQUIRE(type_str(x.type()) == "float32[...]");
  // its shape is not a scalar's: reading it is an error, not an empty vector
  REQUIRE_THROWS_AS(x.shape(), Error);
  REQUIRE_THROWS_AS(x.rank(), Error);
  // a scalar is spelled with an empty shape and stays a scalar
  Value s = op::input("s", DType::f32, {});
  REQUIRE(s.rank_known());
  REQUIRE(s.rank() == 0);
  REQUIRE(x.type() != s.type());
  REQUIRE_FALSE(same_known_shape(x.type(), x.type()));
}

TEST_CASE("unknown rank propagates; rank-independent results are known", "[unknown_rank]") {
  Value x = any_input("x");
  Value y = op::add(op::mul(x, op::scalar(2.0, DType::f32)), op::scalar(1.0, DType::f32));
  REQUIRE_FALSE(y.rank_known());
  REQUIRE(y.dtype() == DType::f32);
  // every rank fits a full reduction and gives a scalar
  Value total = make_node("reduce_sum", {y}, {{"keepdims", int64_t{0}}}).at(0);
  REQUIRE(total.rank_known());
  REQUIRE(total.rank() == 0);
  // a reduction over one axis depends on the rank
  Value rows = make_node("reduce_sum", {y}, {{"axes", std::vector<int64_t>{-1}}, {"keepdims", int64_t{0}}}).at(0);
  REQUIRE_FALSE(rows.rank_known());
  // dtype rules still apply before the graph is fed
  Value i = any_input("i", DType::i32);
  REQUIRE_THROWS_AS(make_node("sqrt", {i}), Error);
  // an axis no rank can have is out of range at every rank: an error now
  REQUIRE_THROWS_AS(make_node("softmax", {x}, {{"axis", int64_t{40}}}), Error);
}

TEST_CASE("one graph on an unknown-rank input runs at several ranks", "[unknown_rank]") {
  Value x = any_input("x");
  Value y = op::mul(x, x);
  Value last = make_node("reduce_sum", {y}, {{"axes", std::vector<int64_t>{-1}}, {"keepdims", int64_t{0}}}).at(0);
  Graph g = graph_of({x}, {last});
  for (bool optimize : {false, true}) {
    // rank 1: sum of squares is a scalar
    std::vector<Tensor> r1 = run_graph(g, {vec({1, 2, 3})}, optimize);
    REQUIRE(r1[0].shape().empty());
    REQUIRE(r1[0].get_as_double(0) == 14);
    // rank 2: one sum per row
    std::vector<Tensor> r2 = run_graph(g, {make_tensor(DType::f32, {2, 2}, {1, 2, 3, 4})}, optimize);
    REQUIRE(r2[0].shape() == Shape{2});
    REQUIRE(r2[0].get_as_double(0) == 5);
    REQUIRE(r2[0].get_as_double(1) == 25);
    // rank 0: the axis -1 does not exist
    REQUIRE_THROWS_AS(run_graph(g, {make_tensor(DType::f32, {}, {3})}, optimize), Error);
  }
  // axes 0 and -2 are one axis at rank 2: an error when fed, not a single reduction
  Value both = make_node("reduce_sum", {x}, {{"axes", std::vector<int64_t>{0, -2}}, {"keepdims", int64_t{0}}}).at(0);
  REQUIRE_THROWS_AS(run_graph(graph_of({x}, {both}), {make_tensor(DType::f32, {2, 2}, {1, 2, 3, 4})}), Error);
  std::vector<Tensor> r3 = run_graph(graph_of({x}, {both}), {make_tensor(DType::f32, {1, 2, 2}, {1, 2, 3, 4})});
  REQUIRE(r3[0].shape() == Shape{2});
}

TEST_CASE("every op built on an unknown-rank input specialises to its known-shape result",
          "[unknown_rank][ops]") {
  for (const OpCase& c : all_cases()) {
    const OpSchema& def = registry().get(c.op);
    // fused_per_sample is made by a pass after specialisation; its body fixes its input types
    if (def.has(kRandom) || c.inputs.empty() || c.op == "fused_per_sample") continue;
    for (size_t k = 0; k < c.inputs.size(); ++k) {
      DYNAMIC_SECTION(case_name(c) << " input " << k + 1 << " of unknown rank") {
        std::vector<Value> ins;
        for (size_t i = 0; i < c.inputs.size(); ++i) {
          const std::string nm = "x" + std::to_string(i);
          ins.push_back(i == k ? any_input(nm, c.inputs[i].dtype())
                               : op::input(nm, c.inputs[i].dtype(), c.inputs[i].shape()));
        }
        std::vector<Value> outs;
        try {
          outs = make_node(c.op, ins, c.attrs);
        } catch (const Error& e) {
          // the op takes these inputs at their real rank, so some rank must fit
          FAIL("refused: " << e.what());
        }
        std::vector<Tensor> want = run_op(c.op, c.inputs, c.attrs);
        REQUIRE(outs.size() == want.size());
        for (size_t o = 0; o < outs.size(); ++o) {
          REQUIRE(outs[o].dtype() == want[o].dtype());
          // a known rank before feeding must be the rank the feed gives
          if (outs[o].rank_known()) REQUIRE(outs[o].rank() == static_cast<int64_t>(want[o].shape().size()));
        }
        std::vector<Tensor> got = run_graph(graph_of(ins, outs), c.inputs, false);
        REQUIRE(got.size() == want.size());
        for (size_t o = 0; o < got.size(); ++o) check_close(got[o], want[o], c.tol);
      }
    }
  }
}

TEST_CASE("specialisation accepts any rank for an unknown-rank input and checks dtype", "[unknown_rank]") {
  Value x = any_input("x");
  Graph g = graph_of({x}, {op::add(x, op::scalar(1.0, DType::f32))});
  Graph s = specialize(g, {TensorType{DType::f32, {2, 3}}});
  REQUIRE(s.outputs[0].rank_known());
  REQUIRE(s.outputs[0].shape() == Shape{2, 3});
  REQUIRE_THROWS_AS(specialize(g, {TensorType{DType::f64, {2}}}), Error);
  REQUIRE_THROWS_AS(specialize(g, {TensorType{DType::f32, Shape(kMaxRank + 1, 1)}}), Error);
}

TEST_CASE("passes leave unknown-rank values alone until the graph is fed", "[unknown_rank][passes]") {
  Value x = any_input("x");
  // x * ones(3) is not x: with x a scalar it is [3]
  Value ones = op::constant(make_tensor(DType::f32, {3}, {1, 1, 1}));
  Value y = op::mul(x, ones);
  Graph g = graph_of({x}, {y});
  Graph opt = optimize(g);
  REQUIRE(count_op(opt, "mul") == 1);
  std::vector<Tensor> r = run_graph(g, {make_tensor(DType::f32, {}, {2})}, true);
  REQUIRE(r[0].shape() == Shape{3});
  REQUIRE(r[0].get_as_double(2) == 2);
}

TEST_CASE("gradients through unknown ranks are refused with a shape error", "[unknown_rank][autodiff]") {
  Value x = any_input("x");
  Value w = op::input("w", DType::f32, {3});
  Value loss = make_node("reduce_sum", {op::mul(x, w)}, {{"keepdims", int64_t{0}}}).at(0);
  REQUIRE(loss.rank_known());
  try {
    gradients(loss, {w});
    FAIL("expected an error");
  } catch (const Error& e) {
    REQUIRE(e.kind() == ErrorKind::shape);
    REQUIRE(std::string(e.what()).find("'x'") != std::string::npos);
  }
  // values that do not lie between wrt and y do not matter
  Value v = op::input("v", DType::f32, {3});
  Value other = make_node("reduce_sum", {x}, {{"keepdims", int64_t{0}}}).at(0);
  Value l2 = op::add(make_node("reduce_sum", {op::mul(v, v)}, {{"keepdims", int64_t{0}}}).at(0), other);
  std::vector<Value> gv = gradients(l2, {v});
  REQUIRE(gv[0].shape() == Shape{3});
}

TEST_CASE("an unknown-rank input survives the graph JSON round trip", "[unknown_rank][json]") {
  Value x = any_input("x");
  Value s = op::input("s", DType::f32, {});
  Graph g = graph_of({s, x}, {op::mul(x, s)});
  Graph back = graph_from_json(graph_to_json(g));
  REQUIRE(back.inputs.size() == 2);
  int unknown = 0, scalar = 0;
  for (const Value& in : back.inputs) {
    if (!in.rank_known()) ++unknown;
    else if (in.rank() == 0) ++scalar;
  }
  REQUIRE(unknown == 1);
  REQUIRE(scalar == 1);
  REQUIRE_FALSE(back.outputs[0].rank_known());
}
