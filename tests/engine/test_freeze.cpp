// Frozen variables (transfer learning): a batch norm reading frozen statistics keeps its
// inference behaviour when the graph switches to training mode; others switch.
#include "engine/ops/builder.h"
#include "engine/passes/passes.h"
#include "harness.h"

using namespace symnet;

namespace {

Value batch_norm_of(const Value& x, const VariablePtr& mean, const VariablePtr& var) {
  Tensor ones(DType::f32, {3});
  for (int i = 0; i < 3; ++i) ones.ptr<float>()[i] = 1.0f;
  return op::apply("batch_norm",
                   {x, op::constant(ones), op::constant(Tensor(DType::f32, {3})), op::variable(mean), op::variable(var)},
                   {{"epsilon", 1e-5}, {"momentum", 0.9}, {"training", int64_t{0}}});
}

int64_t training_attr(const Graph& g) {
  for (const NodePtr& n : g.topo_order())
    if (n->op_name() == "batch_norm") return n->attrs.get_int("training");
  return -1;
}

}  // namespace

TEST_CASE("set_training_mode leaves a batch norm with frozen statistics in inference mode", "[passes][freeze]") {
  Value x = op::input("x", DType::f32, {4, 3});
  VariablePtr mean = Variable::create("mean", Tensor(DType::f32, {3}));
  VariablePtr var = Variable::create("var", test::random_tensor(DType::f32, {3}, 1, 0.5, 1.5));
  mean->trainable = var->trainable = false;
  Graph g = Graph::from_outputs({batch_norm_of(x, mean, var)});
  REQUIRE(training_attr(set_training_mode(g, true)) == 1);
  mean->frozen = var->frozen = true;
  Graph frozen = set_training_mode(g, true);
  REQUIRE(training_attr(frozen) == 0);
  // and the outputs are the inference ones: normalized by the running statistics
  frozen.inputs = {x};
  Tensor xv = test::random_tensor(DType::f32, {4, 3}, 2);
  Tensor y = test::run_graph(frozen, {xv}, false, "cpu").at(0);
  for (int64_t i = 0; i < 12; ++i)
    CHECK(y.get_as_double(i) == Approx(xv.get_as_double(i) / std::sqrt(var->host().get_as_double(i % 3) + 1e-5)).margin(1e-5));
}
