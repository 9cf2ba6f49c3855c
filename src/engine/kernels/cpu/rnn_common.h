// Shared pieces of the recurrent kernels (rnn_forward.cpp, rnn_backward.cpp): where each
// (step, batch element) lives in X, Y, the states and the reserve; validity from
// sequence_lens and mask; activation functors with clip bounds; workspace carving.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

#include "engine/backend/kernel.h"
#include "engine/base/error.h"
#include "engine/kernels/cpu/elementwise_loops.h"
#include "engine/math/rnn_spec.h"

namespace symnet::rnn_detail {

// Sizes and index maps for one node.
struct Geom {
  const RnnSpec* s = nullptr;
  int64_t S = 0, B = 0, I = 0, H = 0, GH = 0, GS = 0, dirs = 1;
  Geom(const RnnSpec& spec, const Shape& x) : s(&spec) {
    S = spec.layout == 0 ? x[0] : x[1];
    B = spec.layout == 0 ? x[1] : x[0];
    I = x[2];
    H = spec.hidden;
    GH = spec.gates() * H;
    GS = spec.gate_store();
    dirs = spec.dirs();
  }
  int64_t rows() const { return S * B; }
  // Row of (t, b) in X (and in the reserve's gate rows).
  int64_t row(int64_t t, int64_t b) const { return s->layout == 0 ? t * B + b : b * S + t; }
  // Rows between batch elements b and b + 1 at one step.
  int64_t row_step() const { return s->layout == 0 ? 1 : S; }
  // Offset of Y's hidden vector for (t, d, b).
  int64_t y_at(int64_t t, int d, int64_t b) const {
    return s->layout == 0 ? ((t * dirs + d) * B + b) * H : ((b * S + t) * dirs + d) * H;
  }
  // Offset of a state's (initial_h, Y_h, ...) hidden vector for (d, b).
  int64_t state_at(int d, int64_t b) const { return s->layout == 0 ? (d * B + b) * H : (b * dirs + d) * H; }
  // Reserve of direction d: gate rows [rows, GS], then h per step [S, B, H], then c.
  int64_t per_dir() const { return rows() * (GS + s->states() * H); }
  template <class T>
  T* gates(T* res, int d) const {
    return res + d * per_dir();
  }
  template <class T>
  T* hs(T* res, int d) const {
    return gates(res, d) + rows() * GS;
  }
  template <class T>
  T* cs(T* res, int d) const {
    return hs(res, d) + rows() * H;
  }
  // Step order of direction d: t = first, first + dt, ...
  int64_t first(int d) const { return s->reversed(d) ? S - 1 : 0; }
  int64_t dt(int d) const { return s->reversed(d) ? -1 : 1; }
};

// Carves aligned pieces out of a workspace (or, with base null, only counts the bytes).
class Carver {
 public:
  explicit Carver(void* base) : base_(static_cast<char*>(base)) {}
  template <class T>
  T* take(int64_t n) {
    const size_t at = used_;
    used_ += (static_cast<size_t>(std::max<int64_t>(n, 0)) * sizeof(T) + 63) / 64 * 64;
    return base_ && n > 0 ? reinterpret_cast<T*>(base_ + at) : nullptr;  // null marks an absent piece
  }
  size_t used() const { return used_; }

 private:
  char* base_;
  size_t used_ = 0;
};

// valid[t * B + b]: 1 when step t of element b is computed. Returns false when every step
// is valid (no sequence_lens, no mask), leaving valid untouched.
inline bool fill_valid(const KernelContext& k, const RnnSpec& s, const Geom& g, uint8_t* valid) {
  const int il = s.input_index(kRnnSeqLens), im = s.input_index(kRnnMask);
  if (il < 0 && im < 0) return false;
  std::memset(valid, 1, static_cast<size_t>(g.rows()));
  if (il >= 0) {
    const TensorView& v = k.in[il];
    for (int64_t b = 0; b < g.B; ++b) {
      const int64_t len = v.dtype == DType::i32 ? v.ptr<int32_t>()[b] : v.ptr<int64_t>()[b];
      SN_CHECK(len >= 0 && len <= g.S, ErrorKind::value,
               "sequence_lens[" << b << "] is " << len << ", outside [0, " << g.S << "]");
      for (int64_t t = len; t < g.S; ++t) valid[t * g.B + b] = 0;
    }
  }
  if (im >= 0) {
    const TensorView& m = k.in[im];
    for (int64_t t = 0; t < g.S; ++t)
      for (int64_t b = 0; b < g.B; ++b) {
        const int64_t e = s.layout == 0 ? t * g.B + b : b * g.S + t;
        bool on;
        switch (m.dtype) {
          case DType::boolean: on = m.ptr<uint8_t>()[e] != 0; break;
          case DType::f32: on = m.ptr<float>()[e] != 0; break;
          default: on = m.ptr<double>()[e] != 0; break;
        }
        if (!on) valid[t * g.B + b] = 0;
      }
  }
  return true;
}

// An activation with the clip of its input. The fast specializations (sigmoid, tanh: the
// defaults) inline into the fused loops so they vectorize; Generic covers the rest.
template <class T>
struct Clip {
  T lo = -std::numeric_limits<T>::infinity(), hi = std::numeric_limits<T>::infinity();
  T operator()(T x) const { return x < lo ? lo : (x > hi ? hi : x); }
};

template <class T>
struct SigmoidAct {
  T operator()(T x) const {
    if constexpr (std::is_same_v<T, float>) return 0.5f + 0.5f * fn::fast_tanh(0.5f * x);
    else return T(1) / (T(1) + std::exp(-x));
  }
  T grad(T y) const { return y * (T(1) - y); }
};
template <class T>
struct TanhAct {
  T operator()(T x) const {
    if constexpr (std::is_same_v<T, float>) return fn::fast_tanh(x);
    else return std::tanh(x);
  }
  T grad(T y) const { return T(1) - y * y; }
};
template <class T>
struct GenericAct {
  RnnActivation a;
  T operator()(T x) const { return rnn_act<T>(a, x); }
  T grad(T y) const { return rnn_act_grad<T>(a, y); }
};

// The derivative of act(clip(x)) is zero where the clip was active. Only y is saved, so
// "clipped" is y at or beyond act(+-clip) (every activation here is monotone).
template <class T>
struct ClipMask {
  T lo = -std::numeric_limits<T>::infinity(), hi = std::numeric_limits<T>::infinity();
  T operator()(T y) const { return (y > lo) & (y < hi) ? T(1) : T(0); }  // & keeps the loops branch-free
};
template <class T>
ClipMask<T> clip_mask(const RnnSpec& s, const RnnActivation& a) {
  ClipMask<T> m;
  if (s.clip <= 0) return m;
  const T u = rnn_act<T>(a, static_cast<T>(s.clip)), v = rnn_act<T>(a, static_cast<T>(-s.clip));
  m.lo = std::min(u, v);
  m.hi = std::max(u, v);
  return m;
}
template <class T>
Clip<T> clip_of(const RnnSpec& s) {
  Clip<T> c;
  if (s.clip > 0) {
    c.lo = static_cast<T>(-s.clip);
    c.hi = static_cast<T>(s.clip);
  }
  return c;
}

// Calls f(act0, act1, act2) with the direction's activations as functors, specialized for
// the ONNX defaults (sigmoid, tanh, tanh) so the common case vectorizes.
template <class T, class F>
void with_acts(const RnnSpec& s, int d, F&& f) {
  const RnnActivation* a = s.act[d];
  const int n = s.num_acts();
  const bool f_sig = a[0].kind == RnnAct::sigmoid, g_tanh = n < 2 || a[1].kind == RnnAct::tanh,
             h_tanh = n < 3 || a[2].kind == RnnAct::tanh;
  if (s.cell == RnnCell::rnn && a[0].kind == RnnAct::tanh) {
    f(TanhAct<T>{}, TanhAct<T>{}, TanhAct<T>{});
  } else if (s.cell != RnnCell::rnn && f_sig && g_tanh && h_tanh) {
    f(SigmoidAct<T>{}, TanhAct<T>{}, TanhAct<T>{});
  } else {
    f(GenericAct<T>{a[0]}, GenericAct<T>{a[n > 1 ? 1 : 0]}, GenericAct<T>{a[n > 2 ? 2 : 0]});
  }
}

// Threads for the batch loop: one slice of batch elements each, when there is enough work.
inline int batch_threads(int64_t B, double flops, int threads) {
  int nt = static_cast<int>(std::min<int64_t>(threads, std::max<int64_t>(1, B / 4)));
  if (flops < 2.0e5) nt = 1;  // one fork/join per direction: cheap
  return std::max(nt, 1);
}

}  // namespace symnet::rnn_detail
