#include "engine/kernels/cpu/conv_depthwise.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "engine/base/error.h"
#include "engine/kernels/cpu/parallel.h"

// Not with GCC on Windows: it may spill vector registers with aligned stores to a stack
// that the Windows x64 ABI aligns to 16 bytes only (GCC bug 54412), a crash.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !(defined(_WIN32) && !defined(__clang__))
#define SYMNET_DW_SIMD 1
#include <immintrin.h>
#define SYMNET_DW_AVX512 __attribute__((target("avx512f")))
#define SYMNET_DW_AVX2 __attribute__((target("avx2,fma")))
#endif

namespace symnet {

namespace {

// ---- row loops ---------------------------------------------------------------------------
// fwd:  y[i] = bias + sum_t w[t] * base[off[t] + i]            (one output row, all taps)
// dot:  sum over r < rows, i < n of g[r n + i] * base[off + r step + i]   (one tap, one plane)
struct RowOps {
  const char* name;
  void (*fwd)(const float* base, const int64_t* off, const float* w, int nt, float bias, float* y, int64_t n);
  double (*dot)(const float* base, int64_t off, int64_t step, const float* g, int64_t rows, int64_t n);
  // Stride 2: e[j] = src[2j], o[j] = src[2j + 1]; and back, dst[2j] = e[j] + b, dst[2j + 1] = o[j] + b.
  void (*split2)(const float* src, float* e, float* o, int64_t n);
  void (*merge2)(const float* e, const float* o, float* dst, int64_t n, float b);
};

void fwd_scalar(const float* base, const int64_t* off, const float* w, int nt, float bias, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bias;
  for (int t = 0; t < nt; ++t) {
    const float* s = base + off[t];
    const float wt = w[t];
    for (int64_t i = 0; i < n; ++i) y[i] += wt * s[i];
  }
}

double dot_scalar(const float* base, int64_t off, int64_t step, const float* g, int64_t rows, int64_t n) {
  double s = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = base + off + r * step;
    const float* gr = g + r * n;
    float a = 0;
    for (int64_t i = 0; i < n; ++i) a += gr[i] * x[i];
    s += a;
  }
  return s;
}

void split2_scalar(const float* src, float* e, float* o, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    e[j] = src[2 * j];
    o[j] = src[2 * j + 1];
  }
}

void merge2_scalar(const float* e, const float* o, float* dst, int64_t n, float b) {
  for (int64_t j = 0; j < n; ++j) {
    dst[2 * j] = e[j] + b;
    dst[2 * j + 1] = o[j] + b;
  }
}

#ifdef SYMNET_DW_SIMD
SYMNET_DW_AVX512 void split2_avx512(const float* src, float* e, float* o, int64_t n) {
  const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m512 a = _mm512_loadu_ps(src + 2 * j), b = _mm512_loadu_ps(src + 2 * j + 16);
    _mm512_storeu_ps(e + j, _mm512_permutex2var_ps(a, ie, b));
    _mm512_storeu_ps(o + j, _mm512_permutex2var_ps(a, io, b));
  }
  split2_scalar(src + 2 * j, e + j, o + j, n - j);
}

SYMNET_DW_AVX512 void merge2_avx512(const float* e, const float* o, float* dst, int64_t n, float b) {
  const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512 vb = _mm512_set1_ps(b);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m512 a = _mm512_add_ps(_mm512_loadu_ps(e + j), vb), c = _mm512_add_ps(_mm512_loadu_ps(o + j), vb);
    _mm512_storeu_ps(dst + 2 * j, _mm512_permutex2var_ps(a, il, c));
    _mm512_storeu_ps(dst + 2 * j + 16, _mm512_permutex2var_ps(a, ih, c));
  }
  merge2_scalar(e + j, o + j, dst + 2 * j, n - j, b);
}

SYMNET_DW_AVX2 void split2_avx2(const float* src, float* e, float* o, int64_t n) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 a = _mm256_loadu_ps(src + 2 * j), b = _mm256_loadu_ps(src + 2 * j + 8);
    // [a0 a2 b0 b2 | a4 a6 b4 b6] -> lanes 0, 2, 1, 3 of 64 bits: a0 a2 a4 a6 b0 b2 b4 b6.
    const __m256 ev = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    const __m256 od = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    _mm256_storeu_ps(e + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), _MM_SHUFFLE(3, 1, 2, 0))));
    _mm256_storeu_ps(o + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), _MM_SHUFFLE(3, 1, 2, 0))));
  }
  split2_scalar(src + 2 * j, e + j, o + j, n - j);
}

SYMNET_DW_AVX2 void merge2_avx2(const float* e, const float* o, float* dst, int64_t n, float b) {
  const __m256 vb = _mm256_set1_ps(b);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 a = _mm256_add_ps(_mm256_loadu_ps(e + j), vb), c = _mm256_add_ps(_mm256_loadu_ps(o + j), vb);
    const __m256 lo = _mm256_unpacklo_ps(a, c), hi = _mm256_unpackhi_ps(a, c);  // e0 o0 e1 o1 | e4 o4 e5 o5, ...
    _mm256_storeu_ps(dst + 2 * j, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_storeu_ps(dst + 2 * j + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
  }
  merge2_scalar(e + j, o + j, dst + 2 * j, n - j, b);
}

SYMNET_DW_AVX512 void fwd_avx512(const float* base, const int64_t* off, const float* w, int nt, float bias, float* y,
                                 int64_t n) {
  const __m512 vb = _mm512_set1_ps(bias);
  int64_t i = 0;
  // Four independent accumulators hide the FMA latency of the tap chain.
  for (; i + 64 <= n; i += 64) {
    __m512 a0 = vb, a1 = vb, a2 = vb, a3 = vb;
    for (int t = 0; t < nt; ++t) {
      const float* s = base + off[t] + i;
      const __m512 wt = _mm512_set1_ps(w[t]);
      a0 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(s), a0);
      a1 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(s + 16), a1);
      a2 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(s + 32), a2);
      a3 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(s + 48), a3);
    }
    _mm512_storeu_ps(y + i, a0);
    _mm512_storeu_ps(y + i + 16, a1);
    _mm512_storeu_ps(y + i + 32, a2);
    _mm512_storeu_ps(y + i + 48, a3);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    __m512 a = vb;
    for (int t = 0; t < nt; ++t)
      a = _mm512_fmadd_ps(_mm512_set1_ps(w[t]), _mm512_maskz_loadu_ps(m, base + off[t] + i), a);
    _mm512_mask_storeu_ps(y + i, m, a);
  }
}

SYMNET_DW_AVX512 double dot_avx512(const float* base, int64_t off, int64_t step, const float* g, int64_t rows,
                                   int64_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = base + off + r * step;
    const float* gr = g + r * n;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(gr + i), _mm512_loadu_ps(x + i), a0);
      a1 = _mm512_fmadd_ps(_mm512_loadu_ps(gr + i + 16), _mm512_loadu_ps(x + i + 16), a1);
    }
    for (; i < n; i += 16) {
      const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
      a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, gr + i), _mm512_maskz_loadu_ps(m, x + i), a0);
    }
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, _mm512_add_ps(a0, a1));
  double s = 0;
  for (float v : lanes) s += v;
  return s;
}

SYMNET_DW_AVX2 void fwd_avx2(const float* base, const int64_t* off, const float* w, int nt, float bias, float* y,
                             int64_t n) {
  const __m256 vb = _mm256_set1_ps(bias);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256 a0 = vb, a1 = vb, a2 = vb, a3 = vb;
    for (int t = 0; t < nt; ++t) {
      const float* s = base + off[t] + i;
      const __m256 wt = _mm256_set1_ps(w[t]);
      a0 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(s), a0);
      a1 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(s + 8), a1);
      a2 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(s + 16), a2);
      a3 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(s + 24), a3);
    }
    _mm256_storeu_ps(y + i, a0);
    _mm256_storeu_ps(y + i + 8, a1);
    _mm256_storeu_ps(y + i + 16, a2);
    _mm256_storeu_ps(y + i + 24, a3);
  }
  for (; i + 8 <= n; i += 8) {
    __m256 a = vb;
    for (int t = 0; t < nt; ++t) a = _mm256_fmadd_ps(_mm256_set1_ps(w[t]), _mm256_loadu_ps(base + off[t] + i), a);
    _mm256_storeu_ps(y + i, a);
  }
  if (i < n) fwd_scalar(base + i, off, w, nt, bias, y + i, n - i);
}

SYMNET_DW_AVX2 double dot_avx2(const float* base, int64_t off, int64_t step, const float* g, int64_t rows,
                               int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0;
  double tail = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = base + off + r * step;
    const float* gr = g + r * n;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(gr + i), _mm256_loadu_ps(x + i), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(gr + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(gr + i), _mm256_loadu_ps(x + i), a0);
    float t = 0;
    for (; i < n; ++i) t += gr[i] * x[i];
    tail += t;
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_add_ps(a0, a1));
  double s = tail;
  for (float v : lanes) s += v;
  return s;
}

bool cpu_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}
bool cpu_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

const RowOps kScalar{"scalar", fwd_scalar, dot_scalar, split2_scalar, merge2_scalar};
#ifdef SYMNET_DW_SIMD
const RowOps kAvx512{"avx512", fwd_avx512, dot_avx512, split2_avx512, merge2_avx512};
const RowOps kAvx2{"avx2", fwd_avx2, dot_avx2, split2_avx2, merge2_avx2};
#endif

const RowOps* best_ops() {
#ifdef SYMNET_DW_SIMD
  static const RowOps* best = cpu_avx512() ? &kAvx512 : cpu_avx2() ? &kAvx2 : &kScalar;
  return best;
#else
  return &kScalar;
#endif
}

std::atomic<const RowOps*> g_forced{nullptr};

const RowOps& ops() {
  const RowOps* f = g_forced.load(std::memory_order_relaxed);
  return f ? *f : *best_ops();
}

// ---- padded, phase-split planes ----------------------------------------------------------
// Padded row r holds input row r - pad_top; padded column q holds input column q - pad_left
// and is stored at phase q % sw, slot q / sw of the row. Only the rows and columns some tap
// reads are kept: Hp rows of rs = sw * L floats.
struct Frame {
  int64_t C, M, H, W, OH, OW, KH, KW, sh, sw, dh, dw, pt, pl;
  int64_t Hp = 0, Wq = 0, L = 0, rs = 0;
  std::vector<int64_t> off;  // per tap kh * KW + kw: its offset from the row base

  explicit Frame(const ConvGeom& g)
      : C(g.Cb), M(g.Csg()), H(g.big[1]), W(g.big[2]), OH(g.small[1]), OW(g.small[2]), KH(g.k[1]), KW(g.k[2]),
        sh(g.s[1]), sw(g.s[2]), dh(g.d[1]), dw(g.d[2]), pt(g.pb[1]), pl(g.pb[2]) {
    if (OH > 0 && OW > 0 && KH > 0 && KW > 0) {
      Hp = (OH - 1) * sh + (KH - 1) * dh + 1;
      Wq = (OW - 1) * sw + (KW - 1) * dw + 1;
      L = (Wq + sw - 1) / sw;
      rs = sw * L;
    }
    for (int64_t kh = 0; kh < KH; ++kh)
      for (int64_t kw = 0; kw < KW; ++kw) off.push_back(kh * dh * rs + ((kw * dw) % sw) * L + (kw * dw) / sw);
  }
  int64_t plane() const { return Hp * rs; }
  // Per-thread scratch of the phase-split products: the plane, then one padded row.
  int64_t scratch() const { return plane() + rs; }
  int taps() const { return static_cast<int>(KH * KW); }

  // Slots j of phase p whose input column j * sw + p - pl lies in [0, W): [lo, hi).
  void columns(int64_t p, int64_t& lo, int64_t& hi) const {
    lo = std::min(L, std::max<int64_t>(0, (pl - p + sw - 1) / sw));
    hi = std::max(lo, std::min(L, (W - 1 + pl - p) / sw + 1));
    if (W - 1 + pl - p < 0) hi = lo;
  }

  // Fills the padded plane from input plane x (H x W). No per-element tests or divisions:
  // each phase is a zero head, a strided copy and a zero tail.
  // `tmp` holds one padded row (rs floats) for stride 2, which is laid out contiguously
  // there and split into its two phases with vector permutes.
  void fill(const float* x, float* P, float* tmp, const RowOps& o) const {
    for (int64_t r = 0; r < Hp; ++r) {
      float* row = P + r * rs;
      const int64_t ih = r - pt;
      if (ih < 0 || ih >= H) {
        std::fill(row, row + rs, 0.0f);
        continue;
      }
      const float* xr = x + ih * W;
      if (sw == 2) {
        const int64_t lo = std::min(pl, rs), hi = std::max(lo, std::min(rs, pl + W));
        std::fill(tmp, tmp + lo, 0.0f);
        if (hi > lo) std::memcpy(tmp + lo, xr + (lo - pl), static_cast<size_t>(hi - lo) * sizeof(float));
        std::fill(tmp + hi, tmp + rs, 0.0f);
        o.split2(tmp, row, row + L, L);
        continue;
      }
      for (int64_t p = 0; p < sw; ++p) {
        float* dst = row + p * L;
        int64_t lo, hi;
        columns(p, lo, hi);
        std::fill(dst, dst + lo, 0.0f);
        const float* src = xr + lo * sw + p - pl;
        if (sw == 1) {
          if (hi > lo) std::memcpy(dst + lo, src, static_cast<size_t>(hi - lo) * sizeof(float));
        } else if (sw == 2) {
          for (int64_t j = lo; j < hi; ++j) dst[j] = src[2 * (j - lo)];
        } else {
          for (int64_t j = lo; j < hi; ++j) dst[j] = src[sw * (j - lo)];
        }
        std::fill(dst + hi, dst + L, 0.0f);
      }
    }
  }

  // Writes input-side plane dx (H x W) from the padded plane D, plus b. Slots past the
  // last column a tap reads hold zero, so no column test is needed.
  void unfill(const float* D, float* dx, float b, float* tmp, const RowOps& o) const {
    for (int64_t ih = 0; ih < H; ++ih) {
      float* dr = dx + ih * W;
      const int64_t r = ih + pt;
      if (r < 0 || r >= Hp) {
        std::fill(dr, dr + W, b);
        continue;
      }
      const float* row = D + r * rs;
      if (sw == 1) {  // columns before the padded range (none unless pl < 0) keep b
        int64_t lo, hi;
        columns(0, lo, hi);
        std::fill(dr, dr + W, b);
        float* d = dr + lo - pl;
        for (int64_t j = lo; j < hi; ++j) d[j - lo] = row[j] + b;
        continue;
      }
      if (sw == 2) {  // interleave the phases (plus b), then copy the columns of dx
        o.merge2(row, row + L, tmp, L, b);
        const int64_t lo = std::min(pl, rs), hi = std::max(lo, std::min(rs, pl + W));
        std::fill(dr, dr + W, b);
        if (hi > lo) std::memcpy(dr + (lo - pl), tmp + lo, static_cast<size_t>(hi - lo) * sizeof(float));
        continue;
      }
      std::fill(dr, dr + W, b);
      for (int64_t p = 0; p < sw; ++p) {
        const float* src = row + p * L;
        int64_t lo, hi;
        columns(p, lo, hi);
        float* d = dr + lo * sw + p - pl;
        for (int64_t j = lo; j < hi; ++j) d[sw * (j - lo)] = src[j] + b;
      }
    }
  }
};

// The input gradient at unit strides as a correlation: dx[ih][iw] = sum over (m, kh, kw)
// of w * gy[ih + pt - kh dh][iw + pl - kw dw]. Each gy plane of the channel is copied into
// a zero-bordered buffer (gy row oh at row oh + (KH-1) dh, column ow at ow + (KW-1) dw), so
// each dx row is the forward row loop over negative tap offsets: accumulated in registers,
// written once, with no scatter and no second pass.
struct Gather {
  int64_t padH, padW, rows, cols, plane;
  std::vector<int64_t> off;  // per tap (m, kh, kw), from the base of a dx row

  explicit Gather(const Frame& f)
      : padH((f.KH - 1) * f.dh), padW((f.KW - 1) * f.dw), rows(f.H + f.pt + padH), cols(f.W + f.pl + padW),
        plane(rows * cols) {
    for (int64_t m = 0; m < f.M; ++m)
      for (int64_t kh = 0; kh < f.KH; ++kh)
        for (int64_t kw = 0; kw < f.KW; ++kw) off.push_back(m * plane - kh * f.dh * cols - kw * f.dw);
  }

  void fill(const Frame& f, const float* gy, float* G) const {
    const int64_t w_used = std::max<int64_t>(0, std::min(f.OW, cols - padW));
    for (int64_t r = 0; r < rows; ++r) {
      float* row = G + r * cols;
      const int64_t oh = r - padH;
      if (oh < 0 || oh >= f.OH) {
        std::fill(row, row + cols, 0.0f);
        continue;
      }
      std::fill(row, row + padW, 0.0f);
      if (w_used > 0) std::memcpy(row + padW, gy + oh * f.OW, static_cast<size_t>(w_used) * sizeof(float));
      std::fill(row + padW + w_used, row + cols, 0.0f);
    }
  }
};

// The input gradient at other strides, gathered into the phase-split plane D of the frame:
// padded row r, phase p, slot j of D sums w * gy[m][oh][ow] over the taps (m, kh, kw) with
// r = oh sh + kh dh and p + j sw = ow sw + kw dw. Which taps reach a row and phase depends
// only on (r mod sh, p): each such class is a fixed tap list over a zero-bordered copy of the
// gy planes, run by the forward row loop; D is then merged into dx. Every slot of D is
// written, so it needs no clearing, and nothing is scattered.
struct StridedGather {
  int64_t bh, bw, rows, cols, plane;  // borders, extent and size of one bordered gy plane
  struct Class {
    std::vector<int64_t> off;  // per tap: from the class's row base in the bordered planes
    std::vector<int64_t> tap;  // per tap: its index m KK + kh KW + kw among the channel's weights
  };
  std::vector<Class> cls;  // per (r mod sh) * sw + p

  explicit StridedGather(const Frame& f)
      : bh(((f.KH - 1) * f.dh + f.sh - 1) / f.sh), bw(((f.KW - 1) * f.dw) / f.sw), rows(f.OH + 2 * bh),
        cols(std::max(f.L, f.OW) + bw), plane(rows * cols), cls(static_cast<size_t>(f.sh * f.sw)) {
    for (int64_t m = 0; m < f.M; ++m)
      for (int64_t kh = 0; kh < f.KH; ++kh)
        for (int64_t kw = 0; kw < f.KW; ++kw) {
          const int64_t rr = (kh * f.dh) % f.sh, p = (kw * f.dw) % f.sw;
          Class& c = cls[rr * f.sw + p];
          // Row (r - kh dh) / sh + bh = (r - rr) / sh - (kh dh - rr) / sh + bh.
          c.off.push_back(m * plane + (bh - (kh * f.dh - rr) / f.sh) * cols - (kw * f.dw) / f.sw);
          c.tap.push_back((m * f.KH + kh) * f.KW + kw);
        }
  }

  // gy plane (OH x OW) at row bh, column bw of a bordered plane.
  void fill(const Frame& f, const float* gy, float* G) const {
    for (int64_t r = 0; r < rows; ++r) {
      float* row = G + r * cols;
      const int64_t oh = r - bh;
      if (oh < 0 || oh >= f.OH) {
        std::fill(row, row + cols, 0.0f);
        continue;
      }
      std::fill(row, row + bw, 0.0f);
      std::memcpy(row + bw, gy + oh * f.OW, static_cast<size_t>(f.OW) * sizeof(float));
      std::fill(row + bw + f.OW, row + cols, 0.0f);
    }
  }
};

int thread_cap() { return std::max(1, std::min(64, hardware_threads())); }

int threads_for(int64_t items) {
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({engine_num_threads(), thread_cap(), items})));
}

}  // namespace

bool conv_depthwise_applies(const ConvGeom& g, DType t) {
  // groups > 1: a one-channel input (LeNet's first layer, G = C = 1) is an ordinary
  // convolution, which the GEMM paths run 2-3x faster than these per-plane loops
  return t == DType::f32 && g.G == g.Cb && g.G > 1 && g.Cs % g.G == 0 && g.big[0] == 1 && g.small[0] == 1 &&
         g.k[0] == 1 && g.pb[0] == 0 && g.pb[1] >= 0 && g.pb[2] >= 0 && g.s[1] > 0 && g.s[2] > 0 && g.d[1] > 0 &&
         g.d[2] > 0;
}

size_t conv_depthwise_workspace(const ConvGeom& g) {
  const Frame f(g);
  int64_t per_thread = f.scratch();
  if (f.sh == 1 && f.sw == 1) per_thread = std::max(per_thread, f.M * Gather(f).plane);
  else per_thread += f.M * StridedGather(f).plane;
  return static_cast<size_t>(thread_cap()) * static_cast<size_t>(per_thread) * sizeof(float);
}

void conv_depthwise_forward(const ConvGeom& g, const TensorView& big, const TensorView& w, const TensorView* bias,
                            const TensorView& small, void* workspace) {
  const Frame f(g);
  const float* x = big.ptr<float>();
  const float* wp = w.ptr<float>();
  const float* bp = bias ? bias->ptr<float>() : nullptr;
  float* y = small.ptr<float>();
  const int64_t planes = g.N * f.C, osz = f.OH * f.OW, KK = f.KH * f.KW;
  if (planes == 0 || osz == 0) return;
  const RowOps& o = ops();
  const int nt = threads_for(planes);
  parallel_chunks(nt, planes, std::max<int64_t>(1, planes / (8 * nt)), [&](int t, int64_t b, int64_t e) {
    float* P = static_cast<float*>(workspace) + t * f.scratch();
    float* tmp = P + f.plane();
    for (int64_t pc = b; pc < e; ++pc) {
      const int64_t n = pc / f.C, c = pc % f.C;
      f.fill(x + pc * f.H * f.W, P, tmp, o);
      for (int64_t m = 0; m < f.M; ++m) {
        const int64_t oc = c * f.M + m;
        float* yp = y + (n * g.Cs + oc) * osz;
        const float bo = bp ? bp[oc] : 0.0f;
        for (int64_t oh = 0; oh < f.OH; ++oh)
          o.fwd(P + oh * f.sh * f.rs, f.off.data(), wp + oc * KK, f.taps(), bo, yp + oh * f.OW, f.OW);
      }
    }
  });
}

void conv_depthwise_backward_data(const ConvGeom& g, const TensorView& small, const TensorView& w,
                                  const TensorView* bias, const TensorView& big, void* workspace) {
  const Frame f(g);
  const float* gy = small.ptr<float>();
  const float* wp = w.ptr<float>();
  const float* bp = bias ? bias->ptr<float>() : nullptr;
  float* dx = big.ptr<float>();
  const int64_t planes = g.N * f.C, osz = f.OH * f.OW, KK = f.KH * f.KW;
  if (planes == 0 || f.H * f.W == 0) return;
  const RowOps& o = ops();
  const int nt = threads_for(planes);
  if (f.sh == 1 && f.sw == 1) {
    const Gather gt(f);
    const int ntaps = static_cast<int>(gt.off.size());
    parallel_chunks(nt, planes, std::max<int64_t>(1, planes / (8 * nt)), [&](int t, int64_t b, int64_t e) {
      float* G = static_cast<float*>(workspace) + t * f.M * gt.plane;
      for (int64_t pc = b; pc < e; ++pc) {
        const int64_t n = pc / f.C, c = pc % f.C;
        for (int64_t m = 0; m < f.M; ++m) gt.fill(f, gy + (n * g.Cs + c * f.M + m) * osz, G + m * gt.plane);
        float* dxp = dx + pc * f.H * f.W;
        const float bc = bp ? bp[c] : 0.0f;
        const float* base = G + (f.pt + gt.padH) * gt.cols + f.pl + gt.padW;
        for (int64_t ih = 0; ih < f.H; ++ih)
          o.fwd(base + ih * gt.cols, gt.off.data(), wp + c * f.M * KK, ntaps, bc, dxp + ih * f.W, f.W);
      }
    });
    return;
  }
  const StridedGather sg(f);
  parallel_chunks(nt, planes, std::max<int64_t>(1, planes / (8 * nt)), [&](int t, int64_t b, int64_t e) {
    float* D = static_cast<float*>(workspace) + t * (f.scratch() + f.M * sg.plane);
    float* tmp = D + f.plane();
    float* G = tmp + f.rs;
    std::vector<float> wc(static_cast<size_t>(f.M * KK));  // the channel's weights, by class
    for (int64_t pc = b; pc < e; ++pc) {
      const int64_t n = pc / f.C, c = pc % f.C;
      for (int64_t m = 0; m < f.M; ++m) sg.fill(f, gy + (n * g.Cs + c * f.M + m) * osz, G + m * sg.plane);
      const float* wch = wp + c * f.M * KK;
      size_t k = 0;
      for (const StridedGather::Class& cl : sg.cls)
        for (int64_t tap : cl.tap) wc[k++] = wch[tap];
      for (int64_t r = 0; r < f.Hp; ++r) {
        const int64_t rr = r % f.sh;
        const float* base = G + ((r - rr) / f.sh) * sg.cols + sg.bw;
        size_t w0 = 0;
        for (int64_t cls = 0; cls < static_cast<int64_t>(sg.cls.size()); ++cls) {
          const StridedGather::Class& cl = sg.cls[cls];
          if (cls / f.sw == rr) {
            const int64_t p = cls % f.sw;
            o.fwd(base, cl.off.data(), wc.data() + w0, static_cast<int>(cl.off.size()), 0.0f, D + r * f.rs + p * f.L,
                  f.L);
          }
          w0 += cl.tap.size();
        }
      }
      f.unfill(D, dx + pc * f.H * f.W, bp ? bp[c] : 0.0f, tmp, o);
    }
  });
}

void conv_depthwise_backward_weight(const ConvGeom& g, const TensorView& big, const TensorView& small,
                                    const TensorView& dwv, void* workspace) {
  const Frame f(g);
  const float* x = big.ptr<float>();
  const float* gy = small.ptr<float>();
  float* dw = dwv.ptr<float>();
  const int64_t osz = f.OH * f.OW, KK = f.KH * f.KW;
  std::fill(dw, dw + dwv.numel(), 0.0f);
  if (g.N == 0 || osz == 0 || f.C == 0) return;
  const RowOps& o = ops();
  const int nt = threads_for(f.C);
  // One channel per item, its samples summed in order: no cross-thread reduction.
  parallel_chunks(nt, f.C, 1, [&](int t, int64_t b, int64_t e) {
    float* P = static_cast<float*>(workspace) + t * f.scratch();
    float* tmp = P + f.plane();
    std::vector<double> acc(static_cast<size_t>(f.M * KK));
    for (int64_t c = b; c < e; ++c) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t n = 0; n < g.N; ++n) {
        f.fill(x + (n * f.C + c) * f.H * f.W, P, tmp, o);
        for (int64_t m = 0; m < f.M; ++m) {
          const float* gp = gy + (n * g.Cs + c * f.M + m) * osz;
          for (int64_t k = 0; k < KK; ++k) acc[m * KK + k] += o.dot(P, f.off[k], f.sh * f.rs, gp, f.OH, f.OW);
        }
      }
      for (int64_t i = 0; i < f.M * KK; ++i) dw[c * f.M * KK + i] = static_cast<float>(acc[i]);
    }
  });
}

const char* conv_depthwise_isa() { return ops().name; }

void conv_depthwise_force_isa(const char* name) {
  const std::string s = name ? name : "";
  if (s.empty()) {
    g_forced = nullptr;
    return;
  }
  if (s == "scalar") {
    g_forced = &kScalar;
    return;
  }
#ifdef SYMNET_DW_SIMD
  if (s == "avx512" && cpu_avx512()) {
    g_forced = &kAvx512;
    return;
  }
  if (s == "avx2" && cpu_avx2()) {
    g_forced = &kAvx2;
    return;
  }
#endif
  SN_THROW(ErrorKind::value, "depthwise convolution: instruction set '" << s << "' is unknown or not available here");
}

}  // namespace symnet
