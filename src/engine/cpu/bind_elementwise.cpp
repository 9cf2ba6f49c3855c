// CPU kernel table of the elementwise family. Attributes -> ElementwiseParams, with the
// functors' defaults; every output may overwrite an input of its own dtype (the loops read
// each element before writing it).
#include <set>

#include "engine/base/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/elementwise.h"
#include "engine/math/elementwise_functors.h"

namespace symnet {

namespace {

ElementwiseParams read_elementwise(const Node& n) {
  const AttrMap& a = n.attrs;
  const std::string& op = n.op_name();
  ElementwiseParams p;
  if (op == "hard_sigmoid") {
    fn::HardSigmoidF d;
    p.alpha = a.get_float("alpha", d.alpha);
    p.beta = a.get_float("beta", d.beta);
  } else if (op == "leaky_relu") {
    p.alpha = a.get_float("alpha", fn::LeakyReluF{}.alpha);
  } else if (op == "elu") {
    p.alpha = a.get_float("alpha", fn::EluF{}.alpha);
  } else if (op == "selu") {
    fn::SeluF d;
    p.alpha = a.get_float("alpha", d.alpha);
    p.gamma = a.get_float("gamma", d.gamma);
  } else if (op == "celu") {
    p.alpha = a.get_float("alpha", fn::CeluF{}.alpha);
  } else if (op == "gelu") {
    p.tanh_approx = a.get_string("approximate", "none") == "tanh";
  } else if (op == "clip") {
    fn::ClipF d;
    p.lo = a.get_float("min", d.lo);
    p.hi = a.get_float("max", d.hi);
  } else if (op == "mod") {
    p.fmod = a.get_int("fmod", 0) != 0;
  }
  return p;
}

std::vector<std::pair<int, int>> same_dtype_inputs(const Node& n) {
  std::vector<std::pair<int, int>> pairs;
  for (int i = 0; i < static_cast<int>(n.inputs.size()); ++i)
    if (n.inputs[i].defined() && n.inputs[i].dtype() == n.outputs.at(0).dtype) pairs.push_back({0, i});
  return pairs;
}

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
