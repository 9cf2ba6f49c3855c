// Cases for the normalization family (batch_norm, layer_norm, their grad kernels, dropout).
// References are naive loops in double; the finite-difference check sums every float output,
// so the batch statistics, running statistics, mean and inv_std outputs are checked too.
#include <cmath>

#include "harness.h"

namespace symnet::test {

namespace {

struct NCI {
  int64_t n, c, inner;
  explicit NCI(const Shape& s) : n(s[0]), c(s[1]), inner(1) {
    for (size_t i = 2; i < s.size(); ++i) inner *= s[i];
  }
  int64_t at(int64_t b, int64_t ch, int64_t i) const { return (b * c + ch) * inner + i; }
};

std::vector<Tensor> ref_bn(const std::vector<Tensor>& in, double eps, bool training, double mom) {
  const Tensor &x = in[0], &scale = in[1], &bias = in[2], &rm = in[3], &rv = in[4];
  const NCI s(x.shape());
  Tensor y(x.dtype(), x.shape());
  std::vector<Tensor> stats;
  for (int i = 0; i < 4; ++i) stats.emplace_back(x.dtype(), Shape{s.c});
  for (int64_t c = 0; c < s.c; ++c) {
    double mu = rm.get_as_double(c), var = rv.get_as_double(c);
    const double m = static_cast<double>(s.n * s.inner);
    if (training) {
      double sum = 0, ss = 0;
      for (int64_t b = 0; b < s.n; ++b)
        for (int64_t i = 0; i < s.inner; ++i) sum += x.get_as_double(s.at(b, c, i));
      mu = sum / m;
      for (int64_t b = 0; b < s.n; ++b)
        for (int64_t i = 0; i < s.inner; ++i) ss += std::pow(x.get_as_double(s.at(b, c, i)) - mu, 2);
      var = ss / m;
      stats[0].set_from_double(c, mu);
      stats[1].set_from_double(c, var);
      stats[2].set_from_double(c, rm.get_as_double(c) * mom + mu * (1 - mom));
      stats[3].set_from_double(c, rv.get_as_double(c) * mom + ss / (m - 1) * (1 - mom));
    }
    for (int64_t b = 0; b < s.n; ++b)
      for (int64_t i = 0; i < s.inner; ++i) {
        const int64_t e = s.at(b, c, i);
        y.set_from_double(e, scale.get_as_double(c) * (x.get_as_double(e) - mu) / std::sqrt(var + eps) +
                                 bias.get_as_double(c));
      }
  }
  if (!training) return {y};
  return {y, stats[0], stats[1], stats[2], stats[3]};
}

std::vector<Tensor> ref_bn_grad(const std::vector<Tensor>& in, double eps) {
  const Tensor &x = in[0], &scale = in[1], &bm = in[2], &bv = in[3], &gy = in[4];
  const NCI s(x.shape());
  Tensor gx(x.dtype(), x.shape()), gs(x.dtype(), {s.c}), gb(x.dtype(), {s.c});
  const double m = static_cast<double>(s.n * s.inner);
  for (int64_t c = 0; c < s.c; ++c) {
    const double mu = bm.get_as_double(c), inv = 1 / std::sqrt(bv.get_as_double(c) + eps);
    double sg = 0, sgh = 0;
    for (int64_t b = 0; b < s.n; ++b)
      for (int64_t i = 0; i < s.inner; ++i) {
        const int64_t e = s.at(b, c, i);
        sg += gy.get_as_double(e);
        sgh += gy.get_as_double(e) * (x.get_as_double(e) - mu) * inv;
      }
    gb.set_from_double(c, sg);
    gs.set_from_double(c, sgh);
    for (int64_t b = 0; b < s.n; ++b)
      for (int64_t i = 0; i < s.inner; ++i) {
        const int64_t e = s.at(b, c, i);
        const double xh = (x.get_as_double(e) - mu) * inv;
        gx.set_from_double(e, scale.get_as_double(c) * inv / m * (m * gy.get_as_double(e) - sg - xh * sgh));
      }
  }
  return {gx, gs, gb};
}

// Rows of length d = numel(scale).
std::vector<Tensor> ref_ln(const std::vector<Tensor>& in, int64_t axis, double eps) {
  const Tensor &x = in[0], &scale = in[1];
  const int64_t d = scale.numel(), rows = x.numel() / d;
  Shape st(x.shape().begin(), x.shape().begin() + axis);
  st.resize(x.shape().size(), 1);
  Tensor y(x.dtype(), x.shape()), mean(x.dtype(), st), istd(x.dtype(), st);
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0, ss = 0;
    for (int64_t j = 0; j < d; ++j) sum += x.get_as_double(r * d + j);
    const double mu = sum / d;
    for (int64_t j = 0; j < d; ++j) ss += std::pow(x.get_as_double(r * d + j) - mu, 2);
    const double inv = 1 / std::sqrt(ss / d + eps);
    for (int64_t j = 0; j < d; ++j)
      y.set_from_double(r * d + j, (x.get_as_double(r * d + j) - mu) * inv * scale.get_as_double(j) +
                                       (in.size() > 2 ? in[2].get_as_double(j) : 0.0));
    mean.set_from_double(r, mu);
    istd.set_from_double(r, inv);
  }
  return {y, mean, istd};
}

std::vector<Tensor> ref_ln_grad(const std::vector<Tensor>& in) {
  const Tensor &x = in[0], &scale = in[1], &mean = in[2], &istd = in[3], &gy = in[4];
  const int64_t d = scale.numel(), rows = x.numel() / d;
  Tensor gx(x.dtype(), x.shape()), gs(x.dtype(), scale.shape()), gb(x.dtype(), scale.shape());
  std::vector<double> as(d, 0), ab(d, 0);
  for (int64_t r = 0; r < rows; ++r) {
    const double mu = mean.get_as_double(r), inv = istd.get_as_double(r);
    double a = 0, b = 0;
    for (int64_t j = 0; j < d; ++j) {
      const double g = gy.get_as_double(r * d + j), xh = (x.get_as_double(r * d + j) - mu) * inv;
      a += g * scale.get_as_double(j);
      b += g * scale.get_as_double(j) * xh;
      as[j] += g * xh;
      ab[j] += g;
    }
    for (int64_t j = 0; j < d; ++j) {
      const double g = gy.get_as_double(r * d + j), xh = (x.get_as_double(r * d + j) - mu) * inv;
      gx.set_from_double(r * d + j, inv * (g * scale.get_as_double(j) - a / d - xh * b / d));
    }
  }
  for (int64_t j = 0; j < d; ++j) {
    gs.set_from_double(j, as[j]);
    gb.set_from_double(j, ab[j]);
  }
  return {gx, gs, gb};
}

Tensor positive(DType t, Shape s, uint64_t seed) { return random_tensor(t, std::move(s), seed, 0.5, 1.5); }

}  // namespace

void add_norm_cases(std::vector<OpCase>& cases) {
  const DType f32 = DType::f32, f64 = DType::f64;
  struct BnCase {
    Shape shape;
    DType t;
    bool training;
    bool grad;
  };
  for (const BnCase& bc : {BnCase{{4, 3, 5, 6}, f32, false, false}, BnCase{{2, 3, 2, 2}, f64, false, true},
                           BnCase{{3, 2}, f64, false, true}, BnCase{{4, 3, 5, 6}, f32, true, false},
                           BnCase{{2, 3, 2, 2}, f64, true, true}, BnCase{{2, 2, 3}, f64, true, true},
                           BnCase{{5, 2}, f64, true, true}}) {
    const int64_t c = bc.shape[1];
    OpCase k;
    k.op = "batch_norm";
    k.label = bc.training ? "training" : "inference";
    const double eps = bc.training ? 1e-3 : 1e-5, mom = 0.8;
    k.attrs = {{"epsilon", eps}};
    if (bc.training) {
      k.attrs.set("training", int64_t(1));
      k.attrs.set("momentum", mom);
    }
    k.inputs = {random_tensor(bc.t, bc.shape, 100, -2, 3), random_tensor(bc.t, {c}, 101, 0.5, 2),
                random_tensor(bc.t, {c}, 102), random_tensor(bc.t, {c}, 103), positive(bc.t, {c}, 104)};
    k.grad = bc.grad;
    k.tol = 1e-4;
    k.reference = [eps, bc, mom](const std::vector<Tensor>& in) { return ref_bn(in, eps, bc.training, mom); };
    cases.push_back(k);
  }
  {
    OpCase g;
    g.op = "batch_norm_grad";
    g.attrs = {{"epsilon", 1e-3}};
    g.inputs = {random_tensor(f32, {3, 4, 5, 2}, 110), random_tensor(f32, {4}, 111), random_tensor(f32, {4}, 112),
                positive(f32, {4}, 113), random_tensor(f32, {3, 4, 5, 2}, 114)};
    g.tol = 1e-4;
    g.reference = [](const std::vector<Tensor>& in) { return ref_bn_grad(in, 1e-3); };
    cases.push_back(g);
  }

  struct LnCase {
    Shape shape;
    int64_t axis;  // normalized
    bool bias;
    DType t;
    bool grad;
  };
  for (const LnCase& lc : {LnCase{{6, 300}, 1, true, f32, false}, LnCase{{3, 5}, 1, true, f64, true},
                           LnCase{{2, 3, 4}, 1, false, f64, true}, LnCase{{2, 2, 3}, 2, true, f64, true}}) {
    OpCase k;
    k.op = "layer_norm";
    k.label = std::string("axis ") + std::to_string(lc.axis) + (lc.bias ? "" : ", no bias");
    k.attrs = {{"axis", lc.axis == static_cast<int64_t>(lc.shape.size()) - 1 ? int64_t(-1) : lc.axis},
               {"epsilon", 1e-4}};
    Shape ns(lc.shape.begin() + lc.axis, lc.shape.end());
    k.inputs = {random_tensor(lc.t, lc.shape, 120, -2, 3), random_tensor(lc.t, ns, 121, 0.5, 2)};
    if (lc.bias) k.inputs.push_back(random_tensor(lc.t, ns, 122));
    k.grad = lc.grad;
    k.tol = 1e-4;
    const int64_t axis = lc.axis;
    k.reference = [axis](const std::vector<Tensor>& in) { return ref_ln(in, axis, 1e-4); };
    cases.push_back(k);
  }
  {
    Tensor x = random_tensor(f32, {4, 3, 70}, 130, -2, 2), scale = random_tensor(f32, {3, 70}, 131);
    std::vector<Tensor> fw = ref_ln({x, scale}, 1, 1e-5);
    OpCase g;
    g.op = "layer_norm_grad";
    g.attrs = {{"axis", int64_t(1)}};
    g.inputs = {x, scale, fw[1], fw[2], random_tensor(f32, {4, 3, 70}, 132)};
    g.tol = 1e-4;
    g.reference = [](const std::vector<Tensor>& in) { return ref_ln_grad(in); };
    cases.push_back(g);
  }

  {
    OpCase d;
    d.op = "dropout";
    d.label = "training, ratio 0.3";
    d.attrs = {{"ratio", 0.3}, {"training", int64_t(1)}, {"seed", int64_t(7)}};
    d.inputs = {random_tensor(f32, {64, 101}, 140, 0.5, 1.5)};
    Tensor x = d.inputs[0];
    d.check = [x](const std::vector<Tensor>& out) {
      REQUIRE(out.size() == 2);
      REQUIRE(out[1].dtype() == DType::boolean);
      double kept = 0;
      for (int64_t i = 0; i < x.numel(); ++i) {
        const bool m = out[1].get_as_double(i) != 0;
        kept += m;
        const double want = m ? x.get_as_double(i) * static_cast<double>(1.0f / 0.7f) : 0.0;
        REQUIRE(std::abs(out[0].get_as_double(i) - want) <= 1e-6 * (1 + std::abs(want)));
      }
      CHECK(std::abs(kept / static_cast<double>(x.numel()) - 0.7) < 0.03);
    };
    cases.push_back(d);
    OpCase e;
    e.op = "dropout";
    e.label = "inference";
    e.attrs = {{"ratio", 0.5}};
    e.inputs = {random_tensor(f64, {3, 4}, 141)};
    e.reference = [](const std::vector<Tensor>& in) {
      Tensor mask(DType::boolean, in[0].shape());
      for (int64_t i = 0; i < mask.numel(); ++i) mask.set_from_double(i, 1);
      return std::vector<Tensor>{in[0], mask};
    };
    cases.push_back(e);
  }
}

}  // namespace symnet::test
