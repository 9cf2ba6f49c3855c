// Forward kernel of rnn, lstm and gru (kernels/cpu/rnn.h). The reserve (last output)
// receives the input projections, which each step turns in place into its activated
// gates; the states after every step follow them (carried over invalid steps), which is
// all the backward kernel needs.
#include <algorithm>
#include <cstring>

#include "engine/kernels/cpu/blas.h"
#include "engine/kernels/cpu/gemm_reused_rhs.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/kernels/cpu/rnn.h"
#include "engine/kernels/cpu/rnn_common.h"

namespace symnet {

using namespace rnn_detail;

namespace {

// One LSTM row (hidden units 0..H) of step t: g holds the pre-activations i, o, f, c
// (input projection and recurrent term; the bias is added here, saving a pass over all
// steps) and receives the activated gates.
template <bool coupled, class T, class F, class Ga, class Ha>
SN_EW_CLONES void lstm_row(T* g, const T* bias, const T* cp, T* cn, T* hn, T* y, const T* pi, const T* po, const T* pf,
                           int64_t H, Clip<T> cl, F f, Ga ga, Ha ha) {
  T *gi = g, *go = g + H, *gf = g + 2 * H, *gc = g + 3 * H;
  const T *bi = bias, *bo = bias + H, *bf = bias + 2 * H, *bc = bias + 3 * H;
  SN_EW_SIMD
  for (int64_t j = 0; j < H; ++j) {
    const T c0 = cp[j];
    const T i = f(cl(gi[j] + bi[j] + pi[j] * c0));
    T fg;
    if constexpr (coupled) fg = T(1) - i;
    else fg = f(cl(gf[j] + bf[j] + pf[j] * c0));
    const T cc = ga(cl(gc[j] + bc[j]));
    const T c = fg * c0 + i * cc;
    const T o = f(cl(go[j] + bo[j] + po[j] * c));
    const T h = o * ha(cl(c));
    gi[j] = i;
    go[j] = o;
    gf[j] = fg;
    gc[j] = cc;
    cn[j] = c;
    hn[j] = h;
    y[j] = h;
  }
}

template <class T, class F>
SN_EW_CLONES void rnn_row(T* g, const T* bias, T* hn, T* y, int64_t H, Clip<T> cl, F f) {
  SN_EW_SIMD
  for (int64_t j = 0; j < H; ++j) {
    const T h = f(cl(g[j] + bias[j]));
    g[j] = h;
    hn[j] = h;
    y[j] = h;
  }
}

// GRU gates z, r from g + the recurrent terms in rec; with linear_before_reset the
// candidate too (q = R_h h + Rb_h, kept in g's fourth slot), else r * h_prev into rh.
template <bool lbr, class T, class F, class Ga>
SN_EW_CLONES void gru_row_zr(T* g, const T* bias, const T* rec, const T* hp, T* rh, const T* rbh, T* hn, T* y, int64_t H,
                             Clip<T> cl, F f, Ga ga) {
  T *gz = g, *gr = g + H, *gh = g + 2 * H, *gq = g + 3 * H;
  const T *bz = bias, *br = bias + H, *bh = bias + 2 * H;
  SN_EW_SIMD
  for (int64_t j = 0; j < H; ++j) {
    const T z = f(cl(gz[j] + bz[j] + rec[j]));
    const T r = f(cl(gr[j] + br[j] + rec[H + j]));
    gz[j] = z;
    gr[j] = r;
    if constexpr (lbr) {
      const T q = rec[2 * H + j] + rbh[j];
      const T hh = ga(cl(gh[j] + bh[j] + r * q));
      const T h = (T(1) - z) * hh + z * hp[j];
      gh[j] = hh;
      gq[j] = q;
      hn[j] = h;
      y[j] = h;
    } else {
      rh[j] = r * hp[j];
    }
  }
}

// GRU candidate without linear_before_reset: g's fourth slot holds (r * h_prev) R_h^T.
template <class T, class Ga>
SN_EW_CLONES void gru_row_h(T* g, const T* bias, const T* hp, T* hn, T* y, int64_t H, Clip<T> cl, Ga ga) {
  T *gz = g, *gh = g + 2 * H, *gq = g + 3 * H;
  const T* bh = bias + 2 * H;
  SN_EW_SIMD
  for (int64_t j = 0; j < H; ++j) {
    const T hh = ga(cl(gh[j] + bh[j] + gq[j]));
    const T z = gz[j];
    const T h = (T(1) - z) * hh + z * hp[j];
    gh[j] = hh;
    hn[j] = h;
    y[j] = h;
  }
}

template <class T>
struct Forward {
  const KernelContext& k;
  const RnnSpec& s;
  Geom g;
  bool masked = false;
  uint8_t* valid = nullptr;
  T *h0 = nullptr, *c0 = nullptr, *bias = nullptr, *zeros = nullptr, *tmp = nullptr, *wt = nullptr;
  // The recurrent weights as right operands of every step's product: all gates, or for
  // GRU without linear_before_reset z, r (rec) and the candidate's R_h (rec_h) apart,
  // since r multiplies h_prev before R_h.
  ReusedRhs<T> rec, rec_h;
  void *rec_ws = nullptr, *rec_h_ws = nullptr;

  Forward(const KernelContext& kc, const RnnSpec& spec) : k(kc), s(spec), g(spec, kc.in[0].shape) {}

  static size_t carve(Carver& c, const RnnSpec& s, int64_t S, int64_t B, int64_t I, Forward* f) {
    const int64_t H = s.hidden, GH = s.gates() * H;
    uint8_t* v = c.take<uint8_t>(S * B);
    T* a = c.take<T>(B * H);
    T* b = c.take<T>(B * H);
    T* bias = c.take<T>(s.gates() * H);
    T* z = c.take<T>(4 * H);
    T* t = c.take<T>(s.cell == RnnCell::gru ? B * 3 * H : 0);
    T* w = c.take<T>(I * GH);
    const bool split = split_gru(s);
    char* r = c.take<char>(static_cast<int64_t>(ReusedRhs<T>::workspace_bytes(H, split ? 2 * H : GH)));
    char* rh = c.take<char>(split ? static_cast<int64_t>(ReusedRhs<T>::workspace_bytes(H, H)) : 0);
    if (f) {
      f->wt = w;
      f->rec_ws = r;
      f->rec_h_ws = rh;
      f->valid = v;
      f->h0 = a;
      f->c0 = b;
      f->bias = bias;
      f->zeros = z;
      f->tmp = t;
    }
    return c.used();
  }

  static bool split_gru(const RnnSpec& s) { return s.cell == RnnCell::gru && !s.linear_before_reset; }
  bool ok(int64_t t, int64_t b) const { return !masked || valid[t * g.B + b]; }

  void run() {
    Carver c(k.workspace);
    carve(c, s, g.S, g.B, g.I, this);
    masked = fill_valid(k, s, g, valid);
    std::fill(zeros, zeros + 4 * g.H, T(0));
    BlasSerialScope serial;
    for (int d = 0; d < g.dirs; ++d) direction(d);
  }

  void direction(int d) {
    const int64_t H = g.H, GH = g.GH, GS = g.GS, rows = g.rows();
    const T* X = k.in[0].ptr<T>();
    T* res = reinterpret_cast<T*>(k.out[k.out.size() - 1].data);
    T* G = g.gates(res, d);
    // W transposed once per call: the GEMM below then takes it untransposed, which the
    // BLAS packs faster. R (stored [GH, H]) is prepared once for all steps' products.
    transpose(k.in[1].ptr<T>() + d * GH * g.I, GH, g.I, wt);
    const T* R = k.in[2].ptr<T>() + d * GH * H;
    const bool split = split_gru(s);
    rec.prepare(true, R, H, H, split ? 2 * H : GH, rec_ws);
    if (split) rec_h.prepare(true, R + 2 * H * H, H, H, H, rec_h_ws);
    // Input projections of all steps: one GEMM.
    gemm_rowmajor_parallel<T>(false, false, rows, GH, g.I, T(1), X, g.I, wt, GH, T(0), G, GS);
    if (GS > GH) {  // GRU's fourth slot: written per valid step; zero elsewhere, so the reserve is deterministic
      parallel_for(rows, std::max<int64_t>(1, 16384 / GS), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) std::fill(G + r * GS + GH, G + (r + 1) * GS, T(0));
      });
    }
    const int ib = s.input_index(kRnnBias);
    if (ib >= 0) {
      const T* wb = k.in[ib].ptr<T>() + d * 2 * GH;
      const T* rb = wb + GH;
      // One bias per gate, added by the gate math: Wb + Rb, except GRU's R_h bias under
      // linear_before_reset (it sits inside r * (...)).
      const int64_t fold = s.cell == RnnCell::gru && s.linear_before_reset ? 2 * H : GH;
      for (int64_t j = 0; j < GH; ++j) bias[j] = wb[j] + (j < fold ? rb[j] : T(0));
    } else {
      std::fill(bias, bias + GH, T(0));
    }
    load_state(kRnnInitH, d, h0);
    if (s.cell == RnnCell::lstm) load_state(kRnnInitC, d, c0);

    const int nt = batch_threads(g.B, 2.0 * g.S * g.B * GH * H, engine_num_threads());
    with_acts<T>(s, d, [&](auto f, auto ga, auto ha) {
      parallel_threads(nt, [&](int th) {
        const int64_t b0 = g.B * th / nt, b1 = g.B * (th + 1) / nt;
        if (b1 > b0) slice(d, b0, b1, f, ga, ha);
      });
    });

    // Final states: after the last step (carried through invalid ones).
    T* hs = g.hs(res, d);
    const int64_t tl = s.reversed(d) ? 0 : g.S - 1;
    for (int64_t b = 0; b < g.B; ++b) {
      const T* h = g.S > 0 ? hs + (tl * g.B + b) * H : h0 + b * H;
      std::memcpy(k.out[1].ptr<T>() + g.state_at(d, b), h, H * sizeof(T));
      if (s.cell == RnnCell::lstm) {
        const T* cc = g.S > 0 ? g.cs(res, d) + (tl * g.B + b) * H : c0 + b * H;
        std::memcpy(k.out[2].ptr<T>() + g.state_at(d, b), cc, H * sizeof(T));
      }
    }
  }

  // dst [cols, rows] = src [rows, cols]^T in 16 x 16 tiles, writing along dst's rows: the
  // other order strides dst by `rows` (4 KiB for 1024), which maps a tile's lines onto a
  // few cache sets and took 8x longer.
  static void transpose(const T* src, int64_t rows, int64_t cols, T* dst) {
    constexpr int64_t kTile = 16;
    for (int64_t c0 = 0; c0 < cols; c0 += kTile)
      for (int64_t r0 = 0; r0 < rows; r0 += kTile)
        for (int64_t c = c0; c < std::min(cols, c0 + kTile); ++c)
          for (int64_t r = r0; r < std::min(rows, r0 + kTile); ++r) dst[c * rows + r] = src[r * cols + c];
  }

  void load_state(int which, int d, T* dst) {
    const int i = s.input_index(which);
    for (int64_t b = 0; b < g.B; ++b) {
      if (i >= 0) std::memcpy(dst + b * g.H, k.in[i].ptr<T>() + g.state_at(d, b), g.H * sizeof(T));
      else std::fill(dst + b * g.H, dst + (b + 1) * g.H, T(0));
    }
  }

  template <class F, class Ga, class Ha>
  void slice(int d, int64_t b0, int64_t b1, F f, Ga ga, Ha ha) {
    const int64_t H = g.H, GH = g.GH, GS = g.GS, B = g.B, nb = b1 - b0;
    const int64_t ldg = GS * g.row_step();
    T* res = reinterpret_cast<T*>(k.out[k.out.size() - 1].data);
    T *G = g.gates(res, d), *hs = g.hs(res, d), *cs = s.cell == RnnCell::lstm ? g.cs(res, d) : nullptr;
    T* Y = k.out[0].ptr<T>();
    const Clip<T> cl = clip_of<T>(s);
    const int ip = s.input_index(kRnnPeep), ib = s.input_index(kRnnBias);
    const T* P = ip >= 0 ? k.in[ip].ptr<T>() + d * 3 * H : nullptr;
    const T *pi = P ? P : zeros, *po = P ? P + H : zeros, *pf = P ? P + 2 * H : zeros;
    const T* rbh = ib >= 0 ? k.in[ib].ptr<T>() + d * 2 * GH + GH + 2 * H : zeros;
    const int64_t t0 = g.first(d), dt = g.dt(d);
    for (int64_t i = 0; i < g.S; ++i) {
      const int64_t t = t0 + i * dt;
      const T* hp = i == 0 ? h0 + b0 * H : hs + ((t - dt) * B + b0) * H;
      const T* cp = cs ? (i == 0 ? c0 + b0 * H : cs + ((t - dt) * B + b0) * H) : nullptr;
      T* gt = G + g.row(t, b0) * GS;
      T* hn = hs + (t * B + b0) * H;
      T* cn = cs ? cs + (t * B + b0) * H : nullptr;
      if (s.cell == RnnCell::gru) {
        T* rec_out = tmp + b0 * 3 * H;
        rec.multiply(nb, T(1), hp, H, T(0), rec_out, 3 * H);
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t e = b - b0;
          if (!ok(t, b)) {  // keeps the R_h GEMM below off stale scratch
            std::fill(rec_out + e * 3 * H + 2 * H, rec_out + e * 3 * H + 3 * H, T(0));
            continue;
          }
          if (s.linear_before_reset)
            gru_row_zr<true>(gt + e * ldg, bias, rec_out + e * 3 * H, hp + e * H, static_cast<T*>(nullptr), rbh, hn + e * H, Y + g.y_at(t, d, b), H,
                             cl, f, ga);
          else
            gru_row_zr<false>(gt + e * ldg, bias, rec_out + e * 3 * H, hp + e * H, rec_out + e * 3 * H + 2 * H, rbh, static_cast<T*>(nullptr),
                              static_cast<T*>(nullptr),
                              H, cl, f, ga);
        }
        if (!s.linear_before_reset) {
          // (r * h_prev) R_h^T into the fourth slot of each gate row.
          rec_h.multiply(nb, T(1), rec_out + 2 * H, 3 * H, T(0), gt + 3 * H, ldg);
          for (int64_t b = b0; b < b1; ++b) {
            const int64_t e = b - b0;
            if (ok(t, b)) gru_row_h(gt + e * ldg, bias, hp + e * H, hn + e * H, Y + g.y_at(t, d, b), H, cl, ga);
          }
        }
      } else {
        rec.multiply(nb, T(1), hp, H, T(1), gt, ldg);
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t e = b - b0;
          if (!ok(t, b)) continue;
          if (s.cell == RnnCell::lstm && s.input_forget)
            lstm_row<true>(gt + e * ldg, bias, cp + e * H, cn + e * H, hn + e * H, Y + g.y_at(t, d, b), pi, po, pf, H, cl, f,
                           ga, ha);
          else if (s.cell == RnnCell::lstm)
            lstm_row<false>(gt + e * ldg, bias, cp + e * H, cn + e * H, hn + e * H, Y + g.y_at(t, d, b), pi, po, pf, H, cl, f,
                            ga, ha);
          else
            rnn_row(gt + e * ldg, bias, hn + e * H, Y + g.y_at(t, d, b), H, cl, f);
        }
      }
      // Invalid steps: the state carries over, Y is zero.
      for (int64_t b = b0; b < b1; ++b) {
        if (ok(t, b)) continue;
        const int64_t e = b - b0;
        std::memcpy(hn + e * H, hp + e * H, H * sizeof(T));
        if (cs) std::memcpy(cn + e * H, cp + e * H, H * sizeof(T));
        T* y = Y + g.y_at(t, d, b);
        std::fill(y, y + H, T(0));
      }
    }
  }
};

}  // namespace

size_t rnn_forward_workspace(const RnnSpec& s, int64_t seq, int64_t batch, int64_t input, DType t) {
  Carver c(nullptr);
  return t == DType::f64 ? Forward<double>::carve(c, s, seq, batch, input, nullptr)
                         : Forward<float>::carve(c, s, seq, batch, input, nullptr);
}

void rnn_forward_kernel(KernelContext& k) {
  const RnnSpec& s = k.param<RnnSpec>();
  if (k.in[0].dtype == DType::f64) Forward<double>(k, s).run();
  else Forward<float>(k, s).run();
}

}  // namespace symnet
