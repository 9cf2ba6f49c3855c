// The sub-plan runner (backend/sub_plan.h): a body graph compiled against a backend's
// kernels and run in caller-provided scratch, checked against running the same nodes one
// by one with their own outputs.
#include <cstring>
#include <map>

#include "harness.h"
#include "engine/backend/sub_plan.h"
#include "engine/cpu/cpu_backend.h"

using namespace symnet;
using namespace symnet::test;

namespace {

// Reference: every node of `body` evaluated on its own with the CPU kernels.
std::vector<Tensor> reference(const Graph& body, const std::vector<Tensor>& feeds) {
  std::map<std::pair<const Node*, int>, Tensor> val;
  for (size_t i = 0; i < body.inputs.size(); ++i) val[{body.inputs[i].node.get(), 0}] = feeds[i];
  for (const NodePtr& n : body.topo_order()) {
    if (n->op_name() == "input") continue;
    if (n->op_name() == "constant") {
      val[{n.get(), 0}] = *n->attrs.get_tensor("value");
      continue;
    }
    std::vector<TensorView> in;
    for (const Value& v : n->inputs) in.push_back(val.at({v.node.get(), v.index}).view());
    std::vector<Tensor> out = evaluate_on(cpu_backend(), *n, in);
    for (size_t o = 0; o < out.size(); ++o) val[{n.get(), static_cast<int>(o)}] = out[o];
  }
  std::vector<Tensor> outs;
  for (const Value& v : body.outputs) outs.push_back(val.at({v.node.get(), v.index}));
  return outs;
}

// Scratch of a plan, aligned as the runner requires (a Tensor's storage is 64-byte aligned).
Tensor scratch_for(const SubPlan& p) { return Tensor(DType::u8, {static_cast<int64_t>(p.scratch_bytes()) + 1}); }

std::vector<Tensor> run_plan(const SubPlan& p, const std::vector<Tensor>& feeds, Tensor& scratch) {
  std::vector<TensorView> in, out;
  std::vector<Tensor> outs;
  for (const Tensor& t : feeds) in.push_back(t.view());
  for (const Value& v : p.body().outputs) outs.emplace_back(v.dtype(), v.shape());
  for (Tensor& t : outs) out.push_back(t.view());
  RunContext run;
  p.run(in, out, scratch.data(), &run);
  return outs;
}

Tensor rows(const Tensor& t, int64_t n) {
  Shape s = t.shape();
  s[0] = n;
  Tensor r(t.dtype(), s);
  std::memcpy(r.data(), t.data(), r.bytes());
  return r;
}

bool has_pair(const KernelImpl& k, const Node& n, std::pair<int, int> p) {
  for (const auto& q : k.inplace_pairs(n))
    if (q == p) return true;
  return false;
}

}  // namespace

TEST_CASE("a sub-plan computes what its nodes compute one by one", "[subplan]") {
  Value x = op::input("x", DType::f32, {4, 8});
  Value w = op::input("w", DType::f32, {8, 3});
  Value h = op::tanh(op::matmul(x, w));
  Value y = op::exp(op::neg(op::add(h, op::scalar(0.5, DType::f32))));
  // Outputs: computed values, one of them twice, and an input passed through.
  auto body = std::make_shared<Graph>(graph_of({x, w}, {y, h, x, y}));
  SubPlan p(cpu_backend(), body);
  CHECK(p.stats().steps == 5);
  CHECK(p.batch() == -1);
  std::vector<Tensor> feeds = {random_tensor(DType::f32, {4, 8}, 1), random_tensor(DType::f32, {8, 3}, 2)};
  Tensor scratch = scratch_for(p);
  std::vector<Tensor> got = run_plan(p, feeds, scratch);
  std::vector<Tensor> want = reference(*body, feeds);
  REQUIRE(got.size() == 4);
  for (size_t j = 0; j < got.size(); ++j) check_close(got[j], want[j], 1e-6);
  // Outputs computed by the body are written by their producers, not held in scratch.
  CHECK(p.place_of(y).loc == SubPlan::Loc::output);
  CHECK(p.place_of(h).loc == SubPlan::Loc::output);
  CHECK(p.place_of(x).loc == SubPlan::Loc::input);
}

TEST_CASE("a sub-plan reuses the scratch of dead values", "[subplan]") {
  // A chain of matmuls (no in-place pairs): a dies when b is made, so c can take its place.
  Value x = op::input("x", DType::f32, {16, 16});
  Value w = op::input("w", DType::f32, {16, 16});
  Value a = op::matmul(x, w), b = op::matmul(a, w), c = op::matmul(b, w), d = op::matmul(c, w);
  auto body = std::make_shared<Graph>(graph_of({x, w}, {d}));
  REQUIRE(cpu_backend().kernel("matmul")->inplace_pairs(*b.node).empty());
  SubPlan p(cpu_backend(), body);
  const size_t one = 16 * 16 * sizeof(float);
  CHECK(p.stats().naive_bytes >= 3 * one);
  CHECK(p.scratch_bytes() < p.stats().naive_bytes);
  CHECK(p.scratch_bytes() <= 2 * one + SubPlan::scratch_alignment());
  CHECK(p.stats().inplace_steps == 0);
  CHECK(p.place_of(a).loc == SubPlan::Loc::scratch);
  CHECK(p.place_of(c).offset == p.place_of(a).offset);
  CHECK(p.place_of(b).offset != p.place_of(a).offset);
  std::vector<Tensor> feeds = {random_tensor(DType::f32, {16, 16}, 3, -0.5, 0.5),
                               random_tensor(DType::f32, {16, 16}, 4, -0.5, 0.5)};
  Tensor scratch = scratch_for(p);
  check_close(run_plan(p, feeds, scratch)[0], reference(*body, feeds)[0], 1e-5);
}

TEST_CASE("a sub-plan honours the kernels' in-place pairs, only over dying inputs", "[subplan]") {
  Value x = op::input("x", DType::f32, {64});
  Value a = op::exp(x);
  Value b = op::tanh(a);     // a dies here: b may take its block
  Value c = op::neg(b);      // b is read again below: c may not take b's
  Value y = op::add(b, c);
  auto body = std::make_shared<Graph>(graph_of({x}, {y}));
  REQUIRE(has_pair(*cpu_backend().kernel("tanh"), *b.node, {0, 0}));
  REQUIRE(has_pair(*cpu_backend().kernel("neg"), *c.node, {0, 0}));
  SubPlan p(cpu_backend(), body);
  CHECK(p.place_of(b).offset == p.place_of(a).offset);
  CHECK(p.place_of(c).offset != p.place_of(b).offset);
  CHECK(p.stats().inplace_steps == 1);
  CHECK(p.scratch_bytes() == 2 * 64 * sizeof(float));
  std::vector<Tensor> feeds = {random_tensor(DType::f32, {64}, 5)};
  Tensor scratch = scratch_for(p);
  check_close(run_plan(p, feeds, scratch)[0], reference(*body, feeds)[0], 1e-6);
}

TEST_CASE("a sub-plan with a batch input runs shorter batches on one frame", "[subplan]") {
  Value x = op::input("x", DType::f32, {5, 6});
  Value w = op::input("w", DType::f32, {6, 4});
  Value h = op::tanh(op::matmul(x, w));
  Value y = op::mul(h, h);
  auto body = std::make_shared<Graph>(graph_of({x, w}, {y, x}));
  SubPlanOptions o;
  o.batch_inputs = {0};
  SubPlan p(cpu_backend(), body, o);
  CHECK(p.batch() == 5);
  Tensor xt = random_tensor(DType::f32, {5, 6}, 6), wt = random_tensor(DType::f32, {6, 4}, 7);
  std::vector<Tensor> want = reference(*body, {xt, wt});
  Tensor scratch = scratch_for(p);
  RunContext run;
  SubPlan::Frame f(p, scratch.data(), &run);
  // Batches of 2, 5 and 2 again: the views' batch axes must follow each run.
  for (int64_t n : {2, 5, 2}) {
    Tensor xn = rows(xt, n), yn(DType::f32, {n, 4}), xo(DType::f32, {n, 6});
    f.run({xn.view(), wt.view()}, {yn.view(), xo.view()});
    check_close(yn, rows(want[0], n), 1e-6);
    check_close(xo, xn, 0);
  }
  // Bound addresses: the hot loops' way, without the checks.
  Tensor y3(DType::f32, {3, 4}), x3(DType::f32, {3, 6});
  f.set_input(0, xt.data());
  f.set_output(0, y3.data());
  f.set_output(1, x3.data());
  f.run(3);
  check_close(y3, rows(want[0], 3), 1e-6);
  check_close(x3, rows(xt, 3), 0);

  Tensor big(DType::f32, {6, 6}), ybig(DType::f32, {6, 4}), xbig(DType::f32, {6, 6});
  CHECK_THROWS_MATCHES(f.run({big.view(), wt.view()}, {ybig.view(), xbig.view()}), Error,
                       Catch::Predicate<Error>([](const Error& e) { return e.kind() == ErrorKind::shape; }));
  CHECK_THROWS_MATCHES(f.run(6), Error,
                       Catch::Predicate<Error>([](const Error& e) { return e.kind() == ErrorKind::shape; }));
  // Mixed batch extents and a wrong weight are refused too.
  Tensor y2(DType::f32, {2, 4}), x3b(DType::f32, {3, 6});
  CHECK_THROWS_MATCHES(f.run({rows(xt, 3).view(), wt.view()}, {y2.view(), x3b.view()}), Error,
                       Catch::Predicate<Error>([](const Error& e) { return e.kind() == ErrorKind::shape; }));
  Tensor w2(DType::f32, {6, 5});
  CHECK_THROWS_MATCHES(f.run({xt.view(), w2.view()}, {want[0].view(), xt.view()}), Error,
                       Catch::Predicate<Error>([](const Error& e) {
                         return e.kind() == ErrorKind::shape && std::string(e.what()).find("input 2") != std::string::npos;
                       }));
}

TEST_CASE("a sub-plan refuses an op its backend has no kernel for, naming the node", "[subplan]") {
  // A host backend with an exp kernel only.
  class ExpOnly : public Backend {
   public:
    ExpOnly() : Backend("exp_only") { add_kernel("exp", *cpu_backend().kernel("exp")); }
    const BufferType& buffer_type() const override { return host_buffer_type(); }
  };
  ExpOnly b;
  Value x = op::input("x", DType::f32, {4});
  Value t = op::tanh(op::exp(x));
  auto body = std::make_shared<Graph>(graph_of({x}, {t}));
  SubPlanOptions o;
  o.what = "a test body";
  try {
    SubPlan p(b, body, o);
    FAIL("a body with tanh compiled without a tanh kernel");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::unsupported);
    const std::string msg = e.what();
    CHECK(msg.find(t.node->describe()) != std::string::npos);
    CHECK(msg.find("a test body") != std::string::npos);
    CHECK(msg.find("exp_only") != std::string::npos);
  }
  // With only exp it compiles and runs.
  auto ok = std::make_shared<Graph>(graph_of({x}, {op::exp(x)}));
  SubPlan p(b, ok);
  std::vector<Tensor> feeds = {random_tensor(DType::f32, {4}, 8)};
  Tensor scratch = scratch_for(p);
  check_close(run_plan(p, feeds, scratch)[0], reference(*ok, feeds)[0], 1e-6);
}

TEST_CASE("a sub-plan refuses a batch input without a batch axis and misaligned scratch", "[subplan]") {
  Value s = op::input("s", DType::f32, {});
  auto body = std::make_shared<Graph>(graph_of({s}, {op::exp(s)}));
  SubPlanOptions o;
  o.batch_inputs = {0};
  CHECK_THROWS_MATCHES(SubPlan(cpu_backend(), body, o), Error,
                       Catch::Predicate<Error>([](const Error& e) { return e.kind() == ErrorKind::shape; }));
  Value x = op::input("x", DType::f32, {8});
  SubPlan p(cpu_backend(), std::make_shared<Graph>(graph_of({x}, {op::neg(op::exp(x))})));
  REQUIRE(p.scratch_bytes() > 0);
  Tensor scratch(DType::u8, {static_cast<int64_t>(p.scratch_bytes()) + 64});
  CHECK_THROWS_MATCHES(SubPlan::Frame(p, static_cast<char*>(scratch.data()) + 1, nullptr), Error,
                       Catch::Predicate<Error>([](const Error& e) { return e.kind() == ErrorKind::internal; }));
}

TEST_CASE("fused_elementwise runs its body as a chunk sub-plan", "[subplan][fuse]") {
  // y = (a * c + b) * 0.5 with a full-size body constant c and a broadcast input b, over
  // 5000 elements: two full chunks and a short one.
  const int64_t n = 5000;
  Tensor ct = random_tensor(DType::f32, {n}, 11);
  auto body = std::make_shared<Graph>();
  Value a = op::input("in0", DType::f32, {n});
  Value b = op::input("in1", DType::f32, {});
  body->inputs = {a, b};
  body->outputs = {op::mul(op::add(op::mul(a, op::constant(ct)), b), op::scalar(0.5, DType::f32))};
  body->output_names = {"y"};
  Value ai = op::input("a", DType::f32, {n}), bi = op::input("b", DType::f32, {});
  NodePtr node = make_node("fused_elementwise", {ai, bi}, {{"body", GraphPtr(body)}}).at(0).node;
  Tensor at = random_tensor(DType::f32, {n}, 12), bt = make_tensor(DType::f32, {}, {0.25});
  Tensor got(DType::f32, {n}), want(DType::f32, {n});
  for (int64_t i = 0; i < n; ++i)
    want.set_from_double(i, (at.get_as_double(i) * ct.get_as_double(i) + 0.25) * 0.5);
  run_cpu_kernel(*node, {at.view(), bt.view()}, {got.view()});
  check_close(got, want, 1e-6);

  // The broadcast input given whole at run time: the chunk body is made anew for it.
  Tensor bfull = random_tensor(DType::f32, {n}, 13);
  for (int64_t i = 0; i < n; ++i)
    want.set_from_double(i, (at.get_as_double(i) * ct.get_as_double(i) + bfull.get_as_double(i)) * 0.5);
  run_cpu_kernel(*node, {at.view(), bfull.view()}, {got.view()});
  check_close(got, want, 1e-6);

  // An input of neither the node's size nor one element is a shape error.
  Tensor odd = random_tensor(DType::f32, {7}, 14);
  CHECK_THROWS_MATCHES(run_cpu_kernel(*node, {at.view(), odd.view()}, {got.view()}), Error,
                       Catch::Predicate<Error>([](const Error& e) { return e.kind() == ErrorKind::shape; }));
}
