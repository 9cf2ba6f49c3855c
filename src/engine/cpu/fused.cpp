// The CPU kernel of fused_elementwise: the flat element range is cut into chunks, and the
// body, remade once on rank-1 values of one chunk, runs per chunk as a sub-plan
// (backend/sub_plan.h) of the other CPU kernels: its intermediates live in a small
// per-thread scratch block that stays in cache. The chunk body and its plan are made once
// per node, at compile time.
#include <algorithm>
#include <array>
#include <optional>
#include <cstring>
#include <unordered_map>

#include "engine/backend/sub_plan.h"
#include "engine/base/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/ops/builder.h"

namespace symnet {

namespace {

constexpr int64_t kChunk = 2048;

// The body on one chunk: every formal input and every constant of the fused body becomes
// an input of the chunk body, of kChunk elements (a batch input: the last chunk is short)
// when it has the node's whole element range, of one element (broadcast) when it is a
// single value.
struct ChunkBody {
  struct Source {
    int node_input = -1;            // the node's input it reads, or -1: a constant
    const char* constant = nullptr;
    size_t es = 0;
    bool full = true;
  };
  std::vector<Source> sources;  // per chunk-body input
  std::vector<int> full_sources;  // those moving with every chunk
  std::shared_ptr<const SubPlan> plan;
};

// `in_numel`: element count of each input of the node; `n`: of its outputs.
ChunkBody make_chunk_body(const Backend& b, const Graph& body, const std::vector<int64_t>& in_numel, int64_t n) {
  ChunkBody cb;
  auto chunk = std::make_shared<Graph>();
  std::unordered_map<const Node*, Value> replaced;
  SubPlanOptions opts;
  opts.what = "a fused body";
  auto add_input = [&](DType dt, ChunkBody::Source src) {
    const int pos = static_cast<int>(chunk->inputs.size());
    Value v = op::input("chunk" + std::to_string(pos), dt, src.full ? Shape{kChunk} : Shape{1});
    if (src.full) {
      opts.batch_inputs.push_back(pos);
      cb.full_sources.push_back(pos);
    }
    src.es = dtype_size(dt);
    chunk->inputs.push_back(v);
    cb.sources.push_back(src);
    return v;
  };
  for (size_t i = 0; i < body.inputs.size(); ++i) {
    SN_CHECK(in_numel[i] == n || in_numel[i] == 1, ErrorKind::shape,
             "input " << i + 1 << " has " << in_numel[i] << " elements, expected " << n << " or 1");
    ChunkBody::Source src;
    src.node_input = static_cast<int>(i);
    src.full = in_numel[i] == n;
    replaced[body.inputs[i].node.get()] = add_input(body.inputs[i].dtype(), src);
  }
  for (const NodePtr& node : body.topo_order()) {
    if (node->op_name() != "constant") continue;
    TensorPtr t = node->attrs.get_tensor("value");
    SN_CHECK(t->numel() == n || t->numel() == 1, ErrorKind::shape,
             "body constant has " << t->numel() << " elements, expected " << n << " or 1");
    ChunkBody::Source src;
    src.constant = static_cast<const char*>(t->data());
    src.full = t->numel() == n;
    replaced[node.get()] = add_input(t->dtype(), src);
  }
  Graph remade = rewrite_graph(body, [&](const Node& node, const std::vector<Value>&) -> std::vector<Value> {
    auto it = replaced.find(&node);
    if (it != replaced.end()) return {it->second};
    return {};  // remade on the chunk's values, so re-inferred at rank 1
  });
  chunk->outputs = remade.outputs;
  chunk->output_names = remade.output_names;
  for (const Value& v : chunk->outputs)
    SN_CHECK(v.shape() == Shape{kChunk}, ErrorKind::internal,
             "a fused body output is " << type_str(v.type()) << " on a chunk, not the chunk");
  cb.plan = std::make_shared<const SubPlan>(b, chunk, opts);
  return cb;
}

struct FusedParams {
  const Backend* backend;
  GraphPtr body;
  ChunkBody chunk;  // for the node's own shapes
};

// A thread's frame outlives one call: it is rebuilt only when the plan, the scratch or the
// run state differ, so that a small fused node (a bias update) costs no allocation per
// call. The cache holds the plan, so a cached frame never outlives what it points into.
SubPlan::Frame& frame_for(const std::shared_ptr<const SubPlan>& plan, void* scratch, RunContext* run) {
  struct Cached {
    std::shared_ptr<const SubPlan> plan;
    void* scratch = nullptr;
    RunContext* run = nullptr;
    std::optional<SubPlan::Frame> frame;
  };
  thread_local std::array<Cached, 16> cache;
  Cached& c = cache[(reinterpret_cast<uintptr_t>(plan.get()) / 64) % cache.size()];
  if (c.plan != plan || c.scratch != scratch || c.run != run || !c.frame) {
    c.frame.reset();
    c.frame.emplace(*plan, scratch, run);
    c.plan = plan;
    c.scratch = scratch;
    c.run = run;
  }
  return *c.frame;
}

// Whether the inputs have the element counts the chunk body was made for.
bool fits(const ChunkBody& cb, const KernelContext& k, int64_t n) {
  for (const ChunkBody::Source& s : cb.sources)
    if (s.node_input >= 0 && k.in[s.node_input].numel() != (s.full ? n : 1)) return false;
  return true;
}

void fused_kernel(KernelContext& k) {
  const FusedParams& fp = k.param<FusedParams>();
  const int64_t n = k.out.at(0).numel();
  for (const TensorView& o : k.out)
    SN_CHECK(o.numel() == n, ErrorKind::shape, "fused outputs must have " << n << " elements");
  if (n <= 0) return;
  ChunkBody own;
  const ChunkBody* cb = &fp.chunk;
  if (!fits(*cb, k, n)) {  // run at other shapes than compiled for
    std::vector<int64_t> in_numel;
    for (const TensorView& v : k.in) in_numel.push_back(v.numel());
    own = make_chunk_body(*fp.backend, *fp.body, in_numel, n);
    cb = &own;
  }
  const SubPlan& plan = *cb->plan;
  const size_t align = SubPlan::scratch_alignment();
  const int64_t n_chunks = (n + kChunk - 1) / kChunk;

  // An exception in any chunk reaches the caller through parallel_for.
  parallel_for(n_chunks, 4, [&](int64_t c_begin, int64_t c_end) {
    // Grown once per thread and reused by every later run: no allocation per chunk.
    thread_local std::vector<unsigned char> scratch;
    if (scratch.size() < plan.scratch_bytes() + align) scratch.resize(plan.scratch_bytes() + align);
    unsigned char* buf = scratch.data();
    buf += (align - reinterpret_cast<uintptr_t>(buf) % align) % align;

    SubPlan::Frame& frame = frame_for(cb->plan, buf, k.run);
    auto source_data = [&](const ChunkBody::Source& s) {
      return s.node_input >= 0 ? static_cast<const char*>(k.in[s.node_input].data) : s.constant;
    };
    for (size_t i = 0; i < cb->sources.size(); ++i)
      if (!cb->sources[i].full) frame.set_input(i, source_data(cb->sources[i]));
    for (int64_t c = c_begin; c < c_end; ++c) {
      const int64_t off = c * kChunk;
      for (int i : cb->full_sources) {
        const ChunkBody::Source& s = cb->sources[i];
        frame.set_input(i, source_data(s) + off * static_cast<int64_t>(s.es));
      }
      for (size_t j = 0; j < k.out.size(); ++j)
        frame.set_output(j, static_cast<char*>(k.out[j].data) + off * static_cast<int64_t>(dtype_size(k.out[j].dtype)));
      frame.run(std::min(kChunk, n - off));
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
        FusedParams{self, body, make_chunk_body(*self, *body, in_numel, shape_numel(n.outputs.at(0).shape))});
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
