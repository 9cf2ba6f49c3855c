#include "engine/kernels/cpu/conv_packed.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/kernels/cpu/conv_lowering.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/kernels/cpu/sgemm_pack.h"
#include "engine/kernels/cpu/sgemm_packed.h"

namespace symnet::convpacked {

namespace {

using convlower::copy_run;
using convlower::valid_range;

// Budgets (floats) of the per-thread buffers: a lowered block of the input that stays in
// L2 next to the packed weights it meets.
constexpr int64_t kPanelFloats = 64 * 1024;    // forward: kc x columns of lowered input
constexpr int64_t kOutFloats = 128 * 1024;     // forward across samples: rows x columns of output
constexpr int64_t kColFloats = 128 * 1024;     // col2im / weight-gradient column blocks
constexpr int64_t kPartialFloats = 1 << 20;    // weight-gradient accumulators beyond dw itself
constexpr int64_t kReduceBlock = 256;          // output positions per weight-gradient GEMM
constexpr int64_t kFloatAlign = 16;            // 64 bytes: the tile kernels load panels aligned

int64_t up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }
int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Equal slices of a K-deep reduction, no deeper than the kernel's kc (as sgemm_packed).
int64_t k_slice(const SgemmMicroKernel& uk, int64_t K) {
  if (K <= 0) return 1;
  return cdiv(K, cdiv(K, uk.kc));
}

float* aligned(void* p) {
  const auto v = reinterpret_cast<uintptr_t>(p);
  return reinterpret_cast<float*>((v + 63) / 64 * 64);
}

int threads_for(int slices) {
  if (in_parallel_region()) return 1;
  return std::max(1, std::min(engine_num_threads(), slices));
}

// A pointwise convolution is one long output row: runs then cover whole column panels.
ConvGeom lowered(ConvGeom g) {
  if (!g.pointwise()) return g;
  const int64_t v = g.small_vol();
  for (int i = 0; i < 2; ++i) g.big[i] = g.small[i] = 1;
  g.big[2] = g.small[2] = v;
  return g;
}

// The backward-data frame as a forward convolution: output gradient in, input gradient out,
// stride 1, the padding mirrored; the weights are flipped and transposed when packed.
ConvGeom flipped(const ConvGeom& g) {
  ConvGeom h = g;
  h.Cb = g.Cs;
  h.Cs = g.Cb;
  for (int i = 0; i < 3; ++i) {
    h.big[i] = g.small[i];
    h.small[i] = g.big[i];
    h.s[i] = 1;
    h.pb[i] = (g.k[i] - 1) * g.d[i] - g.pb[i];
  }
  return h;
}

// ---- lowering the input into column blocks ----------------------------------------------

// Columns J = n * P + q (sample n, output position q) of a block [J0, J1), cut into runs
// along one output row of one sample and inside one column panel of width pw. Per run, what
// every row of the lowering needs: the panel and column in it, the first input row and
// plane the run reads (before the tap's offset), and the sample's offset.
struct Run {
  int64_t panel, col, len, ow0, id0, ih0, xoff;
};

void make_runs(const ConvGeom& h, int64_t xs, int64_t J0, int64_t J1, int64_t pw, std::vector<Run>& runs) {
  runs.clear();
  const int64_t Wo = h.small[2], Ho = h.small[1], P = h.small_vol();
  for (int64_t J = J0; J < J1;) {
    const int64_t n = J / P, q = J % P, ow = q % Wo, r = q / Wo, j = J - J0;
    const int64_t len = std::min({Wo - ow, J1 - J, pw - j % pw});
    runs.push_back({j / pw, j % pw, len, ow, (r / Ho) * h.s[0] - h.pb[0], (r % Ho) * h.s[1] - h.pb[1], n * xs});
    J += len;
  }
}

// Rows k0 .. k0+kn of the lowered input of one group (row k: tap (c, kd, kh, kw), column j:
// the block's j-th output position; zero where the tap reads padding), at
// dst + run.panel * panel_stride + kl * ld + run.col. Panel layout (the packed-B layout of
// the tile kernels): ld = nr, panel_stride = kn * nr. Plain row-major: panel_stride = 0.
// xg: the group's first channel of sample 0.
void lower(const ConvGeom& h, const float* xg, const std::vector<Run>& runs, int64_t k0, int64_t kn, int64_t ld,
           int64_t panel_stride, float* dst) {
  const int64_t kvol = h.kvol(), kw_n = h.k[2], kh_n = h.k[1];
  const int64_t Di = h.big[0], Hi = h.big[1], Wi = h.big[2], V = h.big_vol(), Wo = h.small[2], s2 = h.s[2];
  // The tap (c, kd, kh, kw) of row k0, then stepped row by row without divisions.
  int64_t c = k0 / kvol, t = k0 % kvol;
  int64_t kd = t / (kh_n * kw_n), kh = (t / kw_n) % kh_n, kw = t % kw_n;
  for (int64_t kl = 0; kl < kn; ++kl) {
    int64_t lo_all, hi_all;
    const int64_t off = kw * h.d[2];
    valid_range(Wo, Wi, s2, h.pb[2], off, lo_all, hi_all);
    const float* xc = xg + c * V - h.pb[2] + off;
    const int64_t dd = kd * h.d[0], dh = kh * h.d[1];
    float* row = dst + kl * ld;
    for (const Run& r : runs) {
      float* out = row + r.panel * panel_stride + r.col;
      const int64_t id = r.id0 + dd, ih = r.ih0 + dh;
      const int64_t a = r.ow0, b = r.ow0 + r.len;
      const int64_t lo = std::min(std::max(lo_all, a), b), hi = std::max(lo, std::min(hi_all, b));
      if (static_cast<uint64_t>(id) >= static_cast<uint64_t>(Di) || static_cast<uint64_t>(ih) >= static_cast<uint64_t>(Hi) ||
          lo >= hi) {
        for (int64_t i = 0; i < r.len; ++i) out[i] = 0.f;
        continue;
      }
      for (int64_t i = 0; i < lo - a; ++i) out[i] = 0.f;
      const float* src = xc + r.xoff + (id * Hi + ih) * Wi + lo * s2;
      float* o = out + (lo - a);
      if (s2 == 1) {
        copy_run(o, src, hi - lo);
      } else {
        for (int64_t i = 0; i < hi - lo; ++i) o[i] = src[i * s2];
      }
      for (int64_t i = hi - a; i < r.len; ++i) out[i] = 0.f;
    }
    if (++kw == kw_n) {
      kw = 0;
      if (++kh == kh_n) {
        kh = 0;
        if (++kd == h.k[0]) {
          kd = 0;
          ++c;
        }
      }
    }
  }
}

thread_local std::vector<Run> t_runs;

// ---- forward (and backward-data as a forward) ----------------------------------------------

struct Fwd {
  int64_t M = 0, K = 0, P = 0, kc = 1, Mpad = 0, ncb = 0;
  bool span = false;  // column blocks may cross samples (output through a buffer)
  int64_t a_floats(const ConvGeom& h) const { return h.G * Mpad * K; }
  int64_t b_floats() const { return up(kc * ncb, kFloatAlign); }
  int64_t slice_floats() const { return b_floats() + (span ? up(Mpad * ncb, kFloatAlign) : 0); }
};

Fwd fwd_plan(const SgemmMicroKernel& uk, const ConvGeom& h) {
  Fwd f;
  f.M = h.Csg();
  f.K = h.K();
  f.P = h.small_vol();
  f.kc = k_slice(uk, f.K);
  f.Mpad = up(f.M, uk.mr);
  // Positions per sample that fill their last column panel less than ~90%: blocks span samples.
  f.span = up(f.P, uk.nr) * 10 > f.P * 11;
  int64_t ncb = std::min<int64_t>(1024, std::max<int64_t>(uk.nr, kPanelFloats / f.kc / uk.nr * uk.nr));
  if (f.span) {
    ncb = std::min(ncb, std::max<int64_t>(uk.nr, kOutFloats / std::max<int64_t>(f.Mpad, 1) / uk.nr * uk.nr));
  } else {
    const int64_t blocks = cdiv(std::max<int64_t>(f.P, 1), ncb);
    ncb = up(cdiv(std::max<int64_t>(f.P, 1), blocks), uk.nr);
  }
  f.ncb = ncb;
  return f;
}

// Packs the weights of every group into row panels, one kc-deep slice after another:
// slice p0 of group gr at Ap + gr * Mpad * K + p0 * Mpad (sgemm_pack_a's panel layout).
// `flip`: A(m, k) of the backward-data frame, from weights w[Cs][Cb/G][k...] of the conv.
void pack_weights(const SgemmMicroKernel& uk, const ConvGeom& h, const Fwd& f, const float* w, bool flip,
                  float* Ap, int nt) {
  const int64_t slices = cdiv(f.K, f.kc), kvol = h.kvol(), mr = uk.mr;
  parallel_chunks(nt, h.G * slices, 1, [&](int, int64_t b, int64_t e) {
    for (int64_t it = b; it < e; ++it) {
      const int64_t gr = it / slices, p0 = (it % slices) * f.kc, kc = std::min(f.kc, f.K - p0);
      float* out = Ap + gr * f.Mpad * f.K + p0 * f.Mpad;
      if (!flip) {
        sgemm_pack_a(false, w + gr * f.M * f.K, f.K, 0, f.M, p0, kc, uk.mr, out);
        continue;
      }
      // h: M = Cbg of the conv, K = Csg of the conv x kvol. A(m, c*kvol + t) = w[c][m][kvol-1-t].
      const int64_t Kw = f.M * kvol;  // the conv's K (per output channel of the conv)
      const float* wg = w + gr * (h.Cbg()) * Kw;
      for (int64_t m0 = 0; m0 < f.Mpad; m0 += mr) {
        float* panel = out + m0 * kc;
        for (int64_t kl = 0; kl < kc; ++kl) {
          const int64_t k = p0 + kl, c = k / kvol, t = k % kvol;
          const float* src = wg + c * Kw + (kvol - 1 - t);
          for (int64_t r = 0; r < mr; ++r) {
            const int64_t m = m0 + r;
            panel[kl * mr + r] = m < f.M ? src[m * kvol] : 0.f;
          }
        }
      }
    }
  });
}

// y = conv(x) with packed weights Ap (+ bias), h the (lowered) forward geometry.
void run_forward(const SgemmMicroKernel& uk, const ConvGeom& h, const Fwd& f, const float* x, const float* Ap,
                 const float* bias, float* y, float* slices_base, int nt) {
  const int64_t N = h.N, P = f.P, M = f.M, K = f.K, nr = uk.nr, mr = uk.mr;
  const int64_t xs = h.Cb * h.big_vol(), ys = h.Cs * P;
  // Column blocks: within a sample (bps per sample) or over all N * P positions.
  int64_t ncb = f.ncb, nblk, bps = 1;
  if (f.span) {
    const int64_t total = N * P;
    if (cdiv(total, ncb) < 4 * nt) ncb = std::max(nr, std::min(ncb, up(cdiv(total, 4 * nt), nr)));
    nblk = cdiv(total, ncb);
  } else {
    bps = cdiv(P, ncb);
    nblk = N * bps;
  }
  const int64_t panels = f.Mpad / mr;
  int64_t mp = 1;
  while (h.G * nblk * mp < 2 * nt && panels >= 2 * mp) mp *= 2;
  const int64_t items = h.G * nblk * mp;
  parallel_chunks(nt, items, 1, [&](int t, int64_t ib, int64_t ie) {
    float* Bp = slices_base + t * f.slice_floats();
    float* Cb = Bp + f.b_floats();
    std::vector<Run>& runs = t_runs;
    for (int64_t it = ib; it < ie; ++it) {
      const int64_t mpi = it % mp, blk = (it / mp) % nblk, gr = it / (mp * nblk);
      const int64_t m0 = std::min(M, panels * mpi / mp * mr), m1 = std::min(M, panels * (mpi + 1) / mp * mr);
      if (m0 >= m1) continue;
      int64_t J0, J1;
      if (f.span) {
        J0 = blk * ncb;
        J1 = std::min(N * P, J0 + ncb);
      } else {
        const int64_t n = blk / bps, b = blk % bps;  // blocks start on panel boundaries
        J0 = n * P + std::min(P, b * ncb);
        J1 = n * P + std::min(P, (b + 1) * ncb);
      }
      const int64_t ncols = J1 - J0;
      if (ncols <= 0) continue;
      float* C;
      int64_t ldc;
      if (f.span) {
        C = Cb;
        ldc = f.ncb;
      } else {
        C = y + (J0 / P) * ys + (gr * M + m0) * P + J0 % P;
        ldc = P;
      }
      float beta = 0.f;
      if (bias && !f.span) {
        for (int64_t m = m0; m < m1; ++m) std::fill(C + (m - m0) * ldc, C + (m - m0) * ldc + ncols, bias[gr * M + m]);
        beta = 1.f;
      }
      make_runs(h, xs, J0, J1, nr, runs);
      const float* xg = x + gr * h.Cbg() * h.big_vol();
      const float* Ag = Ap + gr * f.Mpad * K;
      for (int64_t p0 = 0; p0 < K; p0 += f.kc) {
        const int64_t kc = std::min(f.kc, K - p0);
        lower(h, xg, runs, p0, kc, nr, kc * nr, Bp);
        if (ncols % nr) {  // the last panel's unused columns: zeros, not stale floats
          float* last = Bp + (ncols / nr) * kc * nr;
          for (int64_t kl = 0; kl < kc; ++kl) std::fill(last + kl * nr + ncols % nr, last + (kl + 1) * nr, 0.f);
        }
        const float* As = Ag + p0 * f.Mpad;
        for (int64_t ic = m0; ic < m1; ic += uk.mc) {
          const int64_t iend = std::min(m1, ic + uk.mc);
          for (int64_t jr = 0; jr < ncols; jr += nr) {
            const int n = static_cast<int>(std::min(nr, ncols - jr));
            for (int64_t ir = ic; ir < iend; ir += mr) {
              const int m = static_cast<int>(std::min(mr, iend - ir));
              uk.tile(kc, As + ir * kc, Bp + jr * kc, C + (ir - m0) * ldc + jr, ldc, m, n, 1.f, beta);
            }
          }
        }
        beta = 1.f;
      }
      if (f.span) {  // scatter the buffered block to its samples (+ bias)
        for (int64_t m = m0; m < m1; ++m) {
          const float b = bias ? bias[gr * M + m] : 0.f;
          const float* src = C + (m - m0) * ldc;
          for (int64_t J = J0; J < J1;) {
            const int64_t n = J / P, q = J % P, len = std::min(P - q, J1 - J);
            float* dst = y + n * ys + (gr * M + m) * P + q;
            const float* s = src + (J - J0);
            for (int64_t i = 0; i < len; ++i) dst[i] = s[i] + b;
            J += len;
          }
        }
      }
    }
  });
}

size_t fwd_workspace(const SgemmMicroKernel& uk, const ConvGeom& h, int slices) {
  const Fwd f = fwd_plan(uk, h);
  return static_cast<size_t>(up(f.a_floats(h), kFloatAlign) + slices * f.slice_floats()) * sizeof(float) + 64;
}

void forward_on(const SgemmMicroKernel& uk, const ConvGeom& h, const float* x, const float* w, bool flip,
                const float* bias, float* y, void* ws, int slices) {
  if (h.N == 0 || h.Cs == 0 || h.small_vol() == 0) return;
  const Fwd f = fwd_plan(uk, h);
  if (f.K == 0) {  // no taps (no input channels): the bias alone
    for (int64_t n = 0; n < h.N; ++n)
      for (int64_t c = 0; c < h.Cs; ++c) {
        float* d = y + (n * h.Cs + c) * f.P;
        std::fill(d, d + f.P, bias ? bias[c] : 0.f);
      }
    return;
  }
  const int nt = threads_for(slices);
  float* Ap = aligned(ws);
  float* rest = Ap + up(f.a_floats(h), kFloatAlign);
  pack_weights(uk, h, f, w, flip, Ap, nt);
  run_forward(uk, h, f, x, Ap, bias, y, rest, nt);
}

// ---- backward-data through col2im (strided convolutions) --------------------------------

// The GEMM col[taps, positions] = W_g^T dY_g with W_g^T packed once per call (rows: the
// group's taps, depth: its output channels), dY packed per block of output rows; col2im
// then adds each channel range's columns into its input gradient.
struct Col2im {
  int64_t cpc_max = 1;   // input channels per work item at most
  int64_t ncols_max = 0; // output positions per block at most
  int64_t Mpad = 0, kc = 1;
  int64_t a_floats(const ConvGeom& g) const { return up(g.G * Mpad * g.Csg(), kFloatAlign); }
  int64_t col_floats(const SgemmMicroKernel& uk, const ConvGeom& g) const {
    return up((cpc_max * g.kvol() + 2 * uk.mr) * ncols_max, kFloatAlign);
  }
  int64_t b_floats(const SgemmMicroKernel& uk) const { return up(kc * up(ncols_max, uk.nr), kFloatAlign); }
};

Col2im col2im_plan(const SgemmMicroKernel& uk, const ConvGeom& g) {
  Col2im c;
  const int64_t Wo = std::max<int64_t>(1, g.small[2]), kvol = g.kvol();
  c.cpc_max = std::max<int64_t>(1, std::min(g.Cbg(), kColFloats / (kvol * Wo)));
  c.ncols_max = std::max(Wo, kColFloats / (c.cpc_max * kvol + 2 * uk.mr) / Wo * Wo);
  c.Mpad = up(g.K(), uk.mr);
  c.kc = k_slice(uk, g.Csg());
  return c;
}

size_t col2im_workspace(const SgemmMicroKernel& uk, const ConvGeom& g, int slices) {
  const Col2im c = col2im_plan(uk, g);
  return static_cast<size_t>(c.a_floats(g) + slices * (c.col_floats(uk, g) + c.b_floats(uk))) * sizeof(float) + 64;
}

void backward_data_col2im(const SgemmMicroKernel& uk, const ConvGeom& g, const float* gy, const float* w,
                          const float* bias, float* dx, void* ws, int slices) {
  const Col2im cp = col2im_plan(uk, g);
  const int nt = threads_for(slices);
  const int64_t N = g.N, G = g.G, Cbg = g.Cbg(), Csg = g.Csg(), kvol = g.kvol(), Kg = g.K(), mr = uk.mr, nr = uk.nr;
  const int64_t V = g.big_vol(), P = g.small_vol(), Wo = g.small[2], rows = g.small[0] * g.small[1];
  const int64_t xs = g.Cb * V, ys = g.Cs * P;
  float* Ap = aligned(ws);
  float* base = Ap + cp.a_floats(g);
  if (Csg == 0) {  // no output channels: the bias alone
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < g.Cb; ++c) std::fill(dx + n * xs + c * V, dx + n * xs + (c + 1) * V, bias ? bias[c] : 0.f);
    return;
  }
  const int64_t kslices = cdiv(Csg, cp.kc);
  parallel_chunks(nt, G * kslices, 1, [&](int, int64_t b, int64_t e) {
    for (int64_t it = b; it < e; ++it) {
      const int64_t gr = it / kslices, p0 = (it % kslices) * cp.kc, kc = std::min(cp.kc, Csg - p0);
      sgemm_pack_a(true, w + gr * Csg * Kg, Kg, 0, Kg, p0, kc, uk.mr, Ap + gr * cp.Mpad * Csg + p0 * cp.Mpad);
    }
  });
  int64_t cpc = cp.cpc_max;
  while (N * G * cdiv(Cbg, cpc) < 2 * nt && cpc > 1) cpc = cdiv(cpc, 2);
  const int64_t ncc = cdiv(Cbg, cpc);
  parallel_chunks(nt, N * G * ncc, 1, [&](int t, int64_t ib, int64_t ie) {
    float* col = base + t * (cp.col_floats(uk, g) + cp.b_floats(uk));
    float* Bp = col + cp.col_floats(uk, g);
    for (int64_t it = ib; it < ie; ++it) {
      const int64_t cc = it % ncc, gr = (it / ncc) % G, n = it / (ncc * G);
      const int64_t c0 = cc * cpc, c1 = std::min(Cbg, c0 + cpc);
      // Whole row panels covering the range's taps (a few rows of the neighbours at most).
      const int64_t ra = c0 * kvol / mr * mr, rb = std::min(Kg, up(c1 * kvol, mr));
      float* dxg = dx + n * xs + gr * Cbg * V;
      std::fill(dxg + c0 * V, dxg + c1 * V, 0.f);
      const float* Ag = Ap + gr * cp.Mpad * Csg;
      const float* gyg = gy + n * ys + gr * Csg * P;
      const int64_t brows = std::max<int64_t>(1, cp.ncols_max / Wo);
      for (int64_t r0 = 0; r0 < rows; r0 += brows) {
        const int64_t r1 = std::min(rows, r0 + brows), ncols = (r1 - r0) * Wo;
        for (int64_t p0 = 0; p0 < Csg; p0 += cp.kc) {
          const int64_t kc = std::min(cp.kc, Csg - p0);
          sgemm_pack_b(false, gyg + r0 * Wo, P, 0, ncols, p0, kc, uk.nr, Bp);
          const float beta = p0 == 0 ? 0.f : 1.f;
          const float* As = Ag + p0 * cp.Mpad;
          for (int64_t jr = 0; jr < ncols; jr += nr) {
            const int nn = static_cast<int>(std::min(nr, ncols - jr));
            for (int64_t ir = ra; ir < rb; ir += mr) {
              const int m = static_cast<int>(std::min(mr, rb - ir));
              uk.tile(kc, As + ir * kc, Bp + jr * kc, col + (ir - ra) * ncols + jr, ncols, m, nn, 1.f, beta);
            }
          }
        }
        convlower::col2im(g, col + (c0 * kvol - ra) * ncols, dxg, r0, r1, c0, c1);
      }
      if (bias)
        for (int64_t c = c0; c < c1; ++c) {
          const float b = bias[gr * Cbg + c];
          float* d = dxg + c * V;
          for (int64_t i = 0; i < V; ++i) d[i] += b;
        }
    }
  });
}

// ---- weight gradient ------------------------------------------------------------------------

struct Wgt {
  int64_t M = 0, Kg = 0, P = 0, Rb = 0, bps = 1, cpc_max = 1, rc_max = 1;
  bool per_sample = false;  // reduction blocks inside one sample (else across samples)
  bool direct = false;      // pointwise within a sample: the input is the column matrix
  int64_t a_floats() const { return per_sample ? 0 : up(M * Rb, kFloatAlign); }
  int64_t col_floats(const ConvGeom& g) const { return direct ? 0 : up(cpc_max * g.kvol() * Rb, kFloatAlign); }
  int64_t slice_floats(const ConvGeom& g) const { return a_floats() + col_floats(g); }
};

Wgt wgt_plan(const ConvGeom& g) {
  Wgt p;
  p.M = g.Csg();
  p.Kg = g.K();
  p.P = g.small_vol();
  p.per_sample = p.P >= kReduceBlock / 2;
  if (p.per_sample) {
    p.bps = cdiv(p.P, kReduceBlock);
    p.Rb = cdiv(p.P, p.bps);
  } else {
    p.Rb = kReduceBlock;
  }
  p.direct = p.per_sample && g.pointwise();
  p.cpc_max = std::max<int64_t>(1, std::min(g.Cbg(), kColFloats / kReduceBlock / g.kvol()));
  const int64_t wn = g.Cs * p.Kg;
  p.rc_max = std::max<int64_t>(1, std::min<int64_t>(8, 1 + kPartialFloats / std::max<int64_t>(wn, 1)));
  return p;
}

size_t wgt_workspace(const ConvGeom& g, int slices) {
  const Wgt p = wgt_plan(g);
  const int64_t wn = g.Cs * p.Kg;
  return static_cast<size_t>(up((p.rc_max - 1) * wn, kFloatAlign) + slices * p.slice_floats(g)) * sizeof(float) +
         64;
}

}  // namespace

bool backward_data_as_forward(const SgemmMicroKernel& uk, const ConvGeom& g) {
  for (int i = 0; i < 3; ++i)
    if (g.s[i] != 1 || g.pb[i] < 0 || g.pb[i] > (g.k[i] - 1) * g.d[i]) return false;
  // It multiplies every tap with every input position, padding included: a 'valid'
  // convolution whose output is much smaller than its input (LeNet's 5x5 on 12x12 -> 8x8)
  // would multiply zeros more than data.
  if (g.big_vol() * 20 > g.small_vol() * 23) return false;
  // Its output channels are the rows of the tiles; col2im's GEMM has channels x taps rows,
  // which fill the tiles, and costs a pass over the column block: measured, the forward
  // form wins only when the tiles' rows are nearly all used (128, 256 channels; not 32 or
  // 64 on a 12-row tile), and for a 1x1 kernel, whose col2im GEMM has no more rows.
  return g.kvol() == 1 || up(g.Cbg(), uk.mr) * 20 <= g.Cbg() * 21;
}

size_t forward_workspace(const SgemmMicroKernel& uk, const ConvGeom& g, int slices) {
  return fwd_workspace(uk, lowered(g), slices);
}

size_t backward_data_workspace(const SgemmMicroKernel& uk, const ConvGeom& g, int slices) {
  if (backward_data_as_forward(uk, g)) return fwd_workspace(uk, lowered(flipped(g)), slices);
  return col2im_workspace(uk, g, slices);
}

size_t backward_weight_workspace(const SgemmMicroKernel&, const ConvGeom& g, int slices) {
  return wgt_workspace(g, slices);
}

void forward(const SgemmMicroKernel& uk, const ConvGeom& g, const float* x, const float* w, const float* bias,
             float* y, void* ws, int slices) {
  forward_on(uk, lowered(g), x, w, false, bias, y, ws, slices);
}

void backward_data(const SgemmMicroKernel& uk, const ConvGeom& g, const float* gy, const float* w,
                   const float* bias, float* dx, void* ws, int slices) {
  if (g.N == 0 || g.Cb == 0 || g.big_vol() == 0) return;
  if (backward_data_as_forward(uk, g)) {
    forward_on(uk, lowered(flipped(g)), gy, w, true, bias, dx, ws, slices);
    return;
  }
  backward_data_col2im(uk, g, gy, w, bias, dx, ws, slices);
}

void backward_weight(const SgemmMicroKernel& uk, const ConvGeom& g, const float* x, const float* gy, float* dw,
                     void* ws, int slices) {
  const Wgt p = wgt_plan(g);
  const int64_t wn = g.Cs * p.Kg;
  std::fill(dw, dw + wn, 0.f);
  const int64_t N = g.N, G = g.G, P = p.P, M = p.M, Kg = p.Kg, Cbg = g.Cbg(), kvol = g.kvol();
  if (N == 0 || wn == 0 || P == 0) return;
  const ConvGeom h = lowered(g);
  const int64_t V = g.big_vol(), xs = g.Cb * V, ys = g.Cs * P;
  const int nt = threads_for(slices);
  // Reduction blocks, and chunks of them fixed by the geometry and the batch alone.
  const int64_t nb = p.per_sample ? N * p.bps : cdiv(N * P, p.Rb);
  const int64_t rc = std::min(nb, p.rc_max);
  float* partial = aligned(ws);
  float* slice_base = partial + up((p.rc_max - 1) * wn, kFloatAlign);
  if (rc > 1) std::fill(partial, partial + (rc - 1) * wn, 0.f);
  // Split the output (channel ranges, then row ranges) until every thread has work: that
  // changes no element's order of summation.
  int64_t cpc = p.cpc_max, mp = 1;
  const int64_t panels = cdiv(M, uk.mr);
  for (;;) {
    if (rc * G * cdiv(Cbg, cpc) * mp >= 2 * nt) break;
    if (cpc > 1) {
      cpc = cdiv(cpc, 2);
    } else if (panels >= 2 * mp) {
      mp *= 2;
    } else {
      break;
    }
  }
  const int64_t ncc = cdiv(Cbg, cpc);
  const int64_t items = rc * G * ncc * mp;
  parallel_chunks(nt, items, 1, [&](int t, int64_t ib, int64_t ie) {
    float* Abuf = slice_base + t * p.slice_floats(g);
    float* Col = Abuf + p.a_floats();
    std::vector<Run>& runs = t_runs;
    for (int64_t it = ib; it < ie; ++it) {
      const int64_t mpi = it % mp, cc = (it / mp) % ncc, gr = (it / (mp * ncc)) % G, c = it / (mp * ncc * G);
      const int64_t m0 = std::min(M, panels * mpi / mp * uk.mr), m1 = std::min(M, panels * (mpi + 1) / mp * uk.mr);
      const int64_t c0 = cc * cpc, c1 = std::min(Cbg, c0 + cpc), taps = (c1 - c0) * kvol;
      if (m0 >= m1 || taps == 0) continue;
      float* acc = (c == 0 ? dw : partial + (c - 1) * wn) + (gr * M + m0) * Kg + c0 * kvol;
      for (int64_t b = c * nb / rc; b < (c + 1) * nb / rc; ++b) {
        int64_t J0, J1;
        if (p.per_sample) {
          const int64_t n = b / p.bps, i = b % p.bps;
          J0 = n * P + std::min(P, i * p.Rb);
          J1 = n * P + std::min(P, (i + 1) * p.Rb);
        } else {
          J0 = b * p.Rb;
          J1 = std::min(N * P, J0 + p.Rb);
        }
        const int64_t R = J1 - J0;
        if (R <= 0) continue;
        const float* A;
        int64_t lda;
        if (p.per_sample) {
          A = gy + (J0 / P) * ys + (gr * M + m0) * P + J0 % P;
          lda = P;
        } else {  // gather the block's output-gradient rows across samples
          for (int64_t m = m0; m < m1; ++m)
            for (int64_t J = J0; J < J1;) {
              const int64_t n = J / P, q = J % P, len = std::min(P - q, J1 - J);
              std::memcpy(Abuf + (m - m0) * R + (J - J0), gy + n * ys + (gr * M + m) * P + q,
                          sizeof(float) * static_cast<size_t>(len));
              J += len;
            }
          A = Abuf;
          lda = R;
        }
        const float* B;
        int64_t ldb;
        if (p.direct) {
          B = x + (J0 / P) * xs + (gr * Cbg + c0) * V + J0 % P;
          ldb = V;
        } else {
          make_runs(h, xs, J0, J1, R, runs);
          lower(h, x + gr * Cbg * V, runs, c0 * kvol, taps, R, 0, Col);
          B = Col;
          ldb = R;
        }
        sgemm_packed(uk, false, true, m1 - m0, taps, R, 1.f, A, lda, B, ldb, 1.f, acc, Kg);
      }
    }
  });
  if (rc > 1)
    parallel_for(wn, 4096, [&](int64_t s, int64_t e) {
      for (int64_t c = 1; c < rc; ++c) {
        const float* src = partial + (c - 1) * wn;
        for (int64_t i = s; i < e; ++i) dw[i] += src[i];
      }
    });
}

}  // namespace symnet::convpacked
