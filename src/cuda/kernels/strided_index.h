// Host-side planning of NumPy-broadcast elementwise loops for the CUDA kernels, written as
// plain C++ (SN_HD functions, no CUDA header) so the engine's Catch2 tests check it on any
// machine. A plan maps a flat output index to each operand's element offset.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/base/host_device.h"
#include "engine/base/shape.h"

namespace symnet {
namespace cuda {

// Merged output rank above which a broadcast is refused (ranks are merged first: adjacent
// dimensions every operand walks the same way become one, so this is rarely reached).
constexpr int kMaxIndexDims = 8;

template <int N>
struct BroadcastIndex {
  // flat: every operand is read at i * step[k] (step 1: as many elements as the output,
  // whatever its shape; step 0: a single element), with no division per element.
  bool flat = true;
  int64_t step[N > 0 ? N : 1] = {};
  int ndim = 0;
  int64_t dims[kMaxIndexDims] = {};
  int64_t strides[N > 0 ? N : 1][kMaxIndexDims] = {};

  SN_HD void offsets(int64_t i, int64_t* off) const {
    if (flat) {
      for (int k = 0; k < N; ++k) off[k] = i * step[k];
      return;
    }
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t q = i / dims[d], idx = i - q * dims[d];
      i = q;
      for (int k = 0; k < N; ++k) off[k] += idx * strides[k][d];
    }
  }
};

// Per-dimension element strides of `in` read as broadcast to `out` (0 along broadcast
// dimensions; `in` is right-aligned as in NumPy). False when `in` does not broadcast.
inline bool broadcast_strides(const Shape& out, const Shape& in, std::vector<int64_t>& strides) {
  const size_t r = out.size();
  if (in.size() > r) return false;
  strides.assign(r, 0);
  int64_t s = 1;
  for (size_t j = 0; j < in.size(); ++j) {
    const size_t di = in.size() - 1 - j, d = r - 1 - j;
    if (in[di] == out[d]) strides[d] = out[d] == 1 ? 0 : s;
    else if (in[di] != 1) return false;
    s *= in[di];
  }
  return true;
}

// Plans the loop over `out` for operands `ins`. Operands with the output's element count
// are walked flat (as the CPU loops do, whatever their shapes), single elements are
// repeated; anything else broadcasts. Returns false when an operand does not broadcast to
// `out` or the merged rank exceeds kMaxIndexDims.
template <int N>
bool make_broadcast_index(const Shape& out, const std::vector<Shape>& ins, BroadcastIndex<N>& ix) {
  if (static_cast<int>(ins.size()) != N) return false;
  const int64_t n = shape_numel(out);
  ix = BroadcastIndex<N>{};
  bool flat = true;
  for (int k = 0; k < N; ++k) {
    const int64_t m = shape_numel(ins[k]);
    if (m == n) ix.step[k] = 1;
    else if (m == 1) ix.step[k] = 0;
    else flat = false;
  }
  if (flat) return true;
  ix.flat = false;
  std::vector<std::vector<int64_t>> st(N);
  for (int k = 0; k < N; ++k)
    if (!broadcast_strides(out, ins[k], st[k])) return false;
  // Drop size-1 output dims, then merge d into the dimension after it (inner) when every
  // operand walks them as one: stride[d] == stride[inner] * dims[inner].
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> ms(N);
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == 1) continue;
    dims.push_back(out[d]);
    for (int k = 0; k < N; ++k) ms[k].push_back(st[k][d]);
  }
  std::vector<int64_t> md;
  std::vector<std::vector<int64_t>> mst(N);
  for (size_t d = 0; d < dims.size(); ++d) {
    bool merge = !md.empty();
    for (int k = 0; k < N && merge; ++k) merge = mst[k].back() == ms[k][d] * dims[d];
    if (merge) {
      md.back() *= dims[d];
      for (int k = 0; k < N; ++k) mst[k].back() = ms[k][d];
    } else {
      md.push_back(dims[d]);
      for (int k = 0; k < N; ++k) mst[k].push_back(ms[k][d]);
    }
  }
  if (static_cast<int>(md.size()) > kMaxIndexDims) return false;
  ix.ndim = static_cast<int>(md.size());
  for (int d = 0; d < ix.ndim; ++d) {
    ix.dims[d] = md[d];
    for (int k = 0; k < N; ++k) ix.strides[k][d] = mst[k][d];
  }
  return true;
}

// A copy of a box of `shape` elements between two strided layouts (element strides, may be
// 0 or negative; offsets added by the caller): element i of the box, row-major, is read at
// src_offset(i) and written at dst_offset(i). Dimensions of size 1 are dropped and adjacent
// ones that both layouts walk as one are merged.
struct StridedCopy {
  int64_t n = 0;  // elements
  int ndim = 0;
  int64_t dims[kMaxIndexDims] = {}, src[kMaxIndexDims] = {}, dst[kMaxIndexDims] = {};

  SN_HD void offsets(int64_t i, int64_t& so, int64_t& dof) const {
    so = 0;
    dof = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t q = i / dims[d], idx = i - q * dims[d];
      i = q;
      so += idx * src[d];
      dof += idx * dst[d];
    }
  }
};

inline bool make_strided_copy(const Shape& shape, const std::vector<int64_t>& src, const std::vector<int64_t>& dst,
                              StridedCopy& c) {
  c = StridedCopy{};
  if (src.size() != shape.size() || dst.size() != shape.size()) return false;
  c.n = shape_numel(shape);
  std::vector<int64_t> md, ms, mdst;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!md.empty() && ms.back() == src[d] * shape[d] && mdst.back() == dst[d] * shape[d]) {
      md.back() *= shape[d];
      ms.back() = src[d];
      mdst.back() = dst[d];
    } else {
      md.push_back(shape[d]);
      ms.push_back(src[d]);
      mdst.push_back(dst[d]);
    }
  }
  if (static_cast<int>(md.size()) > kMaxIndexDims) return false;
  c.ndim = static_cast<int>(md.size());
  for (int d = 0; d < c.ndim; ++d) {
    c.dims[d] = md[d];
    c.src[d] = ms[d];
    c.dst[d] = mdst[d];
  }
  return true;
}

// A tensor seen as [outer, n, inner] around `axis` (normalized).
struct AxisSplit {
  int64_t outer = 1, n = 1, inner = 1;
};
inline AxisSplit split_axis(const Shape& s, int64_t axis) {
  AxisSplit a;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
    if (d < axis) a.outer *= s[d];
    else if (d == axis) a.n = s[d];
    else a.inner *= s[d];
  }
  return a;
}

// A reduction over `axes` (normalized, sorted) of a tensor of shape `s`, as kept and reduced
// groups of merged dimensions. Output element o (row-major over the kept dims) reduces the
// elements at kept_offset(o) + reduced_offset(r) for r in [0, reduced).
struct ReducePlan {
  int64_t kept = 1, reduced = 1;  // element counts
  int nk = 0, nr = 0;
  int64_t kdims[kMaxIndexDims] = {}, kstrides[kMaxIndexDims] = {};
  int64_t rdims[kMaxIndexDims] = {}, rstrides[kMaxIndexDims] = {};
  // The innermost input dimension is kept: adjacent outputs read adjacent elements, so one
  // thread per output reads coalesced memory.
  bool inner_kept = false;

  SN_HD static int64_t offset(int64_t i, int n, const int64_t* dims, const int64_t* strides) {
    int64_t off = 0;
    for (int d = n - 1; d >= 0; --d) {
      const int64_t q = i / dims[d];
      off += (i - q * dims[d]) * strides[d];
      i = q;
    }
    return off;
  }
  SN_HD int64_t kept_offset(int64_t o) const { return offset(o, nk, kdims, kstrides); }
  SN_HD int64_t reduced_offset(int64_t r) const { return offset(r, nr, rdims, rstrides); }
};

inline bool make_reduce_plan(const Shape& s, const std::vector<int64_t>& axes, ReducePlan& p) {
  p = ReducePlan{};
  const int64_t rank = static_cast<int64_t>(s.size());
  std::vector<bool> red(static_cast<size_t>(rank), false);
  for (int64_t a : axes)
    if (a >= 0 && a < rank) red[a] = true;
  std::vector<int64_t> strides(static_cast<size_t>(rank), 1);
  for (int64_t d = rank - 2; d >= 0; --d) strides[d] = strides[d + 1] * s[d + 1];
  std::vector<int64_t> kd, ks, rd, rs;
  bool last_is_reduced = false, any = false;
  for (int64_t d = 0; d < rank; ++d) {
    (red[d] ? p.reduced : p.kept) *= s[d];
    if (s[d] == 1) continue;
    std::vector<int64_t>& dims = red[d] ? rd : kd;
    std::vector<int64_t>& st = red[d] ? rs : ks;
    // Merge with the previous dimension of the same group when it was the adjacent one.
    if (any && last_is_reduced == red[d] && !dims.empty()) {
      dims.back() *= s[d];
      st.back() = strides[d];
    } else {
      dims.push_back(s[d]);
      st.push_back(strides[d]);
    }
    any = true;
    last_is_reduced = red[d];
  }
  p.inner_kept = any && !last_is_reduced;
  if (static_cast<int>(kd.size()) > kMaxIndexDims || static_cast<int>(rd.size()) > kMaxIndexDims) return false;
  p.nk = static_cast<int>(kd.size());
  p.nr = static_cast<int>(rd.size());
  for (int d = 0; d < p.nk; ++d) {
    p.kdims[d] = kd[d];
    p.kstrides[d] = ks[d];
  }
  for (int d = 0; d < p.nr; ++d) {
    p.rdims[d] = rd[d];
    p.rstrides[d] = rs[d];
  }
  return true;
}

}  // namespace cuda
}  // namespace symnet
