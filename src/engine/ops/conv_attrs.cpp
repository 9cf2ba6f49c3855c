#include "engine/ops/conv_attrs.h"

#include <algorithm>

#include "engine/base/error.h"
#include "engine/ops/conv_geometry.h"

namespace symnet {
namespace conv_attrs {

namespace {

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

std::vector<int64_t> ints_attr(const AttrMap& a, const char* key, size_t n, int64_t def) {
  std::vector<int64_t> v = a.get_ints(key, std::vector<int64_t>(n, def));
  SN_CHECK(v.size() == n, ErrorKind::attr,
           "attribute '" << key << "' needs " << n << " values (one per spatial dim), got " << v.size());
  return v;
}

}  // namespace

ConvAttrs parse_attrs(const AttrMap& a, int nsp, bool transposed) {
  ConvAttrs c;
  c.nsp = nsp;
  c.transposed = transposed;
  c.strides = ints_attr(a, "strides", nsp, 1);
  c.dilations = ints_attr(a, "dilations", nsp, 1);
  for (int i = 0; i < nsp; ++i) {
    SN_CHECK(c.strides[i] >= 1, ErrorKind::attr, "attribute 'strides' must be positive, got " << c.strides[i]);
    SN_CHECK(c.dilations[i] >= 1, ErrorKind::attr, "attribute 'dilations' must be positive, got " << c.dilations[i]);
  }
  c.group = a.get_int("group", 1);
  SN_CHECK(c.group >= 1, ErrorKind::attr, "attribute 'group' must be positive, got " << c.group);
  c.auto_pad = a.get_string("auto_pad", "NOTSET");
  SN_CHECK(c.auto_pad == "NOTSET" || c.auto_pad == "SAME_UPPER" || c.auto_pad == "SAME_LOWER" ||
               c.auto_pad == "VALID",
           ErrorKind::attr,
           "attribute 'auto_pad' must be NOTSET, SAME_UPPER, SAME_LOWER or VALID, got '" << c.auto_pad << "'");
  c.pads = a.get_ints("pads", std::vector<int64_t>(2 * nsp, 0));
  SN_CHECK(c.pads.size() == static_cast<size_t>(2 * nsp), ErrorKind::attr,
           "attribute 'pads' needs " << 2 * nsp << " values ([begin..., end...]), got " << c.pads.size());
  for (int64_t p : c.pads) SN_CHECK(p >= 0, ErrorKind::attr, "attribute 'pads' must be non-negative, got " << p);
  if (c.auto_pad != "NOTSET") {
    bool any = std::any_of(c.pads.begin(), c.pads.end(), [](int64_t p) { return p != 0; });
    SN_CHECK(!any, ErrorKind::attr, "attributes 'pads' and auto_pad = '" << c.auto_pad << "' exclude each other");
  }
  if (a.has("kernel_shape")) c.kernel_shape = ints_attr(a, "kernel_shape", nsp, 1);
  if (transposed) {
    c.output_padding = ints_attr(a, "output_padding", nsp, 0);
    for (int i = 0; i < nsp; ++i)
      SN_CHECK(c.output_padding[i] >= 0 && c.output_padding[i] < std::max(c.strides[i], c.dilations[i]),
               ErrorKind::attr,
               "attribute 'output_padding' must lie in [0, max(stride, dilation)), got "
                   << c.output_padding[i] << " with stride " << c.strides[i] << " and dilation " << c.dilations[i]);
    if (a.has("output_shape")) {
      std::vector<int64_t> os = a.get_ints("output_shape");
      SN_CHECK(os.size() == static_cast<size_t>(nsp) || os.size() == static_cast<size_t>(nsp + 2), ErrorKind::attr,
               "attribute 'output_shape' needs " << nsp << " spatial sizes, got " << os.size());
      c.output_shape.assign(os.end() - nsp, os.end());
      for (int64_t v : c.output_shape)
        SN_CHECK(v >= 0, ErrorKind::attr, "attribute 'output_shape' must be non-negative, got " << v);
    }
  } else {
    SN_CHECK(!a.has("output_padding") && !a.has("output_shape"), ErrorKind::attr,
             "output_padding and output_shape are conv_transpose attributes, not conv's");
  }
  return c;
}

int64_t eff_kernel(const ConvAttrs& c, int i, int64_t k) { return c.dilations[i] * (k - 1) + 1; }

// Begin padding of spatial dim i in the conv frame; -1 ("unknown") when a needed extent is.
// Conv attributes resolve against the big (input) extent, conv_transpose attributes
// against the small (its input) extent.
int64_t pad_begin(const ConvAttrs& c, int i, int64_t k, int64_t big, int64_t small, bool* known) {
  *known = true;
  const int64_t s = c.strides[i], ke = eff_kernel(c, i, k);
  if (k < 0) {
    *known = false;
    return 0;
  }
  if (!c.transposed) {
    if (c.auto_pad == "NOTSET") return c.pads[i];
    if (c.auto_pad == "VALID") return 0;
    if (big < 0) {
      *known = false;
      return 0;
    }
    const int64_t out = (big + s - 1) / s;
    const int64_t total = std::max<int64_t>(0, (out - 1) * s + ke - big);
    return c.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
  }
  const int64_t op = c.output_padding[i];
  if (!c.output_shape.empty()) {
    if (small < 0) {
      *known = false;
      return 0;
    }
    const int64_t total = s * (small - 1) + op + ke - c.output_shape[i];
    return c.auto_pad == "SAME_UPPER" ? floor_div(total, 2) : total - floor_div(total, 2);
  }
  if (c.auto_pad == "NOTSET") return c.pads[i];
  if (c.auto_pad == "VALID") return 0;
  const int64_t total = op + ke - s;
  return c.auto_pad == "SAME_UPPER" ? floor_div(total, 2) : total - floor_div(total, 2);
}

// Output extent of conv along dim i (-1 when unknown).
int64_t conv_out_dim(const ConvAttrs& c, int i, int64_t in, int64_t k) {
  if (in < 0 || k < 0) return -1;
  const int64_t s = c.strides[i], ke = eff_kernel(c, i, k);
  if (c.auto_pad == "SAME_UPPER" || c.auto_pad == "SAME_LOWER") return (in + s - 1) / s;
  const int64_t pads = c.auto_pad == "VALID" ? 0 : c.pads[i] + c.pads[c.nsp + i];
  SN_CHECK(in + pads >= ke, ErrorKind::shape,
           "conv: kernel extent " << ke << " (size " << k << ", dilation " << c.dilations[i]
                                  << ") is larger than the padded input extent " << in + pads << " in spatial dim "
                                  << i + 1);
  return (in + pads - ke) / s + 1;
}

// Output extent of conv_transpose along dim i (-1 when unknown).
int64_t conv_transpose_out_dim(const ConvAttrs& c, int i, int64_t in, int64_t k) {
  if (!c.output_shape.empty()) return c.output_shape[i];
  if (in < 0 || k < 0) return -1;
  const int64_t s = c.strides[i], ke = eff_kernel(c, i, k);
  if (c.auto_pad == "SAME_UPPER" || c.auto_pad == "SAME_LOWER") return in * s;
  const int64_t pads = c.auto_pad == "VALID" ? 0 : c.pads[i] + c.pads[c.nsp + i];
  const int64_t out = s * (in - 1) + c.output_padding[i] + ke - pads;
  SN_CHECK(out >= 0, ErrorKind::shape,
           "conv_transpose: pads " << pads << " exceed the output extent " << out + pads << " in spatial dim " << i + 1);
  return out;
}

bool transposed_attr(const AttrMap& a) {
  int64_t t = a.get_int("transposed", 0);
  SN_CHECK(t == 0 || t == 1, ErrorKind::attr, "attribute 'transposed' must be 0 or 1, got " << t);
  return t == 1;
}

}  // namespace conv_attrs

// Concrete geometry of a node's frame from the kernel's tensor shapes.
ConvGeom conv_geometry(const AttrMap& attrs, bool transposed, const Shape& big, const Shape& small, const Shape& w) {
  const int nsp = static_cast<int>(big.size()) - 2;
  conv_attrs::ConvAttrs a = conv_attrs::parse_attrs(attrs, nsp, transposed);
  std::vector<int64_t> pb(nsp);
  for (int i = 0; i < nsp; ++i) {
    bool k = true;
    pb[i] = conv_attrs::pad_begin(a, i, w[2 + i], big[2 + i], small[2 + i], &k);
    SN_CHECK(k, ErrorKind::internal, "conv padding unresolved at run time");
  }
  return make_conv_geom(big, small, w, a.strides, a.dilations, pb, a.group);
}

bool conv_frame_transposed(const AttrMap& a) { return conv_attrs::transposed_attr(a); }

}  // namespace symnet
