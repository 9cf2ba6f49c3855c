// Cases for the pooling family (max/avg/global pooling, LRN). References are naive loops in
// double over explicitly given geometry (output sizes worked out by hand in each case).
#include <cmath>
#include <limits>

#include "harness.h"
#include "pool_norm_ref.h"

namespace symnet::test {

namespace {

AttrMap pool_attrs(const PoolSpec& p) {
  AttrMap a;
  a.set("kernel_shape", p.k);
  if (!p.s.empty()) a.set("strides", p.s);
  if (!p.pb.empty()) {
    std::vector<int64_t> pads = p.pb;
    pads.insert(pads.end(), p.pe.begin(), p.pe.end());
    a.set("pads", pads);
  }
  if (!p.d.empty()) a.set("dilations", p.d);
  if (p.ceil) a.set("ceil_mode", int64_t(1));
  if (p.count_include_pad) a.set("count_include_pad", int64_t(1));
  return a;
}

void add_pool(std::vector<OpCase>& cases, const std::string& op, const std::string& label, Tensor x, PoolSpec p,
              bool grad, AttrMap extra = {}) {
  OpCase c;
  c.op = op;
  c.label = label;
  c.attrs = pool_attrs(p);
  for (const auto& kv : extra.items()) c.attrs.set(kv.first, kv.second);
  if (extra.has("auto_pad")) c.attrs.erase("pads");  // p's pads only describe the reference
  c.inputs = {x};
  c.grad = grad;
  const bool is_max = op == "max_pool";
  c.reference = [p, is_max](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{ref_pool(in[0], p, is_max ? PoolRef::max : PoolRef::avg)};
  };
  cases.push_back(c);
  if (!grad) return;
  // The backward ops on the same geometry, against the naive scatter.
  Tensor gy = random_tensor(x.dtype(), ref_pool(x, p, PoolRef::max).shape(), 77);
  OpCase b;
  b.label = label;
  b.attrs = c.attrs;
  if (is_max) {
    b.op = "max_pool_grad";
    b.inputs = {x, gy};
    b.reference = [p](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{ref_pool_backward(in[0], in[1], p, PoolRef::max)};
    };
    cases.push_back(b);
    OpCase gth;
    gth.op = "max_pool_gather";
    gth.label = label;
    gth.attrs = c.attrs;
    gth.inputs = {x, random_tensor(x.dtype(), x.shape(), 78)};
    gth.reference = [p](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{ref_pool(in[0], p, PoolRef::gather, &in[1])};
    };
    cases.push_back(gth);
  } else {
    b.op = "avg_pool_grad";
    b.inputs = {gy, x};
    b.grad_inputs = {0};
    b.reference = [p](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{ref_pool_backward(in[1], in[0], p, PoolRef::avg)};
    };
    cases.push_back(b);
  }
}

}  // namespace

void add_pool_cases(std::vector<OpCase>& cases) {
  const DType f32 = DType::f32, f64 = DType::f64;
  // LeNet-style 2x2/2 (tiled path; the float32 one runs the SIMD code with an edge left over).
  add_pool(cases, "max_pool", "2x2/2 tiled f32, odd width", random_tensor(f32, {2, 3, 10, 21}, 1),
           pool_spec({2, 2}, {2, 2}, {}, {}, {}, false, false), false);
  add_pool(cases, "max_pool", "2x2/2 tiled small", random_tensor(f64, {1, 2, 4, 5}, 2), pool_spec({2, 2}, {2, 2}), true);
  add_pool(cases, "max_pool", "3x2/3x2 tiled", random_tensor(f64, {1, 2, 7, 5}, 3), pool_spec({3, 2}, {3, 2}), true);
  add_pool(cases, "max_pool", "3x3/2 pads 1", random_tensor(f64, {1, 2, 5, 5}, 4),
           pool_spec({3, 3}, {2, 2}, {1, 1}, {1, 1}), true);
  add_pool(cases, "max_pool", "3x3/2 ceil_mode", random_tensor(f64, {1, 1, 6, 6}, 5),
           pool_spec({3, 3}, {2, 2}, {}, {}, {}, true), true);
  add_pool(cases, "max_pool", "2x2 dilation 2", random_tensor(f64, {1, 2, 5, 5}, 6),
           pool_spec({2, 2}, {1, 1}, {}, {}, {2, 2}), true);
  add_pool(cases, "max_pool", "1-D 3/2 pads [1,0]", random_tensor(f64, {2, 2, 9}, 7), pool_spec({3}, {2}, {1}, {0}), true);
  add_pool(cases, "max_pool", "3-D 2x2x2/2", random_tensor(f64, {1, 2, 4, 4, 5}, 8), pool_spec({2, 2, 2}, {2, 2, 2}), true);
  add_pool(cases, "max_pool", "auto_pad SAME_UPPER", random_tensor(f64, {1, 1, 5, 5}, 9),
           pool_spec({2, 2}, {2, 2}, {0, 0}, {1, 1}), true, {{"auto_pad", std::string("SAME_UPPER")}});
  add_pool(cases, "max_pool", "auto_pad SAME_LOWER", random_tensor(f32, {1, 1, 5, 5}, 10),
           pool_spec({3, 3}, {2, 2}, {1, 1}, {1, 1}), false, {{"auto_pad", std::string("SAME_LOWER")}});
  add_pool(cases, "max_pool", "auto_pad VALID", random_tensor(f32, {1, 1, 7, 6}, 11), pool_spec({3, 2}, {2, 2}), false,
           {{"auto_pad", std::string("VALID")}});

  add_pool(cases, "avg_pool", "2x2/2 tiled f32, odd width", random_tensor(f32, {2, 3, 9, 19}, 21),
           pool_spec({2, 2}, {2, 2}), false);
  add_pool(cases, "avg_pool", "2x2/2 tiled small", random_tensor(f64, {1, 2, 4, 5}, 22), pool_spec({2, 2}, {2, 2}), true);
  add_pool(cases, "avg_pool", "3x3/2 pads 1", random_tensor(f64, {1, 2, 5, 5}, 23),
           pool_spec({3, 3}, {2, 2}, {1, 1}, {1, 1}), true);
  add_pool(cases, "avg_pool", "3x3/2 pads 1 count_include_pad", random_tensor(f64, {1, 2, 5, 5}, 24),
           pool_spec({3, 3}, {2, 2}, {1, 1}, {1, 1}, {}, false, true), true);
  add_pool(cases, "avg_pool", "3x3/2 pads 1 ceil count_include_pad", random_tensor(f64, {1, 1, 6, 6}, 25),
           pool_spec({3, 3}, {2, 2}, {1, 1}, {1, 1}, {}, true, true), true);
  add_pool(cases, "avg_pool", "3x3/2 pads 1 ceil", random_tensor(f64, {1, 1, 6, 6}, 26),
           pool_spec({3, 3}, {2, 2}, {1, 1}, {1, 1}, {}, true, false), true);
  add_pool(cases, "avg_pool", "2x2 dilation 2", random_tensor(f64, {1, 1, 5, 6}, 27),
           pool_spec({2, 2}, {1, 2}, {}, {}, {2, 2}), true);
  add_pool(cases, "avg_pool", "1-D 4/1", random_tensor(f64, {2, 3, 6}, 28), pool_spec({4}, {1}), true);
  add_pool(cases, "avg_pool", "3-D 2x1x2 pads", random_tensor(f64, {1, 1, 3, 3, 4}, 29),
           pool_spec({2, 1, 2}, {1, 2, 2}, {1, 0, 1}, {0, 0, 1}), true);
  add_pool(cases, "avg_pool", "auto_pad SAME_UPPER count_include_pad", random_tensor(f64, {1, 1, 5, 4}, 30),
           pool_spec({2, 3}, {2, 1}, {0, 1}, {1, 1}, {}, false, true), true, {{"auto_pad", std::string("SAME_UPPER")}});

  for (DType t : {f32, f64}) {
    OpCase g;
    g.op = "global_avg_pool";
    g.inputs = {random_tensor(t, {2, 3, 4, 5}, 40)};
    g.reference = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{ref_global(in[0], false)}; };
    cases.push_back(g);
    OpCase m = g;
    m.op = "global_max_pool";
    m.reference = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{ref_global(in[0], true)}; };
    cases.push_back(m);
  }
  {
    OpCase g;
    g.op = "global_avg_pool";
    g.label = "1-D";
    g.inputs = {random_tensor(f64, {2, 2, 7}, 41)};
    g.reference = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{ref_global(in[0], false)}; };
    cases.push_back(g);
    OpCase m = g;
    m.op = "global_max_pool";
    m.label = "3-D";
    m.inputs = {random_tensor(f64, {1, 2, 2, 3, 2}, 42)};
    m.reference = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{ref_global(in[0], true)}; };
    cases.push_back(m);
  }

  struct LrnCase {
    int64_t size;
    double alpha, beta, bias;
    Shape shape;
    DType t;
  };
  for (const LrnCase& lc : {LrnCase{3, 1e-4, 0.75, 1.0, {2, 5, 3, 3}, f32}, LrnCase{5, 0.5, 0.75, 2.0, {1, 6, 2, 3}, f64},
                            LrnCase{4, 0.9, 0.6, 1.5, {2, 7, 4}, f64}}) {
    OpCase c;
    c.op = "lrn";
    c.label = "size " + std::to_string(lc.size);
    c.attrs = {{"size", lc.size}, {"alpha", lc.alpha}, {"beta", lc.beta}, {"bias", lc.bias}};
    c.inputs = {random_tensor(lc.t, lc.shape, 50 + lc.size, -2, 2)};
    c.reference = [lc](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{ref_lrn(in[0], lc.size, lc.alpha, lc.beta, lc.bias)};
    };
    cases.push_back(c);
  }
  for (int64_t rev : {0, 1}) {
    OpCase c;
    c.op = "lrn_window_sum";
    c.label = rev ? "size 4 reverse" : "size 4";
    c.attrs = {{"size", int64_t(4)}, {"reverse", rev}};
    c.inputs = {random_tensor(f64, {2, 6, 3}, 60 + rev)};
    c.reference = [rev](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{ref_window_sum(in[0], 4, rev == 1)};
    };
    cases.push_back(c);
  }
}

}  // namespace symnet::test
