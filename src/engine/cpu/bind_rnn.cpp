// CPU kernel table of the recurrent ops: rnn, lstm, gru share one forward and one backward
// kernel, parameterized by the RnnSpec resolved from the node (ops/rnn_attrs.h).
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/rnn.h"
#include "engine/ops/rnn_attrs.h"

namespace symnet {

namespace {

RnnSpec spec_of(const Node& n) { return resolve_rnn(rnn_cell_of(n.op_name()), n.attrs, n.inputs.at(2).shape()[2]); }

KernelImpl rnn_impl(KernelFn fn, size_t (*ws)(const RnnSpec&, int64_t, int64_t, int64_t, DType)) {
  KernelImpl k = with_params<RnnSpec>(fn, spec_of);
  k.workspace = [ws](const Node& n) {
    const RnnSpec s = spec_of(n);
    const Shape& x = n.inputs.at(0).shape();
    return ws(s, s.layout == 0 ? x[0] : x[1], s.layout == 0 ? x[1] : x[0], x[2], n.inputs.at(0).dtype());
  };
  return k;
}

}  // namespace

void bind_rnn_kernels(Backend& b) {
  for (const char* op : {"rnn", "lstm", "gru"}) {
    b.add_kernel(op, rnn_impl(rnn_forward_kernel, rnn_forward_workspace));
    b.add_kernel(std::string(op) + "_grad", rnn_impl(rnn_backward_kernel, rnn_backward_workspace));
  }
}

}  // namespace symnet
