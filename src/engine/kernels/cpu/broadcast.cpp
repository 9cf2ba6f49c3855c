#include "engine/kernels/cpu/broadcast.h"

#include "engine/base/error.h"

namespace symnet {

BroadcastPlan make_broadcast_plan(const Shape& out, const std::vector<Shape>& ins) {
  const size_t nd = out.size();
  const size_t nin = ins.size();
  // Full per-dim strides first.
  std::vector<std::vector<int64_t>> st(nin, std::vector<int64_t>(nd, 0));
  for (size_t k = 0; k < nin; ++k) {
    const Shape& s = ins[k];
    SN_CHECK(s.size() <= nd, ErrorKind::internal, "broadcast operand has higher rank than output");
    int64_t stride = 1;
    for (int64_t d = static_cast<int64_t>(nd) - 1; d >= 0; --d) {
      int64_t sd = d - static_cast<int64_t>(nd - s.size());
      int64_t dim = sd >= 0 ? s[sd] : 1;
      SN_CHECK(dim == out[d] || dim == 1, ErrorKind::internal,
               "operand " << shape_str(s) << " does not broadcast to " << shape_str(out));
      st[k][d] = (dim == 1 && out[d] != 1) ? 0 : stride;
      stride *= dim;
    }
  }
  // Merge dim d into d+1 when, for every operand, stride[d] == stride[d+1] * out[d+1].
  BroadcastPlan p;
  p.strides.assign(nin, {});
  std::vector<int64_t> mdims;
  std::vector<std::vector<int64_t>> mst(nin);
  for (size_t d = 0; d < nd; ++d) {
    if (out[d] == 1) continue;  // size-1 dims contribute nothing
    bool merge = !mdims.empty();
    for (size_t k = 0; k < nin && merge; ++k)
      merge = mst[k].back() == st[k][d] * out[d];
    if (merge) {
      mdims.back() *= out[d];
      for (size_t k = 0; k < nin; ++k) mst[k].back() = st[k][d];
    } else {
      mdims.push_back(out[d]);
      for (size_t k = 0; k < nin; ++k) mst[k].push_back(st[k][d]);
    }
  }
  if (mdims.empty()) {
    mdims.push_back(1);
    for (size_t k = 0; k < nin; ++k) mst[k].push_back(0);
  }
  p.out = mdims;
  p.strides = mst;
  p.inner = mdims.back();
  int64_t total = shape_numel(out);
  p.rows = p.inner ? total / p.inner : 0;
  return p;
}

}  // namespace symnet
