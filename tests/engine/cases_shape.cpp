// Shape family: reshape, flatten, squeeze, unsqueeze, transpose, expand, slice, concat,
// split, stack, tile, pad and their internal gradient helpers. References pick input
// elements by explicit per-axis index lists written out by hand, independent of the kernels.
#include <cmath>
#include <cstdint>
#include <limits>

#include "harness.h"

namespace symnet::test {

namespace {

using Idx = std::vector<int64_t>;

// Out[c0, c1, ...] = x[lists[0][c0], lists[1][c1], ...] with x read as `in_shape`;
// an index of -1 gives `fill`.
Tensor select(const Tensor& x, const Shape& in_shape, const std::vector<Idx>& lists, double fill = 0) {
  Shape out;
  for (const Idx& l : lists) out.push_back(static_cast<int64_t>(l.size()));
  Tensor y(x.dtype(), out);
  std::vector<int64_t> st = shape_strides(in_shape), c(out.size(), 0);
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t rem = i, off = 0;
    bool pad = false;
    for (int64_t d = static_cast<int64_t>(out.size()) - 1; d >= 0; --d) {
      int64_t s = lists[d][rem % out[d]];
      rem /= out[d];
      if (s < 0) pad = true;
      else off += s * st[d];
    }
    y.set_from_double(i, pad ? fill : x.get_as_double(off));
  }
  return y;
}

Idx iota(int64_t n, int64_t from = 0, int64_t step = 1) {
  Idx v;
  for (int64_t i = 0; i < n; ++i) v.push_back(from + i * step);
  return v;
}

Idx repeat_list(const Idx& l, int64_t times) {
  Idx v;
  for (int64_t t = 0; t < times; ++t) v.insert(v.end(), l.begin(), l.end());
  return v;
}

// Same data, new shape.
Tensor with_shape(const Tensor& x, const Shape& s) {
  Tensor y(x.dtype(), s);
  for (int64_t i = 0; i < y.numel(); ++i) y.set_from_double(i, x.get_as_double(i));
  return y;
}

OpCase make(const std::string& op, AttrMap attrs, std::vector<Tensor> in, std::string label,
            std::function<std::vector<Tensor>(const std::vector<Tensor>&)> ref) {
  OpCase c;
  c.op = op;
  c.attrs = std::move(attrs);
  c.inputs = std::move(in);
  c.label = std::move(label);
  c.reference = std::move(ref);
  return c;
}

OpCase reshape_case(const std::string& op, AttrMap attrs, Tensor x, Shape out, std::string label) {
  return make(op, std::move(attrs), {x}, std::move(label),
              [out](const std::vector<Tensor>& in) { return std::vector<Tensor>{with_shape(in[0], out)}; });
}

// Transpose reference by coordinates.
Tensor transpose_ref(const Tensor& x, const Idx& perm) {
  const Shape& s = x.shape();
  Shape os;
  for (int64_t p : perm) os.push_back(s[p]);
  Tensor y(x.dtype(), os);
  std::vector<int64_t> xs = shape_strides(s);
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t rem = i, off = 0;
    for (int64_t d = static_cast<int64_t>(os.size()) - 1; d >= 0; --d) {
      off += (rem % os[d]) * xs[perm[d]];
      rem /= os[d];
    }
    y.set_from_double(i, x.get_as_double(off));
  }
  return y;
}

// Concatenation reference along axis via coordinates.
Tensor concat_ref(const std::vector<Tensor>& xs, int64_t axis) {
  Shape os = xs[0].shape();
  os[axis] = 0;
  for (const Tensor& x : xs) os[axis] += x.shape()[axis];
  Tensor y(xs[0].dtype(), os);
  for (int64_t i = 0; i < y.numel(); ++i) {
    std::vector<int64_t> c(os.size());
    int64_t rem = i;
    for (int64_t d = static_cast<int64_t>(os.size()) - 1; d >= 0; --d) {
      c[d] = rem % os[d];
      rem /= os[d];
    }
    size_t k = 0;
    while (c[axis] >= xs[k].shape()[axis]) c[axis] -= xs[k++].shape()[axis];
    std::vector<int64_t> st = shape_strides(xs[k].shape());
    int64_t off = 0;
    for (size_t d = 0; d < c.size(); ++d) off += c[d] * st[d];
    y.set_from_double(i, xs[k].get_as_double(off));
  }
  return y;
}

// Adjoint of select: out (of in_shape) accumulates g at the picked positions.
Tensor select_adjoint(const Tensor& g, const Shape& in_shape, const std::vector<Idx>& lists) {
  Tensor y(g.dtype(), in_shape);
  std::vector<int64_t> st = shape_strides(in_shape);
  const Shape& gs = g.shape();
  for (int64_t i = 0; i < g.numel(); ++i) {
    int64_t rem = i, off = 0;
    bool pad = false;
    for (int64_t d = static_cast<int64_t>(gs.size()) - 1; d >= 0; --d) {
      int64_t s = lists[d][rem % gs[d]];
      rem /= gs[d];
      if (s < 0) pad = true;
      else off += s * st[d];
    }
    if (!pad) y.set_from_double(off, y.get_as_double(off) + g.get_as_double(i));
  }
  return y;
}

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

void add_reshape_family(std::vector<OpCase>& cases) {
  Tensor x = random_tensor(DType::f32, {2, 3, 4}, 11);
  cases.push_back(reshape_case("reshape", {{"shape", Idx{0, -1}}}, x, {2, 12}, "0 copies, -1 infers"));
  cases.push_back(reshape_case("reshape", {{"shape", Idx{4, -1, 2}}}, x, {4, 3, 2}, "-1 in the middle"));
  cases.push_back(reshape_case("reshape", {{"shape", Idx{-1}}}, random_tensor(DType::f64, {3, 2}, 12), {6}, "to 1-d"));
  cases.push_back(reshape_case("reshape", {{"shape", Idx{}}}, random_tensor(DType::f32, {1, 1}, 13), {}, "to scalar"));
  OpCase ri = reshape_case("reshape", {{"shape", Idx{3, 0, -1}}}, random_tensor(DType::i32, {2, 2, 3}, 14, -5, 5),
                           {3, 2, 2}, "int32, 0 copies dim 2");
  cases.push_back(ri);

  cases.push_back(reshape_case("flatten", {}, x, {2, 12}, "default axis 1"));
  cases.push_back(reshape_case("flatten", {{"axis", int64_t(0)}}, x, {1, 24}, "axis 0"));
  cases.push_back(reshape_case("flatten", {{"axis", int64_t(-1)}}, x, {6, 4}, "axis -1"));
  cases.push_back(reshape_case("flatten", {{"axis", int64_t(3)}}, x, {24, 1}, "axis = rank"));

  Tensor s = random_tensor(DType::f32, {1, 3, 1, 2}, 15);
  cases.push_back(reshape_case("squeeze", {}, s, {3, 2}, "all size-1 dims"));
  cases.push_back(reshape_case("squeeze", {{"axes", Idx{-2}}}, s, {1, 3, 2}, "axis -2"));
  cases.push_back(reshape_case("squeeze", {{"axes", Idx{0, 2}}}, random_tensor(DType::i64, {1, 3, 1}, 16, -9, 9), {3},
                               "int64"));

  Tensor u = random_tensor(DType::f32, {3, 2}, 17);
  cases.push_back(reshape_case("unsqueeze", {{"axes", Idx{0, 3}}}, u, {1, 3, 2, 1}, "output positions 0 and 3"));
  cases.push_back(reshape_case("unsqueeze", {{"axes", Idx{-1}}}, u, {3, 2, 1}, "axis -1"));
  cases.push_back(reshape_case("unsqueeze", {{"axes", Idx{0, -1}}}, random_tensor(DType::f64, {}, 18), {1, 1}, "scalar"));
}

void add_transpose_expand(std::vector<OpCase>& cases) {
  Tensor x = random_tensor(DType::f32, {2, 3, 4}, 21);
  cases.push_back(make("transpose", {{"perm", Idx{2, 0, 1}}}, {x}, "perm 2,0,1", [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{transpose_ref(in[0], {2, 0, 1})};
  }));
  cases.push_back(make("transpose", {}, {x}, "default reverses", [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{transpose_ref(in[0], {2, 1, 0})};
  }));
  cases.push_back(make("transpose", {{"perm", Idx{1, -2}}}, {random_tensor(DType::i64, {3, 5}, 22, -9, 9)},
                       "int64, negative perm entry",
                       [](const std::vector<Tensor>& in) { return std::vector<Tensor>{transpose_ref(in[0], {1, 0})}; }));
  cases.push_back(make("transpose", {{"perm", Idx{0, 2, 1, 3}}}, {random_tensor(DType::f64, {2, 3, 4, 2}, 23)},
                       "4-d middle swap", [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{transpose_ref(in[0], {0, 2, 1, 3})};
                       }));

  cases.push_back(make("expand", {{"shape", Idx{2, 1, 4}}}, {random_tensor(DType::f32, {3, 1}, 24)},
                       "[3,1] -> [2,3,4]", [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{select(in[0], {1, 3, 1}, {{0, 0}, iota(3), {0, 0, 0, 0}})};
                       }));
  cases.push_back(make("expand", {{"shape", Idx{2, 3}}}, {random_tensor(DType::f64, {}, 25)}, "scalar -> [2,3]",
                       [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{select(in[0], {1, 1}, {{0, 0}, {0, 0, 0}})};
                       }));
  cases.push_back(make("expand", {{"shape", Idx{1}}}, {random_tensor(DType::f32, {2, 3}, 26)}, "target smaller (no-op)",
                       [](const std::vector<Tensor>& in) { return std::vector<Tensor>{in[0]}; }));
}

void add_slice_cases(std::vector<OpCase>& cases) {
  Tensor x = random_tensor(DType::f32, {4, 5}, 31);
  AttrMap neg{{"starts", Idx{1, -1}}, {"ends", Idx{3, kMin}}, {"axes", Idx{0, 1}}, {"steps", Idx{1, -2}}};
  cases.push_back(make("slice", neg, {x}, "negative step to open end", [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{select(in[0], {4, 5}, {{1, 2}, {4, 2, 0}})};
  }));
  cases.push_back(make("slice", {{"starts", Idx{-100}}, {"ends", Idx{kMax}}, {"axes", Idx{-1}}}, {x},
                       "clamped start, INT64_MAX end",
                       [](const std::vector<Tensor>& in) { return std::vector<Tensor>{in[0]}; }));
  cases.push_back(make("slice", {{"starts", Idx{3}}, {"ends", Idx{0}}, {"steps", Idx{-1}}}, {x}, "reverse rows 3..1",
                       [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{select(in[0], {4, 5}, {{3, 2, 1}, iota(5)})};
                       }));
  cases.push_back(make("slice", {{"starts", Idx{kMax}}, {"ends", Idx{kMin}}, {"axes", Idx{0}}, {"steps", Idx{-3}}}, {x},
                       "full reverse with step -3", [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{select(in[0], {4, 5}, {{3, 0}, iota(5)})};
                       }));
  OpCase empty = make("slice", {{"starts", Idx{2}}, {"ends", Idx{1}}}, {x}, "empty result",
                      [](const std::vector<Tensor>&) { return std::vector<Tensor>{Tensor(DType::f32, {0, 5})}; });
  empty.grad = false;
  cases.push_back(empty);
  cases.push_back(make("slice", {{"starts", Idx{1, 0}}, {"ends", Idx{4, 5}}, {"axes", Idx{1, 2}}, {"steps", Idx{2, 3}}},
                       {random_tensor(DType::i32, {2, 4, 5}, 32, -9, 9)}, "int32 3-d steps 2,3",
                       [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{select(in[0], {2, 4, 5}, {{0, 1}, {1, 3}, {0, 3}})};
                       }));

  OpCase sg = make("slice_grad", neg, {random_tensor(DType::f64, {2, 3}, 33), Tensor(DType::f64, {4, 5})},
                   "scatter into zeros", [](const std::vector<Tensor>& in) {
                     return std::vector<Tensor>{select_adjoint(in[0], {4, 5}, {{1, 2}, {4, 2, 0}})};
                   });
  sg.grad_inputs = {0};
  cases.push_back(sg);
}

void add_join_cases(std::vector<OpCase>& cases) {
  std::vector<Tensor> parts{random_tensor(DType::f32, {2, 1, 3}, 41), random_tensor(DType::f32, {2, 2, 3}, 42),
                            random_tensor(DType::f32, {2, 3, 3}, 43)};
  cases.push_back(make("concat", {{"axis", int64_t(1)}}, parts, "three parts on axis 1",
                       [](const std::vector<Tensor>& in) { return std::vector<Tensor>{concat_ref(in, 1)}; }));
  cases.push_back(make("concat", {{"axis", int64_t(-1)}},
                       {random_tensor(DType::f64, {2, 2}, 44), random_tensor(DType::f64, {2, 3}, 45)}, "axis -1",
                       [](const std::vector<Tensor>& in) { return std::vector<Tensor>{concat_ref(in, 1)}; }));
  cases.push_back(make("concat", {},
                       {random_tensor(DType::i32, {1, 2}, 46, -9, 9), random_tensor(DType::i32, {2, 2}, 47, -9, 9)},
                       "int32 default axis 0",
                       [](const std::vector<Tensor>& in) { return std::vector<Tensor>{concat_ref(in, 0)}; }));
  cases.push_back(make("concat", {}, {random_tensor(DType::f32, {3}, 48)}, "single input",
                       [](const std::vector<Tensor>& in) { return std::vector<Tensor>{in[0]}; }));

  Tensor s = random_tensor(DType::f32, {5, 4}, 49);
  cases.push_back(make("split", {{"sizes", Idx{2, 3}}}, {s}, "sizes 2,3 on axis 0", [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{select(in[0], {5, 4}, {{0, 1}, iota(4)}), select(in[0], {5, 4}, {{2, 3, 4}, iota(4)})};
  }));
  cases.push_back(make("split", {{"axis", int64_t(-1)}, {"num_outputs", int64_t(2)}}, {s}, "equal halves on axis -1",
                       [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{select(in[0], {5, 4}, {iota(5), {0, 1}}),
                                                    select(in[0], {5, 4}, {iota(5), {2, 3}})};
                       }));
  cases.push_back(make("split", {{"num_outputs", int64_t(3)}}, {random_tensor(DType::f64, {7}, 50)},
                       "uneven: 3,3,1", [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{select(in[0], {7}, {{0, 1, 2}}), select(in[0], {7}, {{3, 4, 5}}),
                                                    select(in[0], {7}, {{6}})};
                       }));
  OpCase sl = make("split_like", {{"axis", int64_t(1)}},
                   {random_tensor(DType::f32, {2, 5}, 51), Tensor(DType::f32, {2, 2}), Tensor(DType::f32, {2, 3})},
                   "parts sized like inputs 2, 3", [](const std::vector<Tensor>& in) {
                     return std::vector<Tensor>{select(in[0], {2, 5}, {{0, 1}, {0, 1}}),
                                                select(in[0], {2, 5}, {{0, 1}, {2, 3, 4}})};
                   });
  sl.grad_inputs = {0};
  cases.push_back(sl);

  std::vector<Tensor> st{random_tensor(DType::f32, {2, 3}, 52), random_tensor(DType::f32, {2, 3}, 53),
                         random_tensor(DType::f32, {2, 3}, 54)};
  for (int64_t axis : {int64_t(0), int64_t(1), int64_t(-1)}) {
    cases.push_back(make("stack", {{"axis", axis}}, st, "axis " + std::to_string(axis),
                         [axis](const std::vector<Tensor>& in) {
                           int64_t a = axis < 0 ? axis + 3 : axis;
                           std::vector<Tensor> ex;
                           for (const Tensor& t : in) {
                             Shape s = t.shape();
                             s.insert(s.begin() + a, 1);
                             ex.push_back(with_shape(t, s));
                           }
                           return std::vector<Tensor>{concat_ref(ex, a)};
                         }));
  }
  cases.push_back(make("stack", {}, {random_tensor(DType::i64, {}, 55, -9, 9), random_tensor(DType::i64, {}, 56, -9, 9)},
                       "int64 scalars", [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{
                             make_tensor(DType::i64, {2}, {in[0].get_as_double(0), in[1].get_as_double(0)})};
                       }));
}

void add_tile_pad_cases(std::vector<OpCase>& cases) {
  cases.push_back(make("tile", {{"repeats", Idx{2, 3}}}, {random_tensor(DType::f32, {2, 3}, 61)}, "2x3 of [2,3]",
                       [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{select(in[0], {2, 3}, {repeat_list(iota(2), 2), repeat_list(iota(3), 3)})};
                       }));
  cases.push_back(make("tile", {{"repeats", Idx{1, 3, 2}}}, {random_tensor(DType::f64, {2, 1, 2}, 62)}, "3-d",
                       [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{
                             select(in[0], {2, 1, 2}, {iota(2), repeat_list({0}, 3), repeat_list(iota(2), 2)})};
                       }));
  cases.push_back(make("tile", {{"repeats", Idx{0}}}, {random_tensor(DType::i32, {3}, 63, -9, 9)}, "zero repeats",
                       [](const std::vector<Tensor>&) { return std::vector<Tensor>{Tensor(DType::i32, {0})}; }));
  OpCase tg = make("tile_grad", {{"repeats", Idx{2, 3}}},
                   {random_tensor(DType::f64, {4, 9}, 64), Tensor(DType::f64, {2, 3})}, "sums the repeats",
                   [](const std::vector<Tensor>& in) {
                     return std::vector<Tensor>{
                         select_adjoint(in[0], {2, 3}, {repeat_list(iota(2), 2), repeat_list(iota(3), 3)})};
                   });
  tg.grad_inputs = {0};
  cases.push_back(tg);

  cases.push_back(make("pad", {{"pads", Idx{1, 0, 0, 2}}, {"value", 1.5}}, {random_tensor(DType::f32, {2, 3}, 65)},
                       "constant 1.5", [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{select(in[0], {2, 3}, {{-1, 0, 1}, {0, 1, 2, -1, -1}}, 1.5)};
                       }));
  std::vector<Idx> refl{{2, 1, 0, 1, 2, 1}, {1, 0, 1, 2, 3, 2, 1, 0}};
  cases.push_back(make("pad", {{"pads", Idx{2, 1, 1, 3}}, {"mode", std::string("reflect")}},
                       {random_tensor(DType::f32, {3, 4}, 66)}, "reflect",
                       [refl](const std::vector<Tensor>& in) { return std::vector<Tensor>{select(in[0], {3, 4}, refl)}; }));
  std::vector<Idx> edge{{0, 0, 1, 1, 1}, {0, 0, 0, 1, 2, 2}};
  cases.push_back(make("pad", {{"pads", Idx{1, 2, 2, 1}}, {"mode", std::string("edge")}},
                       {random_tensor(DType::f64, {2, 3}, 67)}, "edge",
                       [edge](const std::vector<Tensor>& in) { return std::vector<Tensor>{select(in[0], {2, 3}, edge)}; }));
  cases.push_back(make("pad", {{"pads", Idx{-1, 2, 0, -2}}}, {random_tensor(DType::f32, {4, 5}, 68)},
                       "negative pads crop", [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{select(in[0], {4, 5}, {{1, 2, 3}, {-1, -1, 0, 1, 2}})};
                       }));
  cases.push_back(make("pad", {{"pads", Idx{1, 1}}, {"value", int64_t(7)}}, {random_tensor(DType::i64, {2}, 69, -9, 9)},
                       "int64", [](const std::vector<Tensor>& in) {
                         return std::vector<Tensor>{select(in[0], {2}, {{-1, 0, 1, -1}}, 7)};
                       }));
  OpCase pg = make("pad_grad", {{"pads", Idx{2, 1, 1, 3}}, {"mode", std::string("reflect")}},
                   {random_tensor(DType::f64, {6, 8}, 70), Tensor(DType::f64, {3, 4})}, "reflect adjoint",
                   [refl](const std::vector<Tensor>& in) {
                     return std::vector<Tensor>{select_adjoint(in[0], {3, 4}, refl)};
                   });
  pg.grad_inputs = {0};
  cases.push_back(pg);
  OpCase pe = make("pad_grad", {{"pads", Idx{1, 2, 2, 1}}, {"mode", std::string("edge")}},
                   {random_tensor(DType::f32, {5, 6}, 71), Tensor(DType::f32, {2, 3})}, "edge adjoint",
                   [edge](const std::vector<Tensor>& in) {
                     return std::vector<Tensor>{select_adjoint(in[0], {2, 3}, edge)};
                   });
  pe.grad_inputs = {0};
  cases.push_back(pe);
}

}  // namespace

void add_shape_cases(std::vector<OpCase>& cases) {
  add_reshape_family(cases);
  add_transpose_expand(cases);
  add_slice_cases(cases);
  add_join_cases(cases);
  add_tile_pad_cases(cases);
}

}  // namespace symnet::test

// ---- edge cases and error paths ----------------------------------------------------------

using namespace symnet;
using namespace symnet::test;

namespace {
Value in(const Shape& s, DType t = DType::f32) { return op::input("x", t, s); }
using symnet::test::kind_of;
}  // namespace

TEST_CASE("shape ops validate attributes and shapes at build time", "[shape]") {
  using Idx = std::vector<int64_t>;
  CHECK(kind_of([] { op::reshape(in({2, 3}), {4, 2}); }) == ErrorKind::shape);
  CHECK(kind_of([] { op::reshape(in({2, 3}), {-1, -1}); }) == ErrorKind::attr);
  CHECK(kind_of([] { op::reshape(in({2, 3}), {0, 0, 0}); }) == ErrorKind::attr);
  CHECK(kind_of([] { op::reshape(in({2, 3}), {-2, 3}); }) == ErrorKind::attr);
  CHECK(kind_of([] { op::reshape(in({2, 3}), {4, -1}); }) == ErrorKind::shape);
  CHECK(kind_of([] { op::apply("concat", {in({2, 3}), in({2, 3, 1})}); }) == ErrorKind::shape);
  CHECK(kind_of([] { op::apply("concat", {in({2, 3}), in({3, 3})}, {{"axis", int64_t(1)}}); }) == ErrorKind::shape);
  CHECK(kind_of([] { op::apply("concat", {in({2}), in({2}, DType::f64)}); }) == ErrorKind::dtype);
  CHECK(kind_of([] { op::apply("concat", {in({2}), in({2})}, {{"axis", int64_t(1)}}); }) == ErrorKind::attr);
  CHECK(kind_of([] { op::squeeze(in({2, 1}), {0}); }) == ErrorKind::shape);
  CHECK(kind_of([] { op::squeeze(in({-1, 1}), {}); }) == ErrorKind::shape);
  CHECK(kind_of([] { op::unsqueeze(in({2}), {0, 0}); }) == ErrorKind::attr);
  CHECK(kind_of([] { op::transpose(in({2, 3}), {0, 0}); }) == ErrorKind::attr);
  CHECK(kind_of([] { op::transpose(in({2, 3}), {0}); }) == ErrorKind::attr);
  CHECK(kind_of([] { op::expand(in({2, 3}), {4, 3}); }) == ErrorKind::shape);
  CHECK(kind_of([] { op::apply("slice", {in({4})}, {{"starts", Idx{0}}, {"ends", Idx{2}}, {"steps", Idx{0}}}); }) ==
        ErrorKind::attr);
  CHECK(kind_of([] { op::apply("slice", {in({4, 4})}, {{"starts", Idx{0, 0}}, {"ends", Idx{2, 2}}, {"axes", Idx{1, -1}}}); }) ==
        ErrorKind::attr);
  CHECK(kind_of([] { op::apply("slice", {in({4})}, {{"starts", Idx{0}}, {"ends", Idx{2, 3}}}); }) == ErrorKind::attr);
  CHECK(kind_of([] { op::apply("split", {in({5})}, {{"sizes", Idx{2, 2}}}); }) == ErrorKind::shape);
  CHECK(kind_of([] { op::apply("split", {in({5})}); }) == ErrorKind::attr);
  CHECK(kind_of([] { op::apply("split", {in({2})}, {{"num_outputs", int64_t(3)}}); }) == ErrorKind::shape);
  CHECK(kind_of([] { op::apply("stack", {in({2}), in({3})}); }) == ErrorKind::shape);
  CHECK(kind_of([] { op::apply("tile", {in({2})}, {{"repeats", Idx{2, 2}}}); }) == ErrorKind::attr);
  CHECK(kind_of([] { op::apply("pad", {in({3})}, {{"pads", Idx{1}}}); }) == ErrorKind::attr);
  CHECK(kind_of([] { op::apply("pad", {in({3})}, {{"pads", Idx{3, 0}}, {"mode", std::string("reflect")}}); }) ==
        ErrorKind::shape);
  CHECK(kind_of([] { op::apply("pad", {in({3})}, {{"pads", Idx{1, 0}}, {"mode", std::string("wrap")}}); }) ==
        ErrorKind::attr);
  CHECK(kind_of([] { op::apply("pad", {in({3})}, {{"pads", Idx{-2, -2}}}); }) == ErrorKind::shape);
  CHECK(kind_of([] { op::apply("flatten", {in({2, 3})}, {{"axis", int64_t(3)}}); }) == ErrorKind::attr);
}

TEST_CASE("shape ops propagate unknown dimensions", "[shape]") {
  using Idx = std::vector<int64_t>;
  Value x = in({-1, 3, 4});
  CHECK(op::reshape(x, {0, -1}).shape() == Shape{-1, 12});
  CHECK(op::reshape(x, {-1, 6}).shape() == Shape{-1, 6});
  CHECK(op::reshape(x, {0, 2, -1}).shape() == Shape{-1, 2, 6});
  CHECK(op::reshape(in({2, -1, 4}), {0, 0, 2, -1}).shape() == Shape{2, -1, 2, 2});
  CHECK(op::reshape(in({2, -1, 4}), {-1, 4}).shape() == Shape{-1, 4});
  CHECK(op::reshape(in({2, -1, 4}), {0, -1}).shape() == Shape{2, -1});
  CHECK(op::apply("flatten", {x}).shape() == Shape{-1, 12});
  CHECK(op::transpose(x, {2, 0, 1}).shape() == Shape{4, -1, 3});
  CHECK(op::squeeze(in({-1, 1}), {0}).shape() == Shape{1});
  CHECK(op::expand(in({-1, 1}), {2, 1, 5}).shape() == Shape{2, -1, 5});
  CHECK(op::apply("slice", {x}, {{"starts", Idx{0, 1}}, {"ends", Idx{2, 3}}}).shape() == Shape{-1, 2, 4});
  CHECK(op::apply("concat", {x, in({2, -1, 4})}).shape() == Shape{-1, 3, 4});
  CHECK(op::apply("concat", {x, in({2, -1, 4})}, {{"axis", int64_t(2)}}).shape() == Shape{2, 3, 8});
  CHECK(make_node("split", {x}, {{"num_outputs", int64_t(2)}})[1].shape() == Shape{-1, 3, 4});
  CHECK(op::apply("stack", {x, in({2, -1, 4})}, {{"axis", int64_t(1)}}).shape() == Shape{2, 2, 3, 4});
  CHECK(op::apply("tile", {x}, {{"repeats", Idx{2, 2, 0}}}).shape() == Shape{-1, 6, 0});
  CHECK(op::apply("pad", {x}, {{"pads", Idx{1, 1, 1, 1, 1, 1}}}).shape() == Shape{-1, 5, 6});
}

TEST_CASE("shape op gradients work with unknown dimensions", "[shape]") {
  using Idx = std::vector<int64_t>;
  // Built with an unknown batch dim, compiled for a concrete one.
  Value x = in({-1, 4}, DType::f64);
  Value y = op::apply("slice", {x}, {{"starts", Idx{1}}, {"ends", Idx{-1}}, {"axes", Idx{1}}});
  y = op::apply("concat", {y, x}, {{"axis", int64_t(1)}});
  y = op::apply("pad", {y}, {{"pads", Idx{0, 1, 0, 1}}, {"mode", std::string("reflect")}});
  y = op::apply("tile", {y}, {{"repeats", Idx{2, 1}}});
  Value loss = op::reduce_sum(op::mul(y, y));
  Value gx = gradients(loss, {x})[0];
  Graph g = Graph::from_outputs({gx});
  g.inputs = {x};
  Tensor xv = make_tensor(DType::f64, {2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  std::vector<Tensor> out = run_graph(g, {xv});
  REQUIRE(out[0].shape() == Shape{2, 4});
  // Row [a b c d] -> concat [b c a b c d] -> reflect [c b c a b c d c] -> tile doubles it.
  // d loss / d x = 2 * x * copies: per padded row a 1, b 2, c 4, d 1 copies, doubled by tile.
  std::vector<double> copies{1, 2, 4, 1};
  for (int r = 0; r < 2; ++r)
    for (int j = 0; j < 4; ++j) CHECK(out[0].get_as_double(r * 4 + j) == Approx(4 * copies[j] * xv.get_as_double(r * 4 + j)));
}

TEST_CASE("large shape kernels agree with references", "[shape]") {
  // Exercise the parallel paths (many rows, long runs).
  Tensor x = random_tensor(DType::f32, {64, 257, 3}, 90);
  std::vector<Tensor> t = run_op("transpose", {x}, {{"perm", std::vector<int64_t>{2, 0, 1}}});
  for (int64_t i = 0; i < 64; i += 7)
    for (int64_t j = 0; j < 257; j += 13)
      for (int64_t k = 0; k < 3; ++k)
        REQUIRE(t[0].get_as_double((k * 64 + i) * 257 + j) == x.get_as_double((i * 257 + j) * 3 + k));
  std::vector<Tensor> s = run_op("slice", {x}, {{"starts", std::vector<int64_t>{-1}},
                                                {"ends", std::vector<int64_t>{std::numeric_limits<int64_t>::min()}},
                                                {"axes", std::vector<int64_t>{1}},
                                                {"steps", std::vector<int64_t>{-2}}});
  REQUIRE(s[0].shape() == Shape{64, 129, 3});
  REQUIRE(s[0].get_as_double((5 * 129 + 10) * 3 + 2) == x.get_as_double((5 * 257 + 256 - 20) * 3 + 2));
}

TEST_CASE("tiled transposes of odd sizes and every element width", "[shape]") {
  struct T {
    Shape s;
    std::vector<int64_t> perm;
    DType t;
  };
  std::vector<T> ts{{{50, 70}, {1, 0}, DType::f64},
                    {{3, 40, 33}, {0, 2, 1}, DType::f32},
                    {{9, 4, 37}, {2, 1, 0}, DType::i32},
                    {{33, 65}, {1, 0}, DType::boolean},
                    {{2, 17, 3, 41}, {3, 1, 0, 2}, DType::i64}};
  for (const T& c : ts) {
    INFO(shape_str(c.s) << " perm " << shape_str(c.perm) << " " << dtype_name(c.t));
    Tensor x = random_tensor(c.t == DType::boolean ? DType::u8 : c.t, c.s, 91, 0, 100);
    if (c.t == DType::boolean) {
      Tensor b(DType::boolean, c.s);
      for (int64_t i = 0; i < x.numel(); ++i) b.set_from_double(i, std::fmod(x.get_as_double(i), 2.0) >= 1);
      x = b;
    }
    Tensor y = run_op("transpose", {x}, {{"perm", c.perm}})[0];
    std::vector<int64_t> xs = shape_strides(c.s);
    const Shape& os = y.shape();
    for (int64_t i = 0; i < y.numel(); ++i) {
      int64_t rem = i, off = 0;
      for (int64_t d = static_cast<int64_t>(os.size()) - 1; d >= 0; --d) {
        off += (rem % os[d]) * xs[c.perm[d]];
        rem /= os[d];
      }
      if (y.get_as_double(i) != x.get_as_double(off)) FAIL("element " << i);
    }
  }
}
