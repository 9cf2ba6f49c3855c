// The host-side planning of the CUDA kernels (src/cuda/kernels/*.h), checked without a GPU:
// broadcast indexing against a direct NumPy-rule walk, reduction plans against a direct
// reduction, strided copies (transpose, concat) element by element, the cuDNN view of a
// convolution frame and the algorithm choice, and the Philox formulas of the random kernels
// against the CPU's kernels.
#include <catch2/catch.hpp>

#include <numeric>
#include <vector>

#include "cuda/kernels/conv_plan.h"
#include "cuda/kernels/pool_taps.h"
#include "cuda/kernels/strided_index.h"
#include "engine/kernels/cpu/philox.h"
#include "engine/kernels/cpu/random_key.h"
#include "engine/ops/pool_geometry.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::cuda;

namespace {

// Offset in `in` (right-aligned, broadcast) of the element at multi-index `idx` of `out`.
int64_t numpy_offset(const Shape& out, const Shape& in, const std::vector<int64_t>& idx) {
  int64_t off = 0, stride = 1;
  for (size_t j = 0; j < in.size(); ++j) {
    const size_t di = in.size() - 1 - j, d = out.size() - 1 - j;
    if (in[di] != 1) off += idx[d] * stride;
    stride *= in[di];
  }
  return off;
}

std::vector<int64_t> unravel(int64_t i, const Shape& s) {
  std::vector<int64_t> idx(s.size());
  for (size_t k = s.size(); k-- > 0;) {
    idx[k] = i % s[k];
    i /= s[k];
  }
  return idx;
}

template <int N>
void check_broadcast(const Shape& out, const std::vector<Shape>& ins) {
  BroadcastIndex<N> ix;
  REQUIRE(make_broadcast_index(out, ins, ix));
  const int64_t n = shape_numel(out);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off[N];
    ix.offsets(i, off);
    for (int k = 0; k < N; ++k) {
      const int64_t want = shape_numel(ins[k]) == n ? i : shape_numel(ins[k]) == 1 ? 0 : numpy_offset(out, ins[k], unravel(i, out));
      INFO("output element " << i << ", operand " << k);
      REQUIRE(off[k] == want);
    }
  }
}

}  // namespace

TEST_CASE("CUDA broadcast index matches NumPy broadcasting", "[cuda_host]") {
  check_broadcast<2>({2, 3, 4}, {{2, 3, 4}, {4}});
  check_broadcast<2>({2, 3, 4}, {{3, 1}, {2, 1, 4}});
  check_broadcast<2>({5, 1, 6}, {{1, 1, 6}, {5, 1, 1}});
  check_broadcast<3>({2, 3, 4, 5}, {{2, 1, 4, 1}, {3, 4, 5}, {}});
  check_broadcast<1>({4, 6}, {{6}});
  // bias add of a conv output: [N, C, H, W] + [C, 1, 1]
  check_broadcast<2>({2, 3, 4, 5}, {{2, 3, 4, 5}, {3, 1, 1}});
}

TEST_CASE("CUDA broadcast index walks equal counts flat and merges dimensions", "[cuda_host]") {
  BroadcastIndex<2> ix;
  // Same element count, different shapes: flat, as the CPU loops read them.
  REQUIRE(make_broadcast_index({6, 4}, {{24}, {1}}, ix));
  CHECK(ix.flat);
  CHECK(ix.step[0] == 1);
  CHECK(ix.step[1] == 0);
  // Row broadcast over a matrix: two merged dimensions at most.
  REQUIRE(make_broadcast_index({8, 2, 3, 5}, {{8, 2, 3, 5}, {5}}, ix));
  CHECK_FALSE(ix.flat);
  CHECK(ix.ndim == 2);
  // Operands that do not broadcast are refused.
  CHECK_FALSE(make_broadcast_index({2, 3}, {{2, 3}, {4}}, ix));
}

TEST_CASE("CUDA reduce plan visits every reduced element of every output once", "[cuda_host]") {
  const Shape s = {3, 4, 5, 2};
  const std::vector<std::vector<int64_t>> cases = {{0}, {1}, {3}, {0, 2}, {1, 3}, {0, 1, 2, 3}, {}};
  for (const auto& axes : cases) {
    ReducePlan p;
    REQUIRE(make_reduce_plan(s, axes, p));
    std::vector<bool> red(s.size(), false);
    for (int64_t a : axes) red[a] = true;
    // Direct sums of x[i] = i over the reduced axes, outputs in row-major order of kept dims.
    std::vector<double> want;
    Shape kept;
    for (size_t d = 0; d < s.size(); ++d)
      if (!red[d]) kept.push_back(s[d]);
    want.assign(static_cast<size_t>(shape_numel(kept)), 0.0);
    for (int64_t i = 0; i < shape_numel(s); ++i) {
      std::vector<int64_t> idx = unravel(i, s), kidx;
      for (size_t d = 0; d < s.size(); ++d)
        if (!red[d]) kidx.push_back(idx[d]);
      int64_t o = 0;
      for (size_t d = 0; d < kept.size(); ++d) o = o * kept[d] + kidx[d];
      want[o] += static_cast<double>(i);
    }
    REQUIRE(p.kept == static_cast<int64_t>(want.size()));
    for (int64_t o = 0; o < p.kept; ++o) {
      double got = 0;
      for (int64_t r = 0; r < p.reduced; ++r) got += static_cast<double>(p.kept_offset(o) + p.reduced_offset(r));
      INFO("axes size " << axes.size() << ", output " << o);
      CHECK(got == want[o]);
    }
    CHECK(p.inner_kept == !red.back());
  }
}

TEST_CASE("CUDA reduce plans of scalars, size-1 and empty dimensions", "[cuda_host]") {
  ReducePlan p;
  REQUIRE(make_reduce_plan({}, {}, p));  // a scalar reduces nothing: one output of one element
  CHECK(p.kept == 1);
  CHECK(p.reduced == 1);
  CHECK(p.kept_offset(0) + p.reduced_offset(0) == 0);
  REQUIRE(make_reduce_plan({1, 5, 1}, {0, 2}, p));  // size-1 axes reduce nothing: a copy
  CHECK(p.kept == 5);
  CHECK(p.reduced == 1);
  CHECK(p.kept_offset(3) == 3);
  REQUIRE(make_reduce_plan({4, 0, 3}, {1}, p));  // empty reduction: outputs take the identity
  CHECK(p.kept == 12);
  CHECK(p.reduced == 0);
  REQUIRE(make_reduce_plan({0, 3}, {1}, p));  // no outputs at all
  CHECK(p.kept == 0);
  // Bias gradient of a conv: [N, C, H, W] over (0, 2, 3): channel c starts at c * H * W.
  REQUIRE(make_reduce_plan({2, 3, 4, 5}, {0, 2, 3}, p));
  CHECK(p.kept == 3);
  CHECK(p.reduced == 40);
  CHECK_FALSE(p.inner_kept);
  CHECK(p.kept_offset(2) == 40);
  CHECK(p.reduced_offset(20) == 60);  // second sample, first element
}

TEST_CASE("CUDA strided copy plans transposes and concatenations", "[cuda_host]") {
  // transpose [2, 3, 4] by perm (2, 0, 1): y[k, i, j] = x[i, j, k]
  const Shape xs = {2, 3, 4}, ys = {4, 2, 3};
  const std::vector<int64_t> xst = {12, 4, 1};
  StridedCopy c;
  REQUIRE(make_strided_copy(ys, {xst[2], xst[0], xst[1]}, {6, 3, 1}, c));
  std::vector<int> x(24), y(24, -1);
  std::iota(x.begin(), x.end(), 0);
  for (int64_t i = 0; i < c.n; ++i) {
    int64_t so, d;
    c.offsets(i, so, d);
    y[d] = x[so];
  }
  for (int64_t k = 0; k < 4; ++k)
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j) CHECK(y[(k * 2 + i) * 3 + j] == x[(i * 3 + j) * 4 + k]);
  // The second part [2, 2] of a concat along axis 1 into [2, 5]: rows merge into runs.
  REQUIRE(make_strided_copy({2, 2}, {2, 1}, {5, 1}, c));
  CHECK(c.ndim == 2);
  int64_t so, d;
  c.offsets(3, so, d);
  CHECK(so == 3);
  CHECK(d == 6);
  // A contiguous copy is one run.
  REQUIRE(make_strided_copy({4, 5, 6}, {30, 6, 1}, {30, 6, 1}, c));
  CHECK(c.ndim == 1);
}

TEST_CASE("cuDNN frames: symmetric padding runs as is, asymmetric on a padded copy", "[cuda_host]") {
  // 3x3 stride-1 pad-1 conv on 8x8: symmetric.
  ConvGeom g = make_conv_geom({2, 3, 8, 8}, {2, 4, 8, 8}, {4, 3, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 1);
  std::string why;
  CHECK(cudnn_supports(g, &why));
  const CudnnFrame f = cudnn_frame(g);
  CHECK(f.big.n == 2);
  CHECK(f.big.v[0] == 8);
  CHECK(f.pad.v[1] == 1);
  // SAME_UPPER with stride 2 and an even input: pads (0, 1), not expressible in cuDNN.
  ConvGeom a = make_conv_geom({1, 1, 8, 8}, {1, 1, 4, 4}, {1, 1, 3, 3}, {2, 2}, {1, 1}, {0, 0}, 1);
  CHECK_FALSE(cudnn_supports(a, &why));
  CHECK(why.find("asymmetric") != std::string::npos);
  // It runs on a padded copy of 9x9 (input rows -0..8, the last one zero) without padding.
  const ConvGeom ap = explicit_pad_frame(a);
  CHECK(ap.big[1] == 9);
  CHECK(ap.big[2] == 9);
  CHECK(ap.big[0] == 1);
  CHECK(ap.pb[1] == 0);
  CHECK(cudnn_supports(ap, &why));
  // Explicit pads (2, 0) of a 3x3 stride-1 conv on 5: the copy spans -2..4, 7 wide.
  ConvGeom b = make_conv_geom({1, 1, 5}, {1, 1, 5}, {1, 1, 3}, {1}, {1}, {2}, 1);
  CHECK_FALSE(cudnn_supports(b, &why));
  CHECK(explicit_pad_frame(b).big[2] == 7);
  CHECK(cudnn_supports(explicit_pad_frame(b), &why));
  // A 1-D conv becomes 2-D with height 1.
  ConvGeom c1 = make_conv_geom({2, 3, 10}, {2, 5, 8}, {5, 3, 3}, {1}, {1}, {0}, 1);
  CHECK(cudnn_supports(c1, &why));
  const CudnnFrame f1 = cudnn_frame(c1);
  CHECK(f1.big.n == 2);
  CHECK(f1.big.v[0] == 1);
  CHECK(f1.big.v[1] == 10);
  CHECK(f1.k.v[1] == 3);
  // Stride 2 whose last window does not fit (floor): still the symmetric forward's output.
  ConvGeom s2 = make_conv_geom({1, 1, 7, 7}, {1, 1, 3, 3}, {1, 1, 3, 3}, {2, 2}, {1, 1}, {0, 0}, 1);
  CHECK(cudnn_supports(s2, &why));
}

TEST_CASE("cuDNN algorithm choice respects status, workspace limit and determinism", "[cuda_host]") {
  const std::vector<AlgoCandidate> ranked = {
      {5, false, 0, true},        // failed status
      {4, true, 1u << 30, true},  // over the limit
      {1, true, 1024, false},     // not deterministic
      {0, true, 4096, true},
  };
  CHECK(choose_algorithm(ranked, 256u << 20, false) == 1);
  CHECK(choose_algorithm(ranked, 256u << 20, true) == 0);
  CHECK(choose_algorithm(ranked, 2048, true) == -1);
  CHECK(choose_algorithm(ranked, size_t(1) << 31, false) == 4);
}

// The CUDA dropout and uniform kernels compute element i from lane i % 4 of
// philox::draw(random_key(key, run), run_index, i / 4) (src/cuda/kernels/norm.cu), with the
// same header-only functions the CPU includes. Their formulas, evaluated here on the host,
// must give the CPU kernels' results exactly: then the GPU's masks equal the CPU's.
TEST_CASE("the CUDA kernels' Philox formulas give the CPU's dropout mask and uniform draws", "[cuda_host]") {
  const int64_t n = 1003;  // not a multiple of 4: the last block is partial
  Tensor x = test::random_tensor(DType::f32, {n}, 7);
  for (int seeded = 0; seeded < 2; ++seeded) {
    AttrMap attrs{{"ratio", 0.3}, {"training", int64_t(1)}};
    if (seeded) attrs.set("seed", int64_t(42));
    Graph g = test::op_graph("dropout", {x}, attrs);
    const Node& node = *g.outputs.at(0).node;
    Tensor y(DType::f32, {n}), mask(DType::boolean, {n});
    test::run_cpu_kernel(node, {x.view()}, {y.view(), mask.view()});
    RunContext run;  // what run_cpu_kernel runs with
    const uint64_t key = random_key(make_random_key(seeded == 1, 42, node.name), &run);
    const uint64_t thresh = static_cast<uint64_t>(0.3 * 4294967296.0);
    int64_t kept = 0;
    for (int64_t i = 0; i < n; ++i) {
      const philox::Block b = philox::draw(key, run.run_index, static_cast<uint64_t>(i / 4));
      const bool keep = b.v[i % 4] >= thresh;
      kept += keep;
      INFO("element " << i << (seeded ? " (seeded)" : ""));
      REQUIRE(mask.ptr<bool>()[i] == keep);
      REQUIRE(y.ptr<float>()[i] == (keep ? x.ptr<float>()[i] * static_cast<float>(1.0 / 0.7) : 0.0f));
    }
    CHECK(kept > n / 2);
    CHECK(kept < n);
  }
  // random_uniform float32 on [0, 1): u01_f32 of lane i % 4.
  Graph g = test::op_graph("random_uniform", {}, {{"shape", std::vector<int64_t>{n}}, {"seed", int64_t(5)}});
  const Node& node = *g.outputs.at(0).node;
  Tensor u(DType::f32, {n});
  test::run_cpu_kernel(node, {}, {u.view()});
  RunContext run;
  const uint64_t key = random_key(make_random_key(true, 5, node.name), &run);
  for (int64_t i = 0; i < n; ++i) {
    const philox::Block b = philox::draw(key, run.run_index, static_cast<uint64_t>(i / 4));
    INFO("element " << i);
    REQUIRE(u.ptr<float>()[i] == philox::u01_f32(b.v[i % 4]));
  }
}

// The CUDA pooling kernels' windows (pool_taps.h), evaluated on the host, against the CPU
// kernels: padding, ceil mode, dilation, count_include_pad, 1-D to 3-D, the CPU's tiled
// path, and NaN winning the max.
TEST_CASE("the CUDA pooling windows give the CPU's max and average pools", "[cuda_host]") {
  using V = std::vector<int64_t>;
  struct Config {
    const char* op;
    Shape shape;
    AttrMap attrs;
  };
  const std::vector<Config> configs = {
      {"max_pool", {2, 3, 7, 7}, {{"kernel_shape", V{3, 3}}, {"strides", V{2, 2}}, {"pads", V{1, 1, 1, 1}},
                                  {"ceil_mode", int64_t(1)}}},
      {"avg_pool", {2, 3, 7, 7}, {{"kernel_shape", V{3, 3}}, {"strides", V{2, 2}}, {"pads", V{1, 1, 1, 1}},
                                  {"count_include_pad", int64_t(1)}}},
      {"avg_pool", {2, 3, 7, 7}, {{"kernel_shape", V{3, 3}}, {"strides", V{2, 2}}, {"pads", V{1, 0, 1, 0}},
                                  {"ceil_mode", int64_t(1)}}},
      {"max_pool", {2, 2, 10}, {{"kernel_shape", V{3}}, {"dilations", V{2}}}},
      {"avg_pool", {1, 2, 8, 8}, {{"kernel_shape", V{2, 2}}, {"strides", V{2, 2}}}},  // the CPU's tiled path
      {"max_pool", {1, 2, 8, 8}, {{"kernel_shape", V{2, 2}}, {"strides", V{2, 2}}}},
      {"max_pool", {1, 1, 4, 5, 6}, {{"kernel_shape", V{2, 2, 2}}, {"strides", V{1, 2, 2}}}},
  };
  for (const Config& c : configs) {
    const bool is_max = std::string(c.op) == "max_pool";
    Tensor x = test::random_tensor(DType::f32, c.shape, 11);
    x.ptr<float>()[5] = NAN;  // NaN wins the max of its windows
    Graph g = test::op_graph(c.op, {x}, c.attrs);
    const Node& node = *g.outputs.at(0).node;
    Tensor want(DType::f32, node.outputs.at(0).shape);
    test::run_cpu_kernel(node, {x.view()}, {want.view()});
    PoolGeometry geo = pool_geometry(node.attrs, c.shape, is_max);
    geo.n = c.shape[0];
    const int64_t total = geo.planes() * geo.out_plane();
    REQUIRE(total == want.numel());
    for (int64_t t = 0; t < total; ++t) {
      const PoolWindow w = pool_window(geo, t);
      const float* xp = x.ptr<float>() + w.plane * geo.in_plane();
      float got;
      if (is_max) {
        const int64_t i = pool_argmax(geo, w, xp);
        got = i >= 0 ? xp[i] : -INFINITY;
      } else {
        float sum = 0;
        for_pool_taps(geo, w, [&](int64_t i) { sum += xp[i]; });
        got = static_cast<float>(sum * pool_divisor(geo, w));
      }
      const float ref = want.ptr<float>()[t];
      INFO(c.op << " " << shape_str(c.shape) << ", output " << t);
      if (std::isnan(ref)) {
        REQUIRE(std::isnan(got));
      } else {
        REQUIRE(std::abs(got - ref) <= 1e-6f * (1 + std::abs(ref)));
      }
    }
  }
}
