// The resolved form of a recurrent op's attributes (rnn, lstm, gru and their gradients):
// cell type, sizes, direction, layout, which optional inputs are present, the activation
// functions. Filled once from the attributes (ops/rnn_attrs.h), read by shape inference
// and by the kernels, so both agree on input positions and on the saved-state layout.
// Also the activations with their derivatives, written once for both passes.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "engine/math/elementwise_functors.h"

namespace symnet {

enum class RnnCell { rnn, lstm, gru };

// ONNX's RNN activations (names matched case-insensitively by ops/rnn_attrs.cpp).
enum class RnnAct { sigmoid, tanh, relu, hard_sigmoid, leaky_relu, affine, scaled_tanh, thresholded_relu, elu,
                    softsign, softplus };

struct RnnActivation {
  RnnAct kind = RnnAct::sigmoid;
  double alpha = 0, beta = 0;
};

// Optional inputs, in the order they follow X, W, R when present.
enum RnnOptional { kRnnBias, kRnnSeqLens, kRnnInitH, kRnnInitC, kRnnPeep, kRnnMask, kRnnNumOptional };

struct RnnSpec {
  RnnCell cell = RnnCell::lstm;
  int64_t hidden = 0;
  int direction = 0;  // 0 forward, 1 reverse, 2 bidirectional
  int layout = 0;     // 0: X [seq, batch, in]; 1: X [batch, seq, in]
  double clip = 0;    // > 0: activation inputs clipped to [-clip, clip]
  bool input_forget = false;
  bool linear_before_reset = false;
  bool has[kRnnNumOptional] = {};
  // Per direction: f, g, h (LSTM), f, g (GRU), f (RNN).
  RnnActivation act[2][3];

  int dirs() const { return direction == 2 ? 2 : 1; }
  bool reversed(int d) const { return direction == 1 || d == 1; }
  int num_acts() const { return cell == RnnCell::lstm ? 3 : cell == RnnCell::gru ? 2 : 1; }
  // Rows of W and R per direction, in hidden units.
  int gates() const { return cell == RnnCell::lstm ? 4 : cell == RnnCell::gru ? 3 : 1; }
  // Columns of one step's saved gate row: LSTM i, o, f, c; GRU z, r, h~ and the linear
  // recurrent term of h~ (used by linear_before_reset); RNN h.
  int64_t gate_store() const { return (cell == RnnCell::rnn ? 1 : 4) * hidden; }
  // Saved states per step: h, plus c for LSTM.
  int states() const { return cell == RnnCell::lstm ? 2 : 1; }
  // Position of optional input k (0-based over all inputs), -1 when absent.
  int input_index(int k) const {
    if (!has[k]) return -1;
    int i = 3;
    for (int j = 0; j < k; ++j) i += has[j];
    return i;
  }
  int num_inputs() const {
    int i = 3;
    for (bool h : has) i += h;
    return i;
  }
  // Elements of the saved state (the forward's last output) for seq steps and batch
  // elements: per direction, the gate rows of every step, then every step's states.
  int64_t reserve_elems(int64_t seq, int64_t batch) const {
    return dirs() * seq * batch * (gate_store() + states() * hidden);
  }
};

// y = act(x).
template <class T>
inline T rnn_act(const RnnActivation& a, T x) {
  const T al = static_cast<T>(a.alpha), be = static_cast<T>(a.beta);
  switch (a.kind) {
    case RnnAct::sigmoid:
      if constexpr (std::is_same_v<T, float>) return 0.5f + 0.5f * fn::fast_tanh(0.5f * x);
      else return T(1) / (T(1) + std::exp(-x));
    case RnnAct::tanh:
      if constexpr (std::is_same_v<T, float>) return fn::fast_tanh(x);
      else return std::tanh(x);
    case RnnAct::relu: return x > T(0) ? x : T(0);
    case RnnAct::hard_sigmoid: {
      T v = al * x + be;
      return v < T(0) ? T(0) : (v > T(1) ? T(1) : v);
    }
    case RnnAct::leaky_relu: return x >= T(0) ? x : al * x;
    case RnnAct::affine: return al * x + be;
    case RnnAct::scaled_tanh: return al * std::tanh(be * x);
    case RnnAct::thresholded_relu: return x > al ? x : T(0);
    case RnnAct::elu: return x >= T(0) ? x : al * std::expm1(x);
    case RnnAct::softsign: return x / (T(1) + std::fabs(x));
    case RnnAct::softplus: return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
  }
  return x;
}

// d act / dx at the x that gave y = act(x), from y alone: the kernels save activated
// values only. Exact for every activation here where it is differentiable, given the
// usual parameter signs (leaky_relu, thresholded_relu, elu: alpha >= 0).
template <class T>
inline T rnn_act_grad(const RnnActivation& a, T y) {
  const T al = static_cast<T>(a.alpha), be = static_cast<T>(a.beta);
  switch (a.kind) {
    case RnnAct::sigmoid: return y * (T(1) - y);
    case RnnAct::tanh: return T(1) - y * y;
    case RnnAct::relu: return y > T(0) ? T(1) : T(0);
    case RnnAct::hard_sigmoid: return y > T(0) && y < T(1) ? al : T(0);
    case RnnAct::leaky_relu: return y > T(0) ? T(1) : al;
    case RnnAct::affine: return al;
    case RnnAct::scaled_tanh: {
      if (al == T(0)) return T(0);
      const T t = y / al;
      return al * be * (T(1) - t * t);
    }
    case RnnAct::thresholded_relu: return y != T(0) ? T(1) : T(0);
    case RnnAct::elu: return y >= T(0) ? T(1) : y + al;
    case RnnAct::softsign: {
      const T d = T(1) - std::fabs(y);
      return d * d;
    }
    case RnnAct::softplus: return -std::expm1(-y);
  }
  return T(1);
}

}  // namespace symnet
