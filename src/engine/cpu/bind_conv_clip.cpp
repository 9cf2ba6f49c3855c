// CPU kernel of conv_clip (a convolution with its activation bounds): the convolution's own
// kernel, as bound for "conv" (same inputs, geometry and workspace), then the bounds in
// place on its output while it is still warm in cache.
//
// The second pass is what remains to remove: once the convolution kernels take the bounds
// (applied where they add the bias, in their output pass), conv_clip_kernel calls them with
// the bounds and the clamp goes away; nothing else here changes.
#include <cmath>

#include "engine/base/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/clamp.h"

namespace symnet {

namespace {

struct ConvClipParams {
  KernelFn conv = nullptr;
  std::shared_ptr<const void> conv_params;  // what conv's prepare builds from the node
  double lo = -HUGE_VAL, hi = HUGE_VAL;
};

void conv_clip_kernel(KernelContext& k) {
  const ConvClipParams& p = k.param<ConvClipParams>();
  const void* own = k.params;
  k.params = p.conv_params.get();
  p.conv(k);
  k.params = own;
  clamp_inplace_cpu(k.out[0], p.lo, p.hi);
}

}  // namespace

void bind_conv_clip_kernels(Backend& b) {
  const KernelImpl* conv = b.kernel("conv");
  SN_CHECK(conv != nullptr, ErrorKind::internal, "conv_clip is bound after conv");
  const KernelImpl c = *conv;
  KernelImpl k(conv_clip_kernel);
  k.prepare = [c](const Node& n) -> std::shared_ptr<const void> {
    auto p = std::make_shared<ConvClipParams>();
    p->conv = c.fn;
    if (c.prepare) p->conv_params = c.prepare(n);  // conv reads only its own attributes
    p->lo = n.attrs.get_float("clip_min", -HUGE_VAL);
    p->hi = n.attrs.get_float("clip_max", HUGE_VAL);
    return p;
  };
  k.workspace = c.workspace;
  b.add_kernel("conv_clip", k);
}

}  // namespace symnet
