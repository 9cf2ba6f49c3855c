// The direct depthwise convolution kernels (kernels/cpu/conv_depthwise.h) against the
// double-precision references of conv_reference.h, on every instruction set the machine
// has and on one and two threads; the weight gradient's bits for any thread count; and a
// float32 training graph through autodiff, whose gradients must equal the reference
// products of the frame.
#include <cmath>
#include <cstring>
#include <sstream>

#include "conv_reference.h"
#include "harness.h"
#include "engine/base/error.h"
#include "engine/kernels/cpu/conv_depthwise.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/passes/passes.h"

namespace symnet::test {

namespace {

struct DwCase {
  int64_t N, C, M, H, W, KH, KW, sh, sw, dh, dw, pt, pl, pbot, pr;
};

std::string name_of(const DwCase& c) {
  std::ostringstream s;
  s << "N" << c.N << " C" << c.C << " M" << c.M << " " << c.H << "x" << c.W << " k" << c.KH << "x" << c.KW << " s"
    << c.sh << "," << c.sw << " d" << c.dh << "," << c.dw << " pads " << c.pt << "," << c.pl << "," << c.pbot << ","
    << c.pr;
  return s.str();
}

const std::vector<DwCase>& cases() {
  static const std::vector<DwCase> v = {
      {1, 32, 1, 112, 112, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  // MobileNetV2's first depthwise layer
      {2, 5, 1, 13, 17, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},     // stride 2, odd sizes
      {3, 4, 2, 9, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},      // channel multiplier 2
      {1, 3, 3, 11, 7, 3, 5, 2, 1, 2, 2, 2, 3, 1, 0},      // multiplier 3, dilation, uneven pads
      {2, 6, 1, 20, 37, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2},     // 5x5 (wide rows: the 64-lane loop)
      {1, 2, 1, 8, 70, 3, 3, 3, 3, 1, 1, 0, 0, 0, 0},      // stride 3, no padding
      {1, 3, 1, 6, 6, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0},       // stride 2 unpadded: input rows left unread
      {2, 3, 1, 1, 19, 1, 3, 1, 2, 1, 1, 0, 1, 0, 1},      // one row (1-d shaped)
  };
  return v;
}

Shape big_shape(const DwCase& c) { return {c.N, c.C, c.H, c.W}; }
Shape w_shape(const DwCase& c) { return {c.C * c.M, 1, c.KH, c.KW}; }
RefFrame ref_frame(const DwCase& c) {
  return RefFrame{2, {c.sh, c.sw}, {c.dh, c.dw}, {c.pt, c.pl}, {c.pbot, c.pr}, c.C};
}
Shape small_shape(const DwCase& c) { return ref_conv_out_shape(big_shape(c), w_shape(c), ref_frame(c)); }
ConvGeom geom(const DwCase& c) {
  return make_conv_geom(big_shape(c), small_shape(c), w_shape(c), {c.sh, c.sw}, {c.dh, c.dw}, {c.pt, c.pl}, c.C);
}

std::vector<std::string> isas() {
  std::vector<std::string> v = {"scalar"};
  for (const char* s : {"avx2", "avx512"}) {
    try {
      conv_depthwise_force_isa(s);
      v.push_back(s);
    } catch (const Error&) {
    }
  }
  conv_depthwise_force_isa("");
  return v;
}

// Runs f with the given instruction set and thread count, restoring both.
template <typename F>
void with_setting(const std::string& isa, int threads, F&& f) {
  const int old = engine_num_threads();
  set_engine_num_threads(threads);
  conv_depthwise_force_isa(isa.c_str());
  try {
    f();
  } catch (...) {
    conv_depthwise_force_isa("");
    set_engine_num_threads(old);
    throw;
  }
  conv_depthwise_force_isa("");
  set_engine_num_threads(old);
}

std::vector<unsigned char> workspace_for(const ConvGeom& g) { return std::vector<unsigned char>(conv_depthwise_workspace(g)); }

}  // namespace

TEST_CASE("depthwise kernels match the double reference", "[conv][depthwise]") {
  for (const DwCase& c : cases()) {
    const ConvGeom g = geom(c);
    REQUIRE(conv_depthwise_applies(g, DType::f32));
    const RefFrame f = ref_frame(c);
    const Shape bs = big_shape(c), ss = small_shape(c), ws = w_shape(c);
    Tensor x = random_tensor(DType::f32, bs, 11), w = random_tensor(DType::f32, ws, 12);
    Tensor gy = random_tensor(DType::f32, ss, 13);
    Tensor bias_s = random_tensor(DType::f32, {ss[1]}, 14), bias_b = random_tensor(DType::f32, {bs[1]}, 15);
    Tensor y_ref = ref_forward(x, w, ss, f);
    ref_add_bias(y_ref, bias_s);
    Tensor dx_ref = ref_backward_data(gy, w, bs, f);
    ref_add_bias(dx_ref, bias_b);
    Tensor dw_ref = ref_backward_weight(x, gy, ws, f);
    for (const std::string& isa : isas())
      for (int threads : {1, 2})
        DYNAMIC_SECTION(name_of(c) << " " << isa << " threads " << threads) {
          with_setting(isa, threads, [&] {
            auto ws_buf = workspace_for(g);
            // Outputs start as garbage: every element must be written.
            Tensor y(DType::f32, ss), dx(DType::f32, bs), dwt(DType::f32, ws);
            for (Tensor* t : {&y, &dx, &dwt})
              for (int64_t i = 0; i < t->numel(); ++i) t->ptr<float>()[i] = std::nanf("");
            TensorView bsv = bias_s.view(), bbv = bias_b.view();
            conv_depthwise_forward(g, x.view(), w.view(), &bsv, y.view(), ws_buf.data());
            check_close(y, y_ref, 1e-5);
            conv_depthwise_backward_data(g, gy.view(), w.view(), &bbv, dx.view(), ws_buf.data());
            check_close(dx, dx_ref, 1e-5);
            conv_depthwise_backward_weight(g, x.view(), gy.view(), dwt.view(), ws_buf.data());
            check_close(dwt, dw_ref, 1e-4);
          });
        }
  }
}

TEST_CASE("depthwise kernels without bias", "[conv][depthwise]") {
  const DwCase c{2, 3, 2, 7, 9, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1};
  const ConvGeom g = geom(c);
  const RefFrame f = ref_frame(c);
  Tensor x = random_tensor(DType::f32, big_shape(c), 21), w = random_tensor(DType::f32, w_shape(c), 22);
  Tensor gy = random_tensor(DType::f32, small_shape(c), 23);
  auto ws_buf = workspace_for(g);
  Tensor y(DType::f32, small_shape(c)), dx(DType::f32, big_shape(c));
  conv_depthwise_forward(g, x.view(), w.view(), nullptr, y.view(), ws_buf.data());
  check_close(y, ref_forward(x, w, small_shape(c), f), 1e-5);
  conv_depthwise_backward_data(g, gy.view(), w.view(), nullptr, dx.view(), ws_buf.data());
  check_close(dx, ref_backward_data(gy, w, big_shape(c), f), 1e-5);
}

TEST_CASE("depthwise applies to float32 depthwise frames only", "[conv][depthwise]") {
  const DwCase c{1, 4, 1, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
  ConvGeom g = geom(c);
  CHECK(conv_depthwise_applies(g, DType::f32));
  CHECK_FALSE(conv_depthwise_applies(g, DType::f64));
  ConvGeom grouped = make_conv_geom({1, 4, 6, 6}, {1, 4, 6, 6}, {4, 2, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 2);
  CHECK_FALSE(conv_depthwise_applies(grouped, DType::f32));
  ConvGeom dense = make_conv_geom({1, 4, 6, 6}, {1, 4, 6, 6}, {4, 4, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 1);
  CHECK_FALSE(conv_depthwise_applies(dense, DType::f32));
  // One input channel (LeNet's first layer, groups = channels = 1) is an ordinary conv.
  ConvGeom one = make_conv_geom({1, 1, 6, 6}, {1, 20, 2, 2}, {20, 1, 5, 5}, {1, 1}, {1, 1}, {0, 0}, 1);
  CHECK_FALSE(conv_depthwise_applies(one, DType::f32));
  // A 3-d frame with depth goes to the generic path.
  ConvGeom deep = make_conv_geom({1, 2, 3, 4, 4}, {1, 2, 3, 4, 4}, {2, 1, 1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, 2);
  CHECK_FALSE(conv_depthwise_applies(deep, DType::f32));
  CHECK(kind_of([] { conv_depthwise_force_isa("sse9"); }) == ErrorKind::value);
  CHECK(std::string(conv_depthwise_isa()).size() > 0);
}

TEST_CASE("the depthwise weight gradient is the same bits for any thread count", "[conv][depthwise]") {
  const DwCase c{7, 6, 2, 15, 15, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1};
  const ConvGeom g = geom(c);
  Tensor x = random_tensor(DType::f32, big_shape(c), 31), gy = random_tensor(DType::f32, small_shape(c), 32);
  auto ws_buf = workspace_for(g);
  std::vector<Tensor> runs;
  for (int threads : {1, 2, 3, 2, 1})
    with_setting("", threads, [&] {
      Tensor dw(DType::f32, w_shape(c));
      conv_depthwise_backward_weight(g, x.view(), gy.view(), dw.view(), ws_buf.data());
      runs.push_back(dw);
    });
  for (const Tensor& r : runs) CHECK(std::memcmp(r.data(), runs[0].data(), r.bytes()) == 0);
}

TEST_CASE("a float32 depthwise layer trains through autodiff on the direct kernels", "[conv][depthwise][grad]") {
  // loss = sum(r * conv(x, w, b)): dx, dw and db are the frame's reference products of r.
  const DwCase c{2, 4, 2, 9, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1};
  const RefFrame f = ref_frame(c);
  const Shape bs = big_shape(c), ss = small_shape(c), wsh = w_shape(c);
  Value x = op::input("x", DType::f32, bs), w = op::input("w", DType::f32, wsh), b = op::input("b", DType::f32, {ss[1]});
  Value r = op::input("r", DType::f32, ss);
  AttrMap a{{"group", c.C}, {"strides", std::vector<int64_t>{2, 2}}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}};
  Value y = op::apply("conv", {x, w, b}, a);
  Value loss = op::reduce_sum(op::mul(y, r));
  std::vector<Value> grads = gradients(loss, {x, w, b});
  Graph gr;
  gr.inputs = {x, w, b, r};
  gr.outputs = {y, grads[0], grads[1], grads[2]};
  gr.output_names = {"y", "dx", "dw", "db"};
  Tensor xt = random_tensor(DType::f32, bs, 41), wt = random_tensor(DType::f32, wsh, 42);
  Tensor bt = random_tensor(DType::f32, {ss[1]}, 43), rt = random_tensor(DType::f32, ss, 44);
  for (int threads : {1, 2})
    DYNAMIC_SECTION("threads " << threads) {
      with_setting("", threads, [&] {
        std::vector<Tensor> out = run_graph(gr, {xt, wt, bt, rt});
        Tensor y_ref = ref_forward(xt, wt, ss, f);
        ref_add_bias(y_ref, bt);
        check_close(out[0], y_ref, 1e-5);
        check_close(out[1], ref_backward_data(rt, wt, bs, f), 1e-5);
        check_close(out[2], ref_backward_weight(xt, rt, wsh, f), 1e-4);
        std::vector<double> db(ss[1], 0.0);
        const int64_t inner = ss[2] * ss[3];
        for (int64_t i = 0; i < rt.numel(); ++i) db[(i / inner) % ss[1]] += rt.get_as_double(i);
        check_close(out[3], Tensor::from_doubles(DType::f32, {ss[1]}, db), 1e-5);
      });
    }
}

}  // namespace symnet::test
