// Convolution lowering for float64, for float32 where the own packed GEMM is off or absent
// (the float32 default is conv_packed.h), and for depthwise convolutions: im2col/col2im
// over blocks of output rows (sized to stay in L2) + GEMM. float32 on AVX-512 machines
// uses the small kernel of conv_gemm.h (weights packed once per call, bias in the
// epilogue); otherwise the GEMMs go to BLAS.
//
// Threads: with a batch of at least one sample per thread (or per-sample GEMMs too small
// to split), threads take chunks of samples, each with its own column buffer and serial
// GEMMs; otherwise samples run one after another and each GEMM is split over the threads.
// Weight gradients accumulate per fixed range of samples and are summed in range order.
#include "engine/kernels/cpu/conv.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>

#include "engine/base/error.h"
#include "engine/kernels/cpu/blas.h"
#include "engine/kernels/cpu/conv_gemm.h"
#include "engine/kernels/cpu/conv_lowering.h"
#include "engine/kernels/cpu/conv_packed.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/kernels/cpu/sgemm_packed.h"

namespace symnet {

namespace {

using convlower::col2im;
using convlower::copy_run;
using convlower::im2col;

// Column buffers per thread are sized from the processor count, not the current thread
// setting, so the planner's request stays valid if the user changes threads later.
int thread_cap() { return std::max(1, std::min(64, hardware_threads())); }



constexpr double kL2Target = 512.0 * 1024;  // bytes of column buffer per block

struct Plan {
  bool fast = false;     // float32 on the packed AVX-512 GEMM (conv_gemm.h), else BLAS
  bool batch_parallel = false;
  int slices = 1;        // column buffers (one per thread when batch-parallel)
  int64_t rows = 0;      // output rows (d, h) in total
  int64_t block = 0;     // output rows per im2col block
  int64_t col = 0;       // elements of one column buffer (0 when pointwise)
};

// Workspace layout in elements: `shared` (packed weights) first, then one `slice` per
// thread, then `partial` (extra weight-gradient accumulators).
struct Layout {
  int64_t shared = 0, slice = 0, partial = 0;
  int64_t total(const Plan& p) const { return shared + p.slices * slice + partial; }
};

enum class Product { forward, backward_data, backward_weight };

// The weight gradient sums over the batch in this many fixed ranges of samples, each into
// its own accumulator, added up in range order at the end: the result is then the same
// bits whichever thread ran which range, and for any number of threads.
constexpr int64_t kWeightChunks = 16;
int64_t weight_chunks(const ConvGeom& g) { return std::max<int64_t>(1, std::min(kWeightChunks, g.N)); }

Layout make_layout(const ConvGeom& g, const Plan& p, Product what) {
  Layout l;
  const int64_t nc = p.block * g.small[2];
  const int64_t wn = g.Cs * g.K();
  switch (what) {
    case Product::forward:
      l.slice = p.col;
      if (p.fast) l.shared = g.G * convgemm::packed_a_size(g.Csg(), g.K());
      break;
    case Product::backward_data:
      l.slice = p.col;
      if (p.fast) l.shared = g.G * convgemm::packed_a_size(g.K(), g.Csg());
      break;
    case Product::backward_weight:
      l.slice = p.fast ? convgemm::round_up(g.K(), 16) * nc + convgemm::packed_a_size(g.Csg(), nc) : p.col;
      l.partial = (weight_chunks(g) - 1) * wn;
      break;
  }
  return l;
}

// `nested`: called from inside a parallel region (a per-sample fused body), where the
// kernel runs on one thread whatever the batch.
Plan make_plan(const ConvGeom& g, size_t es, bool nested) {
  Plan p;
  p.rows = g.small[0] * g.small[1];
  const int64_t W = g.small[2];
  const int cap = thread_cap();
  const double sample_flops = 2.0 * g.Cs * g.small_vol() * g.K();
  p.batch_parallel = !nested && cap > 1 && g.N >= 2 && (g.N >= cap || sample_flops < 4e6);
  p.slices = p.batch_parallel ? static_cast<int>(std::min<int64_t>(cap, g.N)) : 1;
  // The packed kernel runs one sample per thread; a batch too small to occupy the threads
  // goes to the BLAS path, whose GEMMs split over them.
  p.fast = es == sizeof(float) && convgemm::available() && (p.batch_parallel || cap == 1 || nested);
  if (p.rows == 0 || W == 0 || g.K() == 0) {
    p.block = std::max<int64_t>(p.rows, 1);
    return p;
  }
  const double row_bytes = static_cast<double>(g.K()) * W * es;
  int64_t b = static_cast<int64_t>(kL2Target / row_bytes);
  b = std::max<int64_t>(b, (32 + W - 1) / W);  // keep the GEMM at least ~32 columns wide
  p.block = std::max<int64_t>(1, std::min(b, p.rows));
  p.col = g.pointwise() ? 0 : g.K() * p.block * W;
  return p;
}

// The packed tile kernel a float32 product runs on, or null for the im2col + GEMM paths.
// Depthwise convolutions (one channel per group) stay there: a one-row GEMM would fill a
// twelfth of each tile. So, on AVX-512 machines where convgemm runs, do (measured with
// bench_conv against the packed paths, one thread):
//  * layers whose output channels fill convgemm's 10-row tiles and leave a 12-row tile's
//    rows partly empty (LeNet's 20 and 50), all three products: convgemm reads the column
//    buffer in place (LeNet conv2: forward 78 against 68 GFLOP/s, weight gradient 64
//    against 55);
//  * the forward and input gradient of 1x1 stride-1 unpadded convolutions, which convgemm
//    runs on the input (output gradient) in place with no lowering or packing (MobileNetV2
//    1x1 layers: 5-30% faster);
//  * input gradients through col2im (strided, or too few input channels for the forward
//    form): convgemm reads the output gradient in place where the packed path copies it
//    into panels (VGG/ResNet-18 layers: 5-10% faster; ResNet's 256->512/2 was the
//    exception, 61 against 70 GFLOP/s). col2im-packed serves AVX2 machines;
//  * forward products whose output channels fill 10-row tiles clearly better than 12-row
//    ones (16 channels: 80% against 67%).
// Weight gradients otherwise stay packed: convgemm's im2row lowering made them 2-7x slower.
// Nothing here depends on the batch (per-sample bodies run a node on fewer samples than it
// was planned for): the run takes the path whose workspace the planner reserved.
const SgemmMicroKernel* packed_kernel(const ConvGeom& g, DType t, ConvProduct what) {
  if (t != DType::f32) return nullptr;
  if (g.G > 1 && g.Cbg() == 1 && g.Csg() == 1) return nullptr;
  const SgemmMicroKernel* uk = active_sgemm_microkernel();
  if (!uk) return nullptr;
  const int64_t M = g.Csg();
  if (M <= 0 || !convgemm::available()) return uk;
  const auto fill_gain = [&](int64_t rows) {  // convgemm's row use beats ours by 5 points
    const int64_t cg = convgemm::round_up(rows, convgemm::kMR), pk = convgemm::round_up(rows, uk->mr);
    return rows > 0 && 20 * rows * pk > 20 * rows * cg + cg * pk;
  };
  if (M <= 100 && M % convgemm::kMR == 0 && convgemm::round_up(M, uk->mr) * 10 > M * 11) return nullptr;
  if (what == ConvProduct::backward_weight) return uk;
  if (g.pointwise()) return nullptr;
  if (what == ConvProduct::backward_data && !convpacked::backward_data_as_forward(*uk, g)) return nullptr;
  if (what == ConvProduct::forward && fill_gain(M)) return nullptr;
  return uk;
}

int run_threads(const Plan& p, int64_t n) {
  if (!p.batch_parallel) return 1;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({engine_num_threads(), p.slices, n})));
}

// Calls f(thread, begin, end) over chunks of samples on nt threads. Chunks are handed out
// dynamically: on a busy machine a descheduled thread does not hold up the others.
template <typename F>
void over_batch(int nt, int64_t n, F&& f) {
  parallel_chunks(nt, n, std::max<int64_t>(1, n / (8 * static_cast<int64_t>(std::max(nt, 1)))), f);
}

template <typename T>
using GemmFn = void (*)(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, T*,
                        int64_t);

template <typename T>
GemmFn<T> serial_gemm() {
  return static_cast<GemmFn<T>>(&gemm_rowmajor);
}

// small[n] = conv(big[n], w) + bias for one sample.
template <typename T>
void forward_sample(const ConvGeom& g, const Plan& p, const T* x, const T* w, const T* bias, T* y, T* col,
                    GemmFn<T> gemm) {
  const int64_t P = g.small_vol(), K = g.K(), Wo = g.small[2];
  for (int64_t gr = 0; gr < g.G; ++gr) {
    const T* xg = x + gr * g.Cbg() * g.big_vol();
    const T* wg = w + gr * g.Csg() * K;
    T* yg = y + gr * g.Csg() * P;
    for (int64_t r0 = 0; r0 < p.rows; r0 += p.block) {
      const int64_t r1 = std::min(p.rows, r0 + p.block), nc = (r1 - r0) * Wo;
      T* yb = yg + r0 * Wo;
      T beta = T(0);
      if (bias) {
        for (int64_t m = 0; m < g.Csg(); ++m) std::fill(yb + m * P, yb + m * P + nc, bias[gr * g.Csg() + m]);
        beta = T(1);
      }
      if (p.col == 0) {
        gemm(false, false, g.Csg(), nc, K, T(1), wg, K, xg + r0 * Wo, P, beta, yb, P);
      } else {
        im2col(g, xg, col, r0, r1);
        gemm(false, false, g.Csg(), nc, K, T(1), wg, K, col, nc, beta, yb, P);
      }
    }
  }
}

// big[n] = conv^T(small[n], w) (+ bias) for one sample.
template <typename T>
void backward_data_sample(const ConvGeom& g, const Plan& p, const T* gy, const T* w, const T* bias, T* dx, T* col,
                          GemmFn<T> gemm) {
  const int64_t P = g.small_vol(), K = g.K(), Wo = g.small[2], V = g.big_vol();
  for (int64_t gr = 0; gr < g.G; ++gr) {
    const T* gyg = gy + gr * g.Csg() * P;
    const T* wg = w + gr * g.Csg() * K;
    T* dxg = dx + gr * g.Cbg() * V;
    if (p.col == 0) {
      gemm(true, false, g.Cbg(), P, g.Csg(), T(1), wg, K, gyg, P, T(0), dxg, P);
    } else {
      std::fill(dxg, dxg + g.Cbg() * V, T(0));
      for (int64_t r0 = 0; r0 < p.rows; r0 += p.block) {
        const int64_t r1 = std::min(p.rows, r0 + p.block), nc = (r1 - r0) * Wo;
        gemm(true, false, K, nc, g.Csg(), T(1), wg, K, gyg + r0 * Wo, P, T(0), col, nc);
        col2im(g, col, dxg, r0, r1);
      }
    }
  }
  if (bias) {
    for (int64_t c = 0; c < g.Cb; ++c) {
      T* dc = dx + c * V;
      const T b = bias[c];
      for (int64_t i = 0; i < V; ++i) dc[i] += b;
    }
  }
}

// dw += corr(big[n], small[n]) for one sample.
template <typename T>
void backward_weight_sample(const ConvGeom& g, const Plan& p, const T* x, const T* gy, T* dw, T* col,
                            GemmFn<T> gemm) {
  const int64_t P = g.small_vol(), K = g.K(), Wo = g.small[2];
  for (int64_t gr = 0; gr < g.G; ++gr) {
    const T* xg = x + gr * g.Cbg() * g.big_vol();
    const T* gyg = gy + gr * g.Csg() * P;
    T* dwg = dw + gr * g.Csg() * K;
    for (int64_t r0 = 0; r0 < p.rows; r0 += p.block) {
      const int64_t r1 = std::min(p.rows, r0 + p.block), nc = (r1 - r0) * Wo;
      if (p.col == 0) {
        gemm(false, true, g.Csg(), K, nc, T(1), gyg + r0 * Wo, P, xg + r0 * Wo, P, T(1), dwg, K);
      } else {
        im2col(g, xg, col, r0, r1);
        gemm(false, true, g.Csg(), K, nc, T(1), gyg + r0 * Wo, P, col, nc, T(1), dwg, K);
      }
    }
  }
}

// im2row: row p (all K taps of output position p, for the positions of rows [r0, r1)) at
// B + p * ldb. The weight gradient reads it as a row-major B operand (reduction over p).
void im2row(const ConvGeom& g, const float* x, float* B, int64_t ldb, int64_t r0, int64_t r1) {
  const int64_t Wo = g.small[2], Ho = g.small[1];
  const int64_t Di = g.big[0], Hi = g.big[1], Wi = g.big[2];
  const int64_t kw_n = g.k[2], dw = g.d[2];
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t od = r / Ho, oh = r % Ho;
    for (int64_t ow = 0; ow < Wo; ++ow) {
      float* dst = B + ((r - r0) * Wo + ow) * ldb;
      const int64_t iw0 = ow * g.s[2] - g.pb[2];
      const bool w_inside = iw0 >= 0 && iw0 + (kw_n - 1) * dw < Wi;
      for (int64_t c = 0; c < g.Cbg(); ++c)
        for (int64_t kd = 0; kd < g.k[0]; ++kd) {
          const int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
          const bool dv = id >= 0 && id < Di;
          for (int64_t kh = 0; kh < g.k[1]; ++kh, dst += kw_n) {
            const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
            if (!dv || ih < 0 || ih >= Hi) {
              std::fill(dst, dst + kw_n, 0.f);
              continue;
            }
            const float* row = x + ((c * Di + id) * Hi + ih) * Wi + iw0;
            if (w_inside && dw == 1) {
              copy_run(dst, row, kw_n);
            } else {
              for (int64_t kw = 0, iw = iw0; kw < kw_n; ++kw, iw += dw)
                dst[kw] = iw >= 0 && iw < Wi ? row[kw * dw] : 0.f;
            }
          }
        }
    }
  }
}

void forward_sample_fast(const ConvGeom& g, const Plan& p, const float* x, const float* wp, const float* bias,
                         float* y, float* col) {
  const int64_t P = g.small_vol(), K = g.K(), Wo = g.small[2];
  const int64_t wps = convgemm::packed_a_size(g.Csg(), K);
  for (int64_t gr = 0; gr < g.G; ++gr) {
    const float* xg = x + gr * g.Cbg() * g.big_vol();
    float* yg = y + gr * g.Csg() * P;
    const float* bg = bias ? bias + gr * g.Csg() : nullptr;
    for (int64_t r0 = 0; r0 < p.rows; r0 += p.block) {
      const int64_t r1 = std::min(p.rows, r0 + p.block), nc = (r1 - r0) * Wo;
      if (p.col == 0) {
        convgemm::gemm(wp + gr * wps, g.Csg(), nc, K, xg + r0 * Wo, P, convgemm::kNR, yg + r0 * Wo, P, bg, false);
      } else {
        im2col(g, xg, col, r0, r1);
        convgemm::gemm(wp + gr * wps, g.Csg(), nc, K, col, nc, convgemm::kNR, yg + r0 * Wo, P, bg, false);
      }
    }
  }
}

void backward_data_sample_fast(const ConvGeom& g, const Plan& p, const float* gy, const float* wtp, const float* bias,
                               float* dx, float* col) {
  const int64_t P = g.small_vol(), K = g.K(), Wo = g.small[2], V = g.big_vol();
  const int64_t wps = convgemm::packed_a_size(K, g.Csg());
  for (int64_t gr = 0; gr < g.G; ++gr) {
    const float* gyg = gy + gr * g.Csg() * P;
    float* dxg = dx + gr * g.Cbg() * V;
    if (p.col == 0) {
      convgemm::gemm(wtp + gr * wps, K, P, g.Csg(), gyg, P, convgemm::kNR, dxg, P, nullptr, false);
    } else {
      std::fill(dxg, dxg + g.Cbg() * V, 0.f);
      for (int64_t r0 = 0; r0 < p.rows; r0 += p.block) {
        const int64_t r1 = std::min(p.rows, r0 + p.block), nc = (r1 - r0) * Wo;
        convgemm::gemm(wtp + gr * wps, K, nc, g.Csg(), gyg + r0 * Wo, P, convgemm::kNR, col, nc, nullptr, false);
        col2im(g, col, dxg, r0, r1);
      }
    }
  }
  if (bias) {
    for (int64_t c = 0; c < g.Cb; ++c) {
      float* dc = dx + c * V;
      const float b = bias[c];
      for (int64_t i = 0; i < V; ++i) dc[i] += b;
    }
  }
}

void backward_weight_sample_fast(const ConvGeom& g, const Plan& p, const float* x, const float* gy, float* dw,
                                 float* slice) {
  using convgemm::kNR;
  const int64_t P = g.small_vol(), K = g.K(), Wo = g.small[2];
  const int64_t nc_max = p.block * Wo, ldb = convgemm::round_up(K, 16);
  float* Bp = slice;
  float* Ap = slice + ldb * nc_max;
  for (int64_t gr = 0; gr < g.G; ++gr) {
    const float* xg = x + gr * g.Cbg() * g.big_vol();
    const float* gyg = gy + gr * g.Csg() * P;
    float* dwg = dw + gr * g.Csg() * K;
    for (int64_t r0 = 0; r0 < p.rows; r0 += p.block) {
      const int64_t r1 = std::min(p.rows, r0 + p.block), nc = (r1 - r0) * Wo;
      convgemm::pack_a(gyg + r0 * Wo, P, 1, g.Csg(), nc, Ap);
      im2row(g, xg, Bp, ldb, r0, r1);
      convgemm::gemm(Ap, g.Csg(), K, nc, Bp, ldb, kNR, dwg, K, nullptr, true);
    }
  }
}

template <typename T>
void forward_typed(const ConvGeom& g, const TensorView& xv, const TensorView& wv, const TensorView* bv,
                   const TensorView& yv, void* ws) {
  if constexpr (std::is_same_v<T, float>) {
    if (const SgemmMicroKernel* uk = packed_kernel(g, DType::f32, ConvProduct::forward)) {
      const float* b = bv ? bv->ptr<float>() : nullptr;
      convpacked::forward(*uk, g, xv.ptr<float>(), wv.ptr<float>(), b, yv.ptr<float>(), ws, thread_cap());
      return;
    }
  }
  const Plan p = make_plan(g, sizeof(T), in_parallel_region());
  const Layout l = make_layout(g, p, Product::forward);
  const T* x = xv.ptr<T>();
  const T* w = wv.ptr<T>();
  const T* b = bv ? bv->ptr<T>() : nullptr;
  T* y = yv.ptr<T>();
  T* packed = static_cast<T*>(ws);
  T* cols = packed + l.shared;
  const int64_t xs = g.Cb * g.big_vol(), ys = g.Cs * g.small_vol();
  if (g.N == 0 || ys == 0) return;
  const int nt = run_threads(p, g.N);
  if constexpr (std::is_same_v<T, float>) {
    if (p.fast) {
      const int64_t K = g.K(), wps = convgemm::packed_a_size(g.Csg(), K);
      for (int64_t gr = 0; gr < g.G; ++gr) convgemm::pack_a(w + gr * g.Csg() * K, K, 1, g.Csg(), K, packed + gr * wps);
      over_batch(nt, g.N, [&](int t, int64_t s, int64_t e) {
        for (int64_t n = s; n < e; ++n) forward_sample_fast(g, p, x + n * xs, packed, b, y + n * ys, cols + t * l.slice);
      });
      return;
    }
  }
  BlasSerialScope serial;
  if (nt > 1) {
    over_batch(nt, g.N, [&](int t, int64_t s, int64_t e) {
      for (int64_t n = s; n < e; ++n)
        forward_sample<T>(g, p, x + n * xs, w, b, y + n * ys, cols + t * l.slice, serial_gemm<T>());
    });
  } else {
    for (int64_t n = 0; n < g.N; ++n)
      forward_sample<T>(g, p, x + n * xs, w, b, y + n * ys, cols, &gemm_rowmajor_parallel<T>);
  }
}

template <typename T>
void backward_data_typed(const ConvGeom& g, const TensorView& gyv, const TensorView& wv, const TensorView* bv,
                         const TensorView& dxv, void* ws) {
  if constexpr (std::is_same_v<T, float>) {
    if (const SgemmMicroKernel* uk = packed_kernel(g, DType::f32, ConvProduct::backward_data)) {
      const float* b = bv ? bv->ptr<float>() : nullptr;
      convpacked::backward_data(*uk, g, gyv.ptr<float>(), wv.ptr<float>(), b, dxv.ptr<float>(), ws, thread_cap());
      return;
    }
  }
  const Plan p = make_plan(g, sizeof(T), in_parallel_region());
  const Layout l = make_layout(g, p, Product::backward_data);
  const T* gy = gyv.ptr<T>();
  const T* w = wv.ptr<T>();
  const T* b = bv ? bv->ptr<T>() : nullptr;
  T* dx = dxv.ptr<T>();
  T* packed = static_cast<T*>(ws);
  T* cols = packed + l.shared;
  const int64_t xs = g.Cb * g.big_vol(), ys = g.Cs * g.small_vol();
  if (g.N == 0 || xs == 0) return;
  const int nt = run_threads(p, g.N);
  if constexpr (std::is_same_v<T, float>) {
    if (p.fast) {
      const int64_t K = g.K(), wps = convgemm::packed_a_size(K, g.Csg());
      // A = W_g^T: A(k, m) = w[m * K + k].
      for (int64_t gr = 0; gr < g.G; ++gr) convgemm::pack_a(w + gr * g.Csg() * K, 1, K, K, g.Csg(), packed + gr * wps);
      over_batch(nt, g.N, [&](int t, int64_t s, int64_t e) {
        for (int64_t n = s; n < e; ++n)
          backward_data_sample_fast(g, p, gy + n * ys, packed, b, dx + n * xs, cols + t * l.slice);
      });
      return;
    }
  }
  BlasSerialScope serial;
  if (nt > 1) {
    over_batch(nt, g.N, [&](int t, int64_t s, int64_t e) {
      for (int64_t n = s; n < e; ++n)
        backward_data_sample<T>(g, p, gy + n * ys, w, b, dx + n * xs, cols + t * l.slice, serial_gemm<T>());
    });
  } else {
    for (int64_t n = 0; n < g.N; ++n)
      backward_data_sample<T>(g, p, gy + n * ys, w, b, dx + n * xs, cols, &gemm_rowmajor_parallel<T>);
  }
}

template <typename T>
void backward_weight_typed(const ConvGeom& g, const TensorView& xv, const TensorView& gyv, const TensorView& dwv,
                           void* ws) {
  if constexpr (std::is_same_v<T, float>) {
    if (const SgemmMicroKernel* uk = packed_kernel(g, DType::f32, ConvProduct::backward_weight)) {
      convpacked::backward_weight(*uk, g, xv.ptr<float>(), gyv.ptr<float>(), dwv.ptr<float>(), ws, thread_cap());
      return;
    }
  }
  const Plan p = make_plan(g, sizeof(T), in_parallel_region());
  const Layout l = make_layout(g, p, Product::backward_weight);
  const T* x = xv.ptr<T>();
  const T* gy = gyv.ptr<T>();
  T* dw = dwv.ptr<T>();
  const int64_t wn = dwv.numel();
  std::fill(dw, dw + wn, T(0));
  const int64_t xs = g.Cb * g.big_vol(), ys = g.Cs * g.small_vol();
  if (g.N == 0 || wn == 0 || ys == 0) return;
  T* slices = static_cast<T*>(ws) + l.shared;
  T* partial = slices + p.slices * l.slice;  // (slices - 1) extra dw accumulators
  const int nt = run_threads(p, g.N);
  bool fast = false;
  if constexpr (std::is_same_v<T, float>) fast = p.fast;
  BlasSerialScope serial;
  if (nt > 1 || fast) {
    const int64_t C = weight_chunks(g);
    parallel_chunks(nt, C, 1, [&](int t, int64_t cb, int64_t ce) {
      T* slice = slices + t * l.slice;
      for (int64_t c = cb; c < ce; ++c) {
        T* acc = c == 0 ? dw : partial + (c - 1) * wn;
        if (c > 0) std::fill(acc, acc + wn, T(0));
        for (int64_t n = c * g.N / C; n < (c + 1) * g.N / C; ++n) {
          if constexpr (std::is_same_v<T, float>) {
            if (fast) {
              backward_weight_sample_fast(g, p, x + n * xs, gy + n * ys, acc, slice);
              continue;
            }
          }
          backward_weight_sample<T>(g, p, x + n * xs, gy + n * ys, acc, slice, serial_gemm<T>());
        }
      }
    });
    parallel_for(wn, 4096, [&](int64_t s, int64_t e) {
      for (int64_t c = 1; c < C; ++c) {
        const T* src = partial + (c - 1) * wn;
        for (int64_t i = s; i < e; ++i) dw[i] += src[i];
      }
    });
  } else {
    for (int64_t n = 0; n < g.N; ++n)
      backward_weight_sample<T>(g, p, x + n * xs, gy + n * ys, dw, slices, &gemm_rowmajor_parallel<T>);
  }
}

template <typename F>
void dispatch_float(DType t, F&& f) {
  switch (t) {
    case DType::f32: f(float{}); return;
    case DType::f64: f(double{}); return;
    default: break;
  }
  SN_THROW(ErrorKind::dtype, "no CPU convolution kernel for dtype " << dtype_name(t));
}

}  // namespace

namespace {
// Enough for the path the kernel will take: the packed one, or the im2col + GEMM plan
// whether it runs at top level or nested. Like convgemm::set_enabled, switching the GEMM
// backend (set_gemm_backend) applies to what is compiled afterwards.
size_t workspace_bytes(const ConvGeom& g, DType t, Product what) {
  const ConvProduct p = what == Product::forward         ? ConvProduct::forward
                        : what == Product::backward_data ? ConvProduct::backward_data
                                                         : ConvProduct::backward_weight;
  if (const SgemmMicroKernel* uk = packed_kernel(g, t, p)) {
    const int slices = thread_cap();
    switch (p) {
      case ConvProduct::forward: return convpacked::forward_workspace(*uk, g, slices);
      case ConvProduct::backward_data: return convpacked::backward_data_workspace(*uk, g, slices);
      case ConvProduct::backward_weight: return convpacked::backward_weight_workspace(*uk, g, slices);
    }
  }
  size_t most = 0;
  for (bool nested : {false, true}) {
    const Plan pl = make_plan(g, dtype_size(t), nested);
    most = std::max(most, static_cast<size_t>(make_layout(g, pl, what).total(pl)) * dtype_size(t));
  }
  return most;
}

}  // namespace

const char* conv_algorithm(const ConvGeom& g, DType t, ConvProduct what) {
  if (const SgemmMicroKernel* uk = packed_kernel(g, t, what)) {
    const bool pw = g.pointwise();
    switch (what) {
      case ConvProduct::forward: return pw ? "packed-1x1" : "im2col-packed";
      case ConvProduct::backward_data:
        return pw ? "packed-1x1" : convpacked::backward_data_as_forward(*uk, g) ? "flipped-packed" : "col2im-packed";
      case ConvProduct::backward_weight: return pw ? "packed-1x1" : "im2col-packed";
    }
  }
  const Plan p = make_plan(g, dtype_size(t), false);
  return p.fast && t == DType::f32 ? "convgemm" : "blas";
}

size_t conv_forward_workspace(const ConvGeom& g, DType t) { return workspace_bytes(g, t, Product::forward); }

size_t conv_backward_data_workspace(const ConvGeom& g, DType t) {
  return workspace_bytes(g, t, Product::backward_data);
}

size_t conv_backward_weight_workspace(const ConvGeom& g, DType t) {
  return workspace_bytes(g, t, Product::backward_weight);
}

void conv_forward_cpu(const ConvGeom& g, const TensorView& big, const TensorView& w, const TensorView* bias,
                      const TensorView& small, void* ws) {
  dispatch_float(big.dtype, [&](auto tag) { forward_typed<decltype(tag)>(g, big, w, bias, small, ws); });
}

void conv_backward_data_cpu(const ConvGeom& g, const TensorView& small, const TensorView& w, const TensorView* bias,
                            const TensorView& big, void* ws) {
  dispatch_float(big.dtype, [&](auto tag) { backward_data_typed<decltype(tag)>(g, small, w, bias, big, ws); });
}

void conv_backward_weight_cpu(const ConvGeom& g, const TensorView& big, const TensorView& small,
                              const TensorView& dw, void* ws) {
  dispatch_float(big.dtype, [&](auto tag) { backward_weight_typed<decltype(tag)>(g, big, small, dw, ws); });
}

}  // namespace symnet
