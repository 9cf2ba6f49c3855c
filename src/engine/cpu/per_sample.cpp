// The CPU kernel of fused_per_sample: each thread carries a chunk of samples through the
// whole body in its own scratch memory (see ops/per_sample.cpp). The layout (value
// buffers, workspaces, each step's kernel and prepared parameters) is made once per node.
#include <algorithm>
#include <atomic>
#include <unordered_map>

#include "engine/base/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/blas.h"
#include "engine/kernels/cpu/parallel.h"

namespace symnet {

namespace {

bool is_source(const Node& n) { return n.op_name() == "input" || n.op_name() == "constant"; }

constexpr size_t kAlign = 64;
size_t aligned(size_t b) { return (b + kAlign - 1) / kAlign * kAlign; }

// Scratch of one thread: the value of every body node (one chunk) and each node's kernel
// workspace. A value's buffer is reused once its last reader has run.
struct Layout {
  GraphPtr body;
  std::unordered_map<const Node*, int> input_pos;    // body input node -> node input number
  std::vector<const Node*> steps;                    // body nodes that compute
  std::vector<const KernelImpl*> kernels;            // per step
  std::vector<std::shared_ptr<const void>> params;   // per step, prepared
  std::unordered_map<const Node*, size_t> value_at;  // scratch offset of a step's value
  std::vector<size_t> ws_at;                         // per step; SIZE_MAX: none
  size_t per_thread = 0;
};

Layout make_layout(const Backend& cpu, const GraphPtr& body_ptr) {
  const Graph& body = *body_ptr;
  Layout l;
  l.body = body_ptr;
  for (size_t i = 0; i < body.inputs.size(); ++i) l.input_pos[body.inputs[i].node.get()] = static_cast<int>(i);
  const Node* last = body.outputs.at(0).node.get();
  std::vector<NodePtr> order = body.topo_order();
  std::unordered_map<const Node*, size_t> last_read;
  for (size_t s = 0; s < order.size(); ++s)
    for (const Value& v : order[s]->inputs) last_read[v.node.get()] = s;
  struct Buffer {
    size_t offset, bytes;
  };
  std::vector<Buffer> free_list;
  std::vector<std::pair<size_t, Buffer>> dying;  // (step of last read, buffer)
  size_t values = 0;                              // bytes of value buffers
  for (size_t s = 0; s < order.size(); ++s) {
    const Node* n = order[s].get();
    if (is_source(*n)) continue;
    // Buffers whose last reader ran before this step are free again.
    for (auto it = dying.begin(); it != dying.end();) {
      if (it->first < s) {
        free_list.push_back(it->second);
        it = dying.erase(it);
      } else {
        ++it;
      }
    }
    l.steps.push_back(n);
    if (n != last) {  // the last value goes straight into the output
      const size_t b = aligned(static_cast<size_t>(shape_numel(n->outputs[0].shape)) * dtype_size(n->outputs[0].dtype));
      auto best = free_list.end();
      for (auto it = free_list.begin(); it != free_list.end(); ++it)
        if (it->bytes >= b && (best == free_list.end() || it->bytes < best->bytes)) best = it;
      Buffer buf{values, b};
      if (best != free_list.end()) {
        buf = *best;
        free_list.erase(best);
      } else {
        values += b;
      }
      l.value_at[n] = buf.offset;
      dying.push_back({last_read.count(n) ? last_read[n] : s, buf});
    }
  }
  // Workspaces after the values; steps run one at a time, so they share one region.
  size_t ws = 0;
  for (const Node* n : l.steps) {
    const KernelImpl* impl = cpu.kernel(n->op_name());
    SN_CHECK(impl != nullptr, ErrorKind::unsupported, n->describe() << " in a per-sample body has no CPU kernel");
    l.kernels.push_back(impl);
    l.params.push_back(impl->prepare ? impl->prepare(*n) : nullptr);
    const size_t need = impl->workspace ? impl->workspace(*n) : 0;
    l.ws_at.push_back(need ? values : SIZE_MAX);
    ws = std::max(ws, need);
  }
  l.per_thread = values + aligned(ws);
  return l;
}

int thread_cap() { return std::max(1, std::min(64, hardware_threads())); }

size_t per_sample_workspace(const Layout& l) { return l.per_thread * static_cast<size_t>(thread_cap()) + kAlign; }

void per_sample_kernel(KernelContext& k) {
  const Layout& l = k.param<Layout>();
  const Graph& body = *l.body;
  const TensorView& x = k.in[0];
  const TensorView& y = k.out[0];
  const int64_t n = x.shape.at(0);
  if (n <= 0) return;
  const size_t x_step = x.bytes() / static_cast<size_t>(n), y_step = y.bytes() / static_cast<size_t>(n);
  char* ws = static_cast<char*>(k.workspace);
  ws += (kAlign - reinterpret_cast<uintptr_t>(ws) % kAlign) % kAlign;

  const int64_t chunk = body.inputs[0].shape()[0];
  BlasSerialScope serial;  // the library must not start threads of its own under ours
  std::atomic<int64_t> next{0};
  const int nt = static_cast<int>(std::min<int64_t>({engine_num_threads(), thread_cap(), (n + chunk - 1) / chunk}));
  parallel_threads(nt, [&](int t) {
    char* scratch = ws + static_cast<size_t>(t) * l.per_thread;
    // One context per step, set up once per thread; per chunk only the sample data moves
    // and the batch axis of the chunk's views changes (the last chunk may be short).
    std::vector<KernelContext> ctx;
    ctx.reserve(l.steps.size());
    std::vector<std::vector<int>> sample_in(l.steps.size());   // inputs reading the chunk's data
    std::vector<std::vector<int>> batched_in(l.steps.size());  // inputs with the chunk's batch
    for (size_t s = 0; s < l.steps.size(); ++s) {
      const Node& node = *l.steps[s];
      KernelContext c;
      c.workspace = l.ws_at[s] == SIZE_MAX ? nullptr : scratch + l.ws_at[s];
      c.run = k.run;
      c.params = l.params[s].get();
      for (size_t j = 0; j < node.inputs.size(); ++j) {
        const Value& v = node.inputs[j];
        const Node& src = *v.node;
        TensorView view{nullptr, v.dtype(), v.shape()};
        if (src.op_name() == "input") {
          const int i = l.input_pos.at(&src);
          if (i == 0) {
            sample_in[s].push_back(static_cast<int>(j));
            batched_in[s].push_back(static_cast<int>(j));
          } else {
            view.data = k.in[i].data;
          }
        } else if (src.op_name() == "constant") {
          view.data = src.attrs.get_tensor("value")->data();
        } else {
          view.data = scratch + l.value_at.at(&src);
          batched_in[s].push_back(static_cast<int>(j));
        }
        c.in.push_back(view);
      }
      TensorView out{nullptr, node.outputs[0].dtype, node.outputs[0].shape};
      if (s + 1 < l.steps.size()) out.data = scratch + l.value_at.at(&node);
      c.out.push_back(out);
      ctx.push_back(std::move(c));
    }
    for (;;) {
      const int64_t i = next.fetch_add(chunk, std::memory_order_relaxed);
      if (i >= n) break;
      const int64_t len = std::min(chunk, n - i);
      const char* xi = static_cast<const char*>(x.data) + static_cast<size_t>(i) * x_step;
      for (size_t s = 0; s < ctx.size(); ++s) {
        KernelContext& c = ctx[s];
        for (int j : sample_in[s]) c.in[j].data = const_cast<char*>(xi);
        for (int j : batched_in[s]) c.in[j].shape[0] = len;
        c.out[0].shape[0] = len;
        if (s + 1 == ctx.size()) c.out[0].data = static_cast<char*>(y.data) + static_cast<size_t>(i) * y_step;
        l.kernels[s]->fn(c);
      }
    }
  });
}

}  // namespace

void bind_per_sample_kernels(Backend& b) {
  KernelImpl k;
  k.fn = per_sample_kernel;
  const Backend* self = &b;
  k.prepare = [self](const Node& n) -> std::shared_ptr<const void> {
    return std::make_shared<const Layout>(make_layout(*self, n.attrs.get_graph("body")));
  };
  k.workspace = [self](const Node& n) { return per_sample_workspace(make_layout(*self, n.attrs.get_graph("body"))); };
  b.add_kernel("fused_per_sample", std::move(k));
}

}  // namespace symnet
