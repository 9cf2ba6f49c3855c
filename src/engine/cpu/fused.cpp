// The CPU kernel of fused_elementwise: the flat element range is cut into chunks; for each
// chunk every body node's own CPU kernel runs on rank-1 views, intermediates living in
// small per-thread buffers that stay in cache. The plan (slots, steps with their prepared
// parameters, buffer reuse) is made once per node, at compile time.
#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "engine/base/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/parallel.h"

namespace symnet {

namespace {

constexpr int64_t kChunk = 2048;
constexpr size_t kSlotBytes = kChunk * 8;  // one chunk of the widest dtype

bool is_source(const Node& n) { return n.op_name() == "input" || n.op_name() == "constant"; }

// Where a body value lives during one chunk.
enum class Loc { input, constant, buffer, output };
struct Slot {
  Loc loc = Loc::buffer;
  int index = 0;          // input / output number, or buffer number
  const char* base = nullptr;  // constant data (inputs and outputs move with every run)
  size_t es = 0;
  bool full = true;       // has the whole element range (else one element, broadcast)
};

struct Step {
  const Node* node;
  KernelFn fn;
  std::shared_ptr<const void> params;
  std::vector<int> in, out;  // slot ids
  size_t ws_offset = 0, ws_bytes = 0;
};

struct Copy {  // body output that is not written directly by its producer
  int src;
  int dst_output;
};

struct Plan {
  int64_t n = 0;  // elements per output the plan was made for
  std::vector<Slot> slots;
  std::vector<Step> steps;
  std::vector<Copy> copies;
  int n_buffers = 0;
  size_t ws_total = 0;
};

// `in_numel`: element count of each input of the node; `n`: of its outputs.
Plan make_plan(const Backend& cpu, const Graph& body, const std::vector<int64_t>& in_numel, int64_t n) {
  Plan p;
  p.n = n;
  std::unordered_map<const Node*, int> slot_of;
  std::unordered_map<const Node*, int> input_pos;
  for (size_t i = 0; i < body.inputs.size(); ++i) input_pos[body.inputs[i].node.get()] = static_cast<int>(i);
  std::vector<NodePtr> order = body.topo_order();

  // Which body value each output takes directly (first claim wins), and last uses.
  std::unordered_map<const Node*, int> direct_output;
  for (size_t j = 0; j < body.outputs.size(); ++j) {
    const Node* src = body.outputs[j].node.get();
    if (!is_source(*src) && !direct_output.count(src)) direct_output[src] = static_cast<int>(j);
  }
  std::unordered_map<const Node*, int> last_use;
  for (int s = 0; s < static_cast<int>(order.size()); ++s)
    for (const Value& v : order[s]->inputs) last_use[v.node.get()] = s;

  std::vector<int> free_buffers;
  for (int s = 0; s < static_cast<int>(order.size()); ++s) {
    const Node& node = *order[s];
    Slot slot;
    slot.es = dtype_size(node.outputs[0].dtype);
    if (node.op_name() == "input") {
      int i = input_pos.at(&node);
      slot.loc = Loc::input;
      slot.index = i;
      slot.full = in_numel[i] == n;
      SN_CHECK(slot.full || in_numel[i] == 1, ErrorKind::shape,
               "input " << i + 1 << " has " << in_numel[i] << " elements, expected " << n << " or 1");
    } else if (node.op_name() == "constant") {
      TensorPtr t = node.attrs.get_tensor("value");
      slot.loc = Loc::constant;
      slot.base = static_cast<const char*>(t->data());
      slot.full = t->numel() == n;
      SN_CHECK(slot.full || t->numel() == 1, ErrorKind::shape,
               "body constant has " << t->numel() << " elements, expected " << n << " or 1");
    } else {
      const KernelImpl* impl = cpu.kernel(node.op_name());
      SN_CHECK(impl != nullptr, ErrorKind::unsupported, node.describe() << " in a fused body has no CPU kernel");
      Step st{&node, impl->fn, impl->prepare ? impl->prepare(node) : nullptr, {}, {}, 0, 0};
      for (const Value& v : node.inputs) st.in.push_back(slot_of.at(v.node.get()));
      auto d = direct_output.find(&node);
      if (d != direct_output.end()) {
        slot.loc = Loc::output;
        slot.index = d->second;
      } else {
        slot.loc = Loc::buffer;
        if (free_buffers.empty()) {
          slot.index = p.n_buffers++;
        } else {
          slot.index = free_buffers.back();
          free_buffers.pop_back();
        }
      }
      if (impl->workspace) {
        st.ws_bytes = (impl->workspace(node) + 63) / 64 * 64;
        st.ws_offset = p.ws_total;
        p.ws_total += st.ws_bytes;
      }
      st.out.push_back(static_cast<int>(p.slots.size()));
      // Inputs dying here give their buffers back only after the output has its own.
      for (const Value& v : node.inputs) {
        const Slot& in = p.slots[slot_of.at(v.node.get())];
        auto lu = last_use.find(v.node.get());
        bool is_output = direct_output.count(v.node.get()) > 0;
        if (in.loc == Loc::buffer && !is_output && lu != last_use.end() && lu->second == s &&
            std::find(free_buffers.begin(), free_buffers.end(), in.index) == free_buffers.end())
          free_buffers.push_back(in.index);
      }
      p.steps.push_back(std::move(st));
    }
    slot_of[&node] = static_cast<int>(p.slots.size());
    p.slots.push_back(slot);
  }
  for (size_t j = 0; j < body.outputs.size(); ++j) {
    const Node* src = body.outputs[j].node.get();
    auto d = direct_output.find(src);
    if (d == direct_output.end() || d->second != static_cast<int>(j))
      p.copies.push_back({slot_of.at(src), static_cast<int>(j)});
  }
  return p;
}

struct FusedParams {
  GraphPtr body;
  Plan plan;  // for the node's own shapes
};

void fused_kernel(KernelContext& k) {
  const FusedParams& fp = k.param<FusedParams>();
  const int64_t n = k.out.at(0).numel();
  for (const TensorView& o : k.out)
    SN_CHECK(o.numel() == n, ErrorKind::shape, "fused outputs must have " << n << " elements");
  if (n <= 0) return;
  Plan own;
  const Plan* cached = &fp.plan;
  if (cached->n != n) cached = nullptr;  // run at other shapes than compiled for
  if (!cached) {
    std::vector<int64_t> in_numel;
    for (const TensorView& v : k.in) in_numel.push_back(v.numel());
    own = make_plan(cpu_backend(), *fp.body, in_numel, n);
  }
  const Plan& plan = cached ? *cached : own;
  const size_t buf_bytes = static_cast<size_t>(plan.n_buffers) * kSlotBytes + plan.ws_total;
  const int64_t n_chunks = (n + kChunk - 1) / kChunk;

  // An exception in any chunk reaches the caller through parallel_for.
  parallel_for(n_chunks, 4, [&](int64_t cb, int64_t ce) {
    // Grown once per thread and reused by every later run: no allocation per chunk.
    thread_local std::vector<unsigned char> scratch;
    if (scratch.size() < buf_bytes + 64) scratch.resize(buf_bytes + 64);
    unsigned char* buf = scratch.data();
    buf += (64 - reinterpret_cast<uintptr_t>(buf) % 64) % 64;
    unsigned char* ws = buf + static_cast<size_t>(plan.n_buffers) * kSlotBytes;

    std::vector<char*> ptr(plan.slots.size());
    std::vector<KernelContext> ctx;
    ctx.reserve(plan.steps.size());
    for (const Step& st : plan.steps) {
      KernelContext c;
      c.workspace = st.ws_bytes ? ws + st.ws_offset : nullptr;
      c.run = k.run;
      c.params = st.params.get();
      for (const Value& v : st.node->inputs) c.in.push_back(TensorView{nullptr, v.dtype(), Shape{1}});
      c.out.push_back(TensorView{nullptr, st.node->outputs[0].dtype, Shape{1}});
      ctx.push_back(std::move(c));
    }
    for (int64_t c = cb; c < ce; ++c) {
      const int64_t off = c * kChunk;
      const int64_t len = std::min(kChunk, n - off);
      for (size_t s = 0; s < plan.slots.size(); ++s) {
        const Slot& sl = plan.slots[s];
        if (sl.loc == Loc::buffer) {
          ptr[s] = reinterpret_cast<char*>(buf) + sl.index * kSlotBytes;
          continue;
        }
        char* base = sl.loc == Loc::input    ? static_cast<char*>(k.in[sl.index].data)
                     : sl.loc == Loc::output ? static_cast<char*>(k.out[sl.index].data)
                                             : const_cast<char*>(sl.base);
        ptr[s] = base + (sl.full ? off * static_cast<int64_t>(sl.es) : 0);
      }
      for (size_t i = 0; i < plan.steps.size(); ++i) {
        const Step& st = plan.steps[i];
        KernelContext& kc = ctx[i];
        for (size_t j = 0; j < st.in.size(); ++j) {
          kc.in[j].data = ptr[st.in[j]];
          kc.in[j].shape[0] = plan.slots[st.in[j]].full ? len : 1;
        }
        kc.out[0].data = ptr[st.out[0]];
        kc.out[0].shape[0] = len;
        st.fn(kc);
      }
      for (const Copy& cp : plan.copies) {
        const Slot& src = plan.slots[cp.src];
        char* dst = static_cast<char*>(k.out[cp.dst_output].data) + off * static_cast<int64_t>(src.es);
        if (src.full) {
          std::memcpy(dst, ptr[cp.src], static_cast<size_t>(len) * src.es);
        } else {
          for (int64_t e = 0; e < len; ++e) std::memcpy(dst + e * src.es, ptr[cp.src], src.es);
        }
      }
    }
  });
}

}  // namespace

void bind_fused_kernels(Backend& b) {
  KernelImpl k;
  k.fn = fused_kernel;
  const Backend* self = &b;
  k.prepare = [self](const Node& n) -> std::shared_ptr<const void> {
    std::vector<int64_t> in_numel;
    for (const Value& v : n.inputs) in_numel.push_back(shape_numel(v.shape()));
    GraphPtr body = n.attrs.get_graph("body");
    return std::make_shared<const FusedParams>(
        FusedParams{body, make_plan(*self, *body, in_numel, shape_numel(n.outputs.at(0).shape))});
  };
  // With a single output, that output is the body's only sink and is computed last in
  // every chunk, after all reads of the chunk's inputs: it may overwrite any input of
  // its own size.
  k.inplace_for = [](const Node& n) {
    std::vector<std::pair<int, int>> pairs;
    if (n.outputs.size() != 1) return pairs;
    for (int i = 0; i < static_cast<int>(n.inputs.size()); ++i)
      if (n.inputs[i].type() == n.outputs[0]) pairs.push_back({0, i});
    return pairs;
  };
  b.add_kernel("fused_elementwise", std::move(k));
}

}  // namespace symnet
