#include "engine/ops/pool_geometry.h"

#include <algorithm>
#include <string>
#include <vector>

#include "engine/base/error.h"

namespace symnet {

namespace {

std::vector<int64_t> ints_attr(const AttrMap& a, const char* key, size_t len, int64_t def, int64_t min) {
  std::vector<int64_t> v = a.get_ints(key, std::vector<int64_t>(len, def));
  SN_CHECK(v.size() == len, ErrorKind::attr,
           "'" << key << "' must have " << len << " entries, got " << v.size());
  for (int64_t e : v) SN_CHECK(e >= min, ErrorKind::attr, "'" << key << "' entries must be >= " << min << ", got " << e);
  return v;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

PoolGeometry pool_geometry(const AttrMap& a, const Shape& x, bool is_max) {
  std::vector<int64_t> ks = a.get_ints("kernel_shape");
  const int nd = static_cast<int>(ks.size());
  SN_CHECK(nd >= 1 && nd <= 3, ErrorKind::attr,
           "'kernel_shape' must have 1 to 3 entries (1-D to 3-D pooling), got " << nd);
  for (int64_t e : ks) SN_CHECK(e >= 1, ErrorKind::attr, "'kernel_shape' entries must be >= 1, got " << e);
  SN_CHECK(static_cast<int>(x.size()) == nd + 2, ErrorKind::shape,
           "input must be [N, C, " << nd << " spatial dims] to match 'kernel_shape' of length " << nd
                                   << ", got shape " << shape_str(x));
  std::vector<int64_t> st = ints_attr(a, "strides", nd, 1, 1);
  std::vector<int64_t> dl = ints_attr(a, "dilations", nd, 1, 1);
  std::vector<int64_t> pads = ints_attr(a, "pads", 2 * nd, 0, 0);
  int64_t ceil_mode = a.get_int("ceil_mode", 0);
  SN_CHECK(ceil_mode == 0 || ceil_mode == 1, ErrorKind::attr, "'ceil_mode' must be 0 or 1, got " << ceil_mode);
  std::string auto_pad = a.get_string("auto_pad", "NOTSET");
  SN_CHECK(auto_pad == "NOTSET" || auto_pad == "VALID" || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER",
           ErrorKind::attr, "'auto_pad' must be NOTSET, VALID, SAME_UPPER or SAME_LOWER, got '" << auto_pad << "'");
  if (auto_pad != "NOTSET")
    for (int64_t p : pads)
      SN_CHECK(p == 0, ErrorKind::attr, "'pads' cannot be combined with auto_pad = " << auto_pad);
  PoolGeometry g;
  if (!is_max) {
    int64_t cip = a.get_int("count_include_pad", 0);
    SN_CHECK(cip == 0 || cip == 1, ErrorKind::attr, "'count_include_pad' must be 0 or 1, got " << cip);
    g.count_include_pad = cip == 1;
  }
  g.nd = nd;
  g.n = x[0];
  g.c = x[1];
  g.known = g.n >= 0 && g.c >= 0;
  const int off = 3 - nd;
  for (int d = 0; d < 3; ++d) {
    g.in[d] = g.out[d] = g.k[d] = g.s[d] = g.dil[d] = 1;
    g.pb[d] = g.pe[d] = 0;
  }
  for (int i = 0; i < nd; ++i) {
    const int d = off + i;
    const int64_t in = x[2 + i], k = ks[i], s = st[i], dil = dl[i], ext = (k - 1) * dil + 1;
    g.k[d] = k;
    g.s[d] = s;
    g.dil[d] = dil;
    g.in[d] = in;
    int64_t pb = pads[i], pe = pads[nd + i];
    SN_CHECK(pb < ext && pe < ext, ErrorKind::attr,
             "'pads' (" << pb << ", " << pe << ") of spatial dim " << i + 1
                        << " must be smaller than the kernel extent " << ext);
    if (in < 0) {
      g.known = false;
      g.out[d] = -1;
      continue;
    }
    int64_t out;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      out = ceil_div(in, s);
      int64_t total = std::max<int64_t>(0, (out - 1) * s + ext - in);
      pb = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe = total - pb;
    } else {
      const int64_t span = in + pb + pe - ext;
      SN_CHECK(span >= 0, ErrorKind::shape,
               "spatial dim " << i + 1 << " of input shape " << shape_str(x) << " (" << in << " + padding " << pb
                              << " + " << pe << ") is smaller than the kernel extent " << ext);
      out = (ceil_mode ? ceil_div(span, s) : span / s) + 1;
      // The last window must start inside the input or the leading padding (PyTorch, ONNX).
      if (ceil_mode && (out - 1) * s >= in + pb) --out;
    }
    g.pb[d] = pb;
    g.pe[d] = pe;
    g.out[d] = out;
  }
  return g;
}

}  // namespace symnet
