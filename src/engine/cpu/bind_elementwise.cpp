// CPU kernel table of the elementwise family. Attributes -> ElementwiseParams, with the
// functors' defaults; every output may overwrite an input of its own dtype (the loops read
// each element before writing it).
#include <set>

#include "engine/base/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/elementwise.h"
#include "engine/kernels/cpu/param_readers.h"
#include "engine/math/elementwise_functors.h"

namespace symnet {

namespace {


}  // namespace

void bind_elementwise_kernels(Backend& b) {
  static const std::set<std::string> with_attrs = {"hard_sigmoid", "leaky_relu", "elu", "selu",
                                                   "celu",         "gelu",       "clip", "mod"};
  for (const std::string& op : registry().names()) {
    const OpSchema& s = registry().get(op);
    if (!s.has(kElementwise)) continue;
    KernelFn fn = cpu_elementwise_kernel(op);
    if (fn == nullptr) continue;  // elementwise ops of other families bind their own
    KernelImpl k;
    k.fn = fn;
    if (with_attrs.count(op))
      k.prepare = [](const Node& n) -> std::shared_ptr<const void> {
        return std::make_shared<ElementwiseParams>(read_elementwise(n));
      };
    if (op != "cast") k.inplace_for = same_dtype_inputs;  // cast converts through memcpy
    b.add_kernel(op, std::move(k));
  }
}

}  // namespace symnet
