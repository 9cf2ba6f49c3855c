#include "engine/exec/executable.h"

#include <chrono>
#include <cstring>
#include <sstream>
#include <unordered_map>

#include "engine/base/error.h"
#include "engine/exec/memory_plan.h"
#include "engine/kernels/cpu/parallel.h"

namespace symnet {

namespace {

enum class SlotKind { arena, input, constant, variable, pinned };

struct Slot {
  SlotKind kind = SlotKind::arena;
  TensorType type;
  int request = -1;      // arena: memory plan request
  int input_index = -1;  // input
  TensorPtr constant;    // constant
  VariablePtr var;       // variable
  int pinned = -1;       // pinned: index into updates
};

struct Step {
  const Node* node = nullptr;
  const KernelImpl* impl = nullptr;
  KernelFn fn = nullptr;
  std::vector<int> in_slots, out_slots;
  int workspace_request = -1;
  std::unique_ptr<KernelContext> ctx;
  std::shared_ptr<const void> params;  // KernelImpl::prepare's result
};

struct Update {
  VariablePtr var;
  int slot = -1;
  bool pinned = false;  // kernels write straight into `staging`
  Tensor staging;
};

size_t type_bytes(const TensorType& t) {
  return static_cast<size_t>(shape_bytes(t.shape, dtype_size(t.dtype)));
}

}  // namespace

struct Executable::Impl {
  std::vector<Slot> slots;
  std::vector<Step> steps;
  std::vector<int> output_slots;
  std::vector<Update> updates;
  std::vector<size_t> request_offsets;
  std::unique_ptr<Storage> arena;         // own memory, or
  std::shared_ptr<SharedArena> shared;    // memory shared with other executables
  size_t arena_bytes = 0;
  char* bound_arena = nullptr;            // the arena the steps' workspace pointers point into
  std::vector<void*> slot_ptrs;
  bool profiling = false;
  std::vector<double> step_ms;
  std::vector<uint64_t> step_calls;

  // On a backend whose memory the host cannot address, every value lives in its buffers
  // and crosses to the host only through upload/download: feeds and variables before each
  // run, outputs and updates after it, constants once at compile time.
  const Backend* backend = nullptr;
  bool on_device = false;
  std::unique_ptr<Buffer> device_arena;
  std::vector<std::unique_ptr<Buffer>> device_slots;  // inputs, constants, variables
  std::vector<Tensor> host_outputs;                   // downloaded outputs (device mode)
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
  if (impl_->on_device) return;
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
  g = strip_identities(g);
  const double specialize_ms = ms_since(t0);
  st.nodes_before = g.num_nodes();
  st.passes.push_back({"specialize", st.nodes_before, st.nodes_before, specialize_ms});
  const Backend& backend = backends().get(opts.target);
  im.backend = &backend;
  im.on_device = !backend.buffer_type().is_host();
  if (opts.optimize) g = optimize(g, &st.passes, opts.fuse, opts.target);
  st.nodes_after = g.num_nodes();
  const auto t_plan = std::chrono::steady_clock::now();
  ex->graph_ = g;
  ex->input_types_ = input_types;

  const size_t n_user_outputs = g.outputs.size() - opts.update_vars.size();
  for (size_t k = 0; k < opts.update_vars.size(); ++k) {
    const VariablePtr& v = opts.update_vars[k];
    const TensorType& t = g.outputs[n_user_outputs + k].type();
    SN_CHECK(v && t.rank_known() && t.dtype == v->value.dtype() && t.shape == v->value.shape(), ErrorKind::shape,
             "update of variable '" << (v ? v->name : "?") << "' has type " << type_str(t)
                                    << " but the variable is " << dtype_name(v->value.dtype())
                                    << shape_str(v->value.shape()));
    for (size_t j = 0; j < k; ++j)
      SN_CHECK(opts.update_vars[j] != v, ErrorKind::value,
               "variable '" << v->name << "' is updated twice in one function");
  }

  // Slots for every node output, steps for every computing node.
  std::unordered_map<const Node*, int> first_slot;
  std::unordered_map<const Node*, int> input_pos;
  for (size_t i = 0; i < g.inputs.size(); ++i) input_pos[g.inputs[i].node.get()] = static_cast<int>(i);
  auto order = g.topo_order();
  for (const NodePtr& n : order) {
    first_slot[n.get()] = static_cast<int>(im.slots.size());
    for (const TensorType& t : n->outputs) {
      SN_CHECK(t.known(), ErrorKind::shape,
               "the shape of " << n->describe() << " is " << type_str(t)
                               << " at run time; every dimension must be known (feed inputs of known shape)");
      Slot s;
      s.type = t;
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

  // Update values computed by a kernel are written straight into staging tensors.
  for (size_t k = 0; k < opts.update_vars.size(); ++k) {
    Update u;
    u.var = opts.update_vars[k];
    u.slot = slot_of(g.outputs[n_user_outputs + k]);
    u.staging = Tensor(u.var->value.dtype(), u.var->value.shape());
    Slot& s = im.slots[u.slot];
    if (s.kind == SlotKind::arena && !im.on_device) {
      s.kind = SlotKind::pinned;
      s.pinned = static_cast<int>(k);
      u.pinned = true;
    }
    im.updates.push_back(std::move(u));
  }

  for (const NodePtr& n : order) {
    if (n->op->has(kSource) || n->op_name() == "constant") continue;
    Step step;
    step.node = n.get();
    step.impl = backend.kernel(n->op_name());
    SN_CHECK(step.impl != nullptr && backend.supports(*n), ErrorKind::unsupported,
             n->describe() << " has no kernel on the " << backend.name() << " backend for "
                           << (n->outputs.empty() ? std::string("it") : type_str(n->outputs[0])));
    step.fn = step.impl->fn;
    for (const Value& v : n->inputs) step.in_slots.push_back(v.defined() ? slot_of(v) : -1);
    for (int i = 0; i < static_cast<int>(n->outputs.size()); ++i) step.out_slots.push_back(slot_of(n->out(i)));
    im.steps.push_back(std::move(step));
  }
  st.steps = im.steps.size();

  // Liveness of arena slots.
  const int n_steps = static_cast<int>(im.steps.size());
  std::vector<int> birth(im.slots.size(), -1), death(im.slots.size(), -1);
  for (int s = 0; s < n_steps; ++s) {
    for (int o : im.steps[s].out_slots) birth[o] = death[o] = s;
    for (int i : im.steps[s].in_slots)
      if (i >= 0) death[i] = std::max(death[i], s);
  }
  for (const Value& v : g.outputs) death[slot_of(v)] = n_steps;

  std::vector<PlanRequest> reqs;
  for (int s = 0; s < n_steps; ++s) {
    Step& step = im.steps[s];
    const KernelImpl& def = *step.impl;
    for (size_t o = 0; o < step.out_slots.size(); ++o) {
      Slot& out = im.slots[step.out_slots[o]];
      if (out.kind != SlotKind::arena) continue;
      PlanRequest r;
      r.bytes = type_bytes(out.type);
      // Refused here, with the node and its shape, rather than as an arena too large to
      // allocate (or a sum of huge requests that wraps around).
      const size_t phys = physical_memory_bytes();
      SN_CHECK(phys == 0 || r.bytes <= phys, ErrorKind::value,
               step.node->describe() << " makes a " << type_str(out.type) << " tensor of " << r.bytes
                                     << " bytes, more than this machine's " << phys << " bytes of memory");
      r.birth = s;
      r.death = death[step.out_slots[o]];
      for (const auto& [po, pi] : def.inplace_pairs(*step.node)) {
        if (po != static_cast<int>(o) || pi >= static_cast<int>(step.in_slots.size())) continue;
        int in_slot = step.in_slots[pi];
        if (in_slot < 0) continue;
        const Slot& in = im.slots[in_slot];
        if (in.kind == SlotKind::arena && death[in_slot] == s && type_bytes(in.type) == r.bytes) {
          r.inplace_of = in.request;
          break;
        }
      }
      out.request = static_cast<int>(reqs.size());
      reqs.push_back(r);
    }
    if (def.workspace) {
      size_t ws = def.workspace(*step.node);
      if (ws > 0) {
        PlanRequest r;
        r.bytes = ws;
        r.birth = r.death = s;
        step.workspace_request = static_cast<int>(reqs.size());
        reqs.push_back(r);
      }
    }
  }
  MemoryPlan plan = plan_memory(reqs);
  im.request_offsets = plan.offsets;
  st.arena_bytes = plan.arena_bytes;
  st.naive_bytes = plan.naive_bytes;
  for (int w : plan.shares_with) st.inplace_steps += w >= 0;
  im.arena_bytes = plan.arena_bytes;
  if (im.on_device) {
    const BufferType& bt = backend.buffer_type();
    im.device_arena = bt.allocate(plan.arena_bytes);
    im.device_slots.resize(im.slots.size());
    for (size_t s = 0; s < im.slots.size(); ++s) {
      const Slot& sl = im.slots[s];
      if (sl.kind == SlotKind::arena) continue;
      im.device_slots[s] = bt.allocate(type_bytes(sl.type));
      if (sl.kind == SlotKind::constant) im.device_slots[s]->upload(0, sl.constant->data(), sl.constant->bytes());
    }
    for (const Value& v : g.outputs) im.host_outputs.emplace_back(v.type().dtype, v.type().shape);
  } else {
    im.arena = std::make_unique<Storage>(plan.arena_bytes);
  }

  for (Step& step : im.steps) {
    step.ctx.reset(new KernelContext());
    if (step.impl->prepare) {
      step.params = step.impl->prepare(*step.node);
      step.ctx->params = step.params.get();
    }
    for (int i : step.in_slots) step.ctx->in.push_back(TensorView{nullptr, i >= 0 ? im.slots[i].type.dtype : DType::f32,
                                                                  i >= 0 ? im.slots[i].type.shape : Shape{}});
    for (int o : step.out_slots) step.ctx->out.push_back(TensorView{nullptr, im.slots[o].type.dtype, im.slots[o].type.shape});
    if (step.node->op_name() == "fused_elementwise") {
      st.fused_groups++;
      st.fused_ops += step.node->attrs.get_graph("body")->num_nodes() - step.node->inputs.size();
    }
  }
  for (const Value& v : g.outputs) im.output_slots.push_back(slot_of(v));
  im.slot_ptrs.assign(im.slots.size(), nullptr);
  st.passes.push_back({"plan", st.nodes_after, st.nodes_after, ms_since(t_plan)});
  st.compile_ms = ms_since(t0);
  return ex;
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
  char* arena = im.on_device ? static_cast<char*>(im.device_arena->device_ptr())
                : im.shared   ? im.shared->reserve(im.arena_bytes)
                              : static_cast<char*>(im.arena->data());
  if (arena != im.bound_arena) {  // a shared arena may have been replaced by a larger one
    for (Step& step : im.steps)
      if (step.workspace_request >= 0) step.ctx->workspace = arena + im.request_offsets[step.workspace_request];
    im.bound_arena = arena;
  }
  for (size_t s = 0; s < im.slots.size(); ++s) {
    const Slot& sl = im.slots[s];
    if (im.on_device && sl.kind != SlotKind::arena) {
      Buffer& b = *im.device_slots[s];
      if (sl.kind == SlotKind::input) b.upload(0, feeds[sl.input_index].data, type_bytes(sl.type));
      if (sl.kind == SlotKind::variable) {
        SN_CHECK(sl.var->value.dtype() == sl.type.dtype && sl.var->value.shape() == sl.type.shape, ErrorKind::shape,
                 "variable '" << sl.var->name << "' changed type since compilation");
        b.upload(0, sl.var->value.data(), sl.var->value.bytes());
      }
      im.slot_ptrs[s] = b.device_ptr();
      continue;
    }
    switch (sl.kind) {
      case SlotKind::arena: im.slot_ptrs[s] = sl.request >= 0 ? arena + im.request_offsets[sl.request] : nullptr; break;
      case SlotKind::input: im.slot_ptrs[s] = feeds[sl.input_index].data; break;
      case SlotKind::constant: im.slot_ptrs[s] = sl.constant->data(); break;
      case SlotKind::variable:
        SN_CHECK(sl.var->value.dtype() == sl.type.dtype && sl.var->value.shape() == sl.type.shape, ErrorKind::shape,
                 "variable '" << sl.var->name << "' changed type since compilation");
        im.slot_ptrs[s] = sl.var->value.data();
        break;
      case SlotKind::pinned: im.slot_ptrs[s] = im.updates[sl.pinned].staging.data(); break;
    }
  }
  RunContext local;
  RunContext& ctx = external_ctx ? *external_ctx : local;
  ctx.seed = seed_;
  ctx.run_index = run_index_++;
  ctx.num_threads = engine_num_threads();
  for (size_t si = 0; si < im.steps.size(); ++si) {
    Step& step = im.steps[si];
    KernelContext& k = *step.ctx;
    for (size_t i = 0; i < step.in_slots.size(); ++i)
      k.in[i].data = step.in_slots[i] >= 0 ? im.slot_ptrs[step.in_slots[i]] : nullptr;
    for (size_t o = 0; o < step.out_slots.size(); ++o) k.out[o].data = im.slot_ptrs[step.out_slots[o]];
    k.run = &ctx;
    auto t0 = im.profiling ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    try {
      step.fn(k);
    } catch (const Error& e) {
      throw e.with_context(step.node->op_name(), step.node->name);
    }
    if (im.profiling) {
      im.step_ms[si] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      im.step_calls[si]++;
    }
    if (ctx.check_interrupt) ctx.check_interrupt();
  }
  if (im.on_device) {
    im.backend->synchronize();
    for (size_t i = 0; i < im.output_slots.size(); ++i) download_slot(im.output_slots[i], im.host_outputs[i].data());
    for (Update& u : im.updates) download_slot(u.slot, u.staging.data());
    for (Update& u : im.updates) u.var->value.swap_storage(u.staging);
    return;
  }
  // Simultaneous updates: stage every copied value first, then swap all.
  for (Update& u : im.updates)
    if (!u.pinned) std::memcpy(u.staging.data(), im.slot_ptrs[u.slot], u.staging.bytes());
  for (Update& u : im.updates) u.var->value.swap_storage(u.staging);
}

std::string Executable::describe_plan() const {
  const Impl& im = *impl_;
  std::ostringstream o;
  for (size_t i = 0; i < im.steps.size(); ++i) {
    const Step& st = im.steps[i];
    o << i << ": " << st.node->op_name() << " '" << st.node->name << "' ->";
    for (int s : st.out_slots) {
      const Slot& sl = im.slots[s];
      o << " " << type_str(sl.type);
      if (sl.kind == SlotKind::arena && sl.request >= 0)
        o << "@" << im.request_offsets[sl.request] << "+" << type_bytes(sl.type);
      else if (sl.kind == SlotKind::pinned)
        o << "@pinned";
    }
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
  for (size_t i = 0; i < im.steps.size() && i < im.step_ms.size(); ++i)
    out.push_back({im.steps[i].node->op_name(), im.steps[i].node->name, im.step_ms[i], im.step_calls[i]});
  return out;
}

size_t Executable::num_outputs() const { return impl_->output_slots.size(); }

void Executable::download_slot(int slot, void* dst) const {
  const Impl& im = *impl_;
  const Slot& s = im.slots[slot];
  const size_t bytes = type_bytes(s.type);
  if (s.kind == SlotKind::arena) {
    if (s.request >= 0) im.device_arena->download(im.request_offsets[s.request], dst, bytes);
  } else {
    im.device_slots[slot]->download(0, dst, bytes);
  }
}

TensorView Executable::output(size_t i) const {
  const Impl& im = *impl_;
  SN_CHECK(i < im.output_slots.size(), ErrorKind::internal, "output index out of range");
  if (im.on_device) return im.host_outputs[i].view();
  const Slot& s = im.slots[im.output_slots[i]];
  if (s.kind == SlotKind::pinned) return im.updates[s.pinned].var->value.view();
  return TensorView{im.slot_ptrs[im.output_slots[i]], s.type.dtype, s.type.shape};
}

}  // namespace symnet
