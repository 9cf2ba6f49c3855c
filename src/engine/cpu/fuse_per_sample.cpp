// Per-sample fusion: a chain of batchwise ops (convolutions, pooling, elementwise ops with
// per-model operands) whose intermediate values have no other consumer becomes one
// fused_per_sample node (ops/per_sample.cpp), which carries a chunk of a few samples
// through the whole chain before the next. The chain's intermediates then take a chunk's
// worth of memory per thread instead of whole-batch buffers.
//
// Only chains that save memory are fused: some intermediate must be larger than the
// chain's output, and holding it for one chunk per thread instead of for the whole batch
// must save at least kMinSaving bytes. That is a forward pass with pooling in it
// (inference, evaluation); in a training graph the backward pass reads the forward values,
// so the chains stop at every value it needs and nothing worth fusing remains.
#include <algorithm>
#include <memory>
#include <unordered_map>

#include "engine/ops/builder.h"
#include "engine/ops/registry.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/passes/passes.h"

namespace symnet {

namespace {

constexpr size_t kMinSaving = size_t{1} << 20;
// Samples per chunk: as many as keep the chain's intermediates of one chunk within about
// this many bytes (a core's L2), to spread the per-call set-up of each kernel.
constexpr size_t kChunkBytes = size_t{1} << 20;
constexpr int64_t kMinChunks = 16;

size_t bytes_of(const TensorType& t) {
  const int64_t n = shape_numel(t.shape);
  return n > 0 ? static_cast<size_t>(n) * dtype_size(t.dtype) : 0;
}

// The input of `n` that carries the samples, or -1 when `n` cannot be in a chain.
int sample_input(const Node& n) {
  const OpSchema& op = *n.op;
  if (n.outputs.size() != 1 || n.inputs.empty() || !cpu_backend().kernel(n.op_name()) || op.has(kRandom) || op.has(kSource))
    return -1;
  const TensorType& out = n.outputs[0];
  if (!is_core_dtype(out.dtype) || out.shape.empty() || out.shape[0] < 1 || !shape_known(out.shape)) return -1;
  if (op.has(kBatchwise)) {
    const Shape& x = n.inputs[0].shape();
    return !x.empty() && x[0] == out.shape[0] && shape_known(x) ? 0 : -1;
  }
  if (!op.has(kElementwise)) return -1;
  // One value of the output's shape (it may appear several times, as in x * x); the other
  // operands broadcast to every sample alike (no batch axis of their own).
  int idx = -1;
  for (int j = 0; j < static_cast<int>(n.inputs.size()); ++j) {
    const Value& v = n.inputs[j];
    if (!is_core_dtype(v.dtype()) || !shape_known(v.shape())) return -1;
    const Shape& s = v.shape();
    if (s == out.shape) {
      if (idx < 0) idx = j;
      else if (n.inputs[idx] != v) return -1;
    } else if (!(s.size() < out.shape.size() || s[0] == 1)) {
      return -1;
    }
  }
  return idx;
}

struct Chains {
  std::vector<std::vector<const Node*>> members;
  std::unordered_map<const Node*, int> tail_of;  // tail node -> chain, for fused chains only
  std::unordered_map<int, int64_t> chunk_of;     // fused chain -> samples per chunk
};

// Samples per chunk: as many as keep one chunk's intermediates within kChunkBytes, and at
// least kMinChunks chunks per batch, so that every thread has several.
int64_t chunk_size(int64_t batch, size_t per_sample) {
  return std::max<int64_t>(
      1, std::min<int64_t>(batch / kMinChunks, static_cast<int64_t>(kChunkBytes / std::max<size_t>(per_sample, 1))));
}

// The chunk size when fusing `chain` saves memory, else 0. Fused, the largest intermediate
// is held for one chunk per thread instead of for the whole batch; when the batch is not
// much larger than that (a batch of one sample), nothing is saved and the chain would only
// lose its kernels' own threading, as the fused node runs each chunk on one thread.
int64_t saving_chunk(const std::vector<const Node*>& chain) {
  if (chain.size() < 2) return 0;
  bool batchwise = false;
  size_t largest = 0, per_sample = 0;
  for (size_t j = 0; j < chain.size(); ++j) {
    batchwise = batchwise || chain[j]->op->has(kBatchwise);
    if (j + 1 < chain.size()) {
      largest = std::max(largest, bytes_of(chain[j]->outputs[0]));
      per_sample += bytes_of(chain[j]->outputs[0]);
    }
  }
  const int64_t batch = chain.front()->outputs[0].shape[0];
  if (!batchwise || batch < 1 || largest <= bytes_of(chain.back()->outputs[0])) return 0;
  per_sample /= static_cast<size_t>(batch);
  const int64_t chunk = chunk_size(batch, per_sample);
  const int64_t held = std::min<int64_t>(batch, chunk * std::max(1, hardware_threads()));
  const size_t saved = largest / static_cast<size_t>(batch) * static_cast<size_t>(batch - held);
  return saved >= kMinSaving ? chunk : 0;
}

Chains find_chains(const Graph& g) {
  NodeIndex pos;
  const std::vector<NodePtr> order = g.topo_order(&pos);
  const int n = static_cast<int>(order.size());
  std::vector<int> uses0(n, 0);  // readers of each node's first output, graph outputs included
  for (const NodePtr& np : order)
    for (const Value& v : np->inputs)
      if (v.defined() && v.index == 0) uses0[pos.find(v.node.get())]++;
  for (const Value& v : g.outputs)
    if (v.index == 0) uses0[pos.find(v.node.get())]++;
  std::vector<int> chain_of(n, -1);
  Chains c;
  for (int i = 0; i < n; ++i) {
    const Node* node = order[i].get();
    const int d = sample_input(*node);
    if (d < 0) continue;
    const Value& v = node->inputs[d];
    const int p = pos.find(v.node.get());
    int reads = 0;
    for (const Value& in : node->inputs) reads += in == v;
    if (chain_of[p] >= 0 && v.index == 0 && uses0[p] == reads) {
      chain_of[i] = chain_of[p];
      c.members[chain_of[p]].push_back(node);
    } else {
      chain_of[i] = static_cast<int>(c.members.size());
      c.members.push_back({node});
    }
  }
  for (int i = 0; i < static_cast<int>(c.members.size()); ++i) {
    const int64_t chunk = saving_chunk(c.members[i]);
    if (chunk < 1) continue;
    c.tail_of[c.members[i].back()] = i;
    c.chunk_of[i] = chunk;
  }
  return c;
}

}  // namespace

Graph fuse_per_sample(const Graph& g) {
  const Chains chains = find_chains(g);
  if (chains.tail_of.empty()) return g;
  std::unordered_map<const Node*, std::vector<Value>> rebuilt;  // each node's rebuilt inputs
  return rewrite_graph(g, [&](const Node& node, const std::vector<Value>& ins) -> std::vector<Value> {
    rebuilt[&node] = ins;
    auto t = chains.tail_of.find(&node);
    if (t == chains.tail_of.end()) return {};
    const std::vector<const Node*>& chain = chains.members[t->second];
    auto body = std::make_shared<Graph>();
    std::vector<Value> ext;
    const Node& first = *chain.front();
    const Value& data = rebuilt.at(&first)[sample_input(first)];
    const int64_t chunk = chains.chunk_of.at(t->second);
    Shape one = data.shape();
    one[0] = chunk;
    Value cur = op::input("x", data.dtype(), one);
    body->inputs.push_back(cur);
    ext.push_back(data);
    std::vector<std::pair<Value, Value>> params;  // rebuilt outside value -> body input
    for (const Node* m : chain) {
      const Value& chained = m->inputs[sample_input(*m)];
      const std::vector<Value>& outside = rebuilt.at(m);
      std::vector<Value> body_ins;
      for (size_t j = 0; j < m->inputs.size(); ++j) {
        if (m->inputs[j] == chained) {
          body_ins.push_back(cur);
          continue;
        }
        const Value& r = outside[j];
        Value formal;
        for (const auto& pr : params)
          if (pr.first == r) formal = pr.second;
        if (!formal.defined()) {
          formal = op::input("p" + std::to_string(params.size()), r.dtype(), r.shape());
          params.emplace_back(r, formal);
          body->inputs.push_back(formal);
          ext.push_back(r);
        }
        body_ins.push_back(formal);
      }
      cur = remake_node(*m, body_ins).at(0);
    }
    body->outputs.push_back(cur);
    body->output_names.push_back(node.name);
    return make_node("fused_per_sample", ext, {{"body", GraphPtr(body)}}, "per_sample/" + node.name);
  });
}

}  // namespace symnet
