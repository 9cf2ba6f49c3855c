// Cases for matmul (NumPy semantics, incl. 1-D operands and batch broadcasting) and gemm
// (transpose flags, C broadcasting). References are naive triple loops in double.
#include <cmath>

#include "harness.h"
#include "engine/kernels/cpu/parallel.h"

namespace symnet::test {

namespace {

Tensor ref_matmul(const Tensor& a, const Tensor& b) {
  Shape as = a.shape(), bs = b.shape();
  const bool a1 = as.size() == 1, b1 = bs.size() == 1;
  if (a1) as.insert(as.begin(), 1);
  if (b1) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  Shape ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  size_t nb = std::max(ab.size(), bb.size());
  ab.insert(ab.begin(), nb - ab.size(), 1);
  bb.insert(bb.begin(), nb - bb.size(), 1);
  Shape ob(nb);
  int64_t batch = 1;
  for (size_t d = 0; d < nb; ++d) {
    ob[d] = std::max(ab[d], bb[d]);
    batch *= ob[d];
  }
  Shape out = ob;
  if (!a1) out.push_back(M);
  if (!b1) out.push_back(N);
  Tensor y(a.dtype(), out);
  for (int64_t i = 0; i < batch; ++i) {
    int64_t r = i, oa = 0, obb = 0, mul_a = 1, mul_b = 1;
    for (int64_t d = static_cast<int64_t>(nb) - 1; d >= 0; --d) {
      int64_t id = r % ob[d];
      r /= ob[d];
      oa += (ab[d] == 1 ? 0 : id) * mul_a;
      obb += (bb[d] == 1 ? 0 : id) * mul_b;
      mul_a *= ab[d];
      mul_b *= bb[d];
    }
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k)
          s += a.get_as_double(oa * M * K + m * K + k) * b.get_as_double(obb * K * N + k * N + n);
        y.set_from_double(i * M * N + m * N + n, s);
      }
  }
  return y;
}

OpCase matmul_case(Tensor a, Tensor b, std::string label) {
  OpCase c;
  c.op = "matmul";
  c.inputs = {a, b};
  c.label = std::move(label);
  c.reference = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{ref_matmul(in[0], in[1])}; };
  if (a.dtype() == DType::f32) c.tol = 1e-5;
  return c;
}

Tensor ref_gemm(const std::vector<Tensor>& in, double alpha, double beta, bool ta, bool tb) {
  const Tensor& a = in[0];
  const Tensor& b = in[1];
  const int64_t M = ta ? a.shape()[1] : a.shape()[0], K = ta ? a.shape()[0] : a.shape()[1];
  const int64_t N = tb ? b.shape()[0] : b.shape()[1];
  Tensor y(a.dtype(), {M, N});
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) {
        double av = ta ? a.get_as_double(k * M + m) : a.get_as_double(m * K + k);
        double bv = tb ? b.get_as_double(n * K + k) : b.get_as_double(k * N + n);
        s += av * bv;
      }
      double cv = 0;
      if (in.size() > 2) {
        const Shape& cs = in[2].shape();
        int64_t cm = cs.size() >= 2 ? cs[cs.size() - 2] : 1, cn = cs.empty() ? 1 : cs.back();
        cv = in[2].get_as_double((cm == 1 ? 0 : m) * cn + (cn == 1 ? 0 : n));
      }
      y.set_from_double(m * N + n, alpha * s + beta * cv);
    }
  return y;
}

OpCase gemm_case(std::vector<Tensor> in, double alpha, double beta, bool ta, bool tb, std::string label) {
  OpCase c;
  c.op = "gemm";
  c.inputs = std::move(in);
  c.label = std::move(label);
  c.attrs.set("transA", int64_t(ta));
  c.attrs.set("transB", int64_t(tb));
  if (alpha != 1) c.attrs.set("alpha", alpha);
  if (beta != 1) c.attrs.set("beta", beta);
  c.reference = [alpha, beta, ta, tb](const std::vector<Tensor>& x) {
    return std::vector<Tensor>{ref_gemm(x, alpha, beta, ta, tb)};
  };
  return c;
}

}  // namespace

void add_linalg_cases(std::vector<OpCase>& cases) {
  using D = DType;
  cases.push_back(matmul_case(random_tensor(D::f32, {3, 4}, 1), random_tensor(D::f32, {4, 5}, 2), "2-D"));
  cases.push_back(matmul_case(random_tensor(D::f64, {3, 4}, 3), random_tensor(D::f64, {4, 5}, 4), "2-D"));
  cases.push_back(matmul_case(random_tensor(D::f64, {4}, 5), random_tensor(D::f64, {4, 5}, 6), "1-D x 2-D"));
  cases.push_back(matmul_case(random_tensor(D::f64, {3, 4}, 7), random_tensor(D::f64, {4}, 8), "2-D x 1-D"));
  cases.push_back(matmul_case(random_tensor(D::f64, {4}, 9), random_tensor(D::f64, {4}, 10), "dot"));
  cases.push_back(matmul_case(random_tensor(D::f64, {2, 3, 4}, 11), random_tensor(D::f64, {4, 5}, 12), "batch x 2-D"));
  cases.push_back(matmul_case(random_tensor(D::f64, {3, 4}, 13), random_tensor(D::f64, {2, 4, 5}, 14), "2-D x batch"));
  cases.push_back(matmul_case(random_tensor(D::f64, {2, 3, 4}, 15), random_tensor(D::f64, {2, 4, 2}, 16), "batch"));
  cases.push_back(matmul_case(random_tensor(D::f64, {2, 1, 3, 4}, 17), random_tensor(D::f64, {3, 4, 2}, 18),
                              "broadcast batch"));
  cases.push_back(matmul_case(random_tensor(D::f64, {2, 3, 4}, 19), random_tensor(D::f64, {4}, 20), "batch x 1-D"));
  cases.push_back(matmul_case(random_tensor(D::f64, {4}, 21), random_tensor(D::f64, {2, 4, 3}, 22), "1-D x batch"));
  cases.push_back(matmul_case(random_tensor(D::i32, {3, 4}, 23, -5, 5), random_tensor(D::i32, {4, 2}, 24, -5, 5), "int32"));
  cases.push_back(matmul_case(random_tensor(D::i64, {2, 3, 4}, 25, -5, 5), random_tensor(D::i64, {2, 4, 2}, 26, -5, 5),
                              "int64 batch"));
  {
    OpCase c = matmul_case(random_tensor(D::f32, {96, 200}, 27), random_tensor(D::f32, {200, 130}, 28), "large");
    c.grad = false;
    c.tol = 1e-5;
    cases.push_back(c);
    c = matmul_case(random_tensor(D::f32, {64, 8, 16}, 29), random_tensor(D::f32, {64, 16, 8}, 30), "many small");
    c.grad = false;
    cases.push_back(c);
    c = matmul_case(random_tensor(D::f64, {3, 0}, 31), random_tensor(D::f64, {0, 2}, 32), "empty inner");
    c.grad = false;
    cases.push_back(c);
  }

  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = random_tensor(D::f64, ta ? Shape{4, 3} : Shape{3, 4}, 40 + ta);
      Tensor b = random_tensor(D::f64, tb ? Shape{5, 4} : Shape{4, 5}, 42 + tb);
      std::string l = std::string("transA ") + (ta ? "1" : "0") + " transB " + (tb ? "1" : "0");
      cases.push_back(gemm_case({a, b}, 1, 1, ta, tb, l + ", no C"));
      cases.push_back(gemm_case({a, b, random_tensor(D::f64, {3, 5}, 44)}, 0.5, 2, ta, tb, l + ", C [M,N]"));
    }
  cases.push_back(gemm_case({random_tensor(D::f32, {3, 4}, 50), random_tensor(D::f32, {4, 5}, 51),
                             random_tensor(D::f32, {5}, 52)}, 1, 1, false, false, "C [N]"));
  cases.push_back(gemm_case({random_tensor(D::f64, {3, 4}, 53), random_tensor(D::f64, {4, 5}, 54),
                             random_tensor(D::f64, {3, 1}, 55)}, 1.5, -1, false, false, "C [M,1]"));
  cases.push_back(gemm_case({random_tensor(D::f64, {4, 3}, 56), random_tensor(D::f64, {5, 4}, 57),
                             make_tensor(D::f64, {}, {0.25})}, 1, 3, true, true, "C scalar"));
  cases.push_back(gemm_case({random_tensor(D::f64, {3, 4}, 58), random_tensor(D::f64, {4, 5}, 59),
                             random_tensor(D::f64, {1, 5}, 60)}, 1, 0, false, false, "beta 0"));
}

namespace {

using symnet::test::kind_of;

}  // namespace

TEST_CASE("matmul and gemm reject mismatched shapes and dtypes", "[linalg]") {
  using D = DType;
  auto x = [](const char* n, D t, Shape s) { return op::input(n, t, s); };
  CHECK(kind_of([&] { op::matmul(x("a", D::f32, {3, 4}), x("b", D::f32, {5, 6})); }) == ErrorKind::shape);
  CHECK(kind_of([&] { op::matmul(x("a", D::f32, {4}), x("b", D::f32, {5})); }) == ErrorKind::shape);
  CHECK(kind_of([&] { op::matmul(x("a", D::f32, {2, 3, 4}), x("b", D::f32, {3, 4, 5})); }) == ErrorKind::shape);
  CHECK(kind_of([&] { op::matmul(x("a", D::f32, {}), x("b", D::f32, {3})); }) == ErrorKind::shape);
  CHECK(kind_of([&] { op::matmul(x("a", D::f32, {3, 4}), x("b", D::f64, {4, 5})); }) == ErrorKind::dtype);
  CHECK(kind_of([&] { op::matmul(x("a", D::boolean, {3, 4}), x("b", D::boolean, {4, 5})); }) == ErrorKind::dtype);
  CHECK(kind_of([&] { op::apply("gemm", {x("a", D::f32, {3, 4}), x("b", D::f32, {3, 5})}); }) == ErrorKind::shape);
  CHECK(kind_of([&] {
          op::apply("gemm", {x("a", D::f32, {3, 4}), x("b", D::f32, {4, 5}), x("c", D::f32, {3, 4})});
        }) == ErrorKind::shape);
  CHECK(kind_of([&] { op::apply("gemm", {x("a", D::f32, {3, 4, 1}), x("b", D::f32, {4, 5})}); }) == ErrorKind::shape);
  CHECK(kind_of([&] {
          op::apply("gemm", {x("a", D::f32, {3, 4}), x("b", D::f32, {4, 5})}, {{"transA", int64_t(2)}});
        }) == ErrorKind::attr);
  CHECK(kind_of([&] { op::apply("gemm", {x("a", D::i32, {3, 4}), x("b", D::i32, {4, 5})}); }) == ErrorKind::dtype);
}

TEST_CASE("matmul infers shapes with unknown dims", "[linalg]") {
  using D = DType;
  Value a = op::input("a", D::f32, {-1, 3, 4});
  CHECK(op::matmul(a, op::input("b", D::f32, {4, 5})).shape() == Shape{-1, 3, 5});
  CHECK(op::matmul(a, op::input("c", D::f32, {4, -1})).shape() == Shape{-1, 3, -1});
  CHECK(op::matmul(op::input("d", D::f32, {4}), op::input("e", D::f32, {4})).shape() == Shape{});
}

TEST_CASE("matmul gives the same results for any thread count", "[linalg]") {
  Tensor a = random_tensor(DType::f32, {8, 70, 90}, 1), b = random_tensor(DType::f32, {90, 60}, 2);
  Tensor c = random_tensor(DType::f32, {8, 90, 60}, 3);
  int saved = engine_num_threads();
  std::vector<std::vector<Tensor>> res;
  for (int t : {1, 4}) {
    set_engine_num_threads(t);
    res.push_back({run_op("matmul", {a, b})[0], run_op("matmul", {a, c})[0]});
  }
  set_engine_num_threads(saved);
  for (size_t i = 0; i < res[0].size(); ++i) check_close(res[1][i], res[0][i], 1e-5);
  check_close(res[0][1], ref_matmul(a, c), 1e-5);
}

}  // namespace symnet::test

namespace symnet::test {

TEST_CASE("matmul gradients work with unknown dims", "[linalg]") {
  struct Spec {
    Shape a, b, a_known, b_known;
  };
  std::vector<Spec> specs = {
      {{-1, 3, 4}, {4, 5}, {2, 3, 4}, {4, 5}},
      {{-1, 4}, {4, -1}, {3, 4}, {4, 2}},
      {{-1, 1, 3, 4}, {2, 4, -1}, {2, 1, 3, 4}, {2, 4, 5}},
      {{-1}, {-1, 2}, {4}, {4, 2}},
  };
  for (const Spec& s : specs) {
    Tensor av = random_tensor(DType::f64, s.a_known, 1), bv = random_tensor(DType::f64, s.b_known, 2);
    std::vector<Tensor> res[2];
    for (int known = 0; known < 2; ++known) {
      Value a = op::input("a", DType::f64, known ? s.a_known : s.a);
      Value b = op::input("b", DType::f64, known ? s.b_known : s.b);
      Value y = op::reduce_sum(op::square(op::matmul(a, b)));
      std::vector<Value> gr = gradients(y, {a, b});
      Graph g = Graph::from_outputs(gr);
      g.inputs = {a, b};
      res[known] = run_graph(g, {av, bv}, known == 0);
    }
    check_close(res[0][0], res[1][0], 1e-10);
    check_close(res[0][1], res[1][1], 1e-10);
  }
}

}  // namespace symnet::test
