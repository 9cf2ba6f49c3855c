// Resize (opsets 10-19) and Upsample (7-9). The output shape is static, so for each axis
// the source positions, neighbour indices and interpolation weights are computed here,
// following the ONNX specification's reference algorithm (neighbours from the
// edge-padded input, ties towards the lower index); the graph then gathers and weighs
// along one axis after another (the interpolation is separable).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/io/onnx/onnx_import_context.h"

namespace symnet {
namespace onnx {

namespace {

struct ResizeSpec {
  std::string mode = "nearest";  // nearest, linear, cubic
  std::string transform = "half_pixel";
  std::string nearest_mode = "round_prefer_floor";
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0;
};

// Source coordinate of output position o along an axis (the specification's formulas).
double source_coord(const ResizeSpec& s, int64_t o, int64_t in_len, int64_t out_len, double scale, double roi_start,
                    double roi_end) {
  const double x = static_cast<double>(o);
  const double out_w = scale * static_cast<double>(in_len);  // not rounded, as in the reference
  const std::string& t = s.transform;
  if (t == "half_pixel") return (x + 0.5) / scale - 0.5;
  if (t == "half_pixel_symmetric") {
    const double adjustment = static_cast<double>(out_len) / out_w;
    const double center = static_cast<double>(in_len) / 2;
    const double offset = center * (1 - adjustment);
    return offset + (x + 0.5) / scale - 0.5;
  }
  if (t == "pytorch_half_pixel") return out_w > 1 ? (x + 0.5) / scale - 0.5 : -0.5;
  if (t == "align_corners") return out_w == 1 ? 0 : x * static_cast<double>(in_len - 1) / (out_w - 1);
  if (t == "asymmetric") return x / scale;
  if (t == "tf_half_pixel_for_nn") return (x + 0.5) / scale;  // opsets 11-12
  // tf_crop_and_resize
  if (out_w > 1)
    return roi_start * static_cast<double>(in_len - 1) +
           x * (roi_end - roi_start) * static_cast<double>(in_len - 1) / (out_w - 1);
  return 0.5 * (roi_start + roi_end) * static_cast<double>(in_len - 1);
}

std::vector<double> coefficients(const ResizeSpec& s, double ratio) {
  if (s.mode == "nearest") {
    if (ratio == 1.0) return {0, 1};
    const std::string& m = s.nearest_mode;
    if (m == "round_prefer_floor") return {ratio <= 0.5 ? 1.0 : 0.0, ratio > 0.5 ? 1.0 : 0.0};
    if (m == "round_prefer_ceil") return {ratio < 0.5 ? 1.0 : 0.0, ratio >= 0.5 ? 1.0 : 0.0};
    if (m == "floor") return {1, 0};
    return {0, 1};  // ceil
  }
  if (s.mode == "linear") return {1 - ratio, ratio};
  const double A = s.cubic_a, r = ratio, q = 1 - ratio;
  return {((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A, ((A + 2) * r - (A + 3)) * r * r + 1,
          ((A + 2) * q - (A + 3)) * q * q + 1, ((A * (q + 1) - 5 * A) * (q + 1) + 8 * A) * (q + 1) - 4 * A};
}

struct AxisPlan {
  std::vector<std::vector<int64_t>> index;  // [tap][out]: source index, clamped to the input
  std::vector<std::vector<double>> weight;  // [tap][out]
  std::vector<bool> outside;                // tf_crop_and_resize: out position takes extrapolation
  bool identity = true;
};

AxisPlan plan_axis(const ResizeSpec& s, int64_t in_len, int64_t out_len, double scale, double roi_start,
                   double roi_end) {
  const int n = s.mode == "cubic" ? 4 : 2;
  const int64_t pad = (n + 1) / 2;
  AxisPlan p;
  p.index.assign(static_cast<size_t>(n), std::vector<int64_t>(static_cast<size_t>(out_len)));
  p.weight.assign(static_cast<size_t>(n), std::vector<double>(static_cast<size_t>(out_len)));
  p.outside.assign(static_cast<size_t>(out_len), false);
  p.identity = in_len == out_len;
  for (int64_t o = 0; o < out_len; ++o) {
    const double x = source_coord(s, o, in_len, out_len, scale, roi_start, roi_end);
    if (s.transform == "tf_crop_and_resize" && (x < 0 || x > static_cast<double>(in_len - 1))) {
      p.outside[static_cast<size_t>(o)] = true;
      p.identity = false;
    }
    const double fl = std::floor(x);
    const double ratio = x == fl ? 1.0 : x - fl;
    std::vector<double> c = coefficients(s, ratio);
    // The n indices of the edge-padded input nearest to x, ties to the lower one.
    const double xp = x + static_cast<double>(pad);
    const int64_t len = in_len + 2 * pad;
    std::vector<int64_t> cand(static_cast<size_t>(len));
    std::iota(cand.begin(), cand.end(), int64_t{0});
    std::stable_sort(cand.begin(), cand.end(), [&](int64_t a, int64_t b) {
      const double da = std::abs(xp - static_cast<double>(a)), db = std::abs(xp - static_cast<double>(b));
      return da < db || (da == db && a < b);
    });
    cand.resize(static_cast<size_t>(n));
    std::sort(cand.begin(), cand.end());
    if (s.exclude_outside) {
      double sum = 0;
      for (int k = 0; k < n; ++k) {
        const int64_t idx = cand[static_cast<size_t>(k)] - pad;
        if (idx < 0 || idx >= in_len) c[static_cast<size_t>(k)] = 0;
        sum += c[static_cast<size_t>(k)];
      }
      if (sum != 0)
        for (double& v : c) v /= sum;
    }
    for (int k = 0; k < n; ++k) {
      const int64_t idx = std::min(std::max<int64_t>(cand[static_cast<size_t>(k)] - pad, 0), in_len - 1);
      p.index[static_cast<size_t>(k)][static_cast<size_t>(o)] = idx;
      p.weight[static_cast<size_t>(k)][static_cast<size_t>(o)] = c[static_cast<size_t>(k)];
      const bool picks_o = c[static_cast<size_t>(k)] == 0 || (c[static_cast<size_t>(k)] == 1 && idx == o);
      if (!picks_o) p.identity = false;
    }
  }
  return p;
}

Value index_constant(const std::vector<int64_t>& v) {
  Tensor t(DType::i64, {static_cast<int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t.ptr<int64_t>());
  return op::constant(t);
}

// A [1, .., n, .., 1] constant along `axis` of a rank-r tensor.
Value along_axis(const std::vector<double>& v, int64_t axis, int64_t rank, DType dt) {
  Shape s(static_cast<size_t>(rank), 1);
  s[static_cast<size_t>(axis)] = static_cast<int64_t>(v.size());
  Tensor t(dt, s);
  for (size_t i = 0; i < v.size(); ++i) t.set_from_double(static_cast<int64_t>(i), v[i]);
  return op::constant(t);
}

Value resize_axis(const ResizeSpec& s, const AxisPlan& p, Value x, int64_t axis, int64_t rank) {
  Value y;
  const bool one_tap = s.mode == "nearest";
  for (size_t k = 0; k < p.index.size(); ++k) {
    if (one_tap) {
      // Nearest: each output takes the neighbour whose coefficient is 1.
      std::vector<int64_t> idx(p.index[0].size());
      for (size_t o = 0; o < idx.size(); ++o) idx[o] = p.weight[1][o] == 1 ? p.index[1][o] : p.index[0][o];
      y = op::apply("gather", {x, index_constant(idx)}, {{"axis", axis}});
      break;
    }
    Value tap = op::mul(op::apply("gather", {x, index_constant(p.index[k])}, {{"axis", axis}}),
                        along_axis(p.weight[k], axis, rank, x.dtype()));
    y = y.defined() ? op::add(y, tap) : tap;
  }
  if (std::find(p.outside.begin(), p.outside.end(), true) != p.outside.end()) {
    std::vector<double> m(p.outside.begin(), p.outside.end());
    Value mask = op::cast(along_axis(m, axis, rank, DType::f32), DType::boolean);
    y = op::where(mask, op::scalar_like(s.extrapolation, y), y);
  }
  return y;
}

std::vector<Value> resize(ImportContext& c, bool upsample) {
  Value x = c.in(0);
  if (!is_float(x.dtype())) c.unsupported("only floating-point inputs are supported");
  const Shape& in = c.static_shape(x, "input");
  const int64_t r = static_cast<int64_t>(in.size());
  ResizeSpec s;
  s.mode = c.attr_string("mode", "nearest");
  if (s.mode != "nearest" && s.mode != "linear" && s.mode != "cubic")
    c.invalid("mode must be nearest, linear or cubic, not '" + s.mode + "'");
  if (upsample && s.mode == "cubic") c.invalid("Upsample has no cubic mode");
  std::vector<double> scales;
  std::vector<int64_t> sizes;
  std::vector<double> roi;
  if (upsample || c.opset() < 11) {
    // Upsample and Resize-10: asymmetric coordinates, nearest rounds down.
    s.transform = "asymmetric";
    s.nearest_mode = "floor";
    if (upsample && c.opset() < 9) {
      scales = c.attr_floats("scales");
    } else {
      scales = c.known_doubles(1, "scales");
    }
  } else {
    s.transform = c.attr_string("coordinate_transformation_mode", "half_pixel");
    static const char* transforms[] = {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                                       "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize"};
    if (std::find(std::begin(transforms), std::end(transforms), s.transform) == std::end(transforms))
      c.invalid("unknown coordinate_transformation_mode '" + s.transform + "'");
    s.nearest_mode = c.attr_string("nearest_mode", "round_prefer_floor");
    s.cubic_a = c.attr_float("cubic_coeff_a", -0.75);
    s.exclude_outside = c.attr_int("exclude_outside", 0) != 0;
    s.extrapolation = c.attr_float("extrapolation_value", 0.0);
    if (c.attr_int("antialias", 0) != 0) c.unsupported("antialias is not supported");
    if (c.attr_string("keep_aspect_ratio_policy", "stretch") != "stretch")
      c.unsupported("keep_aspect_ratio_policy other than stretch is not supported");
    if (c.has(1) && c.known(1, "roi").numel() > 0) roi = c.known_doubles(1, "roi");
    if (c.has(2) && c.known(2, "scales").numel() > 0) scales = c.known_doubles(2, "scales");
    if (c.has(3) && c.known(3, "sizes").numel() > 0) sizes = c.known_ints(3, "sizes");
  }
  std::vector<int64_t> axes = c.attr_ints("axes");
  if (axes.empty())
    for (int64_t d = 0; d < r; ++d) axes.push_back(d);
  const size_t na = axes.size();
  if (scales.empty() == sizes.empty()) c.invalid("needs exactly one of scales and sizes");
  if ((!scales.empty() && scales.size() != na) || (!sizes.empty() && sizes.size() != na))
    c.invalid("scales or sizes must hold one value per resized axis");
  Value y = x;
  for (size_t k = 0; k < na; ++k) {
    const int64_t axis = norm_axis(axes[k], r, c);
    const int64_t in_len = in[static_cast<size_t>(axis)];
    double scale;
    int64_t out_len;
    if (!scales.empty()) {
      scale = scales[k];
      if (!(scale > 0)) c.invalid("scales must be positive");
      out_len = static_cast<int64_t>(std::floor(static_cast<double>(in_len) * scale));
    } else {
      out_len = sizes[k];
      if (out_len <= 0 || in_len == 0) c.invalid("sizes must be positive");
      scale = static_cast<double>(out_len) / static_cast<double>(in_len);
    }
    double rs = 0, re = 1;
    if (roi.size() == 2 * na) {
      rs = roi[k];
      re = roi[k + na];
    }
    const AxisPlan p = plan_axis(s, in_len, out_len, scale, rs, re);
    if (p.identity) continue;
    y = resize_axis(s, p, y, axis, r);
  }
  if (y == x) y = op::identity(x);
  return {y};
}

}  // namespace

void add_resize_converters(ConverterTable& t) {
  t["Resize"] = [](ImportContext& c) { return resize(c, false); };
  t["Upsample"] = [](ImportContext& c) { return resize(c, true); };
}

}  // namespace onnx
}  // namespace symnet
