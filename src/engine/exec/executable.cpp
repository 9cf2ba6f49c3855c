#include "engine/exec/executable.h"

#include <chrono>
#include <cstring>
#include <map>
#include <sstream>
#include <unordered_map>

#include "engine/base/error.h"
#include "engine/backend/memory_plan.h"
#include "engine/kernels/cpu/parallel.h"

namespace symnet {

namespace {

enum class SlotKind { arena, input, constant, variable, pinned };


// Memory 0 is the host's; every non-host buffer type a step runs on adds one.
constexpr int kHost = 0;

struct Slot {
  SlotKind kind = SlotKind::arena;
  TensorType type;
  int memory = kHost;    // where the value lives
  int request = -1;      // arena: memory plan request of its memory
  int input_index = -1;  // input
  TensorPtr constant;    // constant
  VariablePtr var;       // variable
  int pinned = -1;       // pinned: index into updates
  bool used = false;     // read or written by a run (a source read only on a device is not)
};

// A kernel launch, or (node == nullptr) a copy of in_slots[0] into out_slots[0] between
// two memories.
struct Step {
  const Node* node = nullptr;
  const Backend* backend = nullptr;
  const KernelImpl* impl = nullptr;
  KernelFn fn = nullptr;
  int memory = kHost;
  std::vector<int> in_slots, out_slots;
  int workspace_request = -1;
  std::unique_ptr<KernelContext> ctx;
  std::shared_ptr<const void> params;  // KernelImpl::prepare's result
  std::string algorithm;               // KernelImpl::algorithm's name for the node, if any
  std::vector<char> bounce;            // device-to-device transfers go through the host
};

struct Update {
  VariablePtr var;
  int slot = -1;
  bool pinned = false;  // kernels write straight into the staging memory
  Tensor staging;                        // host value
  std::unique_ptr<Buffer> device_staging;  // value computed on a device
};

struct Memory {
  const BufferType* type = nullptr;
  const Backend* backend = nullptr;  // synchronized after each run (device memories)
  std::vector<PlanRequest> reqs;
  std::vector<size_t> offsets;
  size_t arena_bytes = 0;
  std::unique_ptr<Buffer> arena;  // device memories (the host's is a Storage or shared)
};

// Where a device slot's value is during a run.
struct DeviceLoc {
  Buffer* buf = nullptr;
  size_t offset = 0;
};

size_t type_bytes(const TensorType& t) {
  return static_cast<size_t>(shape_bytes(t.shape, dtype_size(t.dtype)));
}

// Loops in the planner's report: the working memory of their bodies (planned once, reused
// by every iteration) and the per-step values they stack, those kept for a gradient
// included (outputs after the carried states / loop variables).
void count_loop(const Node& n, size_t workspace_bytes, CompileStats& st) {
  const char* carried = n.op_name() == "scan" ? "n_states" : n.op_name() == "while_loop" ? "n_vars" : nullptr;
  if (!carried) return;
  ++st.loops;
  st.loop_workspace_bytes += workspace_bytes;
  for (size_t o = static_cast<size_t>(n.attrs.get_int(carried, 0)); o < n.outputs.size(); ++o)
    st.loop_stacked_bytes += type_bytes(n.outputs[o]);
}

}  // namespace

struct Executable::Impl {
  std::vector<Slot> slots;
  std::vector<Step> steps;
  std::vector<int> output_slots;
  std::vector<Update> updates;
  std::vector<Memory> memories;           // [kHost] is host memory
  std::unique_ptr<Storage> arena;         // own host memory, or
  std::shared_ptr<SharedArena> shared;    // host memory shared with other executables
  char* bound_arena = nullptr;            // the host arena the workspace pointers point into
  std::vector<void*> slot_ptrs;           // per run: what kernels see (device addresses on a device)
  std::vector<DeviceLoc> device_locs;     // per run: device slots' buffers
  std::vector<std::unique_ptr<Buffer>> constant_buffers;  // constants uploaded to a device, per slot
  std::vector<Tensor> host_outputs;       // outputs that live on a device, downloaded after a run
  bool profiling = false;
  std::vector<double> step_ms;
  std::vector<uint64_t> step_calls;

  bool on_host(int slot) const { return slots[slot].memory == kHost; }
  // Copies the value of a device slot (located for this run) to host memory: queued on the
  // device's stream (complete at its synchronize()), or blocking.
  void download(int slot, void* dst, bool queued = false) const {
    const DeviceLoc& l = device_locs[slot];
    if (!l.buf) return;
    if (queued) l.buf->download_async(l.offset, dst, type_bytes(slots[slot].type));
    else l.buf->download(l.offset, dst, type_bytes(slots[slot].type));
  }
  void synchronize_devices() const {
    for (size_t m = 1; m < memories.size(); ++m) memories[m].backend->synchronize();
  }
  void bind_slots(const std::vector<TensorView>& feeds, char* host_arena);
  void transfer(Step& step);
};

Executable::~Executable() = default;

char* SharedArena::reserve(size_t bytes) {
  if (!mem_ || mem_->bytes() < bytes) {
    mem_.reset();  // free the old block first: the peak is the larger block, not both
    mem_ = std::make_unique<Storage>(bytes);
  }
  return static_cast<char*>(mem_->data());
}

void Executable::share_arena(std::shared_ptr<SharedArena> arena) {
  impl_->shared = std::move(arena);
  impl_->arena.reset();
  impl_->bound_arena = nullptr;
}

std::unique_ptr<Executable> Executable::compile(const Graph& given, const std::vector<TensorType>& input_types,
                                                const CompileOptions& opts) {
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Executable> ex(new Executable());
  ex->impl_ = std::make_unique<Impl>();
  ex->seed_ = opts.seed;
  Impl& im = *ex->impl_;
  CompileStats& st = ex->stats_;

  SN_CHECK(input_types.size() == given.inputs.size(), ErrorKind::internal,
           "compile: " << input_types.size() << " input types for " << given.inputs.size() << " inputs");
  SN_CHECK(opts.update_vars.size() <= given.outputs.size(), ErrorKind::internal, "more updates than outputs");
  // Specialisation and building the plan are timed as passes too, so that summary()
  // accounts for the whole compile.
  auto ms_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
  };
  Graph g = specialize(given, input_types);
  g = strip_identities(inline_calls(g));
  const double specialize_ms = ms_since(t0);
  st.nodes_before = g.num_nodes();
  st.passes.push_back({"specialize", st.nodes_before, st.nodes_before, specialize_ms});
  const Backend& target = backends().get(opts.target);
  const Backend& cpu = backends().get("cpu");
  if (opts.optimize) g = optimize(g, &st.passes, opts.fuse, opts.target);
  st.nodes_after = g.num_nodes();
  const auto t_plan = std::chrono::steady_clock::now();
  ex->graph_ = g;
  ex->input_types_ = input_types;

  const size_t n_user_outputs = g.outputs.size() - opts.update_vars.size();
  for (size_t k = 0; k < opts.update_vars.size(); ++k) {
    const VariablePtr& v = opts.update_vars[k];
    const TensorType& t = g.outputs[n_user_outputs + k].type();
    SN_CHECK(v && t.rank_known() && t.dtype == v->dtype() && t.shape == v->shape(), ErrorKind::shape,
             "update of variable '" << (v ? v->name : "?") << "' has type " << type_str(t)
                                    << " but the variable is " << dtype_name(v->dtype()) << shape_str(v->shape()));
    for (size_t j = 0; j < k; ++j)
      SN_CHECK(opts.update_vars[j] != v, ErrorKind::value,
               "variable '" << v->name << "' is updated twice in one function");
  }

  im.memories.emplace_back();
  im.memories[kHost].type = &host_buffer_type();
  // Host-addressable backends share the host's memory; every other buffer type is a memory.
  auto memory_of = [&](const Backend& b) {
    const BufferType& bt = b.buffer_type();
    if (bt.is_host()) return kHost;
    for (size_t m = 1; m < im.memories.size(); ++m)
      if (im.memories[m].type == &bt) return static_cast<int>(m);
    im.memories.emplace_back();
    im.memories.back().type = &bt;
    im.memories.back().backend = &b;
    return static_cast<int>(im.memories.size() - 1);
  };
  // Placement: the target where it can run the node, else the CPU.
  auto place = [&](const Node& n) -> const Backend& {
    if (target.supports(n) && target.kernel(n.op_name())) return target;
    SN_CHECK(&target != &cpu && cpu.supports(n) && cpu.kernel(n.op_name()), ErrorKind::unsupported,
             n.describe() << " has no kernel on the " << target.name() << " backend"
                          << (&target != &cpu ? " nor on the cpu" : "") << " for "
                          << (n.outputs.empty() ? std::string("it") : type_str(n.outputs[0])));
    if (st.fallback_nodes.size() < 100) st.fallback_nodes.push_back(n.describe());
    return cpu;
  };

  // Slots for every node output in the memory of its producer (sources: the host's).
  std::unordered_map<const Node*, int> first_slot;
  std::unordered_map<const Node*, int> input_pos;
  for (size_t i = 0; i < g.inputs.size(); ++i) input_pos[g.inputs[i].node.get()] = static_cast<int>(i);
  auto order = g.topo_order();
  std::unordered_map<const Node*, const Backend*> placed;
  for (const NodePtr& n : order) {
    const bool computes = !(n->op->has(kSource) || n->op_name() == "constant");
    int memory = kHost;
    if (computes) {
      const Backend& b = place(*n);
      placed[n.get()] = &b;
      memory = memory_of(b);
    }
    first_slot[n.get()] = static_cast<int>(im.slots.size());
    for (const TensorType& t : n->outputs) {
      SN_CHECK(t.known(), ErrorKind::shape,
               "the shape of " << n->describe() << " is " << type_str(t)
                               << " at run time; every dimension must be known (feed inputs of known shape)");
      Slot s;
      s.type = t;
      s.memory = memory;
      const std::string& opn = n->op_name();
      if (opn == "input") {
        s.kind = SlotKind::input;
        auto it = input_pos.find(n.get());
        SN_CHECK(it != input_pos.end(), ErrorKind::feed,
                 "input '" << n->name << "' is used but not listed among the graph inputs");
        s.input_index = it->second;
      } else if (opn == "constant") {
        s.kind = SlotKind::constant;
        s.constant = n->attrs.get_tensor("value");
      } else if (opn == "variable") {
        s.kind = SlotKind::variable;
        s.var = n->attrs.get_variable("var");
      }
      im.slots.push_back(s);
    }
  }
  auto slot_of = [&](const Value& v) { return first_slot.at(v.node.get()) + v.index; };

  // Steps, with a transfer before the first step of a memory that reads a value living in
  // another. Constants and variables are not transferred: they get a copy of their own in
  // the device memory (constants uploaded once, variables resident).
  std::map<std::pair<int, int>, int> copy_of;  // (slot, memory) -> slot
  auto slot_in = [&](int s, int memory) -> int {
    if (s < 0 || im.slots[s].memory == memory) return s;
    auto it = copy_of.find({s, memory});
    if (it != copy_of.end()) return it->second;
    Slot c = im.slots[s];
    c.memory = memory;
    c.request = -1;
    c.pinned = -1;
    const bool own_copy = c.kind == SlotKind::constant || c.kind == SlotKind::variable;
    if (!own_copy) c.kind = SlotKind::arena;
    const int cs = static_cast<int>(im.slots.size());
    im.slots.push_back(c);
    copy_of[{s, memory}] = cs;
    if (!own_copy) {
      Step t;
      t.memory = memory;
      t.in_slots = {s};
      t.out_slots = {cs};
      if (im.slots[s].memory != kHost && memory != kHost) t.bounce.resize(type_bytes(c.type));
      im.steps.push_back(std::move(t));
      st.transfers++;
      st.transfer_bytes += type_bytes(c.type);
    }
    return cs;
  };
  std::map<std::string, size_t> per_backend;
  for (const NodePtr& n : order) {
    auto pl = placed.find(n.get());
    if (pl == placed.end()) continue;
    Step step;
    step.node = n.get();
    step.backend = pl->second;
    step.memory = memory_of(*step.backend);
    step.impl = step.backend->kernel(n->op_name());
    step.fn = step.impl->fn;
    for (const Value& v : n->inputs) step.in_slots.push_back(v.defined() ? slot_in(slot_of(v), step.memory) : -1);
    for (int i = 0; i < static_cast<int>(n->outputs.size()); ++i) step.out_slots.push_back(slot_of(n->out(i)));
    per_backend[step.backend->name()]++;
    im.steps.push_back(std::move(step));
  }
  for (const auto& kv : per_backend) st.steps_per_backend.push_back(kv);
  st.steps = im.steps.size() - st.transfers;

  // Update values computed by a kernel are written straight into staging memory.
  for (size_t k = 0; k < opts.update_vars.size(); ++k) {
    Update u;
    u.var = opts.update_vars[k];
    u.slot = slot_of(g.outputs[n_user_outputs + k]);
    Slot& s = im.slots[u.slot];
    if (s.memory == kHost)
      u.staging = Tensor(u.var->dtype(), u.var->shape());
    else
      u.device_staging = im.memories[s.memory].type->allocate(u.var->bytes());
    if (s.kind == SlotKind::arena) {
      s.kind = SlotKind::pinned;
      s.pinned = static_cast<int>(k);
      u.pinned = true;
    }
    im.updates.push_back(std::move(u));
  }

  for (const Step& step : im.steps) {
    for (int i : step.in_slots)
      if (i >= 0) im.slots[i].used = true;
    for (int o : step.out_slots) im.slots[o].used = true;
  }
  for (const Value& v : g.outputs) im.slots[slot_of(v)].used = true;

  // Liveness of arena slots.
  const int n_steps = static_cast<int>(im.steps.size());
  std::vector<int> birth(im.slots.size(), -1), death(im.slots.size(), -1);
  for (int s = 0; s < n_steps; ++s) {
    for (int o : im.steps[s].out_slots) birth[o] = death[o] = s;
    for (int i : im.steps[s].in_slots)
      if (i >= 0) death[i] = std::max(death[i], s);
  }
  for (const Value& v : g.outputs) death[slot_of(v)] = n_steps;

  // One memory plan per memory, each request in the memory of the step that makes it.
  const size_t phys = physical_memory_bytes();
  for (int s = 0; s < n_steps; ++s) {
    Step& step = im.steps[s];
    std::vector<PlanRequest>& reqs = im.memories[step.memory].reqs;
    for (size_t o = 0; o < step.out_slots.size(); ++o) {
      Slot& out = im.slots[step.out_slots[o]];
      if (out.kind != SlotKind::arena) continue;
      PlanRequest r;
      r.bytes = type_bytes(out.type);
      // Refused here, with the node and its shape, rather than as an arena too large to
      // allocate (or a sum of huge requests that wraps around).
      SN_CHECK(phys == 0 || r.bytes <= phys, ErrorKind::value,
               (step.node ? step.node->describe() : std::string("a transfer"))
                   << " makes a " << type_str(out.type) << " tensor of " << r.bytes
                   << " bytes, more than this machine's " << phys << " bytes of memory");
      r.birth = s;
      r.death = death[step.out_slots[o]];
      if (step.impl) {
        for (const auto& [po, pi] : step.impl->inplace_pairs(*step.node)) {
          if (po != static_cast<int>(o) || pi >= static_cast<int>(step.in_slots.size())) continue;
          int in_slot = step.in_slots[pi];
          if (in_slot < 0) continue;
          const Slot& in = im.slots[in_slot];
          if (in.kind == SlotKind::arena && in.memory == out.memory && death[in_slot] == s &&
              type_bytes(in.type) == r.bytes) {
            r.inplace_of = in.request;
            break;
          }
        }
      }
      out.request = static_cast<int>(reqs.size());
      reqs.push_back(r);
    }
    size_t ws = 0;
    if (step.impl && step.impl->workspace) {
      ws = step.impl->workspace(*step.node);
      if (ws > 0) {
        PlanRequest r;
        r.bytes = ws;
        r.birth = r.death = s;
        step.workspace_request = static_cast<int>(reqs.size());
        reqs.push_back(r);
      }
    }
    if (step.node) count_loop(*step.node, ws, st);
  }
  for (size_t m = 0; m < im.memories.size(); ++m) {
    Memory& mem = im.memories[m];
    SN_CHECK(mem.type->alignment() <= kArenaAlign, ErrorKind::internal,
             "buffer type '" << mem.type->name() << "' wants " << mem.type->alignment()
                             << "-byte alignment; the memory planner aligns to " << kArenaAlign);
    MemoryPlan plan = plan_memory(mem.reqs);
    mem.offsets = plan.offsets;
    mem.arena_bytes = plan.arena_bytes;
    st.arena_bytes += plan.arena_bytes;
    st.naive_bytes += plan.naive_bytes;
    for (int w : plan.shares_with) st.inplace_steps += w >= 0;
    st.arenas.emplace_back(mem.type->name(), plan.arena_bytes);
    if (m == kHost) {
      im.arena = std::make_unique<Storage>(plan.arena_bytes);
    } else {
      mem.arena = mem.type->allocate(plan.arena_bytes);
    }
  }
  im.constant_buffers.resize(im.slots.size());
  for (size_t s = 0; s < im.slots.size(); ++s) {
    const Slot& sl = im.slots[s];
    if (sl.memory == kHost || sl.kind != SlotKind::constant) continue;
    im.constant_buffers[s] = im.memories[sl.memory].type->allocate(sl.constant->bytes());
    im.constant_buffers[s]->upload(0, sl.constant->data(), sl.constant->bytes());
  }

  for (Step& step : im.steps) {
    if (!step.impl) continue;
    step.ctx.reset(new KernelContext());
    if (step.impl->prepare) {
      step.params = step.impl->prepare(*step.node);
      step.ctx->params = step.params.get();
    }
    if (step.impl->algorithm) step.algorithm = step.impl->algorithm(*step.node);
    for (int i : step.in_slots) step.ctx->in.push_back(TensorView{nullptr, i >= 0 ? im.slots[i].type.dtype : DType::f32,
                                                                  i >= 0 ? im.slots[i].type.shape : Shape{}});
    for (int o : step.out_slots) step.ctx->out.push_back(TensorView{nullptr, im.slots[o].type.dtype, im.slots[o].type.shape});
    if (step.node->op_name() == "fused_elementwise") {
      st.fused_groups++;
      st.fused_ops += step.node->attrs.get_graph("body")->num_nodes() - step.node->inputs.size();
    }
  }
  for (const Value& v : g.outputs) {
    const int s = slot_of(v);
    im.output_slots.push_back(s);
    im.host_outputs.emplace_back();
    if (!im.on_host(s)) im.host_outputs.back() = Tensor(v.type().dtype, v.type().shape);
  }
  im.slot_ptrs.assign(im.slots.size(), nullptr);
  im.device_locs.assign(im.slots.size(), DeviceLoc{});
  st.passes.push_back({"plan", st.nodes_after, st.nodes_after, ms_since(t_plan)});
  st.compile_ms = ms_since(t0);
  return ex;
}

void Executable::Impl::bind_slots(const std::vector<TensorView>& feeds, char* host_arena) {
  for (size_t s = 0; s < slots.size(); ++s) {
    const Slot& sl = slots[s];
    if (!sl.used) continue;  // e.g. a variable read only on a device: no download
    if (sl.kind == SlotKind::variable)
      SN_CHECK(sl.var->dtype() == sl.type.dtype && sl.var->shape() == sl.type.shape, ErrorKind::shape,
               "variable '" << sl.var->name << "' changed type since compilation");
    if (sl.memory == kHost) {
      switch (sl.kind) {
        case SlotKind::arena:
          slot_ptrs[s] = sl.request >= 0 ? host_arena + memories[kHost].offsets[sl.request] : nullptr;
          break;
        case SlotKind::input: slot_ptrs[s] = feeds[sl.input_index].data; break;
        case SlotKind::constant: slot_ptrs[s] = sl.constant->data(); break;
        case SlotKind::variable:  // read only: updates are written to staging memory
          slot_ptrs[s] = const_cast<void*>(sl.var->host().data());
          break;
        case SlotKind::pinned: slot_ptrs[s] = updates[sl.pinned].staging.data(); break;
      }
      continue;
    }
    DeviceLoc& l = device_locs[s];
    const Memory& mem = memories[sl.memory];
    switch (sl.kind) {
      case SlotKind::arena:
        l = sl.request >= 0 ? DeviceLoc{mem.arena.get(), mem.offsets[sl.request]} : DeviceLoc{};
        break;
      case SlotKind::constant: l = {constant_buffers[s].get(), 0}; break;
      case SlotKind::variable: l = {&resident_buffer(*sl.var, *mem.type), 0}; break;
      case SlotKind::pinned: l = {updates[sl.pinned].device_staging.get(), 0}; break;
      case SlotKind::input: SN_THROW(ErrorKind::internal, "a graph input placed in device memory");
    }
    slot_ptrs[s] = l.buf ? static_cast<char*>(l.buf->device_ptr()) + l.offset : nullptr;
  }
}

void Executable::Impl::transfer(Step& step) {
  const int from = step.in_slots[0], to = step.out_slots[0];
  const size_t bytes = type_bytes(slots[to].type);
  if (on_host(to)) {
    download(from, slot_ptrs[to], true);
    return;
  }
  const DeviceLoc& dst = device_locs[to];
  if (on_host(from)) {
    dst.buf->upload_async(dst.offset, slot_ptrs[from], bytes);
  } else {  // between two devices: the blocking download waits for the source's work
    download(from, step.bounce.data());
    dst.buf->upload(dst.offset, step.bounce.data(), bytes);
  }
}

void Executable::run(const std::vector<TensorView>& feeds, RunContext* external_ctx) {
  Impl& im = *impl_;
  SN_CHECK(feeds.size() == input_types_.size(), ErrorKind::feed,
           "expected " << input_types_.size() << " inputs, got " << feeds.size());
  for (size_t i = 0; i < feeds.size(); ++i) {
    SN_CHECK(feeds[i].dtype == input_types_[i].dtype && feeds[i].shape == input_types_[i].shape, ErrorKind::feed,
             "input '" << graph_.inputs[i].node->name << "' was compiled for " << type_str(input_types_[i])
                       << " but got " << dtype_name(feeds[i].dtype) << shape_str(feeds[i].shape));
    SN_CHECK(feeds[i].data != nullptr || feeds[i].numel() == 0, ErrorKind::feed,
             "input '" << graph_.inputs[i].node->name << "' has no data");
  }
  char* arena = im.shared ? im.shared->reserve(im.memories[kHost].arena_bytes) : static_cast<char*>(im.arena->data());
  im.bind_slots(feeds, arena);
  if (arena != im.bound_arena || im.memories.size() > 1) {  // a shared arena may have been replaced
    for (Step& step : im.steps) {
      if (step.workspace_request < 0) continue;
      const Memory& mem = im.memories[step.memory];
      char* base = step.memory == kHost ? arena : static_cast<char*>(mem.arena->device_ptr());
      step.ctx->workspace = base + mem.offsets[step.workspace_request];
    }
    im.bound_arena = arena;
  }
  RunContext local;
  RunContext& ctx = external_ctx ? *external_ctx : local;
  ctx.seed = seed_;
  ctx.run_index = run_index_++;
  ctx.num_threads = engine_num_threads();
  // Device kernels and copies are queued on the devices' streams. Before a step on the host
  // side (a host kernel, or a copy into host memory) the devices are waited for: it may
  // read what a queued download writes, or overwrite host memory a queued upload reads.
  bool device_queued = false;
  for (size_t si = 0; si < im.steps.size(); ++si) {
    Step& step = im.steps[si];
    auto t0 = im.profiling ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    const bool host_side = step.impl ? step.memory == kHost : im.on_host(step.out_slots[0]);
    if (host_side && device_queued) {
      im.synchronize_devices();
      device_queued = false;
    }
    if (!step.impl || step.memory != kHost) device_queued = true;
    if (!step.impl) {
      im.transfer(step);
    } else {
      KernelContext& k = *step.ctx;
      for (size_t i = 0; i < step.in_slots.size(); ++i)
        k.in[i].data = step.in_slots[i] >= 0 ? im.slot_ptrs[step.in_slots[i]] : nullptr;
      for (size_t o = 0; o < step.out_slots.size(); ++o) k.out[o].data = im.slot_ptrs[step.out_slots[o]];
      k.run = &ctx;
      try {
        step.fn(k);
      } catch (const Error& e) {
        throw e.with_context(step.node->op_name(), step.node->name);
      }
    }
    if (im.profiling) {
      im.step_ms[si] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      im.step_calls[si]++;
    }
    if (ctx.check_interrupt) ctx.check_interrupt();
  }
  for (size_t i = 0; i < im.output_slots.size(); ++i)
    if (!im.on_host(im.output_slots[i])) im.download(im.output_slots[i], im.host_outputs[i].data(), true);
  im.synchronize_devices();
  // Simultaneous updates: stage every copied value first, then swap all.
  for (Update& u : im.updates) {
    if (u.pinned) continue;
    if (u.device_staging) {
      const DeviceLoc& l = im.device_locs[u.slot];
      u.device_staging->copy_from(*l.buf, l.offset, 0, u.var->bytes());
    } else {
      std::memcpy(u.staging.data(), im.slot_ptrs[u.slot], u.staging.bytes());
    }
  }
  for (Update& u : im.updates) {
    if (u.device_staging)
      replace_resident(*u.var, *im.memories[im.slots[u.slot].memory].type, u.device_staging);
    else
      u.var->host_for_write(false).swap_storage(u.staging);
  }
}

std::string Executable::describe_plan() const {
  const Impl& im = *impl_;
  std::ostringstream o;
  auto where = [&](int slot) -> std::string {
    const Slot& sl = im.slots[slot];
    std::string mem = sl.memory == kHost ? "" : std::string(" in ") + im.memories[sl.memory].type->name();
    if (sl.kind == SlotKind::arena && sl.request >= 0)
      return "@" + std::to_string(im.memories[sl.memory].offsets[sl.request]) + "+" +
             std::to_string(type_bytes(sl.type)) + mem;
    if (sl.kind == SlotKind::pinned) return "@pinned" + mem;
    return mem;
  };
  for (size_t i = 0; i < im.steps.size(); ++i) {
    const Step& st = im.steps[i];
    if (!st.impl) {
      o << i << ": transfer " << im.memories[im.slots[st.in_slots[0]].memory].type->name() << " -> "
        << im.memories[st.memory].type->name() << " ->";
    } else {
      o << i << ": " << st.node->op_name() << " '" << st.node->name << "' on " << st.backend->name();
      if (!st.algorithm.empty()) o << " [" << st.algorithm << "]";
      o << " ->";
    }
    for (int s : st.out_slots) o << " " << type_str(im.slots[s].type) << where(s);
    o << "\n";
  }
  o << "arena " << stats_.arena_bytes << " of naive " << stats_.naive_bytes << "\n";
  return o.str();
}

void Executable::set_profiling(bool on) {
  Impl& im = *impl_;
  im.profiling = on;
  im.step_ms.assign(im.steps.size(), 0.0);
  im.step_calls.assign(im.steps.size(), 0);
}

std::vector<Executable::StepProfile> Executable::profile() const {
  const Impl& im = *impl_;
  std::vector<StepProfile> out;
  for (size_t i = 0; i < im.steps.size() && i < im.step_ms.size(); ++i) {
    const Step& st = im.steps[i];
    if (!st.node) {  // a transfer between memories: no node to name
      const std::string from = im.memories[im.slots[st.in_slots[0]].memory].type->name();
      out.push_back({"transfer", from + " -> " + im.memories[st.memory].type->name(), "", im.step_ms[i],
                     im.step_calls[i]});
      continue;
    }
    out.push_back({st.node->op_name(), st.node->name, st.algorithm, im.step_ms[i], im.step_calls[i]});
  }
  return out;
}

size_t Executable::num_outputs() const { return impl_->output_slots.size(); }

TensorView Executable::output(size_t i) const {
  const Impl& im = *impl_;
  SN_CHECK(i < im.output_slots.size(), ErrorKind::internal, "output index out of range");
  const Slot& s = im.slots[im.output_slots[i]];
  if (s.memory != kHost) return im.host_outputs[i].view();
  if (s.kind == SlotKind::pinned) return im.updates[s.pinned].var->host().view();
  return TensorView{im.slot_ptrs[im.output_slots[i]], s.type.dtype, s.type.shape};
}

}  // namespace symnet
