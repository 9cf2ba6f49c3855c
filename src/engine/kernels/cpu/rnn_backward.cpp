// Backward kernel of rnn, lstm and gru (kernels/cpu/rnn.h): reads the forward's reserve
// (activated gates and states of every step), walks each direction's steps in reverse
// on per-thread batch slices, writing the gate gradients of every step (zero rows for
// invalid steps) into the workspace and carrying the state gradients; the weight, bias
// and input gradients are then GEMMs (and column sums) over all steps at once.
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

// LSTM row: gate gradients dg (i, o, f, c pre-activations) from the saved gates g, the
// previous and new cell states; dh carries d loss / d h_t in (plus dy) and leaves zero
// (the recurrent GEMM adds the rest); dc carries d loss / d c_t in and d c_{t-1} out.
template <bool coupled, class T, class F, class Ga, class Ha>
SN_EW_CLONES void lstm_row_grad(const T* g, const T* cp, const T* cn, const T* dy, T* dh, T* dc, T* dg, const T* pi,
                                const T* po, const T* pf, int64_t H, Clip<T> cl, ClipMask<T> mf, ClipMask<T> mg, F f,
                                Ga ga, Ha ha) {
  const T *gi = g, *go = g + H, *gf = g + 2 * H, *gc = g + 3 * H;
  SN_EW_SIMD
  for (int64_t j = 0; j < H; ++j) {
    const T i = gi[j], o = go[j], fg = gf[j], cc = gc[j], c = cn[j], c0 = cp[j];
    const T hc = ha(cl(c));
    const T dhj = dy[j] + dh[j];
    const T dao = dhj * hc * f.grad(o) * mf(o);
    const T in_clip = (c > cl.lo) & (c < cl.hi) ? T(1) : T(0);
    const T dC = dc[j] + dhj * o * ha.grad(hc) * in_clip + dao * po[j];
    const T di = dC * cc, df = dC * c0;
    const T dai = (coupled ? di - df : di) * f.grad(i) * mf(i);
    const T daf = coupled ? T(0) : df * f.grad(fg) * mf(fg);
    const T dac = dC * i * ga.grad(cc) * mg(cc);
    dc[j] = dC * fg + dai * pi[j] + daf * pf[j];
    dh[j] = T(0);
    dg[j] = dai;
    dg[H + j] = dao;
    dg[2 * H + j] = daf;
    dg[3 * H + j] = dac;
  }
}

template <class T, class F>
SN_EW_CLONES void rnn_row_grad(const T* g, const T* dy, T* dh, T* dg, int64_t H, ClipMask<T> mf, F f) {
  SN_EW_SIMD
  for (int64_t j = 0; j < H; ++j) {
    const T h = g[j];
    dg[j] = (dy[j] + dh[j]) * f.grad(h) * mf(h);
    dh[j] = T(0);
  }
}

// GRU, first pass: z and candidate gradients; with linear_before_reset also r's and the
// gradient of q = R_h h + Rb_h (fourth slot). dh leaves holding the direct term dh * z.
template <bool lbr, class T, class F, class Ga>
SN_EW_CLONES void gru_row_grad(const T* g, const T* hp, const T* dy, T* dh, T* dg, int64_t H, ClipMask<T> mf,
                               ClipMask<T> mg, F f, Ga ga) {
  const T *gz = g, *gr = g + H, *gh = g + 2 * H, *gq = g + 3 * H;
  SN_EW_SIMD
  for (int64_t j = 0; j < H; ++j) {
    const T z = gz[j], r = gr[j], hh = gh[j];
    const T dhj = dy[j] + dh[j];
    const T dah = dhj * (T(1) - z) * ga.grad(hh) * mg(hh);
    dg[j] = dhj * (hp[j] - hh) * f.grad(z) * mf(z);
    dg[2 * H + j] = dah;
    if constexpr (lbr) {
      dg[H + j] = dah * gq[j] * f.grad(r) * mf(r);
      dg[3 * H + j] = dah * r;
    } else {
      dg[3 * H + j] = dah;
    }
    dh[j] = dhj * z;
  }
}

// GRU without linear_before_reset, second pass: drh = d loss / d (r * h_prev).
template <class T, class F>
SN_EW_CLONES void gru_row_grad_r(const T* g, const T* hp, const T* drh, T* dh, T* dg, int64_t H, ClipMask<T> mf,
                                 F f) {
  const T* gr = g + H;
  SN_EW_SIMD
  for (int64_t j = 0; j < H; ++j) {
    const T r = gr[j];
    dg[H + j] = drh[j] * hp[j] * f.grad(r) * mf(r);
    dh[j] += drh[j] * r;
  }
}

template <class T>
struct Backward {
  const KernelContext& k;
  const RnnSpec& s;
  Geom g;
  bool masked = false;
  uint8_t* valid = nullptr;
  T *dG = nullptr, *hp_all = nullptr, *aux = nullptr, *ch = nullptr, *cc = nullptr, *h0 = nullptr, *c0 = nullptr,
    *tmp = nullptr, *zeros = nullptr;
  // R (stored [GH, H]) as the right operand of every step's state gradient: all gates,
  // or for GRU the rows of z, r (rec) and of the candidate (rec_h) apart.
  ReusedRhs<T> rec, rec_h;
  void *rec_ws = nullptr, *rec_h_ws = nullptr;

  Backward(const KernelContext& kc, const RnnSpec& spec) : k(kc), s(spec), g(spec, kc.in[0].shape) {}

  static size_t carve(Carver& c, const RnnSpec& s, int64_t S, int64_t B, Backward* b) {
    const int64_t H = s.hidden, rows = S * B;
    uint8_t* v = c.take<uint8_t>(rows);
    T* dg = c.take<T>(rows * s.gate_store());
    T* hp = c.take<T>(rows * H);
    T* aux = c.take<T>(s.cell == RnnCell::gru && !s.linear_before_reset ? rows * H : 0);
    T* p[4];
    for (T*& q : p) q = c.take<T>(B * H);
    T* t = c.take<T>(s.cell == RnnCell::gru ? B * H : 0);
    T* z = c.take<T>(3 * H);
    const bool gru = s.cell == RnnCell::gru;
    char* r = c.take<char>(static_cast<int64_t>(ReusedRhs<T>::workspace_bytes(gru ? 2 * H : s.gates() * H, H)));
    char* rh = c.take<char>(gru ? static_cast<int64_t>(ReusedRhs<T>::workspace_bytes(H, H)) : 0);
    if (b) {
      b->rec_ws = r;
      b->rec_h_ws = rh;
      b->valid = v;
      b->dG = dg;
      b->hp_all = hp;
      b->aux = aux;
      b->ch = p[0];
      b->cc = p[1];
      b->h0 = p[2];
      b->c0 = p[3];
      b->tmp = t;
      b->zeros = z;
    }
    return c.used();
  }

  bool ok(int64_t t, int64_t b) const { return !masked || valid[t * g.B + b]; }
  int n_in() const { return s.num_inputs(); }
  const T* reserve() const { return reinterpret_cast<const T*>(k.in[n_in()].data); }

  void run() {
    Carver c(k.workspace);
    carve(c, s, g.S, g.B, this);
    masked = fill_valid(k, s, g, valid);
    std::fill(zeros, zeros + 3 * g.H, T(0));
    BlasSerialScope serial;
    for (int d = 0; d < g.dirs; ++d) direction(d);
  }

  void load(int which, int d, T* dst) const {
    const int i = s.input_index(which);
    for (int64_t b = 0; b < g.B; ++b) {
      if (i >= 0) std::memcpy(dst + b * g.H, k.in[i].ptr<T>() + g.state_at(d, b), g.H * sizeof(T));
      else std::fill(dst + b * g.H, dst + (b + 1) * g.H, T(0));
    }
  }

  // The state before step t of element b (h, or c with which = 1).
  const T* prev(int d, int which, int64_t t, int64_t b) const {
    const T* res = reserve();
    if (t == g.first(d)) return (which ? c0 : h0) + b * g.H;
    const T* st = which ? g.cs(res, d) : g.hs(res, d);
    return st + ((t - g.dt(d)) * g.B + b) * g.H;
  }

  void direction(int d) {
    const int64_t H = g.H, GH = g.GH, B = g.B;
    const int n = n_in();
    const bool lstm = s.cell == RnnCell::lstm;
    load(kRnnInitH, d, h0);
    if (lstm) load(kRnnInitC, d, c0);
    // State gradients entering the last step: those of Y_h (and Y_c).
    for (int64_t b = 0; b < B; ++b) {
      std::memcpy(ch + b * H, k.in[n + 2].ptr<T>() + g.state_at(d, b), H * sizeof(T));
      if (lstm) std::memcpy(cc + b * H, k.in[n + 3].ptr<T>() + g.state_at(d, b), H * sizeof(T));
    }
    const T* R = k.in[2].ptr<T>() + d * GH * H;
    const bool gru = s.cell == RnnCell::gru;
    rec.prepare(false, R, H, gru ? 2 * H : GH, H, rec_ws);
    if (gru) rec_h.prepare(false, R + 2 * H * H, H, H, H, rec_h_ws);
    const int nt = batch_threads(B, 4.0 * g.S * B * GH * H, engine_num_threads());
    with_acts<T>(s, d, [&](auto f, auto ga, auto ha) {
      parallel_threads(nt, [&](int th) {
        const int64_t b0 = B * th / nt, b1 = B * (th + 1) / nt;
        if (b1 > b0) slice(d, b0, b1, f, ga, ha);
      });
    });
    for (int64_t b = 0; b < B; ++b) {
      std::memcpy(k.out[4].ptr<T>() + g.state_at(d, b), ch + b * H, H * sizeof(T));
      if (lstm) std::memcpy(k.out[5].ptr<T>() + g.state_at(d, b), cc + b * H, H * sizeof(T));
    }
    weights(d);
  }

  template <class F, class Ga, class Ha>
  void slice(int d, int64_t b0, int64_t b1, F f, Ga ga, Ha ha) {
    const int64_t H = g.H, GS = g.GS, B = g.B, nb = b1 - b0;
    const int64_t ldg = GS * g.row_step();
    const int n = n_in();
    const T* res = reserve();
    const T* G = g.gates(res, d);
    const T* cs = s.cell == RnnCell::lstm ? g.cs(res, d) : nullptr;
    const T* dY = k.in[n + 1].ptr<T>();
    const Clip<T> cl = clip_of<T>(s);
    const ClipMask<T> mf = clip_mask<T>(s, s.act[d][0]);
    const ClipMask<T> mg = clip_mask<T>(s, s.act[d][s.num_acts() > 1 ? 1 : 0]);
    const int ip = s.input_index(kRnnPeep);
    const T* P = ip >= 0 ? k.in[ip].ptr<T>() + d * 3 * H : nullptr;
    const T *pi = P ? P : zeros, *po = P ? P + H : zeros, *pf = P ? P + 2 * H : zeros;
    const int64_t t0 = g.first(d), dt = g.dt(d);
    for (int64_t i = g.S - 1; i >= 0; --i) {
      const int64_t t = t0 + i * dt;
      const T* hp = prev(d, 0, t, b0);
      const T* gt = G + g.row(t, b0) * GS;
      T* dgt = dG + g.row(t, b0) * GS;
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t e = b - b0;
        T* dgr = dgt + e * ldg;
        if (!ok(t, b)) {  // the state passed through unchanged: no gate gradient
          std::fill(dgr, dgr + GS, T(0));
          continue;
        }
        const T* dy = dY + g.y_at(t, d, b);
        if (s.cell == RnnCell::lstm && s.input_forget)
          lstm_row_grad<true>(gt + e * ldg, prev(d, 1, t, b), cs + (t * B + b) * H, dy, ch + b * H, cc + b * H, dgr, pi,
                              po, pf, H, cl, mf, mg, f, ga, ha);
        else if (s.cell == RnnCell::lstm)
          lstm_row_grad<false>(gt + e * ldg, prev(d, 1, t, b), cs + (t * B + b) * H, dy, ch + b * H, cc + b * H, dgr,
                               pi, po, pf, H, cl, mf, mg, f, ga, ha);
        else if (s.cell == RnnCell::rnn)
          rnn_row_grad(gt + e * ldg, dy, ch + b * H, dgr, H, mf, f);
        else if (s.linear_before_reset)
          gru_row_grad<true>(gt + e * ldg, hp + e * H, dy, ch + b * H, dgr, H, mf, mg, f, ga);
        else
          gru_row_grad<false>(gt + e * ldg, hp + e * H, dy, ch + b * H, dgr, H, mf, mg, f, ga);
      }
      T* chs = ch + b0 * H;
      if (s.cell == RnnCell::gru) {
        if (!s.linear_before_reset) {
          T* drh = tmp + b0 * H;
          rec_h.multiply(nb, T(1), dgt + 2 * H, ldg, T(0), drh, H);
          for (int64_t b = b0; b < b1; ++b) {
            const int64_t e = b - b0;
            if (ok(t, b)) gru_row_grad_r(gt + e * ldg, hp + e * H, drh + e * H, ch + b * H, dgt + e * ldg, H, mf, f);
          }
        } else {
          rec_h.multiply(nb, T(1), dgt + 3 * H, ldg, T(1), chs, H);
        }
        rec.multiply(nb, T(1), dgt, ldg, T(1), chs, H);
      } else {
        rec.multiply(nb, T(1), dgt, ldg, T(1), chs, H);
      }
    }
  }

  // Column sums of dG's columns [c0, c0 + n) into out.
  void colsum(int64_t c0, int64_t n, T* out) const {
    std::fill(out, out + n, T(0));
    for (int64_t r = 0; r < g.rows(); ++r) {
      const T* row = dG + r * g.GS + c0;
      SN_EW_SIMD
      for (int64_t j = 0; j < n; ++j) out[j] += row[j];
    }
  }

  void weights(int d) {
    const int64_t H = g.H, GH = g.GH, GS = g.GS, I = g.I, rows = g.rows();
    const T* X = k.in[0].ptr<T>();
    const T* W = k.in[1].ptr<T>() + d * GH * I;
    // Every step's previous state as rows in X's order.
    parallel_for(g.S, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t b = 0; b < g.B; ++b) {
          std::memcpy(hp_all + g.row(t, b) * H, prev(d, 0, t, b), H * sizeof(T));
          if (aux) {  // GRU: r * h_prev, the input of R_h
            const T* r = g.gates(reserve(), d) + g.row(t, b) * GS + H;
            const T* hp = hp_all + g.row(t, b) * H;
            T* o = aux + g.row(t, b) * H;
            for (int64_t j = 0; j < H; ++j) o[j] = r[j] * hp[j];
          }
        }
    });
    T* dW = k.out[1].ptr<T>() + d * GH * I;
    T* dR = k.out[2].ptr<T>() + d * GH * H;
    T* dB = k.out[3].ptr<T>() + d * 2 * GH;
    gemm_rowmajor_parallel<T>(true, false, GH, I, rows, T(1), dG, GS, X, I, T(0), dW, I);
    // Absent B (or P): zeros, not computed; nothing reads them.
    const bool bias = s.input_index(kRnnBias) >= 0;
    if (bias) colsum(0, GH, dB);
    else std::fill(dB, dB + 2 * GH, T(0));
    if (s.cell == RnnCell::gru) {
      gemm_rowmajor_parallel<T>(true, false, 2 * H, H, rows, T(1), dG, GS, hp_all, H, T(0), dR, H);
      gemm_rowmajor_parallel<T>(true, false, H, H, rows, T(1), dG + 3 * H, GS, s.linear_before_reset ? hp_all : aux,
                                H, T(0), dR + 2 * H * H, H);
      if (bias) {
        std::memcpy(dB + GH, dB, 2 * H * sizeof(T));
        colsum(3 * H, H, dB + GH + 2 * H);
      }
    } else {
      gemm_rowmajor_parallel<T>(true, false, GH, H, rows, T(1), dG, GS, hp_all, H, T(0), dR, H);
      if (bias) std::memcpy(dB + GH, dB, GH * sizeof(T));
    }
    gemm_rowmajor_parallel<T>(false, false, rows, I, GH, T(1), dG, GS, W, I, d == 0 ? T(0) : T(1),
                              k.out[0].ptr<T>(), I);
    if (s.cell == RnnCell::lstm) peepholes(d);
  }

  // dP: i and f pair with c_{t-1}, o with c_t.
  void peepholes(int d) {
    const int64_t H = g.H, GS = g.GS;
    T* dP = k.out[6].ptr<T>() + d * 3 * H;
    std::fill(dP, dP + 3 * H, T(0));
    if (s.input_index(kRnnPeep) < 0) return;
    const T* cs = g.cs(reserve(), d);
    for (int64_t t = 0; t < g.S; ++t)
      for (int64_t b = 0; b < g.B; ++b) {
        const T* dg = dG + g.row(t, b) * GS;
        const T* cp = prev(d, 1, t, b);
        const T* cn = cs + (t * g.B + b) * H;
        for (int64_t j = 0; j < H; ++j) {
          dP[j] += dg[j] * cp[j];
          dP[H + j] += dg[H + j] * cn[j];
          dP[2 * H + j] += dg[2 * H + j] * cp[j];
        }
      }
  }
};

}  // namespace

size_t rnn_backward_workspace(const RnnSpec& s, int64_t seq, int64_t batch, int64_t /*input*/, DType t) {
  Carver c(nullptr);
  return t == DType::f64 ? Backward<double>::carve(c, s, seq, batch, nullptr)
                         : Backward<float>::carve(c, s, seq, batch, nullptr);
}

void rnn_backward_kernel(KernelContext& k) {
  const RnnSpec& s = k.param<RnnSpec>();
  if (k.in[0].dtype == DType::f64) Backward<double>(k, s).run();
  else Backward<float>(k, s).run();
}

}  // namespace symnet
