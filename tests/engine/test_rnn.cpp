// Recurrent ops beyond the registry-wide cases (cases_rnn.cpp): classed errors for bad
// inputs and attributes, run-time checks of sequence_lens, second derivatives, the batch
// split over threads, the full optimizing pipeline and zero steps.
#include <cmath>

#include "engine/kernels/cpu/parallel.h"
#include "engine/passes/passes.h"
#include "harness.h"
#include "rnn_reference.h"

using namespace symnet;
using namespace symnet::test;

namespace {

const DType f32 = DType::f32;

Value in(const std::string& name, Shape s, DType t = f32) { return op::input(name, t, std::move(s)); }

// The error make_node raises, or fails.
Error node_error(const std::string& op, std::vector<Value> ins, AttrMap a) {
  try {
    make_node(op, std::move(ins), std::move(a));
  } catch (const Error& e) {
    return e;
  }
  FAIL("no error from " << op);
  return Error(ErrorKind::internal, "");
}

void expect(const Error& e, ErrorKind kind, const std::string& op, const std::string& text) {
  INFO(e.what());
  CHECK(e.kind() == kind);
  CHECK(e.op() == op);
  CHECK(std::string(e.what()).find(text) != std::string::npos);
}

struct ThreadGuard {
  int saved = engine_num_threads();
  ~ThreadGuard() { set_engine_num_threads(saved); }
};

}  // namespace

TEST_CASE("recurrent ops: bad shapes and attributes are classed errors naming the op", "[rnn]") {
  const Value x = in("x", {5, 2, 3});
  const Value w = in("w", {1, 16, 3}), r = in("r", {1, 16, 4});
  expect(node_error("lstm", {x, in("w", {1, 12, 3}), r}, {}), ErrorKind::shape, "lstm", "(W) must have shape [1, 16, 3]");
  expect(node_error("lstm", {x, w, in("r", {1, 16, 5})}, {}), ErrorKind::shape, "lstm", "(W) must have shape [1, 20, 3]");
  expect(node_error("gru", {x, in("w", {1, 12, 3}), in("r", {1, 9, 4})}, {}), ErrorKind::shape, "gru", "(R) must have shape [1, 12, 4]");
  expect(node_error("lstm", {x, w, r, in("b", {1, 16})}, {{"has_bias", int64_t{1}}}), ErrorKind::shape, "lstm",
         "(B) must have shape [1, 32]");
  expect(node_error("lstm", {x, w, r}, {{"hidden_size", int64_t{5}}}), ErrorKind::shape, "lstm", "'hidden_size' is 5");
  expect(node_error("rnn", {x, in("w", {1, 4, 3}), in("r", {1, 4, 4})}, {{"direction", std::string("sideways")}}),
         ErrorKind::attr, "rnn", "'direction'");
  expect(node_error("lstm", {x, w, r}, {{"direction", std::string("bidirectional")}}), ErrorKind::shape, "lstm",
         "(W) must have shape [2, 16, 3]");
  expect(node_error("lstm", {x, w, r}, {{"activations", std::vector<std::string>{"Sigmoid", "Swish", "Tanh"}}}),
         ErrorKind::unsupported, "lstm", "activation 'Swish'");
  expect(node_error("lstm", {x, w, r}, {{"activations", std::vector<std::string>{"Sigmoid", "Tanh"}}}),
         ErrorKind::attr, "lstm", "'activations' needs 3 names");
  // The has_* flags must announce the inputs given.
  expect(node_error("lstm", {x, w, r, in("b", {1, 32})}, {}), ErrorKind::shape, "lstm", "announce 3 inputs, got 4");
  expect(node_error("lstm", {x, w, r}, {{"has_initial_h", int64_t{1}}}), ErrorKind::shape, "lstm", "announce 4 inputs");
  expect(node_error("lstm", {x, w, r, in("h", {1, 3, 4})}, {{"has_initial_h", int64_t{1}}}), ErrorKind::shape, "lstm",
         "(initial_h) must have shape [1, 2, 4]");
  expect(node_error("lstm", {x, w, r, in("l", {2})}, {{"has_sequence_lens", int64_t{1}}}), ErrorKind::dtype, "lstm",
         "(sequence_lens) must be int32 or int64");
  expect(node_error("lstm", {x, w, r, in("m", {2, 5}, DType::boolean)}, {{"has_mask", int64_t{1}}}), ErrorKind::shape,
         "lstm", "(mask) must have shape [5, 2]");
  expect(node_error("lstm", {x, w, r}, {{"layout", int64_t{2}}}), ErrorKind::attr, "lstm", "'layout'");
  expect(node_error("lstm", {x, w, r}, {{"clip", -1.0}}), ErrorKind::attr, "lstm", "'clip'");
  // LSTM-only attributes are not declared by the other cells.
  expect(node_error("gru", {x, in("w", {1, 12, 3}), in("r", {1, 12, 4})}, {{"input_forget", int64_t{1}}}),
         ErrorKind::attr, "gru", "has no attribute 'input_forget'");
  expect(node_error("lstm", {x, in("w", {1, 16, 3}, DType::f64), r}, {}), ErrorKind::dtype, "lstm", "same dtype");
  // Declared shapes are what inference gives.
  std::vector<Value> o = make_node("lstm", {in("x", {2, 5, 3}), in("w", {2, 16, 3}), in("r", {2, 16, 4})},
                                   {{"direction", std::string("bidirectional")}, {"layout", int64_t{1}}});
  REQUIRE(o.size() == 4);
  CHECK(o[0].shape() == Shape{2, 5, 2, 4});
  CHECK(o[1].shape() == Shape{2, 2, 4});
  CHECK(o[2].shape() == Shape{2, 2, 4});
  CHECK(o[3].dtype() == DType::u8);
}

TEST_CASE("recurrent ops: sequence_lens outside [0, seq] is a value error at run time", "[rnn]") {
  Tensor x = random_tensor(f32, {3, 2, 2}, 1), w = random_tensor(f32, {1, 4, 2}, 2), r = random_tensor(f32, {1, 4, 4}, 3);
  Tensor lens = make_tensor(DType::i32, {2}, {3, 4});
  try {
    run_op("rnn", {x, w, r, lens}, {{"has_sequence_lens", int64_t{1}}});
    FAIL("no error");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.kind() == ErrorKind::value);
    CHECK(std::string(e.what()).find("sequence_lens[1] is 4, outside [0, 3]") != std::string::npos);
  }
}

TEST_CASE("recurrent ops: a second derivative is an unsupported error", "[rnn]") {
  Value x = in("x", {3, 2, 2}, DType::f64), w = in("w", {1, 9, 2}, DType::f64), r = in("r", {1, 9, 3}, DType::f64);
  Value y = op::reduce_sum(make_node("gru", {x, w, r}).at(0));
  Value gw = gradients(y, {w}).at(0);
  try {
    gradients(op::reduce_sum(op::mul(gw, gw)), {w});
    FAIL("no error");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.kind() == ErrorKind::unsupported);
    CHECK(std::string(e.what()).find("gru_grad") != std::string::npos);
  }
}

TEST_CASE("recurrent ops: the batch split over threads gives the one-thread results", "[rnn][parallel]") {
  ThreadGuard guard;
  for (const std::string op : {"lstm", "gru", "rnn"}) {
    const int64_t G = op == "lstm" ? 4 : op == "gru" ? 3 : 1, S = 6, B = 24, I = 8, H = 33;
    std::vector<Tensor> ins{random_tensor(f32, {S, B, I}, 11), random_tensor(f32, {2, G * H, I}, 12, -0.3, 0.3),
                            random_tensor(f32, {2, G * H, H}, 13, -0.3, 0.3), random_tensor(f32, {2, 2 * G * H}, 14)};
    Tensor lens(DType::i32, {B});
    for (int64_t b = 0; b < B; ++b) lens.set_from_double(b, static_cast<double>(b % (S + 1)));
    ins.push_back(lens);
    AttrMap a{{"direction", std::string("bidirectional")}, {"has_bias", int64_t{1}}, {"has_sequence_lens", int64_t{1}}};
    if (op == "gru") a.set("linear_before_reset", int64_t{1});
    Graph fw = op_graph(op, ins, a);
    // Forward, and the gradient of sum(w * Y) w.r.t. X, W, R, B.
    Value Y = fw.outputs[0];
    Value loss = op::reduce_sum(op::mul(Y, op::constant(random_tensor(f32, Y.shape(), 15))));
    std::vector<Value> g = gradients(loss, {fw.inputs[0], fw.inputs[1], fw.inputs[2], fw.inputs[3]});
    Graph full = graph_of(fw.inputs, {Y, g[0], g[1], g[2], g[3]});
    set_engine_num_threads(1);
    std::vector<Tensor> one = run_graph(full, ins);
    set_engine_num_threads(2);
    std::vector<Tensor> two = run_graph(full, ins);
    INFO(op);
    for (size_t i = 0; i < one.size(); ++i) check_close(two[i], one[i], 1e-6);
    RnnRefCfg c;
    c.op = op;
    c.direction = "bidirectional";
    c.bias = c.lens = true;
    c.lbr = op == "gru";
    check_close(two[0], rnn_reference(c, ins)[0], 2e-5);
  }
}

TEST_CASE("recurrent ops: gradients survive the optimizing pipeline", "[rnn]") {
  // The harness checks gradients without optimization; here CSE, folding and fusion run.
  Tensor xt = random_tensor(f32, {2, 4, 3}, 21), wt = random_tensor(f32, {1, 16, 3}, 22, -0.5, 0.5),
         rt = random_tensor(f32, {1, 16, 4}, 23, -0.5, 0.5), ht = random_tensor(f32, {2, 1, 4}, 24);
  Value x = in("x", {2, 4, 3}), w = in("w", {1, 16, 3}), r = in("r", {1, 16, 4}), h = in("h", {2, 1, 4});
  AttrMap a{{"layout", int64_t{1}}, {"has_initial_h", int64_t{1}}};
  std::vector<Value> o = make_node("lstm", {x, w, r, h}, a);
  // Y feeds a tanh and Y_h a square: both cotangents reach the kernel.
  Value loss = op::add(op::reduce_sum(op::tanh(o[0])), op::reduce_sum(op::mul(o[1], o[1])));
  std::vector<Value> g = gradients(loss, {x, w, r, h});
  Graph full = graph_of({x, w, r, h}, {loss, g[0], g[1], g[2], g[3]});
  std::vector<Tensor> opt = run_graph(full, {xt, wt, rt, ht}, true);
  std::vector<Tensor> plain = run_graph(full, {xt, wt, rt, ht}, false);
  for (size_t i = 0; i < opt.size(); ++i) check_close(opt[i], plain[i], 1e-5);
  // The gradient reads the forward's reserve: one forward node, one backward node.
  CHECK(count_op(full, "lstm") == 1);
  CHECK(count_op(full, "lstm_grad") == 1);
}

TEST_CASE("recurrent ops: zero steps give empty Y and the initial states", "[rnn]") {
  Tensor x(f32, {0, 2, 3});
  Tensor w = random_tensor(f32, {1, 16, 3}, 31), r = random_tensor(f32, {1, 16, 4}, 32);
  Tensor h = random_tensor(f32, {1, 2, 4}, 33), c = random_tensor(f32, {1, 2, 4}, 34);
  std::vector<Tensor> out =
      run_op("lstm", {x, w, r, h, c}, {{"has_initial_h", int64_t{1}}, {"has_initial_c", int64_t{1}}});
  CHECK(out[0].shape() == Shape{0, 1, 2, 4});
  check_close(out[1], h, 0);
  check_close(out[2], c, 0);
}

TEST_CASE("recurrent ops: zero steps and an empty batch in the gradient", "[rnn]") {
  // No step runs: d initial_h is dY_h, d initial_c is dY_c, the weight gradients are zero.
  Tensor x(f32, {0, 2, 3});
  Tensor w = random_tensor(f32, {1, 16, 3}, 41), r = random_tensor(f32, {1, 16, 4}, 42);
  Tensor h = random_tensor(f32, {1, 2, 4}, 43), c = random_tensor(f32, {1, 2, 4}, 44);
  AttrMap a{{"has_initial_h", int64_t{1}}, {"has_initial_c", int64_t{1}}};
  std::vector<Tensor> fw = run_op("lstm", {x, w, r, h, c}, a);
  Tensor dyh = random_tensor(f32, {1, 2, 4}, 45), dyc = random_tensor(f32, {1, 2, 4}, 46);
  std::vector<Tensor> g = run_op("lstm_grad", {x, w, r, h, c, fw[3], Tensor(f32, {0, 1, 2, 4}), dyh, dyc}, a);
  REQUIRE(g.size() == 7);
  CHECK(g[0].shape() == Shape{0, 2, 3});
  check_close(g[1], Tensor(f32, {1, 16, 3}), 0);
  check_close(g[2], Tensor(f32, {1, 16, 4}), 0);
  check_close(g[4], dyh, 0);
  check_close(g[5], dyc, 0);
  // Batch 0: every output is empty.
  std::vector<Tensor> e = run_op("gru", {Tensor(f32, {3, 0, 3}), random_tensor(f32, {2, 12, 3}, 47),
                                         random_tensor(f32, {2, 12, 4}, 48)},
                                 {{"direction", std::string("bidirectional")}});
  CHECK(e[0].shape() == Shape{3, 2, 0, 4});
  CHECK(e[1].shape() == Shape{2, 0, 4});
}

TEST_CASE("recurrent ops: one activation list serves both directions; alphas default when the list runs out", "[rnn]") {
  std::vector<Tensor> ins{random_tensor(DType::f64, {3, 2, 3}, 51), random_tensor(DType::f64, {2, 4, 3}, 52),
                          random_tensor(DType::f64, {2, 4, 4}, 53)};
  AttrMap a{{"direction", std::string("bidirectional")},
            {"activations", std::vector<std::string>{"leakyrelu"}}};  // case-insensitive, alpha 0.01
  std::vector<Tensor> out = run_op("rnn", ins, a);
  RnnRefCfg c;
  c.op = "rnn";
  c.direction = "bidirectional";
  c.acts = {{"LeakyRelu", 0.01}, {"LeakyRelu", 0.01}};
  std::vector<Tensor> want = rnn_reference(c, ins);
  check_close(out[0], want[0], 1e-12);
  check_close(out[1], want[1], 1e-12);
  // Two alphas for three activations that take one: the third gets its default (Elu: 1).
  a.set("activations", std::vector<std::string>{"Elu", "LeakyRelu"});
  a.set("activation_alpha", std::vector<double>{0.5, 0.2});
  c.acts = {{"Elu", 0.5}, {"LeakyRelu", 0.2}};
  out = run_op("rnn", ins, a);
  check_close(out[0], rnn_reference(c, ins)[0], 1e-12);
}
