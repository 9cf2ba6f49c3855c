// The float32 convolution paths on the packed SGEMM tile kernels (conv_packed.h): every
// product against the double-precision reference over edge geometries, on each tile
// kernel this CPU runs (AVX-512 and AVX2), on one thread and on two; the weight gradient's
// bits across thread counts; the algorithm names reported for profiles.
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "conv_reference.h"
#include "engine/exec/executable.h"
#include "engine/kernels/cpu/blas.h"
#include "engine/kernels/cpu/conv.h"
#include "engine/kernels/cpu/conv_gemm.h"
#include "engine/kernels/cpu/conv_packed.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/kernels/cpu/sgemm_packed.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

namespace {

struct Case {
  const char* name;
  int64_t N, Cb, Cs, G;
  std::vector<int64_t> spatial, k, s, d, pb, pe;
};

// Odd sizes, channel counts that are no multiple of any tile, stride, padding (also
// uneven and larger than the kernel), dilation, groups, batch 1, 1-3 spatial dims, blocks
// that cross samples (few output positions) and blocks inside one sample (many).
const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {"3x3 same, batch 1", 1, 3, 5, 1, {7, 9}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
      {"3x3 stride 2", 3, 13, 29, 1, {11, 10}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}},
      {"1x1 pointwise 5x7", 2, 8, 14, 1, {5, 7}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}},
      {"1x1 pointwise 40x41", 2, 19, 13, 1, {40, 41}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}},
      {"1x1 stride 2", 2, 7, 33, 1, {9, 9}, {1, 1}, {2, 2}, {1, 1}, {0, 0}, {0, 0}},
      {"3x3 dilation 2", 2, 5, 12, 1, {10, 10}, {3, 3}, {1, 1}, {2, 2}, {2, 2}, {2, 2}},
      {"groups 2", 2, 6, 10, 2, {6, 6}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
      {"groups 3 stride 2", 3, 9, 6, 3, {7, 8}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {0, 1}},
      {"many positions, batch 1", 1, 4, 20, 1, {40, 40}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
      {"uneven padding", 2, 3, 7, 1, {8, 9}, {3, 3}, {2, 2}, {1, 1}, {0, 1}, {1, 1}},
      {"padding beyond the kernel", 2, 3, 4, 1, {5, 5}, {3, 3}, {1, 1}, {1, 1}, {3, 3}, {3, 3}},
      {"1-d", 2, 3, 4, 1, {17}, {5}, {1}, {1}, {2}, {2}},
      {"3-d", 1, 2, 3, 1, {4, 5, 6}, {2, 3, 3}, {1, 1, 1}, {1, 1, 1}, {0, 1, 1}, {0, 1, 1}},
      {"5x5 deep K (LeNet conv2)", 5, 20, 50, 1, {12, 12}, {5, 5}, {1, 1}, {1, 1}, {0, 0}, {0, 0}},
      {"many rows and slices, 4x4", 1, 64, 200, 1, {4, 4}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
      {"one input channel", 3, 1, 20, 1, {28, 28}, {5, 5}, {1, 1}, {1, 1}, {0, 0}, {0, 0}},
      {"7x7 stride 2 pad 3", 1, 3, 16, 1, {23, 22}, {7, 7}, {2, 2}, {1, 1}, {3, 3}, {3, 3}},
      // Input gradients as forward convolutions (enough input channels, 'same' padding).
      {"3x3 same, groups 2 of 24", 2, 48, 20, 2, {9, 11}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
      {"3x3 same, dilation 2, 36 channels", 3, 36, 9, 1, {10, 10}, {3, 3}, {1, 1}, {2, 2}, {2, 2}, {2, 2}},
      {"3-d same, 12 channels", 1, 12, 5, 1, {4, 5, 6}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}},
      {"5x5 same, 24 channels, batch 1", 1, 24, 7, 1, {13, 13}, {5, 5}, {1, 1}, {1, 1}, {2, 2}, {2, 2}},
  };
  return c;
}

struct Problem {
  ConvGeom g;
  RefFrame f;
  Tensor x, w, gy, bias_s, bias_b;
  Shape ys;
};

Problem make_problem(const Case& c, uint64_t seed) {
  Problem p;
  const int nsp = static_cast<int>(c.spatial.size());
  Shape xs{c.N, c.Cb}, ws{c.Cs, c.Cb / c.G};
  for (int i = 0; i < nsp; ++i) {
    xs.push_back(c.spatial[i]);
    ws.push_back(c.k[i]);
  }
  p.f = RefFrame{nsp, c.s, c.d, c.pb, c.pe, c.G};
  p.ys = ref_conv_out_shape(xs, ws, p.f);
  p.g = make_conv_geom(xs, p.ys, ws, c.s, c.d, c.pb, c.G);
  p.x = random_tensor(DType::f32, xs, seed);
  p.w = random_tensor(DType::f32, ws, seed + 1);
  p.gy = random_tensor(DType::f32, p.ys, seed + 2);
  p.bias_s = random_tensor(DType::f32, {c.Cs}, seed + 3);
  p.bias_b = random_tensor(DType::f32, {c.Cb}, seed + 4);
  return p;
}

std::vector<const SgemmMicroKernel*> tile_kernels() {
  std::vector<const SgemmMicroKernel*> out;
  for (const SgemmMicroKernel* k : {sgemm_microkernel_avx512(), sgemm_microkernel_avx2()})
    if (k && k->cpu_supports()) out.push_back(k);
  return out;
}

struct ThreadsGuard {
  int prev = engine_num_threads();
  explicit ThreadsGuard(int n) { set_engine_num_threads(n); }
  ~ThreadsGuard() { set_engine_num_threads(prev); }
};

// Workspace filled with NaNs: a path that reads scratch it did not write shows up.
std::unique_ptr<Storage> poisoned(size_t bytes) {
  auto s = std::make_unique<Storage>(std::max<size_t>(bytes, 64));
  float* f = static_cast<float*>(s->data());
  for (size_t i = 0; i < s->bytes() / sizeof(float); ++i) f[i] = std::numeric_limits<float>::quiet_NaN();
  return s;
}

}  // namespace

TEST_CASE("packed conv products match the double-precision reference", "[conv][conv_packed]") {
  const auto kernels = tile_kernels();
  if (kernels.empty()) {
    WARN("no AVX2 or AVX-512 tile kernel on this CPU: packed paths not tested");
    return;
  }
  constexpr int kSlices = 2;
  for (const SgemmMicroKernel* uk : kernels) {
    // Both input-gradient paths are among the cases.
    int as_forward = 0;
    for (const Case& c : cases()) as_forward += convpacked::backward_data_as_forward(*uk, make_problem(c, 1).g);
    CHECK(as_forward >= 4);
    CHECK(static_cast<size_t>(as_forward) + 4 <= cases().size());
  }
  for (const SgemmMicroKernel* uk : kernels)
    for (int nt : {1, 2})
      for (const Case& c : cases()) {
        DYNAMIC_SECTION(uk->name << ", " << nt << " threads, " << c.name) {
          ThreadsGuard threads(nt);
          Problem p = make_problem(c, 11);
          const ConvGeom& g = p.g;
          TensorView bs = p.bias_s.view(), bb = p.bias_b.view();

          Tensor y(DType::f32, p.ys);
          auto ws = poisoned(convpacked::forward_workspace(*uk, g, kSlices));
          convpacked::forward(*uk, g, p.x.ptr<float>(), p.w.ptr<float>(), bs.ptr<float>(), y.ptr<float>(),
                              ws->data(), kSlices);
          Tensor want = ref_forward(p.x, p.w, p.ys, p.f);
          ref_add_bias(want, p.bias_s);
          check_close(y, want, 1e-4);

          Tensor dx(DType::f32, p.x.shape());
          auto wd = poisoned(convpacked::backward_data_workspace(*uk, g, kSlices));
          convpacked::backward_data(*uk, g, p.gy.ptr<float>(), p.w.ptr<float>(), bb.ptr<float>(), dx.ptr<float>(),
                                    wd->data(), kSlices);
          Tensor want_dx = ref_backward_data(p.gy, p.w, p.x.shape(), p.f);
          ref_add_bias(want_dx, p.bias_b);
          check_close(dx, want_dx, 1e-4);

          Tensor dw(DType::f32, p.w.shape());
          auto ww = poisoned(convpacked::backward_weight_workspace(*uk, g, kSlices));
          convpacked::backward_weight(*uk, g, p.x.ptr<float>(), p.gy.ptr<float>(), dw.ptr<float>(), ww->data(),
                                      kSlices);
          check_close(dw, ref_backward_weight(p.x, p.gy, p.w.shape(), p.f), 1e-4);
        }
      }
}

TEST_CASE("packed conv without bias writes every output", "[conv][conv_packed]") {
  const auto kernels = tile_kernels();
  if (kernels.empty()) {
    WARN("no AVX2 or AVX-512 tile kernel on this CPU: packed paths not tested");
    return;
  }
  for (const Case& c : {cases()[1], cases()[2], cases()[14]}) {
    DYNAMIC_SECTION(c.name) {
      Problem p = make_problem(c, 21);
      Tensor y(DType::f32, p.ys), dx(DType::f32, p.x.shape());
      float* yp = y.ptr<float>();
      float* dxp = dx.ptr<float>();
      std::fill(yp, yp + y.numel(), std::numeric_limits<float>::quiet_NaN());
      std::fill(dxp, dxp + dx.numel(), std::numeric_limits<float>::quiet_NaN());
      auto ws = poisoned(std::max(convpacked::forward_workspace(*kernels[0], p.g, 2),
                                     convpacked::backward_data_workspace(*kernels[0], p.g, 2)));
      convpacked::forward(*kernels[0], p.g, p.x.ptr<float>(), p.w.ptr<float>(), nullptr, yp, ws->data(), 2);
      convpacked::backward_data(*kernels[0], p.g, p.gy.ptr<float>(), p.w.ptr<float>(), nullptr, dxp, ws->data(), 2);
      check_close(y, ref_forward(p.x, p.w, p.ys, p.f), 1e-4);
      check_close(dx, ref_backward_data(p.gy, p.w, p.x.shape(), p.f), 1e-4);
    }
  }
}

TEST_CASE("the packed weight gradient has the same bits for any thread count", "[conv][conv_packed]") {
  const auto kernels = tile_kernels();
  if (kernels.empty()) {
    WARN("no AVX2 or AVX-512 tile kernel on this CPU: packed paths not tested");
    return;
  }
  // Blocks inside samples, across samples (4x4 outputs), pointwise, and a batch large
  // enough for several reduction chunks.
  const Case det[] = {
      {"3x3, 37 samples", 37, 3, 8, 1, {12, 12}, {3, 3}, {1, 1}, {1, 1}, {0, 0}, {0, 0}},
      {"3x3 across samples", 23, 16, 24, 1, {4, 4}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
      {"1x1 pointwise", 9, 40, 24, 1, {16, 16}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}},
      {"grouped stride 2", 17, 12, 16, 2, {9, 9}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}},
  };
  constexpr int kSlices = 4;
  for (const Case& c : det) {
    DYNAMIC_SECTION(c.name) {
      Problem p = make_problem(c, 31);
      auto ws = poisoned(convpacked::backward_weight_workspace(*kernels[0], p.g, kSlices));
      std::vector<Tensor> runs;
      for (int threads : {1, 2, 3, 4, 2, 1}) {
        ThreadsGuard guard(threads);
        Tensor dw(DType::f32, p.w.shape());
        convpacked::backward_weight(*kernels[0], p.g, p.x.ptr<float>(), p.gy.ptr<float>(), dw.ptr<float>(),
                                    ws->data(), kSlices);
        runs.push_back(dw);
      }
      check_close(runs[0], ref_backward_weight(p.x, p.gy, p.w.shape(), p.f), 1e-4);
      for (const Tensor& r : runs) CHECK(std::memcmp(r.data(), runs[0].data(), r.bytes()) == 0);
    }
  }
}

TEST_CASE("conv_algorithm names the path each product takes", "[conv][conv_packed]") {
  const Shape x{2, 24, 10, 10}, w3{24, 24, 3, 3}, w1{24, 24, 1, 1};
  const ConvGeom g3 = make_conv_geom(x, {2, 24, 10, 10}, w3, {1, 1}, {1, 1}, {1, 1}, 1);
  const ConvGeom g1 = make_conv_geom(x, {2, 24, 10, 10}, w1, {1, 1}, {1, 1}, {0, 0}, 1);
  const ConvGeom g3s2 = make_conv_geom(x, {2, 24, 5, 5}, w3, {2, 2}, {1, 1}, {1, 1}, 1);
  const ConvGeom dw = make_conv_geom(x, {2, 24, 10, 10}, {24, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 24);
  const ConvGeom rgb = make_conv_geom({2, 3, 10, 10}, {2, 24, 10, 10}, {24, 3, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 1);
  for (DType t : {DType::f32, DType::f64}) {
    for (const ConvGeom* g : {&g3, &g1, &g3s2, &dw})
      for (ConvProduct p : {ConvProduct::forward, ConvProduct::backward_data, ConvProduct::backward_weight}) {
        const std::string a = conv_algorithm(*g, t, p);
        if (t == DType::f64 || g == &dw || !active_sgemm_microkernel()) {
          CHECK((a == "blas" || a == "convgemm"));
          if (t == DType::f64) CHECK(a == "blas");
        }
      }
  }
  if (!active_sgemm_microkernel()) return;
  // Where convgemm runs (AVX-512), some products stay on it (conv.cpp, packed_kernel).
  const bool cg = convgemm::available() && active_sgemm_microkernel()->mr == 12;
  CHECK(std::string(conv_algorithm(g3, DType::f32, ConvProduct::forward)) == "im2col-packed");
  CHECK(std::string(conv_algorithm(g3, DType::f32, ConvProduct::backward_data)) == "flipped-packed");
  CHECK(std::string(conv_algorithm(g3, DType::f32, ConvProduct::backward_weight)) == "im2col-packed");
  CHECK(std::string(conv_algorithm(g1, DType::f32, ConvProduct::forward)) == (cg ? "convgemm" : "packed-1x1"));
  CHECK(std::string(conv_algorithm(g1, DType::f32, ConvProduct::backward_data)) == (cg ? "convgemm" : "packed-1x1"));
  CHECK(std::string(conv_algorithm(g1, DType::f32, ConvProduct::backward_weight)) == "packed-1x1");
  CHECK(std::string(conv_algorithm(g3s2, DType::f32, ConvProduct::backward_data)) == (cg ? "convgemm" : "col2im-packed"));
  // Three input channels would fill a quarter of each tile's rows as a forward convolution.
  CHECK(std::string(conv_algorithm(rgb, DType::f32, ConvProduct::backward_data)) == (cg ? "convgemm" : "col2im-packed"));
  CHECK(std::string(conv_algorithm(rgb, DType::f32, ConvProduct::forward)) == "im2col-packed");
  // LeNet's conv2 (50 output channels: five 10-row convgemm tiles, 83% of five 12-row ones).
  const ConvGeom lenet = make_conv_geom({128, 20, 12, 12}, {128, 50, 8, 8}, {50, 20, 5, 5}, {1, 1}, {1, 1},
                                        {0, 0}, 1);
  CHECK(std::string(conv_algorithm(lenet, DType::f32, ConvProduct::forward)) == (cg ? "convgemm" : "im2col-packed"));
  CHECK(std::string(conv_algorithm(lenet, DType::f32, ConvProduct::backward_data)) ==
        (cg ? "convgemm" : "col2im-packed"));
  CHECK(std::string(conv_algorithm(lenet, DType::f32, ConvProduct::backward_weight)) ==
        (cg ? "convgemm" : "im2col-packed"));
  // A 3x3 convolution to 16 channels: forward on convgemm (16 of 20 rows against 16 of 24),
  // the weight gradient packed.
  const ConvGeom to16 = make_conv_geom({64, 32, 28, 28}, {64, 16, 28, 28}, {16, 32, 3, 3}, {1, 1}, {1, 1},
                                       {1, 1}, 1);
  CHECK(std::string(conv_algorithm(to16, DType::f32, ConvProduct::forward)) == (cg ? "convgemm" : "im2col-packed"));
  CHECK(std::string(conv_algorithm(to16, DType::f32, ConvProduct::backward_weight)) == "im2col-packed");
}

TEST_CASE("profiles and plans name each convolution's algorithm", "[conv][conv_packed]") {
  Value x = op::input("x", DType::f32, {2, 3, 9, 9});
  Tensor w = random_tensor(DType::f32, {4, 3, 3, 3}, 41);
  Value y = op::apply("conv", {x, op::constant(w)}, {{"strides", std::vector<int64_t>{2, 2}}});
  Graph g = Graph::from_outputs({op::reduce_sum(y)});
  g.inputs = {x};
  CompileOptions o;
  o.fuse = false;
  auto ex = compile_on_target(g, {TensorType{DType::f32, {2, 3, 9, 9}}}, o);
  const Shape ys{2, 4, 4, 4};
  const ConvGeom geom = make_conv_geom({2, 3, 9, 9}, ys, {4, 3, 3, 3}, {2, 2}, {1, 1}, {0, 0}, 1);
  const std::string want = conv_algorithm(geom, DType::f32, ConvProduct::forward);
  ex->set_profiling(true);
  Tensor xt = random_tensor(DType::f32, {2, 3, 9, 9}, 42);
  ex->run({xt.view()});
  bool found = false;
  // On a simulated device the profile also lists the transfers between memories.
  for (const auto& s : ex->profile()) {
    if (s.op == "conv") {
      found = true;
      CHECK(s.algorithm == want);
      CHECK(s.calls == 1);
    } else {
      CHECK(s.algorithm.empty());
    }
  }
  CHECK(found);
  CHECK(ex->describe_plan().find("[" + want + "]") != std::string::npos);
}
