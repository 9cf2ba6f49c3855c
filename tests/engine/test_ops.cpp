// The registry-wide op test: every registered op has cases; every case matches its
// reference; every differentiable op matches central finite differences in float64.
#include <set>

#include "harness.h"

using namespace symnet;
using namespace symnet::test;

TEST_CASE("every op matches its reference", "[ops]") {
  for (const OpCase& c : all_cases()) {
    DYNAMIC_SECTION(case_name(c)) {
      std::vector<Tensor> out = run_op(c.op, c.inputs, c.attrs);
      if (c.reference) {
        std::vector<Tensor> want = c.reference(c.inputs);
        REQUIRE(out.size() == want.size());
        for (size_t i = 0; i < out.size(); ++i) check_close(out[i], want[i], c.tol);
      }
      if (c.check) c.check(out);
      REQUIRE((c.reference || c.check));
    }
  }
}

TEST_CASE("every differentiable op matches finite differences", "[ops][grad]") {
  for (const OpCase& c : all_cases()) {
    const OpDef& def = registry().get(c.op);
    if (!c.grad || !def.grad || def.has(kZeroGrad) || def.has(kRandom)) continue;
    DYNAMIC_SECTION(case_name(c)) { check_gradients(c); }
  }
}

TEST_CASE("every registered op has a test case and a CPU kernel", "[ops][registry]") {
  std::set<std::string> covered;
  for (const OpCase& c : all_cases()) covered.insert(c.op);
  for (const std::string& name : registry().names()) {
    const OpDef& def = registry().get(name);
    INFO("op " << name);
    CHECK(def.kernel(Device::cpu) != nullptr);
    if (def.has(kSource) || name == "constant") continue;
    CHECK(covered.count(name) == 1);
  }
}
