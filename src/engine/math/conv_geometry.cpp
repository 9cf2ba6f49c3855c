#include "engine/math/conv_geometry.h"

#include "engine/base/error.h"

namespace symnet {

bool ConvGeom::pointwise() const {
  for (int i = 0; i < 3; ++i)
    if (k[i] != 1 || s[i] != 1 || pb[i] != 0 || big[i] != small[i]) return false;
  return true;
}

ConvGeom make_conv_geom(const Shape& big, const Shape& small, const Shape& w, const std::vector<int64_t>& strides,
                        const std::vector<int64_t>& dilations, const std::vector<int64_t>& pad_begin, int64_t group) {
  ConvGeom g;
  g.nsp = static_cast<int>(big.size()) - 2;
  SN_CHECK(g.nsp >= 1 && g.nsp <= 3 && small.size() == big.size() && w.size() == big.size(), ErrorKind::internal,
           "conv geometry: bad ranks");
  g.N = big[0];
  g.Cb = big[1];
  g.Cs = small[1];
  g.G = group;
  const int off = 3 - g.nsp;
  for (int i = 0; i < g.nsp; ++i) {
    g.big[off + i] = big[2 + i];
    g.small[off + i] = small[2 + i];
    g.k[off + i] = w[2 + i];
    g.s[off + i] = strides[i];
    g.d[off + i] = dilations[i];
    g.pb[off + i] = pad_begin[i];
  }
  return g;
}

}  // namespace symnet
