// Cases for conv, conv_transpose and the internal conv products. References are naive
// double loops over (batch, channel, output position, kernel offset), independent of the
// im2col/GEMM kernels.
#include <algorithm>
#include <cmath>

#include "conv_reference.h"
#include "harness.h"

namespace symnet::test {

namespace {

std::vector<int64_t> ints(std::initializer_list<int64_t> v) { return v; }

Tensor rnd(DType t, Shape s, uint64_t seed) { return random_tensor(t, std::move(s), seed, -1, 1); }

// conv case with explicit geometry (pads resolved by hand in the case).
OpCase conv_case(const std::string& label, DType t, Shape x, Shape w, bool bias, AttrMap attrs, RefFrame f,
                 uint64_t seed) {
  OpCase c;
  c.op = "conv";
  c.label = label;
  c.attrs = attrs;
  const int64_t M = w[0];
  c.inputs = {rnd(t, x, seed), rnd(t, w, seed + 1)};
  if (bias) c.inputs.push_back(rnd(t, {M}, seed + 2));
  c.reference = [f](const std::vector<Tensor>& in) {
    Shape ys = ref_conv_out_shape(in[0].shape(), in[1].shape(), f);
    Tensor y = ref_forward(in[0], in[1], ys, f);
    if (in.size() > 2) ref_add_bias(y, in[2]);
    return std::vector<Tensor>{y};
  };
  if (t == DType::f32) {
    c.tol = 1e-4;
    c.grad = false;  // the float64 twin checks gradients
  }
  return c;
}

OpCase conv_transpose_case(const std::string& label, DType t, Shape x, Shape w, bool bias, AttrMap attrs, RefFrame f,
                           Shape y_spatial, uint64_t seed) {
  OpCase c;
  c.op = "conv_transpose";
  c.label = label;
  c.attrs = attrs;
  const int64_t M = w[1] * f.group;
  c.inputs = {rnd(t, x, seed), rnd(t, w, seed + 1)};
  if (bias) c.inputs.push_back(rnd(t, {M}, seed + 2));
  c.reference = [f, y_spatial, M](const std::vector<Tensor>& in) {
    Shape ys{in[0].shape()[0], M};
    ys.insert(ys.end(), y_spatial.begin(), y_spatial.end());
    Tensor y = ref_backward_data(in[0], in[1], ys, f);
    if (in.size() > 2) ref_add_bias(y, in[2]);
    return std::vector<Tensor>{y};
  };
  if (t == DType::f32) {
    c.tol = 1e-4;
    c.grad = false;
  }
  return c;
}

AttrMap with_transposed(AttrMap a, int64_t t) {
  a.set("transposed", t);
  return a;
}

}  // namespace

void add_conv_cases(std::vector<OpCase>& cases) {
  const DType f32 = DType::f32, f64 = DType::f64;
  // 2-D: asymmetric pads and strides, with bias.
  {
    AttrMap a{{"pads", ints({1, 0, 1, 2})}, {"strides", ints({2, 1})}};
    RefFrame f{2, {2, 1}, {1, 1}, {1, 0}, {1, 2}, 1};
    for (DType t : {f32, f64}) cases.push_back(conv_case("2d pads strides bias", t, {2, 3, 5, 4}, {2, 3, 3, 2}, true, a, f, 11));
  }
  // 1-D: dilation and stride, no bias.
  {
    AttrMap a{{"dilations", ints({2})}, {"strides", ints({2})}, {"kernel_shape", ints({3})}};
    RefFrame f{1, {2}, {2}, {0}, {0}, 1};
    cases.push_back(conv_case("1d dilation stride", f64, {2, 2, 9}, {3, 2, 3}, false, a, f, 21));
    cases.push_back(conv_case("1d dilation stride", f32, {2, 2, 9}, {3, 2, 3}, false, a, f, 21));
  }
  // 3-D with pads and a stride.
  {
    AttrMap a{{"pads", ints({1, 0, 1, 0, 1, 0})}, {"strides", ints({1, 2, 1})}};
    RefFrame f{3, {1, 2, 1}, {1, 1, 1}, {1, 0, 1}, {0, 1, 0}, 1};
    cases.push_back(conv_case("3d pads stride", f64, {1, 2, 3, 4, 3}, {2, 2, 2, 3, 2}, true, a, f, 31));
    cases.push_back(conv_case("3d pads stride", f32, {2, 2, 3, 4, 3}, {2, 2, 2, 3, 2}, true, a, f, 31));
  }
  // Groups with SAME_UPPER and stride 2: in 5, out ceil(5/2) = 3, total pad (3-1)*2+3-5 = 2.
  {
    AttrMap a{{"group", int64_t(2)}, {"auto_pad", std::string("SAME_UPPER")}, {"strides", ints({2, 2})}};
    RefFrame f{2, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 2};
    cases.push_back(conv_case("group 2 SAME_UPPER", f64, {1, 4, 5, 5}, {4, 2, 3, 3}, true, a, f, 41));
    cases.push_back(conv_case("group 2 SAME_UPPER", f32, {3, 4, 5, 5}, {4, 2, 3, 3}, true, a, f, 41));
  }
  // SAME_LOWER with an even kernel: in 4, out 4, total 1 -> begin 1, end 0.
  {
    AttrMap a{{"auto_pad", std::string("SAME_LOWER")}};
    RefFrame f{2, {1, 1}, {1, 1}, {1, 1}, {0, 0}, 1};
    cases.push_back(conv_case("SAME_LOWER even kernel", f64, {1, 2, 4, 4}, {2, 2, 2, 2}, false, a, f, 51));
  }
  // conv_clip (the CPU's conv + relu / ReLU6 epilogue node): the conv, then the bounds.
  // No gradient: it is made from inference graphs only.
  {
    AttrMap a{{"pads", ints({1, 1, 1, 1})}, {"group", int64_t(2)}};
    RefFrame f{2, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 2};
    struct Bounds {
      const char* label;
      double lo, hi;
      bool has_lo, has_hi;
    };
    for (const Bounds& b : {Bounds{"relu", 0, 0, true, false}, Bounds{"relu6 as 0..0.6", 0, 0.6, true, true},
                            Bounds{"max only", 0, -0.2, false, true}}) {
      for (DType t : {f32, f64}) {
        AttrMap ab = a;
        if (b.has_lo) ab.set("clip_min", b.lo);
        if (b.has_hi) ab.set("clip_max", b.hi);
        OpCase c = conv_case(std::string("conv_clip ") + b.label, t, {2, 4, 5, 5}, {6, 2, 3, 3}, true, ab, f, 71);
        c.op = "conv_clip";
        c.grad = false;
        auto conv_ref = c.reference;
        const double lo = b.has_lo ? b.lo : -HUGE_VAL, hi = b.has_hi ? b.hi : HUGE_VAL;
        c.reference = [conv_ref, lo, hi](const std::vector<Tensor>& in) {
          Tensor y = conv_ref(in).at(0);
          for (int64_t i = 0; i < y.numel(); ++i) {
            const double v = y.get_as_double(i);
            y.set_from_double(i, std::min(std::max(v, lo), hi));
          }
          return std::vector<Tensor>{y};
        };
        cases.push_back(c);
      }
    }
  }
  // Depthwise (group = channels) with dilation and pads.
  {
    AttrMap a{{"group", int64_t(3)}, {"dilations", ints({2, 1})}, {"pads", ints({2, 1, 2, 1})}};
    RefFrame f{2, {1, 1}, {2, 1}, {2, 1}, {2, 1}, 3};
    cases.push_back(conv_case("depthwise dilation", f64, {2, 3, 4, 3}, {3, 1, 2, 2}, true, a, f, 61));
  }
  // Depthwise float32 (the direct kernels of conv_depthwise.h): MobileNet's 3x3 stride 2
  // pad 1 with a channel multiplier of 2 and odd sizes, and dilation with uneven pads.
  {
    AttrMap a{{"group", int64_t(5)}, {"strides", ints({2, 2})}, {"pads", ints({1, 1, 1, 1})}};
    RefFrame f{2, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 5};
    cases.push_back(conv_case("depthwise f32 stride 2 multiplier 2", f32, {2, 5, 9, 11}, {10, 1, 3, 3}, true, a, f, 62));
    AttrMap b{{"group", int64_t(3)}, {"dilations", ints({2, 3})}, {"pads", ints({2, 0, 1, 3})}};
    RefFrame fb{2, {1, 1}, {2, 3}, {2, 0}, {1, 3}, 3};
    cases.push_back(conv_case("depthwise f32 dilation", f32, {1, 3, 7, 13}, {3, 1, 3, 3}, false, b, fb, 63));
    // conv_transpose with group = its output channels: the depthwise input gradient.
    AttrMap t{{"group", int64_t(4)}, {"strides", ints({2, 2})}, {"pads", ints({1, 1, 1, 1})},
              {"output_padding", ints({1, 1})}};
    RefFrame ft{2, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 4};
    cases.push_back(conv_transpose_case("depthwise f32", f32, {2, 4, 5, 6}, {4, 1, 3, 3}, true, t, ft,
                                        {2 * 4 + 3 - 2 + 1, 2 * 5 + 3 - 2 + 1}, 64));
  }
  // Pointwise 1x1 (no column buffer) and VALID.
  {
    RefFrame f{2, {1, 1}, {1, 1}, {0, 0}, {0, 0}, 1};
    cases.push_back(conv_case("1x1", f64, {2, 3, 3, 4}, {4, 3, 1, 1}, true, {}, f, 71));
    cases.push_back(conv_case("1x1", f32, {2, 3, 3, 4}, {4, 3, 1, 1}, true, {}, f, 71));
    AttrMap v{{"auto_pad", std::string("VALID")}, {"strides", ints({1, 2})}};
    RefFrame fv{2, {1, 2}, {1, 1}, {0, 0}, {0, 0}, 1};
    cases.push_back(conv_case("VALID stride", f64, {1, 2, 4, 5}, {2, 2, 3, 2}, false, v, fv, 72));
  }
  // LeNet's second layer in float32: batch-parallel kernel path, several row blocks.
  {
    RefFrame f{2, {1, 1}, {1, 1}, {0, 0}, {0, 0}, 1};
    OpCase c = conv_case("lenet conv2", f32, {8, 20, 12, 12}, {50, 20, 5, 5}, true, {}, f, 81);
    cases.push_back(c);
    OpCase big = conv_case("row blocks", f32, {1, 64, 20, 40}, {8, 64, 3, 3}, true, {{"pads", ints({1, 1, 1, 1})}},
                           RefFrame{2, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1}, 82);
    cases.push_back(big);
  }

  // conv_transpose: y = s*(x-1) + op + d*(k-1)+1 - pads.
  {
    // x 3x3 -> y: 2*2+1+3-1-0 = 7 (h), 2*2+0+3-1-1 = 5 (w)... see RefFrame pads [1, 0] begin.
    AttrMap a{{"strides", ints({2, 2})}, {"output_padding", ints({1, 0})}, {"pads", ints({1, 0, 0, 1})}};
    RefFrame f{2, {2, 2}, {1, 1}, {1, 0}, {0, 1}, 1};
    for (DType t : {f64, f32})
      cases.push_back(conv_transpose_case("2d stride output_padding", t, {2, 3, 3, 3}, {3, 2, 3, 3}, true, a, f,
                                          {2 * 2 + 1 + 3 - 1, 2 * 2 + 0 + 3 - 1}, 91));
  }
  {
    // group 2, dilation 2, no pads: y = 1*(4-1) + 2*(2-1)+1 = 6.
    AttrMap a{{"group", int64_t(2)}, {"dilations", ints({2, 2})}};
    RefFrame f{2, {1, 1}, {2, 2}, {0, 0}, {0, 0}, 2};
    cases.push_back(conv_transpose_case("group dilation", f64, {1, 4, 4, 3}, {4, 1, 2, 2}, true, a, f, {6, 5}, 101));
  }
  {
    // 1-D with output_shape: total = 2*(4-1) + 0 + 3 - 8 = 1; SAME_UPPER -> begin 0.
    AttrMap a{{"strides", ints({2})}, {"output_shape", ints({8})}, {"auto_pad", std::string("SAME_UPPER")}};
    RefFrame f{1, {2}, {1}, {0}, {1}, 1};
    cases.push_back(conv_transpose_case("1d output_shape SAME_UPPER", f64, {2, 2, 4}, {2, 3, 3}, false, a, f, {8}, 111));
    // SAME_LOWER without output_shape: y = 4*2 = 8, total = 0 + 3 - 2 = 1 -> begin 1.
    AttrMap b{{"strides", ints({2})}, {"auto_pad", std::string("SAME_LOWER")}};
    RefFrame fb{1, {2}, {1}, {1}, {0}, 1};
    cases.push_back(conv_transpose_case("1d SAME_LOWER", f64, {1, 2, 4}, {2, 1, 3}, true, b, fb, {8}, 112));
  }
  {
    // 3-D: y = (2-1)*2 + 2 = 4, (3-1)*1+2 = 4, (2-1)*1 + 1 = 2.
    AttrMap a{{"strides", ints({2, 1, 1})}};
    RefFrame f{3, {2, 1, 1}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, 1};
    cases.push_back(conv_transpose_case("3d", f64, {1, 2, 2, 3, 2}, {2, 2, 2, 2, 1}, true, a, f, {4, 4, 2}, 121));
  }

  // Internal products of a conv frame (transposed 0) and a conv_transpose frame (1).
  struct Frame {
    const char* label;
    AttrMap attrs;
    RefFrame f;
    Shape big, small, w;
  };
  std::vector<Frame> frames = {
      {"conv frame", with_transposed({{"pads", ints({1, 0, 0, 1})}, {"strides", ints({2, 1})}, {"group", int64_t(2)}}, 0),
       RefFrame{2, {2, 1}, {1, 1}, {1, 0}, {0, 1}, 2}, {2, 4, 5, 4}, {2, 2, 3, 4}, {2, 2, 2, 2}},
      {"conv_transpose frame",
       with_transposed({{"strides", ints({2})}, {"output_padding", ints({1})}, {"dilations", ints({2})}}, 1),
       RefFrame{1, {2}, {2}, {0}, {0}, 1}, {1, 2, 10}, {1, 3, 4}, {3, 2, 2}},
  };
  for (const Frame& fr : frames) {
    RefFrame f = fr.f;
    Shape big = fr.big, small = fr.small, w = fr.w;
    OpCase fl;
    fl.op = "conv_forward_like";
    fl.label = fr.label;
    fl.attrs = fr.attrs;
    fl.inputs = {rnd(f64, big, 201), rnd(f64, w, 202), rnd(f64, small, 203)};
    fl.grad_inputs = {0, 1};
    fl.reference = [f](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{ref_forward(in[0], in[1], in[2].shape(), f)};
    };
    cases.push_back(fl);
    OpCase gi;
    gi.op = "conv_grad_input";
    gi.label = fr.label;
    gi.attrs = fr.attrs;
    gi.inputs = {rnd(f64, small, 211), rnd(f64, w, 212), rnd(f64, big, 213)};
    gi.grad_inputs = {0, 1};
    gi.reference = [f](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{ref_backward_data(in[0], in[1], in[2].shape(), f)};
    };
    cases.push_back(gi);
    OpCase gw;
    gw.op = "conv_grad_weight";
    gw.label = fr.label;
    gw.attrs = fr.attrs;
    gw.inputs = {rnd(f64, big, 221), rnd(f64, small, 222), rnd(f64, w, 223)};
    gw.grad_inputs = {0, 1};
    gw.reference = [f](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{ref_backward_weight(in[0], in[1], in[2].shape(), f)};
    };
    cases.push_back(gw);
  }
  // float32 depthwise products (stride 2, multiplier 3, odd sizes): the direct kernels.
  {
    RefFrame f{2, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 3};
    const AttrMap a = with_transposed({{"group", int64_t(3)}, {"strides", ints({2, 2})}, {"pads", ints({1, 1, 1, 1})}}, 0);
    const Shape big{3, 3, 7, 9}, small{3, 9, 4, 5}, w{9, 1, 3, 3};
    OpCase gi;
    gi.op = "conv_grad_input";
    gi.label = "depthwise f32";
    gi.attrs = a;
    gi.inputs = {rnd(f32, small, 251), rnd(f32, w, 252), rnd(f32, big, 253)};
    gi.grad = false;
    gi.tol = 1e-4;
    gi.reference = [f](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{ref_backward_data(in[0], in[1], in[2].shape(), f)};
    };
    cases.push_back(gi);
    OpCase gw;
    gw.op = "conv_grad_weight";
    gw.label = "depthwise f32";
    gw.attrs = a;
    gw.inputs = {rnd(f32, big, 261), rnd(f32, small, 262), rnd(f32, w, 263)};
    gw.grad = false;
    gw.tol = 1e-4;
    gw.reference = [f](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{ref_backward_weight(in[0], in[1], in[2].shape(), f)};
    };
    cases.push_back(gw);
  }
  // float32 products on a batch large enough for the per-thread accumulators.
  {
    RefFrame f{2, {1, 1}, {1, 1}, {0, 0}, {0, 0}, 1};
    OpCase gw;
    gw.op = "conv_grad_weight";
    gw.label = "lenet conv2 f32";
    gw.attrs = with_transposed({}, 0);
    gw.inputs = {rnd(f32, {9, 20, 12, 12}, 231), rnd(f32, {9, 50, 8, 8}, 232), rnd(f32, {50, 20, 5, 5}, 233)};
    gw.grad = false;
    gw.tol = 1e-4;
    gw.reference = [f](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{ref_backward_weight(in[0], in[1], in[2].shape(), f)};
    };
    cases.push_back(gw);
    OpCase gi;
    gi.op = "conv_grad_input";
    gi.label = "lenet conv2 f32";
    gi.attrs = with_transposed({}, 0);
    gi.inputs = {rnd(f32, {9, 50, 8, 8}, 241), rnd(f32, {50, 20, 5, 5}, 242), rnd(f32, {9, 20, 12, 12}, 243)};
    gi.grad = false;
    gi.tol = 1e-4;
    gi.reference = [f](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{ref_backward_data(in[0], in[1], in[2].shape(), f)};
    };
    cases.push_back(gi);
  }
}

}  // namespace symnet::test
