// Index family: gather, gather_grad, gather_elements, scatter_elements, one_hot.
// References index the inputs with explicit coordinates in double.
#include "harness.h"

namespace symnet::test {

namespace {

using Idx = std::vector<int64_t>;

OpCase make(const std::string& op, AttrMap attrs, std::vector<Tensor> in, std::string label,
            std::function<std::vector<Tensor>(const std::vector<Tensor>&)> ref, std::vector<int> grad_inputs = {}) {
  OpCase c;
  c.op = op;
  c.attrs = std::move(attrs);
  c.inputs = std::move(in);
  c.label = std::move(label);
  c.reference = std::move(ref);
  c.grad_inputs = std::move(grad_inputs);
  return c;
}

int64_t at(const Tensor& t, int64_t i) { return static_cast<int64_t>(t.get_as_double(i)); }

// 2-D gather along axis 0 or 1 with 1-D or 2-D indices; out = ONNX Gather.
Tensor gather_ref(const Tensor& x, const Tensor& ind, int64_t axis, int64_t base = 0) {
  const int64_t R = x.shape()[0], C = x.shape()[1], m = ind.numel();
  Shape os = axis == 0 ? ind.shape() : Shape{R};
  if (axis == 0) os.push_back(C);
  else os.insert(os.end(), ind.shape().begin(), ind.shape().end());
  Tensor y(x.dtype(), os);
  if (axis == 0) {
    for (int64_t j = 0; j < m; ++j) {
      int64_t r = at(ind, j) - base;
      for (int64_t c = 0; c < C; ++c) y.set_from_double(j * C + c, x.get_as_double(r * C + c));
    }
  } else {
    for (int64_t r = 0; r < R; ++r)
      for (int64_t j = 0; j < m; ++j) {
        int64_t c = at(ind, j) - base;
        y.set_from_double(r * m + j, x.get_as_double(r * C + c));
      }
  }
  return y;
}

Tensor gather_grad_ref(const Tensor& g, const Tensor& ind, const Shape& xs, int64_t axis) {
  const int64_t R = xs[0], C = xs[1], m = ind.numel();
  Tensor y(g.dtype(), xs);
  auto add = [&](int64_t i, double v) { y.set_from_double(i, y.get_as_double(i) + v); };
  for (int64_t j = 0; j < m; ++j) {
    int64_t k = at(ind, j);
    if (axis == 0) {
      if (k < 0) k += R;
      for (int64_t c = 0; c < C; ++c) add(k * C + c, g.get_as_double(j * C + c));
    } else {
      if (k < 0) k += C;
      for (int64_t r = 0; r < R; ++r) add(r * C + k, g.get_as_double(r * m + j));
    }
  }
  return y;
}

// 2-D gather_elements / scatter_elements references.
Tensor gather_elements_ref(const Tensor& x, const Tensor& ind, int64_t axis) {
  const int64_t C = x.shape()[1], ic = ind.shape()[1], n = x.shape()[axis];
  Tensor y(x.dtype(), ind.shape());
  for (int64_t i = 0; i < ind.numel(); ++i) {
    int64_t r = i / ic, c = i % ic, k = at(ind, i);
    if (k < 0) k += n;
    y.set_from_double(i, x.get_as_double(axis == 0 ? k * C + c : r * C + k));
  }
  return y;
}

Tensor scatter_ref(const Tensor& x, const Tensor& ind, const Tensor& u, int64_t axis, const std::string& red) {
  const int64_t C = x.shape()[1], ic = ind.shape()[1], n = x.shape()[axis];
  Tensor y = x.clone();
  for (int64_t i = 0; i < ind.numel(); ++i) {
    int64_t r = i / ic, c = i % ic, k = at(ind, i);
    if (k < 0) k += n;
    int64_t p = axis == 0 ? k * C + c : r * C + k;
    double v = u.get_as_double(i), old = y.get_as_double(p);
    y.set_from_double(p, red == "add" ? old + v : red == "mul" ? old * v : v);
  }
  return y;
}

void add_gather(std::vector<OpCase>& cases) {
  Tensor x = random_tensor(DType::f32, {5, 3}, 101);
  Tensor i0 = make_tensor(DType::i64, {2, 2}, {0, 4, 3, 2});
  cases.push_back(make("gather", {}, {x, i0}, "axis 0, 2-d int64 indices",
                       [](const std::vector<Tensor>& in) { return std::vector<Tensor>{gather_ref(in[0], in[1], 0)}; }));
  cases.push_back(make("gather", {{"index_base", int64_t(1)}}, {x, make_tensor(DType::i32, {3}, {1, 5, 3})},
                       "1-based indices (R)", [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{gather_ref(in[0], in[1], 0, 1)};
                       },
                       {0}));
  Tensor i1 = make_tensor(DType::i32, {4}, {2, 0, 2, 1});
  cases.push_back(make("gather", {{"axis", int64_t(1)}}, {random_tensor(DType::f64, {4, 3}, 102), i1},
                       "axis 1, repeated int32 indices",
                       [](const std::vector<Tensor>& in) { return std::vector<Tensor>{gather_ref(in[0], in[1], 1)}; }));
  cases.push_back(make("gather", {{"axis", int64_t(-2)}},
                       {random_tensor(DType::i64, {5, 3}, 103, -9, 9), make_tensor(DType::i32, {}, {3})},
                       "scalar index drops the axis", [](const std::vector<Tensor>& in) {
                         Tensor y(DType::i64, {3});
                         for (int c = 0; c < 3; ++c) y.set_from_double(c, in[0].get_as_double(9 + c));
                         return std::vector<Tensor>{y};
                       }));
  cases.push_back(make("gather_grad", {}, {random_tensor(DType::f64, {2, 2, 3}, 104), i0, Tensor(DType::f64, {5, 3})},
                       "scatter-add rows", [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{gather_grad_ref(in[0], in[1], {5, 3}, 0)};
                       },
                       {0}));
  cases.push_back(make("gather_grad", {{"axis", int64_t(1)}},
                       {random_tensor(DType::f32, {4, 4}, 105), i1, Tensor(DType::f32, {4, 3})},
                       "repeated indices accumulate", [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{gather_grad_ref(in[0], in[1], {4, 3}, 1)};
                       },
                       {0}));
}

void add_elements(std::vector<OpCase>& cases) {
  Tensor x = random_tensor(DType::f32, {3, 4}, 111);
  Tensor ia = make_tensor(DType::i64, {3, 2}, {3, 0, 3, 1, 2, 2});
  cases.push_back(make("gather_elements", {{"axis", int64_t(1)}}, {x, ia}, "axis 1",
                       [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{gather_elements_ref(in[0], in[1], 1)};
                       }));
  Tensor ib = make_tensor(DType::i32, {2, 4}, {0, 2, 1, 0, 2, 2, 0, 1});
  cases.push_back(make("gather_elements", {}, {random_tensor(DType::f64, {3, 4}, 112), ib}, "axis 0, fewer rows",
                       [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{gather_elements_ref(in[0], in[1], 0)};
                       }));

  // "none" with distinct targets (with duplicates the overwritten update has no gradient).
  Tensor iu = make_tensor(DType::i64, {2, 4}, {1, 0, 2, 2, 2, 2, 0, 1});
  for (std::string red : {"none", "add", "mul"}) {
    Tensor ind = red == "none" ? iu : ib;
    cases.push_back(make("scatter_elements", {{"reduction", red}},
                         {random_tensor(DType::f64, {3, 4}, 113, 0.5, 1.5), ind, random_tensor(DType::f64, {2, 4}, 114, 0.5, 1.5)},
                         "axis 0, " + red, [red](const std::vector<Tensor>& in) {
                           return std::vector<Tensor>{scatter_ref(in[0], in[1], in[2], 0, red)};
                         }));
  }
  cases.push_back(make("scatter_elements", {{"axis", int64_t(-1)}, {"reduction", std::string("add")}},
                       {x, ia, random_tensor(DType::f32, {3, 2}, 115)}, "axis -1, add, repeated",
                       [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{scatter_ref(in[0], in[1], in[2], 1, "add")};
                       }));
  cases.push_back(make("scatter_elements", {{"axis", int64_t(1)}},
                       {random_tensor(DType::i32, {3, 4}, 116, -9, 9), ia, random_tensor(DType::i32, {3, 2}, 117, -9, 9)},
                       "int32 none", [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{scatter_ref(in[0], in[1], in[2], 1, "none")};
                       }));
}

void add_one_hot(std::vector<OpCase>& cases) {
  Tensor ind = make_tensor(DType::i64, {2, 3}, {0, 3, 3, 2, 1, 0});
  cases.push_back(make("one_hot", {{"depth", int64_t(4)}}, {ind}, "axis -1",
                       [](const std::vector<Tensor>& in) {
                         Tensor y(DType::f32, {2, 3, 4});
                         for (int64_t i = 0; i < 6; ++i) y.set_from_double(i * 4 + at(in[0], i), 1);
                         return std::vector<Tensor>{y};
                       }));
  cases.push_back(make("one_hot", {{"depth", int64_t(3)}, {"index_base", int64_t(1)}},
                       {make_tensor(DType::i32, {4}, {1, 3, 2, 3})}, "1-based labels (R)",
                       [](const std::vector<Tensor>& in) {
                         Tensor y(DType::f32, {4, 3});
                         for (int64_t i = 0; i < 4; ++i) y.set_from_double(i * 3 + at(in[0], i) - 1, 1);
                         return std::vector<Tensor>{y};
                       }));
  cases.push_back(make("one_hot",
                       {{"depth", int64_t(4)}, {"axis", int64_t(0)}, {"on_value", 5.0}, {"off_value", -1.0},
                        {"dtype", std::string("int32")}},
                       {make_tensor(DType::i32, {3}, {1, 0, 3})}, "axis 0, int32 on/off",
                       [](const std::vector<Tensor>& in) {
                         Tensor y(DType::i32, {4, 3});
                         for (int64_t i = 0; i < 12; ++i) y.set_from_double(i, -1);
                         for (int64_t j = 0; j < 3; ++j) y.set_from_double(at(in[0], j) * 3 + j, 5);
                         return std::vector<Tensor>{y};
                       }));
}

}  // namespace

void add_index_cases(std::vector<OpCase>& cases) {
  add_gather(cases);
  add_elements(cases);
  add_one_hot(cases);
}

}  // namespace symnet::test

using namespace symnet;
using namespace symnet::test;

namespace {
template <typename F>
ErrorKind index_error_kind(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  FAIL("no symnet::Error thrown");
  return ErrorKind::internal;
}
}  // namespace

TEST_CASE("out-of-range and negative indices raise index errors at run time", "[index]") {
  Tensor x = random_tensor(DType::f32, {5, 3}, 120);
  auto idx = [](std::vector<double> v) { return make_tensor(DType::i64, {static_cast<int64_t>(v.size())}, v); };
  const AttrMap base1{{"index_base", int64_t(1)}};
  CHECK(index_error_kind([&] { run_op("gather", {x, idx({0, 5})}); }) == ErrorKind::index);
  CHECK(index_error_kind([&] { run_op("gather", {x, idx({-1})}); }) == ErrorKind::index);  // no wrap-around
  CHECK(index_error_kind([&] { run_op("gather", {x, idx({3})}, {{"axis", int64_t(1)}}); }) == ErrorKind::index);
  CHECK(index_error_kind([&] { run_op("gather", {x, idx({0})}, base1); }) == ErrorKind::index);
  CHECK(index_error_kind([&] { run_op("gather", {x, idx({6})}, base1); }) == ErrorKind::index);
  Tensor ie = make_tensor(DType::i32, {1, 2}, {0, 3});
  CHECK(index_error_kind([&] { run_op("gather_elements", {x, ie}, {{"axis", int64_t(1)}}); }) == ErrorKind::index);
  CHECK(index_error_kind([&] {
          run_op("gather_elements", {x, make_tensor(DType::i32, {1, 2}, {-1, 0})}, {{"axis", int64_t(1)}});
        }) == ErrorKind::index);
  CHECK(index_error_kind([&] {
          run_op("scatter_elements", {x, ie, Tensor(DType::f32, {1, 2})}, {{"axis", int64_t(1)}});
        }) == ErrorKind::index);
  CHECK(index_error_kind([&] { run_op("one_hot", {idx({4})}, {{"depth", int64_t(4)}}); }) == ErrorKind::index);
  CHECK(index_error_kind([&] { run_op("one_hot", {idx({-1})}, {{"depth", int64_t(4)}}); }) == ErrorKind::index);
  CHECK(index_error_kind([&] {
          run_op("one_hot", {idx({0})}, {{"depth", int64_t(4)}, {"index_base", int64_t(1)}});
        }) == ErrorKind::index);
  CHECK(index_error_kind([&] {
          run_op("gather_grad", {Tensor(DType::f32, {1, 3}), idx({9}), Tensor(DType::f32, {5, 3})});
        }) == ErrorKind::index);
  CHECK(index_error_kind([&] { op::apply("gather", {op::input("x", DType::f32, {5, 3}), op::input("i", DType::i64, {2})},
                                         {{"index_base", int64_t(2)}}); }) == ErrorKind::attr);
}

TEST_CASE("an index error names the value as given and the valid range", "[index]") {
  Tensor x = random_tensor(DType::f32, {5, 3}, 121);
  try {
    run_op("gather", {x, make_tensor(DType::i32, {3}, {1, 0, 2})}, {{"index_base", int64_t(1)}});
    FAIL("no error");
  } catch (const Error& e) {
    const std::string m = e.what();
    CHECK(m.find("index 0 (element 2") != std::string::npos);
    CHECK(m.find("1..5") != std::string::npos);
    CHECK(m.find("index_base = 0") != std::string::npos);
  }
}

TEST_CASE("index ops validate dtypes and shapes at build time", "[index]") {
  Value x = op::input("x", DType::f32, {5, 3});
  Value fi = op::input("i", DType::f32, {2});
  Value i2 = op::input("j", DType::i64, {2, 2});
  Value i3 = op::input("k", DType::i64, {2, 2, 1});
  CHECK(index_error_kind([&] { op::apply("gather", {x, fi}); }) == ErrorKind::dtype);
  CHECK(index_error_kind([&] { op::apply("gather", {x, i2}, {{"axis", int64_t(2)}}); }) == ErrorKind::attr);
  CHECK(index_error_kind([&] { op::apply("gather_elements", {x, i3}); }) == ErrorKind::shape);
  CHECK(index_error_kind([&] { op::apply("gather_elements", {x, op::input("k", DType::i64, {2, 4})}); }) ==
        ErrorKind::shape);
  CHECK(index_error_kind([&] {
          op::apply("scatter_elements", {x, i2, op::input("u", DType::f32, {2, 2})}, {{"reduction", std::string("max")}});
        }) == ErrorKind::attr);
  CHECK(index_error_kind([&] { op::apply("scatter_elements", {x, i2, op::input("u", DType::f64, {2, 2})}); }) ==
        ErrorKind::dtype);
  CHECK(index_error_kind([&] { op::apply("scatter_elements", {x, i2, op::input("u", DType::f32, {2, 1})}); }) ==
        ErrorKind::shape);
  CHECK(index_error_kind([&] { op::apply("one_hot", {i2}, {{"depth", int64_t(0)}}); }) == ErrorKind::attr);
  CHECK(index_error_kind([&] { op::apply("one_hot", {i2}); }) == ErrorKind::attr);
  CHECK(op::apply("gather", {op::input("d", DType::f32, {-1, 4, 3}), i2}, {{"axis", int64_t(1)}}).shape() ==
        Shape{-1, 2, 2, 3});
  CHECK(op::apply("one_hot", {op::input("n", DType::i32, {-1})}, {{"depth", int64_t(3)}, {"axis", int64_t(0)}}).shape() ==
        Shape{3, -1});
}

TEST_CASE("gather of a large table runs in parallel correctly", "[index]") {
  Tensor x = random_tensor(DType::f32, {1000, 64}, 130);
  Tensor ind(DType::i64, {5000});
  for (int64_t i = 0; i < 5000; ++i) ind.set_from_double(i, (i * 7919) % 1000);
  std::vector<Tensor> y = run_op("gather", {x, ind});
  REQUIRE(y[0].shape() == Shape{5000, 64});
  for (int64_t i = 0; i < 5000; i += 37) {
    int64_t r = (i * 7919) % 1000;
    REQUIRE(y[0].get_as_double(i * 64 + 5) == x.get_as_double(r * 64 + 5));
  }
}
