// The host_callback op (ops/host_callback.h): the registry of host functions by name and
// the schema. Output types come from the registered infer function when there is one (so
// they follow the arguments when a graph is specialized), else from `output_like` (output k
// has the type of input output_like[k]), else from the declared `output_dtypes` /
// `output_shapes` (flattened; `output_ranks` splits them, -1 dimensions unknown). The
// declared types let a saved graph load before its callback is registered again.
#include "engine/ops/host_callback.h"

#include <map>
#include <mutex>

#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/ops/registry.h"

namespace symnet {

namespace {

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, std::shared_ptr<const HostCallback>>& callbacks() {
  static std::map<std::string, std::shared_ptr<const HostCallback>> m;
  return m;
}

std::vector<TensorType> declared_types(const InferContext& c) {
  std::vector<TensorType> outs;
  if (c.attrs.has("output_like")) {
    for (int64_t k : c.attrs.get_ints("output_like")) {
      SN_CHECK(k >= 0 && k < static_cast<int64_t>(c.num_inputs()), ErrorKind::attr,
               "output_like names input " << k << " of " << c.num_inputs());
      outs.push_back(c.in(static_cast<size_t>(k)));
    }
    return outs;
  }
  SN_CHECK(c.attrs.has("output_dtypes"), ErrorKind::attr,
           "the op '" << c.attrs.get_string("callback")
                      << "' declares no output types (output_like or output_dtypes) and has no infer function");
  std::vector<std::string> dtypes = c.attrs.get_strings("output_dtypes");
  std::vector<int64_t> ranks = c.attrs.get_ints("output_ranks", std::vector<int64_t>(dtypes.size(), -1));
  std::vector<int64_t> dims = c.attrs.get_ints("output_shapes", {});
  SN_CHECK(ranks.size() == dtypes.size(), ErrorKind::attr, "output_ranks needs one rank per output dtype");
  size_t at = 0;
  for (size_t k = 0; k < dtypes.size(); ++k) {
    TensorType t;
    t.dtype = dtype_from_name(dtypes[k]);
    if (ranks[k] < 0) {
      t.unknown_rank = true;
    } else {
      SN_CHECK(at + static_cast<size_t>(ranks[k]) <= dims.size(), ErrorKind::attr,
               "output_shapes holds fewer dimensions than output_ranks lists");
      t.shape.assign(dims.begin() + static_cast<std::ptrdiff_t>(at),
                     dims.begin() + static_cast<std::ptrdiff_t>(at + static_cast<size_t>(ranks[k])));
      at += static_cast<size_t>(ranks[k]);
    }
    outs.push_back(t);
  }
  return outs;
}

std::vector<TensorType> host_callback_infer(const InferContext& c) {
  const std::string& name = c.attrs.get_string("callback");
  std::vector<TensorType> outs;
  std::shared_ptr<const HostCallback> cb = find_host_callback(name);
  if (cb && cb->infer && !c.attrs.has("output_like")) {
    outs = cb->infer(c.inputs);
  } else {
    outs = declared_types(c);
  }
  SN_CHECK(!outs.empty(), ErrorKind::value, "the op '" << name << "' has no outputs");
  return outs;
}

// The gradient is another host_callback node: `grad_callback` on [inputs, outputs, output
// gradients], giving one gradient per input (each of its input's type). It differentiates
// again only where that callback has a gradient of its own, which it does not: a second
// derivative is an `unsupported` error.
std::vector<Value> host_callback_grad(const GradContext& ctx) {
  const std::string& name = ctx.node.attrs.get_string("callback");
  SN_CHECK(ctx.node.attrs.has("grad_callback"), ErrorKind::unsupported,
           "the op '" << name << "' has no backward function, so a gradient cannot flow through it");
  std::vector<Value> ins = ctx.node.inputs;
  ins.insert(ins.end(), ctx.outputs.begin(), ctx.outputs.end());
  ins.insert(ins.end(), ctx.out_grads.begin(), ctx.out_grads.end());
  std::vector<int64_t> like;
  for (size_t i = 0; i < ctx.node.inputs.size(); ++i) like.push_back(static_cast<int64_t>(i));
  AttrMap a{{"callback", ctx.node.attrs.get_string("grad_callback")}, {"output_like", like}};
  std::vector<Value> g = make_node("host_callback", ins, a, ctx.node.name + "/grad");
  std::vector<Value> grads(ctx.node.inputs.size());
  for (size_t i = 0; i < grads.size(); ++i)
    if (is_float(ctx.node.inputs[i].dtype())) grads[i] = g[i];
  return grads;
}

}  // namespace

void register_host_callback(const std::string& name, std::shared_ptr<const HostCallback> cb) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  if (cb) {
    callbacks()[name] = std::move(cb);
  } else {
    callbacks().erase(name);
  }
}

std::shared_ptr<const HostCallback> find_host_callback(const std::string& name) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  auto it = callbacks().find(name);
  return it == callbacks().end() ? nullptr : it->second;
}

std::shared_ptr<const HostCallback> get_host_callback(const std::string& name) {
  std::shared_ptr<const HostCallback> cb = find_host_callback(name);
  SN_CHECK(cb != nullptr, ErrorKind::unsupported,
           "the custom op '" << name << "' is not registered in this session: its code lives in the host program"
                             << " and is not saved with the graph; register it again under the same name (R: "
                             << "sym_custom_op(\"" << name << "\", forward = ...)) before compiling or running");
  return cb;
}

void register_host_callback_ops(Registry& r) {
  OpSchema s;
  s.name = "host_callback";
  s.min_inputs = 0;
  s.max_inputs = -1;
  // Not pure: the host function may do anything, so it is never folded, merged or fused.
  s.flags = kStateful;
  s.infer = host_callback_infer;
  s.grad = host_callback_grad;
  s.with_attrs({{"callback", AttrKind::string, true, "the name the host registered the function under"},
                {"grad_callback", AttrKind::string, false,
                 "the registered function computing the gradient (absent: not differentiable)"},
                {"output_like", AttrKind::ints, false, "output k has the type of input output_like[k]"},
                {"output_dtypes", AttrKind::strings, false, "declared output dtypes (used without an infer function)"},
                {"output_ranks", AttrKind::ints, false, "rank of each declared output (-1: unknown)"},
                {"output_shapes", AttrKind::ints, false,
                 "the declared outputs' dimensions, concatenated (-1: unknown)"}});
  r.add(s);
}

}  // namespace symnet
