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
    const OpSchema& def = registry().get(c.op);
    if (!c.grad || !def.grad || def.has(kZeroGrad) || def.has(kRandom)) continue;
    DYNAMIC_SECTION(case_name(c)) { check_gradients(c); }
  }
}

TEST_CASE("every registered op has a test case and a CPU kernel", "[ops][registry]") {
  std::set<std::string> covered;
  for (const OpCase& c : all_cases()) covered.insert(c.op);
  for (const std::string& name : registry().names()) {
    const OpSchema& def = registry().get(name);
    INFO("op " << name);
    if (def.has(kSource) || name == "constant") continue;  // bound by executors, no kernel
    if (name == "call") {  // inlined before any backend sees it (strip_identities), no kernel
      CHECK(covered.count(name) == 1);
      CHECK(def.decompose);
      continue;
    }
    CHECK(cpu_backend().kernel(name) != nullptr);
    CHECK(covered.count(name) == 1);
  }
}

TEST_CASE("every op declares its attributes; unknown, mistyped and missing ones are errors", "[ops][attrs]") {
  for (const std::string& name : registry().names()) {
    INFO("op " << name);
    CHECK(registry().get(name).attrs_declared);
  }
  Value x = op::input("x", DType::f32, {2, 3});
  auto attr_error = [&](const std::string& op, AttrMap a, std::vector<Value> in) -> std::string {
    try {
      make_node(op, std::move(in), std::move(a));
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::attr) return e.what();
      return std::string("wrong kind: ") + e.what();
    }
    return "no error";
  };
  // A misspelled keyword is named, with the op's real attributes.
  std::string m = attr_error("softmax", {{"axsi", int64_t{0}}}, {x});
  CHECK(m.find("'softmax' has no attribute 'axsi'") != std::string::npos);
  CHECK(m.find("'axis'") != std::string::npos);
  // Of another kind.
  m = attr_error("softmax", {{"axis", std::string("last")}}, {x});
  CHECK(m.find("attribute 'axis' of op 'softmax' must be an integer, not string") != std::string::npos);
  // Missing when required.
  m = attr_error("one_hot", {}, {op::input("i", DType::i32, {4})});
  CHECK(m.find("needs attribute 'depth'") != std::string::npos);
  // Ops without attributes take none.
  m = attr_error("matmul", {{"transA", int64_t{1}}}, {x, op::input("w", DType::f32, {3, 2})});
  CHECK(m.find("it takes no attributes") != std::string::npos);
  // Annotations ('_' first) ride along on any op.
  CHECK(attr_error("relu", {{"_doc", std::string("from onnx")}}, {x}) == "no error");
}
