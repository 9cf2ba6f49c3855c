// Pooling / normalization / dropout beyond the registry-wide cases: output shapes, error
// paths, NaN handling, LeNet-sized fast paths, running statistics, dropout determinism.
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/kernels/cpu/parallel.h"
#include "engine/passes/passes.h"
#include "harness.h"
#include "pool_norm_ref.h"

using namespace symnet;
using namespace symnet::test;

namespace {

Shape out_shape(const std::string& op, const Shape& in, const AttrMap& a, DType t = DType::f32) {
  return make_node(op, {op::input("x", t, in)}, a).at(0).shape();
}

void expect_error(ErrorKind kind, const std::function<void()>& f) {
  try {
    f();
    FAIL("no error");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.kind() == kind);
  }
}

// Restores the engine thread count when a test ends.
struct ThreadGuard {
  int saved = engine_num_threads();
  ~ThreadGuard() { set_engine_num_threads(saved); }
};

}  // namespace

TEST_CASE("pooling output shapes follow ONNX (pads, ceil_mode, auto_pad, unknown dims)", "[pool]") {
  using V = std::vector<int64_t>;
  CHECK(out_shape("max_pool", {128, 20, 24, 24}, {{"kernel_shape", V{2, 2}}, {"strides", V{2, 2}}}) ==
        Shape{128, 20, 12, 12});
  CHECK(out_shape("max_pool", {1, 1, 5, 5}, {{"kernel_shape", V{2, 2}}}) == Shape{1, 1, 4, 4});  // strides 1
  CHECK(out_shape("avg_pool", {1, 1, 7, 7}, {{"kernel_shape", V{3, 3}}, {"strides", V{2, 2}}, {"pads", V{1, 1, 1, 1}}}) ==
        Shape{1, 1, 4, 4});
  CHECK(out_shape("max_pool", {1, 1, 6, 6}, {{"kernel_shape", V{3, 3}}, {"strides", V{2, 2}}}) == Shape{1, 1, 2, 2});
  CHECK(out_shape("max_pool", {1, 1, 6, 6}, {{"kernel_shape", V{3, 3}}, {"strides", V{2, 2}}, {"ceil_mode", int64_t(1)}}) ==
        Shape{1, 1, 3, 3});
  // ceil_mode never starts a window in the trailing padding: (5 + 1 + 1 - 2) / 2 -> 3 + 1, cut to 3.
  CHECK(out_shape("max_pool", {1, 1, 5}, {{"kernel_shape", V{2}}, {"strides", V{2}}, {"pads", V{1, 1}}, {"ceil_mode", int64_t(1)}}) ==
        Shape{1, 1, 3});
  CHECK(out_shape("max_pool", {1, 1, 5, 5}, {{"kernel_shape", V{2, 2}}, {"dilations", V{2, 2}}}) == Shape{1, 1, 3, 3});
  CHECK(out_shape("avg_pool", {1, 1, 5, 6}, {{"kernel_shape", V{3, 3}}, {"strides", V{2, 2}}, {"auto_pad", std::string("SAME_UPPER")}}) ==
        Shape{1, 1, 3, 3});
  CHECK(out_shape("avg_pool", {1, 1, 5, 6}, {{"kernel_shape", V{3, 3}}, {"strides", V{2, 2}}, {"auto_pad", std::string("VALID")}}) ==
        Shape{1, 1, 2, 2});
  CHECK(out_shape("max_pool", {-1, 3, -1, 8}, {{"kernel_shape", V{2, 2}}, {"strides", V{2, 2}}}) == Shape{-1, 3, -1, 4});
  CHECK(out_shape("max_pool", {2, 3, 8, 8, 8}, {{"kernel_shape", V{2, 2, 2}}, {"strides", V{2, 2, 2}}}) ==
        Shape{2, 3, 4, 4, 4});
  CHECK(out_shape("global_avg_pool", {2, 3, 5, 7}, {}) == Shape{2, 3, 1, 1});
  CHECK(out_shape("global_max_pool", {-1, 3, 5}, {}) == Shape{-1, 3, 1});
}

TEST_CASE("pooling rejects bad attributes, shapes and dtypes", "[pool]") {
  using V = std::vector<int64_t>;
  const Shape s{1, 2, 6, 6};
  expect_error(ErrorKind::attr, [&] { out_shape("max_pool", s, {}); });
  expect_error(ErrorKind::attr, [&] { out_shape("max_pool", s, {{"kernel_shape", V{2, 2, 2, 2}}}); });
  expect_error(ErrorKind::shape, [&] { out_shape("max_pool", s, {{"kernel_shape", V{2}}}); });
  expect_error(ErrorKind::attr, [&] { out_shape("max_pool", s, {{"kernel_shape", V{0, 2}}}); });
  expect_error(ErrorKind::attr, [&] { out_shape("max_pool", s, {{"kernel_shape", V{2, 2}}, {"strides", V{0, 1}}}); });
  expect_error(ErrorKind::attr, [&] { out_shape("max_pool", s, {{"kernel_shape", V{2, 2}}, {"strides", V{1}}}); });
  expect_error(ErrorKind::attr, [&] { out_shape("max_pool", s, {{"kernel_shape", V{2, 2}}, {"pads", V{1, 1}}}); });
  expect_error(ErrorKind::attr, [&] { out_shape("max_pool", s, {{"kernel_shape", V{2, 2}}, {"pads", V{2, 0, 0, 0}}}); });
  expect_error(ErrorKind::attr, [&] { out_shape("max_pool", s, {{"kernel_shape", V{2, 2}}, {"pads", V{-1, 0, 0, 0}}}); });
  expect_error(ErrorKind::attr, [&] { out_shape("max_pool", s, {{"kernel_shape", V{2, 2}}, {"dilations", V{0, 1}}}); });
  expect_error(ErrorKind::attr, [&] { out_shape("max_pool", s, {{"kernel_shape", V{2, 2}}, {"ceil_mode", int64_t(2)}}); });
  expect_error(ErrorKind::attr, [&] { out_shape("max_pool", s, {{"kernel_shape", V{2, 2}}, {"auto_pad", std::string("SAME")}}); });
  expect_error(ErrorKind::attr, [&] {
    out_shape("max_pool", s, {{"kernel_shape", V{2, 2}}, {"auto_pad", std::string("VALID")}, {"pads", V{1, 1, 1, 1}}});
  });
  expect_error(ErrorKind::attr, [&] { out_shape("avg_pool", s, {{"kernel_shape", V{2, 2}}, {"count_include_pad", int64_t(3)}}); });
  expect_error(ErrorKind::shape, [&] { out_shape("max_pool", s, {{"kernel_shape", V{7, 2}}}); });
  expect_error(ErrorKind::dtype, [&] { out_shape("max_pool", s, {{"kernel_shape", V{2, 2}}}, DType::i32); });
  expect_error(ErrorKind::dtype, [&] { out_shape("global_avg_pool", s, {}, DType::i64); });
  expect_error(ErrorKind::shape, [&] { out_shape("global_max_pool", {2, 3}, {}); });
  // Backward ops check the gradient's shape against the pooled shape.
  expect_error(ErrorKind::shape, [&] {
    make_node("max_pool_grad", {op::input("x", DType::f32, s), op::input("g", DType::f32, {1, 2, 4, 4})},
              {{"kernel_shape", V{2, 2}}, {"strides", V{2, 2}}});
  });
  expect_error(ErrorKind::dtype, [&] {
    make_node("max_pool_grad", {op::input("x", DType::f32, s), op::input("g", DType::f64, {1, 2, 3, 3})},
              {{"kernel_shape", V{2, 2}}, {"strides", V{2, 2}}});
  });
  expect_error(ErrorKind::shape, [&] {
    make_node("avg_pool_grad", {op::input("g", DType::f32, {1, 2, 2, 3}), op::input("x", DType::f32, s)},
              {{"kernel_shape", V{2, 2}}, {"strides", V{2, 2}}});
  });
}

TEST_CASE("lrn rejects bad attributes", "[pool]") {
  const Shape s{1, 4, 3, 3};
  expect_error(ErrorKind::attr, [&] { out_shape("lrn", s, {}); });
  expect_error(ErrorKind::attr, [&] { out_shape("lrn", s, {{"size", int64_t(0)}}); });
  expect_error(ErrorKind::attr, [&] { out_shape("lrn", s, {{"size", int64_t(3)}, {"beta", std::nan("")}}); });
  expect_error(ErrorKind::shape, [&] { out_shape("lrn", {4}, {{"size", int64_t(3)}}); });
  expect_error(ErrorKind::dtype, [&] { out_shape("lrn", s, {{"size", int64_t(3)}}, DType::i32); });
}

TEST_CASE("max pooling propagates NaN and routes its gradient to it", "[pool]") {
  // Width 43: 21 windows per row, i.e. two AVX2 groups, one SSE group, one scalar window
  // and an uncovered column; NaNs land in groups of every kind.
  using V = std::vector<int64_t>;
  const AttrMap a{{"kernel_shape", V{2, 2}}, {"strides", V{2, 2}}};
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (DType t : {DType::f32, DType::f64}) {
    Tensor x = random_tensor(t, {2, 2, 5, 43}, 5);
    Tensor u = random_tensor(DType::f64, x.shape(), 6, 0, 1);
    for (int64_t i = 0; i < x.numel(); ++i)
      if (u.get_as_double(i) < 0.08) x.set_from_double(i, nan);
    Tensor gy = random_tensor(t, {2, 2, 2, 21}, 7);
    Tensor y = run_op("max_pool", {x}, a)[0], gx = run_op("max_pool_grad", {x, gy}, a)[0];
    std::vector<double> want_gx(x.numel(), 0.0);
    int64_t nan_windows = 0;
    for (int64_t p = 0; p < 4; ++p)
      for (int64_t oh = 0; oh < 2; ++oh)
        for (int64_t ow = 0; ow < 21; ++ow) {
          // PyTorch's rule: take v when v > max or v is NaN, in window order.
          int64_t best = -1;
          double m = 0;
          for (int64_t r = 0; r < 2; ++r)
            for (int64_t c = 0; c < 2; ++c) {
              const int64_t i = p * 5 * 43 + (2 * oh + r) * 43 + 2 * ow + c;
              const double v = x.get_as_double(i);
              if (best < 0 || v > m || std::isnan(v)) {
                m = v;
                best = i;
              }
            }
          const int64_t o = (p * 2 + oh) * 21 + ow;
          INFO("dtype " << dtype_name(t) << ", window " << o);
          nan_windows += std::isnan(m);
          if (std::isnan(m)) CHECK(std::isnan(y.get_as_double(o)));
          else CHECK(y.get_as_double(o) == m);
          want_gx[best] += gy.get_as_double(o);
        }
    CHECK(nan_windows > 10);
    for (int64_t i = 0; i < x.numel(); ++i) {
      INFO("dtype " << dtype_name(t) << ", element " << i);
      const double w = t == DType::f32 ? static_cast<double>(static_cast<float>(want_gx[i])) : want_gx[i];
      CHECK(gx.get_as_double(i) == w);
    }
  }
}

TEST_CASE("max pooling: the first maximum of a window wins", "[pool]") {
  using V = std::vector<int64_t>;
  const AttrMap a{{"kernel_shape", V{2, 2}}, {"strides", V{2, 2}}};
  for (DType t : {DType::f32, DType::f64}) {
    Tensor x(t, {1, 1, 2, 8});  // all zeros: every window is one big tie
    Tensor gy = make_tensor(t, {1, 1, 1, 4}, {1, 2, 3, 4});
    Tensor gx = run_op("max_pool_grad", {x, gy}, a)[0];
    for (int64_t i = 0; i < 16; ++i) CHECK(gx.get_as_double(i) == (i < 8 && i % 2 == 0 ? (i / 2 + 1) : 0));
  }
}

TEST_CASE("LeNet-sized pooling matches the reference for any thread count", "[pool]") {
  ThreadGuard guard;
  using V = std::vector<int64_t>;
  const AttrMap a{{"kernel_shape", V{2, 2}}, {"strides", V{2, 2}}};
  const PoolSpec p = pool_spec({2, 2}, {2, 2});
  for (const Shape& s : {Shape{4, 20, 24, 24}, Shape{4, 50, 8, 8}, Shape{3, 5, 11, 13}}) {
    Tensor x = random_tensor(DType::f32, s, 9);
    Tensor want_max = ref_pool(x, p, PoolRef::max), want_avg = ref_pool(x, p, PoolRef::avg);
    Tensor gy = random_tensor(DType::f32, want_max.shape(), 10);
    Tensor want_gmax = ref_pool_backward(x, gy, p, PoolRef::max), want_gavg = ref_pool_backward(x, gy, p, PoolRef::avg);
    for (int nt : {1, 2}) {
      set_engine_num_threads(nt);
      INFO("shape " << shape_str(s) << ", threads " << nt);
      check_close(run_op("max_pool", {x}, a)[0], want_max, 1e-6);
      check_close(run_op("avg_pool", {x}, a)[0], want_avg, 1e-6);
      check_close(run_op("max_pool_grad", {x, gy}, a)[0], want_gmax, 1e-6);
      check_close(run_op("avg_pool_grad", {gy, x}, a)[0], want_gavg, 1e-6);
    }
  }
}

TEST_CASE("pooling gradients are differentiable again", "[pool]") {
  // h = sum(grad_x(sum(w * pool(x)^2))^2): the output gradient depends on x, so dh/dx runs
  // through max_pool_grad -> max_pool_gather and avg_pool_grad -> avg_pool.
  using V = std::vector<int64_t>;
  for (const char* name : {"max_pool", "avg_pool"}) {
    INFO(name);
    Value x = op::input("x", DType::f64, {1, 2, 4, 5});
    Value y = op::apply(name, {x}, {{"kernel_shape", V{2, 3}}, {"strides", V{1, 2}}, {"pads", V{0, 1, 1, 0}}});
    Tensor w = random_tensor(DType::f64, y.shape(), 3);
    Value gx = gradients(op::reduce_sum(op::mul(op::square(y), op::constant(w))), {x})[0];
    Value h = op::reduce_sum(op::square(gx));
    Value ggx = gradients(h, {x})[0];
    Graph g = Graph::from_outputs({h, ggx});
    g.inputs = {x};
    Graph gh = Graph::from_outputs({h});
    gh.inputs = {x};
    Tensor xv = random_tensor(DType::f64, {1, 2, 4, 5}, 4);
    Tensor an = run_graph(g, {xv}, true)[1];
    const double eps = 1e-6;
    for (int64_t i = 0; i < xv.numel(); ++i) {
      const double v = xv.get_as_double(i);
      xv.set_from_double(i, v + eps);
      const double hp = run_graph(gh, {xv}, false)[0].get_as_double(0);
      xv.set_from_double(i, v - eps);
      const double hm = run_graph(gh, {xv}, false)[0].get_as_double(0);
      xv.set_from_double(i, v);
      INFO("element " << i);
      CHECK(an.get_as_double(i) == Approx((hp - hm) / (2 * eps)).margin(1e-6).epsilon(1e-5));
    }
  }
}

TEST_CASE("batch_norm and layer_norm reject bad inputs", "[norm]") {
  auto bn = [](Shape xs, Shape cs, AttrMap a = {}, DType pt = DType::f32) {
    std::vector<Value> in{op::input("x", DType::f32, xs)};
    for (const char* n : {"scale", "bias", "mean", "var"}) in.push_back(op::input(n, pt, cs));
    return make_node("batch_norm", in, a);
  };
  CHECK(bn({2, 3, 4}, {3}).size() == 1);
  CHECK(bn({2, 3, 4}, {3}, {{"training", int64_t(1)}}).size() == 5);
  CHECK(bn({-1, 3, 4}, {3}, {{"training", int64_t(1)}}).at(1).shape() == Shape{3});
  expect_error(ErrorKind::shape, [&] { bn({2, 3, 4}, {4}); });
  expect_error(ErrorKind::shape, [&] { bn({3}, {3}); });
  expect_error(ErrorKind::dtype, [&] { bn({2, 3}, {3}, {}, DType::f64); });
  expect_error(ErrorKind::attr, [&] { bn({2, 3}, {3}, {{"training", int64_t(2)}}); });
  expect_error(ErrorKind::attr, [&] { bn({2, 3}, {3}, {{"epsilon", -1.0}}); });
  expect_error(ErrorKind::attr, [&] { bn({2, 3}, {3}, {{"momentum", std::nan("")}}); });
  expect_error(ErrorKind::shape, [&] { bn({1, 3, 1, 1}, {3}, {{"training", int64_t(1)}}); });

  auto ln = [](Shape xs, Shape ss, AttrMap a = {}) {
    return make_node("layer_norm", {op::input("x", DType::f32, xs), op::input("s", DType::f32, ss)}, a);
  };
  CHECK(ln({2, 3, 4}, {3, 4}, {{"axis", int64_t(1)}}).at(1).shape() == Shape{2, 1, 1});
  CHECK(ln({2, 3, 4}, {4}).at(2).shape() == Shape{2, 3, 1});
  expect_error(ErrorKind::shape, [&] { ln({2, 3, 4}, {3}); });
  expect_error(ErrorKind::attr, [&] { ln({2, 3, 4}, {4}, {{"axis", int64_t(3)}}); });
  expect_error(ErrorKind::dtype, [&] {
    make_node("layer_norm", {op::input("x", DType::i32, {2, 3}), op::input("s", DType::i32, {3})});
  });
}

TEST_CASE("batch_norm updates running statistics through variables", "[norm]") {
  const double mom = 0.9;
  auto rm = Variable::create("rm", make_tensor(DType::f32, {2}, {0.5, -1}));
  auto rv = Variable::create("rv", make_tensor(DType::f32, {2}, {2, 3}));
  Value x = op::input("x", DType::f32, {3, 2, 2});
  Value scale = op::constant(make_tensor(DType::f32, {2}, {1, 1}));
  Value bias = op::constant(make_tensor(DType::f32, {2}, {0, 0}));
  std::vector<Value> o = make_node("batch_norm", {x, scale, bias, op::variable(rm), op::variable(rv)},
                                   {{"training", int64_t(1)}, {"momentum", mom}});
  Graph g;
  g.inputs = {x};
  g.outputs = {o[0], o[3], o[4]};
  CompileOptions opts;
  opts.update_vars = {rm, rv};
  auto ex = compile_on_target(g, {{DType::f32, {3, 2, 2}}}, opts);
  // Channel 0: 1..6 (mean 3.5, unbiased var 3.5); channel 1: all 2 (var 0).
  Tensor xv = make_tensor(DType::f32, {3, 2, 2}, {1, 2, 2, 2, 3, 4, 2, 2, 5, 6, 2, 2});
  double m0 = 0.5, v0 = 2, m1 = -1, v1 = 3;
  for (int run = 0; run < 2; ++run) {
    ex->run({xv.view()});
    m0 = m0 * mom + 3.5 * (1 - mom);
    v0 = v0 * mom + 3.5 * (1 - mom);
    m1 = m1 * mom + 2 * (1 - mom);
    v1 = v1 * mom;
    CHECK(rm->host().get_as_double(0) == Approx(m0));
    CHECK(rv->host().get_as_double(0) == Approx(v0));
    CHECK(rm->host().get_as_double(1) == Approx(m1));
    CHECK(rv->host().get_as_double(1) == Approx(v1));
  }
  // y of the constant channel is 0 (bias), not NaN (epsilon keeps 0 / sqrt(0 + eps) finite).
  TensorView y = ex->output(0);
  CHECK(y.ptr<float>()[2] == 0.0f);
}

TEST_CASE("second derivatives through training-mode batch_norm are reported, not wrong", "[norm]") {
  Value x = op::input("x", DType::f64, {4, 2});
  Value c = op::constant(make_tensor(DType::f64, {2}, {1, 1}));
  Value z = op::constant(make_tensor(DType::f64, {2}, {0, 0}));
  Value y = make_node("batch_norm", {x, c, z, z, c}, {{"training", int64_t(1)}}).at(0);
  Value gx = gradients(op::reduce_sum(op::square(y)), {x})[0];
  expect_error(ErrorKind::value, [&] { gradients(op::reduce_sum(gx), {x}); });
}

namespace {

// Runs one dropout node (fresh executable: run index 0) and returns its mask.
Tensor dropout_mask(const Shape& s, double ratio, const std::string& name, const AttrMap& extra = {},
                    uint64_t exe_seed = 0, int runs = 1) {
  Value x = op::input("x", DType::f32, s);
  AttrMap a{{"ratio", ratio}, {"training", int64_t(1)}};
  for (const auto& kv : extra.items()) a.set(kv.first, kv.second);
  std::vector<Value> o = make_node("dropout", {x}, a, name);
  Graph g = Graph::from_outputs({o[1]});
  g.inputs = {x};
  CompileOptions opts;
  opts.seed = exe_seed;
  auto ex = compile_on_target(g, {{DType::f32, s}}, opts);
  Tensor xv(DType::f32, s);
  for (int r = 0; r < runs; ++r) ex->run({xv.view()});
  return to_tensor(ex->output(0));
}

bool same(const Tensor& a, const Tensor& b) {
  return a.bytes() == b.bytes() && std::memcmp(a.data(), b.data(), a.bytes()) == 0;
}

double mean_of(const Tensor& m) {
  double s = 0;
  for (int64_t i = 0; i < m.numel(); ++i) s += m.get_as_double(i);
  return s / static_cast<double>(m.numel());
}

}  // namespace

TEST_CASE("dropout masks are independent of the thread count and change every run", "[norm]") {
  ThreadGuard guard;
  const Shape s{257, 129};
  set_engine_num_threads(1);
  Tensor one = dropout_mask(s, 0.5, "drop1");
  set_engine_num_threads(2);
  Tensor two = dropout_mask(s, 0.5, "drop1");
  CHECK(same(one, two));
  CHECK(!same(one, dropout_mask(s, 0.5, "drop1", {}, 0, 2)));         // next run
  CHECK(!same(one, dropout_mask(s, 0.5, "drop2")));                   // another node
  CHECK(!same(one, dropout_mask(s, 0.5, "drop1", {}, 42)));           // executable seed
  Tensor seeded = dropout_mask(s, 0.5, "drop1", {{"seed", int64_t(3)}});
  CHECK(same(seeded, dropout_mask(s, 0.5, "drop1", {{"seed", int64_t(3)}}, 42)));  // seed attr wins
  CHECK(!same(one, seeded));
  for (double ratio : {0.1, 0.5, 0.9}) {
    INFO("ratio " << ratio);
    CHECK(std::abs(mean_of(dropout_mask(s, ratio, "drop1")) - (1 - ratio)) < 0.01);
  }
  CHECK(mean_of(dropout_mask(s, 1.0, "drop1")) == 0);
  CHECK(mean_of(dropout_mask(s, 0.0, "drop1")) == 1);
}

TEST_CASE("dropout gradient is the kept gradient scaled by 1 / (1 - ratio)", "[norm]") {
  Value x = op::input("x", DType::f64, {40, 30});
  std::vector<Value> o = make_node("dropout", {x}, {{"ratio", 0.25}, {"training", int64_t(1)}});
  Tensor w = random_tensor(DType::f64, {40, 30}, 8);
  Value gx = gradients(op::reduce_sum(op::mul(o[0], op::constant(w))), {x})[0];
  Graph g = Graph::from_outputs({o[1], gx});
  g.inputs = {x};
  std::vector<Tensor> r = run_graph(g, {random_tensor(DType::f64, {40, 30}, 9)}, true);
  for (int64_t i = 0; i < w.numel(); ++i) {
    const double want = r[0].get_as_double(i) != 0 ? w.get_as_double(i) / 0.75 : 0.0;
    REQUIRE(r[1].get_as_double(i) == Approx(want));
  }
  // Inference mode: identity, gradient passes unchanged.
  Value y2 = make_node("dropout", {x}, {{"ratio", 0.25}}).at(0);
  Value g2 = gradients(op::reduce_sum(op::mul(y2, op::constant(w))), {x})[0];
  Graph gg = Graph::from_outputs({g2});
  gg.inputs = {x};
  check_close(run_graph(gg, {random_tensor(DType::f64, {40, 30}, 9)}, true)[0], w, 1e-12);
  expect_error(ErrorKind::attr, [&] { make_node("dropout", {x}, {{"ratio", 1.5}}); });
  expect_error(ErrorKind::dtype, [&] { make_node("dropout", {op::input("i", DType::i32, {3})}); });
}

TEST_CASE("pooling and normalization accept empty batches", "[pool][norm]") {
  using V = std::vector<int64_t>;
  const AttrMap p2{{"kernel_shape", V{2, 2}}, {"strides", V{2, 2}}};
  CHECK(run_op("max_pool", {Tensor(DType::f32, {0, 3, 4, 4})}, p2)[0].shape() == Shape{0, 3, 2, 2});
  CHECK(run_op("avg_pool", {Tensor(DType::f32, {2, 0, 4, 4})}, p2)[0].shape() == Shape{2, 0, 2, 2});
  CHECK(run_op("global_avg_pool", {Tensor(DType::f64, {0, 2, 3})})[0].shape() == Shape{0, 2, 1});
  CHECK(run_op("lrn", {Tensor(DType::f32, {0, 4, 2})}, {{"size", int64_t(3)}})[0].shape() == Shape{0, 4, 2});
  Tensor c(DType::f32, {3});
  CHECK(run_op("batch_norm", {Tensor(DType::f32, {0, 3, 2}), c, c, c, c})[0].shape() == Shape{0, 3, 2});
  std::vector<Tensor> ln = run_op("layer_norm", {Tensor(DType::f32, {0, 4}), Tensor(DType::f32, {4})});
  CHECK(ln[1].shape() == Shape{0, 1});
  ln = run_op("layer_norm", {Tensor(DType::f64, {2, 0}), Tensor(DType::f64, {0})}, {{"epsilon", 0.25}});
  CHECK(ln[1].get_as_double(1) == 0);
  CHECK(ln[2].get_as_double(1) == 2);
  CHECK(run_op("dropout", {Tensor(DType::f32, {0})}, {{"training", int64_t(1)}})[1].numel() == 0);
}
