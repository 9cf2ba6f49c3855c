// Naive double-precision convolution references for the conv tests (direct loops, no
// lowering): the three products of a conv frame. big = [N, Cb, ...], small = [N, Cs, ...],
// w = [Cs, Cb/group, k...]. Results come back in the dtype of the first input.
#pragma once
#include <algorithm>
#include <vector>

#include "engine/base/tensor.h"

namespace symnet::test {

struct RefFrame {
  int nsp;
  std::vector<int64_t> strides, dilations, pad_begin, pad_end;
  int64_t group;
};

namespace conv_ref_detail {

struct Idx {
  int64_t n[3] = {1, 1, 1};
};
inline Idx spatial(const Shape& s, int nsp) {
  Idx r;
  for (int i = 0; i < nsp; ++i) r.n[3 - nsp + i] = s[2 + i];
  return r;
}
inline int64_t pad3(const std::vector<int64_t>& v, int nsp, int i, int64_t def) {
  int j = i - (3 - nsp);
  return j < 0 ? def : v[j];
}

// Calls f(n, cb, cs, big offset, small offset, w offset) for every valid tap.
template <typename F>
void for_each_tap(const Shape& big, const Shape& small, const Shape& w, const RefFrame& f, F&& fn) {
  const int nsp = f.nsp;
  Idx B = spatial(big, nsp), S = spatial(small, nsp), K = spatial(w, nsp);
  int64_t st[3], dl[3], pb[3];
  for (int i = 0; i < 3; ++i) {
    st[i] = pad3(f.strides, nsp, i, 1);
    dl[i] = pad3(f.dilations, nsp, i, 1);
    pb[i] = pad3(f.pad_begin, nsp, i, 0);
  }
  const int64_t N = big[0], Cb = big[1], Cs = small[1], G = f.group, Cbg = Cb / G, Csg = Cs / G;
  const int64_t bv = B.n[0] * B.n[1] * B.n[2], sv = S.n[0] * S.n[1] * S.n[2], kv = K.n[0] * K.n[1] * K.n[2];
  for (int64_t n = 0; n < N; ++n)
    for (int64_t cs = 0; cs < Cs; ++cs) {
      const int64_t g = cs / Csg;
      for (int64_t j = 0; j < Cbg; ++j) {
        const int64_t cb = g * Cbg + j;
        for (int64_t o0 = 0; o0 < S.n[0]; ++o0)
          for (int64_t o1 = 0; o1 < S.n[1]; ++o1)
            for (int64_t o2 = 0; o2 < S.n[2]; ++o2)
              for (int64_t k0 = 0; k0 < K.n[0]; ++k0)
                for (int64_t k1 = 0; k1 < K.n[1]; ++k1)
                  for (int64_t k2 = 0; k2 < K.n[2]; ++k2) {
                    const int64_t i0 = o0 * st[0] - pb[0] + k0 * dl[0];
                    const int64_t i1 = o1 * st[1] - pb[1] + k1 * dl[1];
                    const int64_t i2 = o2 * st[2] - pb[2] + k2 * dl[2];
                    if (i0 < 0 || i0 >= B.n[0] || i1 < 0 || i1 >= B.n[1] || i2 < 0 || i2 >= B.n[2]) continue;
                    const int64_t bo = (n * Cb + cb) * bv + (i0 * B.n[1] + i1) * B.n[2] + i2;
                    const int64_t so = (n * Cs + cs) * sv + (o0 * S.n[1] + o1) * S.n[2] + o2;
                    const int64_t wo = (cs * Cbg + j) * kv + (k0 * K.n[1] + k1) * K.n[2] + k2;
                    fn(bo, so, wo);
                  }
      }
    }
}

inline std::vector<double> to_doubles(const Tensor& t) {
  std::vector<double> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.get_as_double(i);
  return v;
}
inline Tensor from_doubles(DType t, const Shape& s, const std::vector<double>& v) {
  return Tensor::from_doubles(t, s, v);
}

}  // namespace conv_ref_detail

// Output shape of conv(x, w) with explicit pads.
inline Shape ref_conv_out_shape(const Shape& x, const Shape& w, const RefFrame& f) {
  Shape y{x[0], w[0]};
  for (int i = 0; i < f.nsp; ++i) {
    int64_t ke = f.dilations[i] * (w[2 + i] - 1) + 1;
    y.push_back((x[2 + i] + f.pad_begin[i] + f.pad_end[i] - ke) / f.strides[i] + 1);
  }
  return y;
}

inline Tensor ref_forward(const Tensor& big, const Tensor& w, const Shape& small_shape, const RefFrame& f) {
  using namespace conv_ref_detail;
  std::vector<double> b = to_doubles(big), wv = to_doubles(w), s(shape_numel(small_shape), 0.0);
  for_each_tap(big.shape(), small_shape, w.shape(), f, [&](int64_t bo, int64_t so, int64_t wo) { s[so] += b[bo] * wv[wo]; });
  return from_doubles(big.dtype(), small_shape, s);
}

inline Tensor ref_backward_data(const Tensor& small, const Tensor& w, const Shape& big_shape, const RefFrame& f) {
  using namespace conv_ref_detail;
  std::vector<double> s = to_doubles(small), wv = to_doubles(w), b(shape_numel(big_shape), 0.0);
  for_each_tap(big_shape, small.shape(), w.shape(), f, [&](int64_t bo, int64_t so, int64_t wo) { b[bo] += s[so] * wv[wo]; });
  return from_doubles(small.dtype(), big_shape, b);
}

inline Tensor ref_backward_weight(const Tensor& big, const Tensor& small, const Shape& w_shape, const RefFrame& f) {
  using namespace conv_ref_detail;
  std::vector<double> b = to_doubles(big), s = to_doubles(small), wv(shape_numel(w_shape), 0.0);
  for_each_tap(big.shape(), small.shape(), w_shape, f, [&](int64_t bo, int64_t so, int64_t wo) { wv[wo] += b[bo] * s[so]; });
  return from_doubles(big.dtype(), w_shape, wv);
}

// y[n, c, ...] += bias[c]
inline void ref_add_bias(Tensor& y, const Tensor& bias) {
  const int64_t N = y.shape()[0], C = y.shape()[1], inner = y.numel() / std::max<int64_t>(1, N * C);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        int64_t e = (n * C + c) * inner + i;
        y.set_from_double(e, y.get_as_double(e) + bias.get_as_double(c));
      }
}

}  // namespace symnet::test
