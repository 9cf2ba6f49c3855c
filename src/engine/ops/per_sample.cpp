// fused_per_sample: a chain of batchwise ops (the graph attribute "body", specialised to a
// small batch: the chunk) run chunk by chunk. Each thread carries a few samples through the
// whole chain in its own scratch memory, so the chain's intermediate values are never held
// for the whole batch: for LeNet inference at batch 1000 the 46 MB output of the first
// convolution becomes a few hundred KB per thread, still in cache when it is pooled.
// Built by passes/fuse_per_sample.cpp; only forward (inference) chains qualify, since
// training keeps the intermediates for the backward pass.
#include <algorithm>
#include <atomic>
#include <unordered_map>

#include "engine/base/error.h"
#include "engine/kernels/cpu/blas.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/ops/registry.h"

namespace symnet {

namespace {

constexpr size_t kAlign = 64;
size_t aligned(size_t b) { return (b + kAlign - 1) / kAlign * kAlign; }

// Scratch of one thread: the value of every body node (one chunk) and each node's kernel
// workspace. A value's buffer is reused once its last reader has run.
struct Layout {
  std::unordered_map<const Node*, int> input_pos;    // body input node -> node input number
  std::vector<const Node*> steps;                    // body nodes that compute
  std::unordered_map<const Node*, size_t> value_at;  // scratch offset of a step's value
  std::vector<size_t> ws_at;                         // per step; SIZE_MAX: none
  size_t per_thread = 0;
};

bool is_source(const Node& n) { return n.op_name() == "input" || n.op_name() == "constant"; }

Layout make_layout(const Graph& body) {
  Layout l;
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
    const size_t need = n->op->workspace ? n->op->workspace(*n) : 0;
    l.ws_at.push_back(need ? values : SIZE_MAX);
    ws = std::max(ws, need);
  }
  l.per_thread = values + aligned(ws);
  return l;
}

int thread_cap() { return std::max(1, std::min(64, hardware_threads())); }

void validate_body(const Graph& body, size_t n_inputs) {
  SN_CHECK(body.inputs.size() == n_inputs, ErrorKind::attr,
           "'body' has " << body.inputs.size() << " inputs but the node has " << n_inputs);
  SN_CHECK(body.outputs.size() == 1, ErrorKind::attr, "'body' must have one output");
  SN_CHECK(!body.inputs.empty() && body.inputs[0].shape().size() >= 1 && body.inputs[0].shape()[0] >= 1,
           ErrorKind::attr, "the first body input must be a batch (the chunk) of samples");
  for (const NodePtr& n : body.topo_order()) {
    if (is_source(*n)) continue;
    SN_CHECK(n->op->kernel(Device::cpu) && n->outputs.size() == 1 && !n->op->has(kRandom), ErrorKind::attr,
             "'body' may only hold deterministic single-output ops with a CPU kernel, not " << n->describe());
  }
  const Shape& out = body.outputs[0].shape();
  SN_CHECK(!out.empty() && out[0] == body.inputs[0].shape()[0], ErrorKind::attr,
           "the body output must have the batch of its first input");
  // The kernel writes the last step straight into the node's output.
  const Node* result = body.outputs[0].node.get();
  SN_CHECK(!is_source(*result) && body.outputs[0].index == 0, ErrorKind::attr,
           "the body output must be computed by the body");
  for (const NodePtr& n : body.topo_order())
    for (const Value& v : n->inputs)
      SN_CHECK(v.node.get() != result, ErrorKind::attr, "no body node may read the body's output");
}

std::vector<TensorType> per_sample_infer(const InferContext& c) {
  GraphPtr body = c.attrs.get_graph("body");
  SN_CHECK(body != nullptr, ErrorKind::attr, "attribute 'body' is empty");
  validate_body(*body, c.num_inputs());
  const TensorType& x = c.in(0);
  const TensorType& sample = body->inputs[0].type();
  SN_CHECK(x.dtype == sample.dtype && x.shape.size() == sample.shape.size() &&
               std::equal(x.shape.begin() + 1, x.shape.end(), sample.shape.begin() + 1),
           ErrorKind::shape,
           "input 1 has type " << type_str(x) << " but the body takes samples of " << type_str(sample));
  for (size_t i = 1; i < c.num_inputs(); ++i)
    SN_CHECK(c.in(i) == body->inputs[i].type(), ErrorKind::shape,
             "input " << i + 1 << " has type " << type_str(c.in(i)) << " but the body expects "
                      << type_str(body->inputs[i].type()));
  TensorType out = body->outputs[0].type();
  out.shape[0] = x.shape[0];
  return {out};
}

size_t per_sample_workspace(const Node& n) {
  return make_layout(*n.attrs.get_graph("body")).per_thread * static_cast<size_t>(thread_cap()) + kAlign;
}

void per_sample_kernel(KernelContext& k) {
  const Graph& body = *k.node.attrs.get_graph("body");
  Layout own;
  const auto* cached = static_cast<const Layout*>(k.state);
  if (!cached) own = make_layout(body);
  const Layout& l = cached ? *cached : own;
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
      KernelContext c{node, {}, {}, l.ws_at[s] == SIZE_MAX ? nullptr : scratch + l.ws_at[s], k.run};
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
        l.steps[s]->op->kernel(Device::cpu)(c);
      }
    }
  });
}

}  // namespace

void register_per_sample_ops(Registry& r) {
  OpDef f;
  f.name = "fused_per_sample";
  f.min_inputs = 1;
  f.max_inputs = -1;
  f.flags = kPure;  // not batchwise itself: per-sample nodes are never fused again
  f.infer = per_sample_infer;
  f.kernels[0] = per_sample_kernel;
  f.workspace = per_sample_workspace;
  f.prepare = [](const Node& n) -> std::shared_ptr<const void> {
    return std::make_shared<const Layout>(make_layout(*n.attrs.get_graph("body")));
  };
  r.add(f);
}

}  // namespace symnet
