#include "engine/ops/shape_attrs.h"

#include <algorithm>
#include <string>

#include "engine/base/error.h"

namespace symnet {

SliceSpec resolve_slice(const Shape& in, const AttrMap& a) {
  const int64_t r = static_cast<int64_t>(in.size());
  std::vector<int64_t> starts = a.get_ints("starts"), ends = a.get_ints("ends");
  SN_CHECK(starts.size() == ends.size(), ErrorKind::attr,
           "'starts' and 'ends' must have the same length (" << starts.size() << " vs " << ends.size() << ")");
  std::vector<int64_t> axes = a.get_ints("axes", {});
  if (!a.has("axes"))
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  SN_CHECK(axes.size() == starts.size(), ErrorKind::attr,
           "'axes' must have one entry per start (" << axes.size() << " vs " << starts.size() << ")");
  std::vector<int64_t> steps = a.get_ints("steps", std::vector<int64_t>(starts.size(), 1));
  SN_CHECK(steps.size() == starts.size(), ErrorKind::attr,
           "'steps' must have one entry per start (" << steps.size() << " vs " << starts.size() << ")");
  SliceSpec s;
  s.start.assign(r, 0);
  s.step.assign(r, 1);
  s.len = in;
  std::vector<bool> seen(r, false);
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t ax = normalize_axis(axes[i], r);
    SN_CHECK(!seen[ax], ErrorKind::attr, "axis " << axes[i] << " appears twice in 'axes'");
    seen[ax] = true;
    int64_t step = steps[i];
    SN_CHECK(step != 0, ErrorKind::attr, "'steps' must not contain 0");
    s.step[ax] = step;
    int64_t d = in[ax];
    if (d < 0) {
      s.len[ax] = -1;
      continue;
    }
    int64_t b = starts[i], e = ends[i];
    if (b < 0) b += d;  // d >= 0, so INT64_MIN + d cannot overflow
    if (e < 0) e += d;
    int64_t len = 0;
    if (d == 0) {
      b = 0;
    } else if (step > 0) {
      b = std::clamp<int64_t>(b, 0, d);
      e = std::clamp<int64_t>(e, 0, d);
      len = e > b ? (e - b - 1) / step + 1 : 0;
    } else {
      b = std::clamp<int64_t>(b, 0, d - 1);
      e = std::clamp<int64_t>(e, -1, d - 1);
      len = b > e ? (b - e - 1) / (-step) + 1 : 0;
    }
    s.start[ax] = len > 0 ? b : 0;
    s.len[ax] = len;
  }
  return s;
}

PadSpec resolve_pad(int64_t rank, const AttrMap& a) {
  std::vector<int64_t> pads = a.get_ints("pads");
  SN_CHECK(static_cast<int64_t>(pads.size()) == 2 * rank, ErrorKind::attr,
           "'pads' needs 2 * rank = " << 2 * rank << " entries [begin..., end...], got " << pads.size());
  PadSpec p;
  p.begin.assign(pads.begin(), pads.begin() + rank);
  p.end.assign(pads.begin() + rank, pads.end());
  std::string mode = a.get_string("mode", "constant");
  if (mode == "constant") p.mode = 0;
  else if (mode == "reflect") p.mode = 1;
  else if (mode == "edge") p.mode = 2;
  else SN_THROW(ErrorKind::attr, "'mode' must be \"constant\", \"reflect\" or \"edge\", not \"" << mode << "\"");
  return p;
}

std::vector<int64_t> resolve_split(int64_t dim, const AttrMap& a) {
  if (a.has("sizes")) {
    std::vector<int64_t> sizes = a.get_ints("sizes");
    SN_CHECK(!sizes.empty(), ErrorKind::attr, "'sizes' must not be empty");
    int64_t sum = 0;
    for (int64_t s : sizes) {
      SN_CHECK(s >= 0, ErrorKind::attr, "'sizes' must be non-negative, got " << s);
      sum += s;
    }
    if (a.has("num_outputs"))
      SN_CHECK(a.get_int("num_outputs") == static_cast<int64_t>(sizes.size()), ErrorKind::attr,
               "'num_outputs' (" << a.get_int("num_outputs") << ") disagrees with 'sizes' (" << sizes.size()
                                 << " entries)");
    SN_CHECK(dim < 0 || sum == dim, ErrorKind::shape,
             "'sizes' sum to " << sum << " but the split axis has length " << dim);
    return sizes;
  }
  SN_CHECK(a.has("num_outputs"), ErrorKind::attr, "split needs 'sizes' or 'num_outputs'");
  int64_t n = a.get_int("num_outputs");
  SN_CHECK(n >= 1, ErrorKind::attr, "'num_outputs' must be at least 1, got " << n);
  if (dim < 0) return std::vector<int64_t>(n, -1);
  // ONNX Split-18: ceil-sized chunks, the last one smaller when uneven.
  int64_t chunk = (dim + n - 1) / n;
  int64_t last = dim - chunk * (n - 1);
  SN_CHECK(last > 0 || dim == 0, ErrorKind::shape,
           "cannot split an axis of length " << dim << " into " << n << " parts");
  std::vector<int64_t> sizes(n, chunk);
  sizes.back() = dim == 0 ? 0 : last;
  return sizes;
}

std::vector<int64_t> resolve_perm(const AttrMap& a, int64_t r) {
  std::vector<int64_t> perm = a.get_ints("perm", {});
  if (perm.empty())
    for (int64_t i = r - 1; i >= 0; --i) perm.push_back(i);
  SN_CHECK(static_cast<int64_t>(perm.size()) == r, ErrorKind::attr,
           "'perm' has " << perm.size() << " entries for a tensor of rank " << r);
  std::vector<bool> seen(r, false);
  for (auto& p : perm) {
    int64_t q = normalize_axis(p, r);
    SN_CHECK(!seen[q], ErrorKind::attr, "'perm' " << shape_str(a.get_ints("perm", {})) << " is not a permutation");
    seen[q] = true;
    p = q;
  }
  return perm;
}

}  // namespace symnet
