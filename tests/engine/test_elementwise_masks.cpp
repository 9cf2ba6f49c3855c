// The vectorized mask paths of the elementwise kernels (kernels/cpu/elementwise_loops.h,
// elementwise.cpp): `where` with every combination of walked and broadcast operands in each
// value dtype, bool <-> float casts, and the fused ReLU backward where(x > 0, g, 0) in a
// compiled graph (and its mask multiplies, with a bool or a uint8 mask), at odd lengths around the vector widths and the parallel grain, on one
// and two threads, against element-by-element references.
#include <cmath>
#include <limits>

#include "harness.h"
#include "engine/kernels/cpu/parallel.h"

namespace symnet::test {

namespace {

// A tensor of n values (or a 0-d one when n < 0) with both signs, zeros, and for floats a NaN
// and a negative zero.
Tensor values(DType t, int64_t n, uint64_t seed) {
  Tensor r = random_tensor(t, n < 0 ? Shape{} : Shape{n}, seed, -3, 3);
  if (t == DType::boolean) return r;
  if (r.numel() > 3) {
    r.set_from_double(1, 0.0);
    if (is_float(t)) {
      r.set_from_double(2, -0.0);
      r.set_from_double(3, std::numeric_limits<double>::quiet_NaN());
    }
  }
  return r;
}

Tensor mask(int64_t n, uint64_t seed) {
  Tensor m(DType::boolean, n < 0 ? Shape{} : Shape{n});
  Tensor u = random_tensor(DType::f64, m.shape(), seed, -1, 1);
  for (int64_t i = 0; i < m.numel(); ++i) m.ptr<bool>()[i] = u.get_as_double(i) > 0;
  return m;
}

double at(const Tensor& t, int64_t i) { return t.get_as_double(t.numel() == 1 ? 0 : i); }

template <typename F>
void on_threads(F&& f) {
  const int old = engine_num_threads();
  for (int threads : {1, 2}) {
    set_engine_num_threads(threads);
    INFO("threads " << threads);
    f();
  }
  set_engine_num_threads(old);
}

}  // namespace

TEST_CASE("where with walked and broadcast operands in every dtype", "[elementwise][masks]") {
  on_threads([] {
    for (DType t : {DType::f32, DType::f64, DType::i32, DType::i64})
      for (int64_t n : {int64_t(1), int64_t(7), int64_t(33), int64_t(1001), int64_t(40003)})
        for (int combo = 0; combo < 8; ++combo) {
          // A 0-d operand for a broadcast one, unless all three are: then n is 1 anyway.
          const bool wc = combo & 4, wa = combo & 2, wb = combo & 1;
          Tensor c = mask(wc ? n : -1, 10 + combo), a = values(t, wa ? n : -1, 20 + combo);
          Tensor b = values(t, wb ? n : -1, 30 + combo);
          INFO(dtype_name(t) << " n " << n << " walked c/a/b " << wc << wa << wb);
          Tensor y = run_op("where", {c, a, b})[0];
          const int64_t m = (wc || wa || wb) ? n : 1;
          REQUIRE(y.numel() == m);
          for (int64_t i = 0; i < m; ++i) {
            const double want = at(c, i) != 0 ? at(a, i) : at(b, i);
            const double got = y.get_as_double(i);
            if (std::isnan(want)) {
              REQUIRE(std::isnan(got));
            } else {
              REQUIRE(got == want);
              REQUIRE(std::signbit(got) == std::signbit(want));
            }
          }
        }
  });
}

TEST_CASE("where broadcasts rows and columns on the vector loops", "[elementwise][masks]") {
  on_threads([] {
    for (DType t : {DType::f32, DType::f64}) {
      // [rows, 1] condition, [1, cols] and [rows, cols] values: a broadcast plan, each row one
      // run with its own operand steps.
      const int64_t rows = 37, cols = 1029;
      Tensor c = random_tensor(DType::boolean, {rows, 1}, 41);
      Tensor a = random_tensor(t, {1, cols}, 42), b = random_tensor(t, {rows, cols}, 43);
      for (int64_t r = 0; r < rows; ++r) c.ptr<bool>()[r] = r % 3 != 0;
      for (const auto& ins : {std::vector<Tensor>{c, a, b}, std::vector<Tensor>{c, b, a}}) {
        Tensor y = run_op("where", ins)[0];
        REQUIRE(y.shape() == Shape{rows, cols});
        const bool a_first = ins[1].shape()[0] == 1;
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < cols; ++j) {
            const double va = a.get_as_double(j), vb = b.get_as_double(r * cols + j);
            const double want = c.ptr<bool>()[r] ? (a_first ? va : vb) : (a_first ? vb : va);
            REQUIRE(y.get_as_double(r * cols + j) == want);
          }
      }
    }
  });
}

TEST_CASE("casts between bool masks and floats", "[elementwise][masks]") {
  on_threads([] {
    for (DType t : {DType::f32, DType::f64})
      for (int64_t n : {int64_t(1), int64_t(15), int64_t(40007)}) {
        INFO(dtype_name(t) << " n " << n);
        Tensor m = mask(n, 50);
        Tensor f = run_op("cast", {m}, {{"dtype", std::string(dtype_name(t))}})[0];
        REQUIRE(f.dtype() == t);
        for (int64_t i = 0; i < n; ++i) REQUIRE(f.get_as_double(i) == (m.ptr<bool>()[i] ? 1.0 : 0.0));
        Tensor v = values(t, n, 51);
        Tensor b = run_op("cast", {v}, {{"dtype", std::string("bool")}})[0];
        REQUIRE(b.dtype() == DType::boolean);
        // Nonzero (NaN included) is true; zero and negative zero are false.
        for (int64_t i = 0; i < n; ++i) REQUIRE(b.ptr<bool>()[i] == (v.get_as_double(i) != 0.0));
        // uint8 masks (and any uint8 values) keep their values.
        Tensor u8(DType::u8, {n});
        for (int64_t i = 0; i < n; ++i) u8.ptr<uint8_t>()[i] = static_cast<uint8_t>((i * 37) % 256);
        Tensor fu = run_op("cast", {u8}, {{"dtype", std::string(dtype_name(t))}})[0];
        for (int64_t i = 0; i < n; ++i) REQUIRE(fu.get_as_double(i) == static_cast<double>((i * 37) % 256));
        // A one-element mask broadcast into a chunk.
        Tensor one = run_op("cast", {mask(-1, 52)}, {{"dtype", std::string(dtype_name(t))}})[0];
        REQUIRE(one.numel() == 1);
      }
  });
}

TEST_CASE("the fused ReLU backward matches where(x > 0, g, 0) element by element", "[elementwise][masks][fused]") {
  on_threads([] {
    for (DType t : {DType::f32, DType::f64})
      for (int64_t n : {int64_t(5), int64_t(2049), int64_t(70001)}) {
        INFO(dtype_name(t) << " n " << n);
        Value x = op::input("x", t, {n}), g = op::input("g", t, {n}), m = op::input("m", DType::u8, {n});
        Value zero = op::scalar(0.0, t);
        Graph gr;
        gr.inputs = {x, g, m};
        gr.outputs = {op::where(op::greater(x, zero), g, zero), op::mul(g, op::cast(op::greater(x, zero), t)),
                      op::mul(g, op::cast(m, t))};
        gr.output_names = {"where", "mask_mul", "u8_mask_mul"};
        Tensor xt = values(t, n, 60), gt = values(t, n, 61);
        Tensor mt(DType::u8, {n});
        for (int64_t i = 0; i < n; ++i) mt.ptr<uint8_t>()[i] = xt.get_as_double(i) > 0 ? 1 : 0;
        std::vector<Tensor> out = run_graph(gr, {xt, gt, mt});
        for (int64_t i = 0; i < n; ++i) {
          const double xv = xt.get_as_double(i), gv = gt.get_as_double(i);
          const double want = xv > 0 ? gv : 0.0;
          const double got = out[0].get_as_double(i);
          if (std::isnan(want)) REQUIRE(std::isnan(got));
          else REQUIRE(got == want);
          const double want_mul = gv * (xv > 0 ? 1.0 : 0.0);
          const double got_mul = out[1].get_as_double(i);
          if (std::isnan(want_mul)) REQUIRE(std::isnan(got_mul));
          else REQUIRE(got_mul == want_mul);
          const double got_u8 = out[2].get_as_double(i);
          if (std::isnan(want_mul)) REQUIRE(std::isnan(got_u8));
          else REQUIRE(got_u8 == want_mul);
        }
      }
  });
}

}  // namespace symnet::test
