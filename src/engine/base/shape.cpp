#include "engine/base/shape.h"

#include <algorithm>
#include <sstream>

#include "engine/base/error.h"

namespace symnet {

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) o << ", ";
    if (s[i] < 0) o << "?"; else o << s[i];
  }
  o << "]";
  return o.str();
}

bool shape_known(const Shape& s) {
  return std::all_of(s.begin(), s.end(), [](int64_t d) { return d >= 0; });
}

int64_t shape_numel(const Shape& s) {
  if (!shape_known(s)) return -1;
  if (std::find(s.begin(), s.end(), int64_t{0}) != s.end()) return 0;
  int64_t n = 1;
  for (int64_t d : s) {
    // Shapes come from files and attributes too: an overflowing product is an error, not a
    // wrapped (possibly small, possibly negative) count that later sizes a buffer.
    if (__builtin_mul_overflow(n, d, &n))
      SN_THROW(ErrorKind::shape, "shape " << shape_str(s) << " has more elements than an int64 can count");
  }
  return n;
}

int64_t shape_bytes(const Shape& s, size_t elem_size) {
  int64_t n = shape_numel(s), b = 0;
  SN_CHECK(n >= 0, ErrorKind::shape, "shape " << shape_str(s) << " has unknown dimensions");
  if (__builtin_mul_overflow(n, static_cast<int64_t>(elem_size), &b))
    SN_THROW(ErrorKind::shape, "shape " << shape_str(s) << " of " << elem_size
                                        << "-byte elements needs more bytes than an int64 can count");
  return b;
}

std::vector<int64_t> shape_strides(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int64_t i = static_cast<int64_t>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da == db) out[i] = da;
    else if (da == 1) out[i] = db;
    else if (db == 1) out[i] = da;
    else if (da < 0) out[i] = db;  // unknown must turn out to be db (or 1)
    else if (db < 0) out[i] = da;
    else
      SN_THROW(ErrorKind::shape, "shapes " << shape_str(a) << " and " << shape_str(b)
               << " cannot be broadcast (dimension " << i + 1 << ": " << da << " vs " << db << ")");
  }
  return out;
}

int64_t normalize_axis(int64_t axis, int64_t rank) {
  int64_t a = axis < 0 ? axis + rank : axis;
  SN_CHECK(a >= 0 && a < rank, ErrorKind::attr,
           "axis " << axis << " is out of range for a tensor of rank " << rank);
  return a;
}

std::vector<int64_t> normalize_axes(const std::vector<int64_t>& axes, int64_t rank) {
  std::vector<int64_t> out;
  if (axes.empty()) {
    for (int64_t i = 0; i < rank; ++i) out.push_back(i);
    return out;
  }
  for (int64_t a : axes) out.push_back(normalize_axis(a, rank));
  std::sort(out.begin(), out.end());
  // Two spellings of one axis (1 and -3 at rank 3) are a mistake, not one axis: an input of
  // unknown rank gets its negative axes normalised only here, after R could check them.
  auto dup = std::adjacent_find(out.begin(), out.end());
  SN_CHECK(dup == out.end(), ErrorKind::attr,
           "axis " << *dup << " is named twice among the axes for a tensor of rank " << rank);
  return out;
}

}  // namespace symnet
