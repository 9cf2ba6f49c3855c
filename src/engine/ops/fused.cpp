// fused_elementwise: a chain of elementwise ops (the graph attribute "body") run in one
// pass over memory. The flat element range is cut into chunks; for each chunk every body
// node's own CPU kernel runs on rank-1 views, intermediates living in small per-thread
// buffers that stay in cache. Built by the fusion pass (passes/fuse.cpp).
#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "engine/base/error.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/ops/registry.h"

namespace symnet {

namespace {

constexpr int64_t kChunk = 2048;
constexpr size_t kSlotBytes = kChunk * 8;  // one chunk of the widest dtype

bool is_source(const Node& n) { return n.op_name() == "input" || n.op_name() == "constant"; }

// Checks the body's structure; the fusion invariant on shapes is checked on the types.
void validate_body(const Graph& body, size_t n_inputs) {
  SN_CHECK(body.inputs.size() == n_inputs, ErrorKind::attr,
           "'body' has " << body.inputs.size() << " inputs but the node has " << n_inputs);
  SN_CHECK(!body.outputs.empty(), ErrorKind::attr, "'body' has no outputs");
  std::unordered_set<const Node*> formal;
  for (const Value& v : body.inputs) {
    SN_CHECK(v.defined() && v.node->op_name() == "input", ErrorKind::attr,
             "'body' inputs must be input nodes");
    formal.insert(v.node.get());
  }
  for (const NodePtr& n : body.topo_order()) {
    if (n->op_name() == "input") {
      SN_CHECK(formal.count(n.get()), ErrorKind::attr,
               "'body' uses input '" << n->name << "' that is not among its inputs");
      continue;
    }
    if (n->op_name() == "constant") continue;
    const OpDef& d = *n->op;
    SN_CHECK(d.has(kElementwise) && !d.has(kRandom) && d.kernel(Device::cpu) && n->outputs.size() == 1,
             ErrorKind::attr,
             "'body' may only hold deterministic elementwise ops with a CPU kernel, not " << n->describe());
  }
}

Graph respecialize(const Graph& body, const std::vector<TensorType>& types) {
  std::unordered_map<const Node*, Value> formal;
  for (size_t i = 0; i < body.inputs.size(); ++i) {
    const Node& in = *body.inputs[i].node;
    AttrMap attrs = in.attrs;
    attrs.set("shape", types[i].shape);
    formal[&in] = make_node("input", {}, std::move(attrs), in.name).at(0);
  }
  try {
    return rewrite_graph(body, [&](const Node& n, const std::vector<Value>&) -> std::vector<Value> {
      auto it = formal.find(&n);
      if (it != formal.end()) return {it->second};
      return {};
    });
  } catch (const Error& e) {
    SN_THROW(ErrorKind::shape, "the body cannot take these input shapes: " << e.what());
  }
}

std::vector<TensorType> fused_infer(const InferContext& c) {
  GraphPtr body = c.attrs.get_graph("body");
  SN_CHECK(body != nullptr, ErrorKind::attr, "attribute 'body' is empty");
  validate_body(*body, c.num_inputs());
  bool same = true;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    const TensorType& declared = body->inputs[i].type();
    SN_CHECK(declared.dtype == c.in(i).dtype, ErrorKind::dtype,
             "input " << i + 1 << " is " << dtype_name(c.in(i).dtype) << " but the body expects "
                      << dtype_name(declared.dtype));
    same = same && declared == c.in(i);
  }
  // Other input shapes (a body declared for one batch size, run at another): re-infer the
  // body on them; the element-count checks below decide whether they still fit.
  Graph g = same ? *body : respecialize(*body, c.inputs);
  std::vector<TensorType> outs;
  for (const Value& v : g.outputs) outs.push_back(v.type());
  const Shape& full = outs[0].shape;
  int64_t n = shape_numel(full);
  for (const TensorType& t : outs)
    SN_CHECK(t.shape == full, ErrorKind::shape,
             "all outputs of the body must have one shape, got " << shape_str(full) << " and "
                                                                 << shape_str(t.shape));
  auto fits = [&](const Shape& s, bool allow_scalar) {
    int64_t m = shape_numel(s);
    return m < 0 || n < 0 || m == n || (allow_scalar && m == 1);
  };
  for (const NodePtr& node : g.topo_order()) {
    for (const TensorType& t : node->outputs)
      SN_CHECK(fits(t.shape, is_source(*node)), ErrorKind::shape,
               "every body value must have " << n << " elements (or 1 for inputs), but "
                                             << node->describe() << " has shape " << shape_str(t.shape));
  }
  return outs;
}

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
Plan make_plan(const Graph& body, const std::vector<int64_t>& in_numel, int64_t n) {
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
      Step st{&node, node.op->kernel(Device::cpu), {}, {}, 0, 0};
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
      if (node.op->workspace) {
        st.ws_bytes = (node.op->workspace(node) + 63) / 64 * 64;
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

void fused_kernel(KernelContext& k) {
  const Graph& body = *k.node.attrs.get_graph("body");
  const int64_t n = k.out.at(0).numel();
  for (const TensorView& o : k.out)
    SN_CHECK(o.numel() == n, ErrorKind::shape, "fused outputs must have " << n << " elements");
  if (n <= 0) return;
  Plan own;
  const Plan* cached = static_cast<const Plan*>(k.state);
  if (cached && cached->n != n) cached = nullptr;  // run at other shapes than compiled for
  if (!cached) {
    std::vector<int64_t> in_numel;
    for (const TensorView& v : k.in) in_numel.push_back(v.numel());
    own = make_plan(body, in_numel, n);
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
      KernelContext c{*st.node, {}, {}, st.ws_bytes ? ws + st.ws_offset : nullptr, k.run};
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

void register_fused_ops(Registry& r) {
  OpDef f;
  f.name = "fused_elementwise";
  f.min_inputs = 0;
  f.max_inputs = -1;
  f.flags = kPure;  // not kElementwise: fused nodes are never fused again
  f.infer = fused_infer;
  f.kernels[0] = fused_kernel;
  f.prepare = [](const Node& n) -> std::shared_ptr<const void> {
    std::vector<int64_t> in_numel;
    for (const Value& v : n.inputs) in_numel.push_back(shape_numel(v.shape()));
    return std::make_shared<const Plan>(make_plan(*n.attrs.get_graph("body"), in_numel, shape_numel(n.outputs.at(0).shape)));
  };
  // With a single output, that output is the body's only sink and is computed last in
  // every chunk, after all reads of the chunk's inputs: it may overwrite any input of
  // its own size.
  f.inplace_for = [](const Node& n) {
    std::vector<std::pair<int, int>> pairs;
    if (n.outputs.size() != 1) return pairs;
    for (int i = 0; i < static_cast<int>(n.inputs.size()); ++i)
      if (n.inputs[i].type() == n.outputs[0]) pairs.push_back({0, i});
    return pairs;
  };
  r.add(f);
}

}  // namespace symnet
