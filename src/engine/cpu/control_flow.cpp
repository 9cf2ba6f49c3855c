// The CPU kernel of cond (ops/control_flow.cpp): each branch is specialised to the node's
// argument types and planned once as a sub-plan of the CPU kernels; a run reads the
// predicate and runs the taken branch only, in the node's workspace (room for the larger
// of the two branches).
#include "engine/backend/sub_plan.h"
#include "engine/base/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/loop_support.h"
#include "engine/passes/passes.h"

namespace symnet {

namespace {

struct CondPlans {
  std::shared_ptr<const SubPlan> then_plan, else_plan;
};

std::shared_ptr<const SubPlan> branch_plan(const Backend& cpu, const Node& n, const char* name) {
  GraphPtr body = n.attrs.get_graph(name);
  SN_CHECK(body != nullptr, ErrorKind::attr, "attribute '" << name << "' is empty");
  std::vector<TensorType> types;
  for (size_t i = 1; i < n.inputs.size(); ++i) types.push_back(n.inputs[i].type());
  Graph g = body_for_plan(cpu, *body, types);
  SubPlanOptions opts;
  opts.what = std::string("the ") + name + " of " + n.describe();
  return std::make_shared<const SubPlan>(cpu, std::make_shared<const Graph>(std::move(g)), opts);
}

CondPlans cond_plans(const Backend& cpu, const Node& n) {
  return {branch_plan(cpu, n, "then_branch"), branch_plan(cpu, n, "else_branch")};
}

void cond_kernel(KernelContext& k) {
  const CondPlans& plans = k.param<CondPlans>();
  const SubPlan& plan = predicate_value(k.in.at(0), "the predicate of cond") ? *plans.then_plan : *plans.else_plan;
  std::vector<TensorView> args(k.in.begin() + 1, k.in.end());
  char* scratch = align_workspace(k.workspace);
  plan.run(args, k.out, scratch, k.run);
}

}  // namespace

void bind_control_flow_kernels(Backend& b) {
  KernelImpl k;
  k.fn = cond_kernel;
  const Backend* self = &b;
  k.prepare = [self](const Node& n) -> std::shared_ptr<const void> {
    return std::make_shared<CondPlans>(cond_plans(*self, n));
  };
  k.workspace = [self](const Node& n) {
    CondPlans p = cond_plans(*self, n);
    return std::max(p.then_plan->scratch_bytes(), p.else_plan->scratch_bytes()) + kLoopAlign;
  };
  b.add_kernel("cond", std::move(k));
}

}  // namespace symnet
