// A naive reference of the recurrent ops for the tests, written from the ONNX operator
// equations (RNN-14, LSTM-14, GRU-14) in double, one (step, batch element, unit) at a
// time, with its own activation functions: nothing shared with the kernels.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "harness.h"

namespace symnet::test {

struct RefAct {
  std::string name;  // ONNX spelling
  double alpha = 0, beta = 0;
};

inline double ref_act(const RefAct& a, double x) {
  const std::string& n = a.name;
  if (n == "Sigmoid") return 1 / (1 + std::exp(-x));
  if (n == "Tanh") return std::tanh(x);
  if (n == "Relu") return std::max(0.0, x);
  if (n == "HardSigmoid") return std::min(1.0, std::max(0.0, a.alpha * x + a.beta));
  if (n == "LeakyRelu") return x >= 0 ? x : a.alpha * x;
  if (n == "Affine") return a.alpha * x + a.beta;
  if (n == "ScaledTanh") return a.alpha * std::tanh(a.beta * x);
  if (n == "ThresholdedRelu") return x > a.alpha ? x : 0;
  if (n == "Elu") return x >= 0 ? x : a.alpha * (std::exp(x) - 1);
  if (n == "Softsign") return x / (1 + std::abs(x));
  if (n == "Softplus") return std::log(1 + std::exp(x));
  throw std::runtime_error("reference: unknown activation " + n);
}

// What the reference needs besides the input tensors.
struct RnnRefCfg {
  std::string op = "lstm";  // rnn, lstm, gru
  std::string direction = "forward";
  int64_t layout = 0;
  bool bias = false, lens = false, init_h = false, init_c = false, peep = false, mask = false;
  double clip = 0;
  bool input_forget = false, lbr = false;
  std::vector<RefAct> acts;  // per direction (num_acts each); empty: ONNX defaults

  int gates() const { return op == "lstm" ? 4 : op == "gru" ? 3 : 1; }
  int num_acts() const { return op == "lstm" ? 3 : op == "gru" ? 2 : 1; }
  int dirs() const { return direction == "bidirectional" ? 2 : 1; }
  RefAct act(int d, int k) const {
    if (acts.empty()) return {op == "rnn" ? "Tanh" : k == 0 ? "Sigmoid" : "Tanh"};
    return acts.at(static_cast<size_t>(d * num_acts() + k) % acts.size());
  }
  double clipped(double x) const { return clip > 0 ? std::min(clip, std::max(-clip, x)) : x; }
};

// Y, Y_h (and Y_c for lstm) from the inputs in the op's order.
inline std::vector<Tensor> rnn_reference(const RnnRefCfg& c, const std::vector<Tensor>& in) {
  size_t k = 3;
  const Tensor &X = in[0], &W = in[1], &R = in[2];
  const Tensor* Bt = c.bias ? &in[k++] : nullptr;
  const Tensor* L = c.lens ? &in[k++] : nullptr;
  const Tensor* H0 = c.init_h ? &in[k++] : nullptr;
  const Tensor* C0 = c.init_c ? &in[k++] : nullptr;
  const Tensor* P = c.peep ? &in[k++] : nullptr;
  const Tensor* M = c.mask ? &in[k++] : nullptr;
  const int64_t S = c.layout == 0 ? X.shape()[0] : X.shape()[1], B = c.layout == 0 ? X.shape()[1] : X.shape()[0];
  const int64_t I = X.shape()[2], H = R.shape()[2], D = c.dirs(), G = c.gates();
  const DType t = X.dtype();
  Tensor Y(t, c.layout == 0 ? Shape{S, D, B, H} : Shape{B, S, D, H});
  const Shape st = c.layout == 0 ? Shape{D, B, H} : Shape{B, D, H};
  Tensor Yh(t, st), Yc(t, st);
  auto x_at = [&](int64_t s, int64_t b, int64_t i) {
    return X.get_as_double((c.layout == 0 ? (s * B + b) : (b * S + s)) * I + i);
  };
  auto st_at = [&](int64_t d, int64_t b, int64_t j) { return (c.layout == 0 ? (d * B + b) : (b * D + d)) * H + j; };
  auto valid = [&](int64_t s, int64_t b) {
    if (L && s >= static_cast<int64_t>(L->get_as_double(b))) return false;
    if (M && M->get_as_double(c.layout == 0 ? s * B + b : b * S + s) == 0) return false;
    return true;
  };
  auto bias = [&](int64_t d, int64_t row) { return Bt ? Bt->get_as_double(d * 2 * G * H + row) : 0.0; };
  for (int64_t d = 0; d < D; ++d) {
    const bool rev = c.direction == "reverse" || d == 1;
    const RefAct f = c.act(d, 0), g = c.act(d, 1), hact = c.act(d, 2);
    for (int64_t b = 0; b < B; ++b) {
      std::vector<double> h(H, 0), cst(H, 0);
      for (int64_t j = 0; j < H; ++j) {
        if (H0) h[j] = H0->get_as_double(st_at(d, b, j));
        if (C0) cst[j] = C0->get_as_double(st_at(d, b, j));
      }
      for (int64_t n = 0; n < S; ++n) {
        const int64_t s = rev ? S - 1 - n : n;
        const int64_t yo = (c.layout == 0 ? ((s * D + d) * B + b) : ((b * S + s) * D + d)) * H;
        if (!valid(s, b)) continue;  // Y stays zero, the state carries over
        // x W_k^T + Wb_k for gate row r, and h R_k^T + Rb_k.
        auto wx = [&](int64_t r) {
          double v = bias(d, r);
          for (int64_t i = 0; i < I; ++i) v += W.get_as_double((d * G * H + r) * I + i) * x_at(s, b, i);
          return v;
        };
        auto rh = [&](int64_t r, const std::vector<double>& hv) {
          double v = bias(d, G * H + r);
          for (int64_t m = 0; m < H; ++m) v += R.get_as_double((d * G * H + r) * H + m) * hv[m];
          return v;
        };
        std::vector<double> hn(H), cn(H);
        if (c.op == "lstm") {
          auto peep = [&](int k, int64_t j) { return P ? P->get_as_double(d * 3 * H + k * H + j) : 0.0; };
          for (int64_t j = 0; j < H; ++j) {
            const double it = ref_act(f, c.clipped(wx(j) + rh(j, h) + peep(0, j) * cst[j]));
            const double ft =
                c.input_forget ? 1 - it : ref_act(f, c.clipped(wx(2 * H + j) + rh(2 * H + j, h) + peep(2, j) * cst[j]));
            const double ct = ref_act(g, c.clipped(wx(3 * H + j) + rh(3 * H + j, h)));
            cn[j] = ft * cst[j] + it * ct;
            const double ot = ref_act(f, c.clipped(wx(H + j) + rh(H + j, h) + peep(1, j) * cn[j]));
            hn[j] = ot * ref_act(hact, c.clipped(cn[j]));
          }
          cst = cn;
        } else if (c.op == "gru") {
          std::vector<double> r(H), rhv(H);
          for (int64_t j = 0; j < H; ++j) {
            r[j] = ref_act(f, c.clipped(wx(H + j) + rh(H + j, h)));
            rhv[j] = r[j] * h[j];
          }
          for (int64_t j = 0; j < H; ++j) {
            const double z = ref_act(f, c.clipped(wx(j) + rh(j, h)));
            const double pre = c.lbr ? wx(2 * H + j) + r[j] * rh(2 * H + j, h) : wx(2 * H + j) + rh(2 * H + j, rhv);
            const double hh = ref_act(g, c.clipped(pre));
            hn[j] = (1 - z) * hh + z * h[j];
          }
        } else {
          for (int64_t j = 0; j < H; ++j) hn[j] = ref_act(f, c.clipped(wx(j) + rh(j, h)));
        }
        h = hn;
        for (int64_t j = 0; j < H; ++j) Y.set_from_double(yo + j, h[j]);
      }
      for (int64_t j = 0; j < H; ++j) {
        Yh.set_from_double(st_at(d, b, j), h[j]);
        Yc.set_from_double(st_at(d, b, j), cst[j]);
      }
    }
  }
  if (c.op == "lstm") return {Y, Yh, Yc};
  return {Y, Yh};
}

}  // namespace symnet::test
