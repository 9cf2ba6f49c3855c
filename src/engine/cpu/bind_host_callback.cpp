// The CPU kernel of host_callback (ops/host_callback.h): calls the function the host
// registered under the node's `callback` name, looked up at every run so that a callback
// registered again (a session that reloaded a model) is the one that runs. The executor runs
// nodes one after another on its calling thread and no fusion takes this op, so the host
// function is called on the thread that called run() -- for R, its main thread.
#include "engine/cpu/cpu_backend.h"
#include "engine/base/error.h"
#include "engine/ops/host_callback.h"

namespace symnet {

namespace {

struct HostCallbackParams {
  std::string callback;
};

void host_callback_kernel(KernelContext& k) {
  const auto& p = k.param<HostCallbackParams>();
  std::shared_ptr<const HostCallback> cb = get_host_callback(p.callback);
  SN_CHECK(cb->run, ErrorKind::unsupported, "the custom op '" << p.callback << "' has no run function");
  try {
    cb->run(k.in, k.out);
  } catch (const Error& e) {
    throw e.with_context(p.callback, "");
  }
}

}  // namespace

void bind_host_callback_kernels(Backend& b) {
  b.add_kernel("host_callback", with_params<HostCallbackParams>(host_callback_kernel, [](const Node& n) {
                 return HostCallbackParams{n.attrs.get_string("callback")};
               }));
}

}  // namespace symnet
