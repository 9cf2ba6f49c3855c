// Convolution ops: the conv cases under every kernel path (threads, GEMM backends),
// second-order gradients, error messages, and the row-major GEMM wrappers.
#include <array>
#include <cmath>
#include <cstring>
#include <set>

#include "conv_reference.h"
#include "engine/kernels/cpu/blas.h"
#include "engine/kernels/cpu/conv_gemm.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/passes/passes.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

namespace {

const std::set<std::string> kConvOps = {"conv", "conv_transpose", "conv_forward_like", "conv_grad_input",
                                        "conv_grad_weight"};

void run_conv_cases(bool grads) {
  for (const OpCase& c : all_cases()) {
    if (!kConvOps.count(c.op)) continue;
    DYNAMIC_SECTION(case_name(c)) {
      std::vector<Tensor> out = run_op(c.op, c.inputs, c.attrs);
      std::vector<Tensor> want = c.reference(c.inputs);
      REQUIRE(out.size() == want.size());
      for (size_t i = 0; i < out.size(); ++i) check_close(out[i], want[i], c.tol);
      if (grads && c.grad) check_gradients(c);
    }
  }
}

struct ThreadsGuard {
  int prev = engine_num_threads();
  explicit ThreadsGuard(int n) { set_engine_num_threads(n); }
  ~ThreadsGuard() { set_engine_num_threads(prev); }
};

struct BackendGuard {
  explicit BackendGuard(const char* name) { ok = set_gemm_backend(name); }
  ~BackendGuard() { set_gemm_backend("auto"); }
  bool ok;
};

Value in(const std::string& name, const Tensor& t) { return op::input(name, t.dtype(), t.shape()); }

}  // namespace

TEST_CASE("conv cases match references and finite differences", "[conv]") {
  INFO("gemm backend " << gemm_backend_name());
  run_conv_cases(true);
}

TEST_CASE("conv cases on one thread and on two", "[conv]") {
  for (int nt : {1, 2}) {
    ThreadsGuard g(nt);
    DYNAMIC_SECTION("threads " << nt) { run_conv_cases(false); }
  }
}

TEST_CASE("conv cases on the Eigen, BLAS and symnet GEMM backends", "[conv]") {
  for (const char* b : {"eigen", "blas", "symnet"}) {
    BackendGuard g(b);
    if (!g.ok) continue;  // no BLAS linked
    DYNAMIC_SECTION("backend " << b) { run_conv_cases(false); }
  }
}

TEST_CASE("conv float32 cases on the packed kernel and on the BLAS path", "[conv]") {
  for (bool packed : {true, false}) {
    convgemm::set_enabled(packed);
    DYNAMIC_SECTION((packed ? "packed" : "blas") << (convgemm::available() ? " (packed kernel on)" : "")) {
      run_conv_cases(false);
    }
  }
  convgemm::set_enabled(true);
}

TEST_CASE("conv second-order gradients", "[conv][grad]") {
  // f(x, w) = sum(r2 * d/dx sum(r1 * conv(x, w))) and
  // h(x, w) = sum(r2 * d/dw sum(r1 * conv(x, w))): their gradients go through
  // conv_grad_input and conv_grad_weight's own rules.
  AttrMap attrs{{"pads", std::vector<int64_t>{1, 0, 0, 1}}, {"strides", std::vector<int64_t>{2, 1}}};
  Tensor x = random_tensor(DType::f64, {2, 2, 4, 3}, 5);
  Tensor w = random_tensor(DType::f64, {3, 2, 2, 2}, 6);
  for (int which : {0, 1}) {
    DYNAMIC_SECTION("outer grad of d/d" << (which == 0 ? "x" : "w")) {
      Value xv = in("x", x), wv = in("w", w);
      Value y = op::apply("conv", {xv, wv}, attrs);
      Tensor r1 = random_tensor(DType::f64, y.shape(), 7, 0.5, 1.5);
      Value l1 = op::reduce_sum(op::mul(y, op::constant(r1)));
      Value g1 = gradients(l1, {which == 0 ? xv : wv})[0];
      Tensor r2 = random_tensor(DType::f64, g1.shape(), 8, 0.5, 1.5);
      // Make the inner gradient depend on both inputs nonlinearly through tanh.
      Value l2 = op::reduce_sum(op::mul(op::tanh(g1), op::constant(r2)));
      std::vector<Value> g2 = gradients(l2, {xv, wv});
      Graph g = Graph::from_outputs({l2, g2[0], g2[1]});
      g.inputs = {xv, wv};
      std::vector<Tensor> feeds{x, w};
      std::vector<Tensor> res = run_graph(g, feeds, false);
      Graph gl = Graph::from_outputs({l2});
      gl.inputs = {xv, wv};
      const double h = 1e-6;
      for (int k = 0; k < 2; ++k) {
        Tensor& t = feeds[k];
        for (int64_t e = 0; e < t.numel(); ++e) {
          double o = t.get_as_double(e);
          t.set_from_double(e, o + h);
          double fp = run_graph(gl, feeds, false)[0].get_as_double(0);
          t.set_from_double(e, o - h);
          double fm = run_graph(gl, feeds, false)[0].get_as_double(0);
          t.set_from_double(e, o);
          double fd = (fp - fm) / (2 * h), an = res[1 + k].get_as_double(e);
          INFO("input " << k << " element " << e);
          REQUIRE(std::abs(fd - an) <= 1e-5 * (1 + std::abs(fd)));
        }
      }
    }
  }
}

TEST_CASE("conv in a compiled, optimized graph with bias and batch -1 input", "[conv]") {
  // Unknown batch at build time, concrete at compile time.
  Value x = op::input("x", DType::f32, {-1, 1, 8, 8});
  Tensor w = random_tensor(DType::f32, {4, 1, 3, 3}, 1);
  Tensor b = random_tensor(DType::f32, {4}, 2);
  Value y = op::apply("conv", {x, op::constant(w), op::constant(b)}, {{"auto_pad", std::string("SAME_UPPER")}});
  REQUIRE(y.shape() == Shape{-1, 4, 8, 8});
  Value l = op::reduce_sum(op::tanh(y));
  Value gx = gradients(l, {x})[0];
  Graph g = Graph::from_outputs({y, gx});
  g.inputs = {x};
  Tensor xt = random_tensor(DType::f32, {5, 1, 8, 8}, 3);
  std::vector<Tensor> out = run_graph(g, {xt}, true);
  RefFrame f{2, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1};
  Tensor want = ref_forward(xt, w, {5, 4, 8, 8}, f);
  ref_add_bias(want, b);
  check_close(out[0], want, 1e-4);
  REQUIRE(out[1].shape() == xt.shape());
}

TEST_CASE("conv shape inference with unknown dims", "[conv]") {
  Value x = op::input("x", DType::f32, {-1, 3, -1, 10});
  Value w = op::input("w", DType::f32, {6, 3, 3, 3});
  Value y = op::apply("conv", {x, w}, {{"strides", std::vector<int64_t>{1, 2}}});
  REQUIRE(y.shape() == Shape{-1, 6, -1, 4});
  Value t = op::apply("conv_transpose", {op::input("z", DType::f32, {2, 6, -1, 4}), w},
                      {{"strides", std::vector<int64_t>{2, 2}}});
  REQUIRE(t.shape() == Shape{2, 3, -1, 9});
}

TEST_CASE("conv rejects bad shapes and attributes", "[conv]") {
  auto f32 = [](Shape s) { return op::input("t", DType::f32, s); };
  Value x = f32({2, 4, 6, 6});
  auto conv = [&](Value a, Value b, AttrMap at = {}) { return op::apply("conv", {a, b}, at); };
  // channel mismatch
  REQUIRE_THROWS_AS(conv(x, f32({3, 3, 3, 3})), Error);
  // kernel larger than the padded input
  REQUIRE_THROWS_AS(conv(x, f32({3, 4, 7, 3})), Error);
  REQUIRE_NOTHROW(conv(x, f32({3, 4, 7, 3}), {{"pads", std::vector<int64_t>{1, 0, 0, 0}}}));
  // group does not divide channels
  REQUIRE_THROWS_AS(conv(x, f32({3, 2, 3, 3}), {{"group", int64_t(3)}}), Error);
  REQUIRE_THROWS_AS(conv(x, f32({3, 1, 3, 3}), {{"group", int64_t(4)}}), Error);  // 3 outputs / 4 groups
  // wrong ranks
  REQUIRE_THROWS_AS(conv(f32({2, 4}), f32({3, 4})), Error);
  REQUIRE_THROWS_AS(conv(x, f32({3, 4, 3})), Error);
  // attribute lengths and values
  REQUIRE_THROWS_AS(conv(x, f32({3, 4, 3, 3}), {{"strides", std::vector<int64_t>{1}}}), Error);
  REQUIRE_THROWS_AS(conv(x, f32({3, 4, 3, 3}), {{"strides", std::vector<int64_t>{0, 1}}}), Error);
  REQUIRE_THROWS_AS(conv(x, f32({3, 4, 3, 3}), {{"pads", std::vector<int64_t>{1, 1}}}), Error);
  REQUIRE_THROWS_AS(conv(x, f32({3, 4, 3, 3}), {{"pads", std::vector<int64_t>{-1, 0, 0, 0}}}), Error);
  REQUIRE_THROWS_AS(conv(x, f32({3, 4, 3, 3}), {{"auto_pad", std::string("SAME")}}), Error);
  REQUIRE_THROWS_AS(conv(x, f32({3, 4, 3, 3}),
                         {{"auto_pad", std::string("SAME_UPPER")}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}}),
                    Error);
  REQUIRE_THROWS_AS(conv(x, f32({3, 4, 3, 3}), {{"kernel_shape", std::vector<int64_t>{3, 2}}}), Error);
  REQUIRE_THROWS_AS(conv(x, f32({3, 4, 3, 3}), {{"output_padding", std::vector<int64_t>{1, 1}}}), Error);
  // bias shape and dtypes
  REQUIRE_THROWS_AS(op::apply("conv", {x, f32({3, 4, 3, 3}), f32({4})}), Error);
  REQUIRE_THROWS_AS(op::apply("conv", {x, op::input("w", DType::f64, {3, 4, 3, 3})}), Error);
  REQUIRE_THROWS_AS(op::apply("conv", {op::input("xi", DType::i32, {2, 4, 6, 6}), op::input("wi", DType::i32, {3, 4, 3, 3})}),
                    Error);
  // conv_transpose
  auto ct = [&](Value a, Value b, AttrMap at = {}) { return op::apply("conv_transpose", {a, b}, at); };
  REQUIRE_THROWS_AS(ct(x, f32({3, 2, 3, 3})), Error);  // weight dim 0 must equal input channels
  REQUIRE_THROWS_AS(ct(x, f32({4, 2, 3, 3}), {{"output_padding", std::vector<int64_t>{1, 1}}}), Error);  // >= stride
  REQUIRE_NOTHROW(ct(x, f32({4, 2, 3, 3}),
                     {{"output_padding", std::vector<int64_t>{1, 1}}, {"strides", std::vector<int64_t>{2, 2}}}));
  REQUIRE_THROWS_AS(ct(x, f32({4, 2, 3, 3}), {{"pads", std::vector<int64_t>{5, 5, 5, 5}}}), Error);  // negative size
  REQUIRE_THROWS_AS(ct(x, f32({4, 2, 3, 3}), {{"group", int64_t(3)}}), Error);
  try {
    conv(x, f32({3, 3, 3, 3}));
    FAIL("no error");
  } catch (const Error& e) {
    REQUIRE(e.kind() == ErrorKind::shape);
    REQUIRE(std::string(e.what()).find("channels") != std::string::npos);
  }
}

TEST_CASE("row-major GEMM wrappers match a naive product", "[conv][gemm]") {
  ThreadsGuard tg(2);
  for (const char* backend : {"eigen", "blas", "symnet"}) {
    BackendGuard bg(backend);
    if (!bg.ok) continue;
    for (auto mnk : {std::array<int64_t, 3>{37, 53, 29}, {150, 37, 100}, {37, 150, 100}})
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (int par = 0; par < 2; ++par) {
          const int64_t M = mnk[0], N = mnk[1], K = mnk[2];
          DYNAMIC_SECTION(backend << " " << M << "x" << N << "x" << K << " ta " << ta << " tb " << tb << " parallel " << par) {
            // Leading dimensions larger than the logical extents.
            const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
            Tensor a = random_tensor(DType::f64, {ta ? K : M, lda}, 1);
            Tensor b = random_tensor(DType::f64, {tb ? N : K, ldb}, 2);
            Tensor c = random_tensor(DType::f64, {M, ldc}, 3);
            Tensor c0 = c.clone();
            const double* A = a.ptr<double>();
            const double* B = b.ptr<double>();
            if (par)
              gemm_rowmajor_parallel<double>(ta, tb, M, N, K, 0.5, A, lda, B, ldb, 2.0, c.ptr<double>(), ldc);
            else
              dgemm_rowmajor(ta, tb, M, N, K, 0.5, A, lda, B, ldb, 2.0, c.ptr<double>(), ldc);
            Tensor af = Tensor(DType::f32, a.shape()), bf = Tensor(DType::f32, b.shape()), cf = c0.clone();
            convert_elements(a.data(), DType::f64, af.data(), DType::f32, a.numel());
            convert_elements(b.data(), DType::f64, bf.data(), DType::f32, b.numel());
            Tensor cf32(DType::f32, c0.shape());
            convert_elements(c0.data(), DType::f64, cf32.data(), DType::f32, c0.numel());
            sgemm_rowmajor(ta, tb, M, N, K, 0.5f, af.ptr<float>(), lda, bf.ptr<float>(), ldb, 2.0f, cf32.ptr<float>(),
                           ldc);
            for (int64_t i = 0; i < M; ++i)
              for (int64_t j = 0; j < N; ++j) {
                double s = 0;
                for (int64_t k = 0; k < K; ++k)
                  s += (ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
                double want = 0.5 * s + 2.0 * c0.ptr<double>()[i * ldc + j];
                REQUIRE(std::abs(c.ptr<double>()[i * ldc + j] - want) < 1e-12 * (1 + std::abs(want)));
                REQUIRE(std::abs(cf32.ptr<float>()[i * ldc + j] - want) < 1e-4 * (1 + std::abs(want)));
              }
            // Padding columns of C are untouched.
            for (int64_t i = 0; i < M; ++i)
              for (int64_t j = N; j < ldc; ++j) REQUIRE(c.ptr<double>()[i * ldc + j] == c0.ptr<double>()[i * ldc + j]);
          }
        }
  }
}

TEST_CASE("gemm backend is reported", "[conv][gemm]") {
  std::string name = gemm_backend_name();
  INFO(name);
  REQUIRE(!name.empty());
  REQUIRE(set_gemm_backend("eigen"));
  REQUIRE(std::string(gemm_backend_name()) == "eigen");
  REQUIRE(set_gemm_backend("auto"));
  REQUIRE(std::string(gemm_backend_name()) == name);
  REQUIRE_FALSE(set_gemm_backend("nonsense"));
}

TEST_CASE("the weight gradient is the same bits for any thread count and run", "[conv]") {
  AttrMap a;
  Tensor x = random_tensor(DType::f32, {37, 3, 12, 12}, 301);
  Tensor gy = random_tensor(DType::f32, {37, 8, 8, 8}, 302);
  Tensor w = random_tensor(DType::f32, {8, 3, 5, 5}, 303);
  const int old = engine_num_threads();
  std::vector<Tensor> runs;
  for (int threads : {1, 2, 3, 2, 1}) {
    set_engine_num_threads(threads);
    runs.push_back(run_op("conv_grad_weight", {x, gy, w}, a).at(0));
  }
  set_engine_num_threads(old);
  for (const Tensor& r : runs) {
    REQUIRE(r.bytes() == runs[0].bytes());
    CHECK(std::memcmp(r.data(), runs[0].data(), r.bytes()) == 0);
  }
}
