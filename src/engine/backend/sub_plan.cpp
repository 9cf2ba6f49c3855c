#include "engine/backend/sub_plan.h"

#include <cstring>

#include "engine/backend/memory_plan.h"
#include "engine/base/error.h"

namespace symnet {

namespace {

using Key = std::pair<const Node*, int>;
Key key_of(const Value& v) { return {v.node.get(), v.index}; }

bool is_source(const Node& n) { return n.op_name() == "input" || n.op_name() == "constant"; }

std::string view_str(const TensorView& v) { return type_str(TensorType{v.dtype, v.shape}); }

size_t type_bytes(const TensorType& t) {
  return static_cast<size_t>(shape_numel(t.shape)) * dtype_size(t.dtype);
}

}  // namespace

SubPlan::SubPlan(const Backend& backend, GraphPtr body, SubPlanOptions options)
    : body_(std::move(body)), options_(std::move(options)) {
  SN_CHECK(body_ != nullptr, ErrorKind::attr, options_.what << " is empty");
  const Graph& g = *body_;
  const std::string& what = options_.what;

  std::map<const Node*, int> input_pos;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    SN_CHECK(g.inputs[i].node->op_name() == "input", ErrorKind::internal,
             "input " << i + 1 << " of " << what << " is " << g.inputs[i].node->describe());
    input_pos[g.inputs[i].node.get()] = static_cast<int>(i);
  }
  input_batched_.assign(g.inputs.size(), false);
  for (int i : options_.batch_inputs) {
    SN_CHECK(i >= 0 && i < static_cast<int>(g.inputs.size()), ErrorKind::internal,
             "batch input " << i + 1 << " of " << what << " with " << g.inputs.size() << " inputs");
    const TensorType& t = g.inputs[i].type();
    SN_CHECK(t.rank_known() && !t.shape.empty() && t.shape[0] >= 1, ErrorKind::shape,
             "input " << i + 1 << " of " << what << " is " << type_str(t) << ", which has no batch axis");
    if (batch_ < 0) batch_ = t.shape[0];
    SN_CHECK(t.shape[0] == batch_, ErrorKind::shape,
             "the batch inputs of " << what << " have batches of " << batch_ << " and " << t.shape[0]);
    input_batched_[i] = true;
  }

  // The first output naming a computed value gets it written in place by its producer;
  // the others (and outputs that are sources) are copied after the run.
  std::map<Key, int> claimed;
  for (size_t j = 0; j < g.outputs.size(); ++j)
    if (!is_source(*g.outputs[j].node)) claimed.emplace(key_of(g.outputs[j]), static_cast<int>(j));

  const std::vector<NodePtr> order = g.topo_order();
  std::map<Key, int> last_read;  // step of the last kernel reading the value
  {
    int s = 0;
    for (const NodePtr& n : order) {
      if (is_source(*n)) continue;
      for (const Value& v : n->inputs)
        if (v.defined()) last_read[key_of(v)] = s;
      ++s;
    }
  }

  // Places and batch axes, then one planner request per scratch value and workspace. A
  // scratch place holds its request number in `offset` until the plan is made.
  std::map<Key, bool> batched;
  std::vector<PlanRequest> reqs;
  std::vector<int> workspace_req;
  for (const NodePtr& np : order) {
    const Node& n = *np;
    const Key k{&n, 0};
    if (n.op_name() == "input") {
      const int i = input_pos.at(&n);
      places_[k] = Place{Loc::input, i, 0, nullptr};
      batched[k] = input_batched_[i];
      continue;
    }
    if (n.op_name() == "constant") {
      TensorPtr t = n.attrs.get_tensor("value");
      SN_CHECK(t != nullptr && t->dtype() == n.outputs[0].dtype && t->numel() == shape_numel(n.outputs[0].shape),
               ErrorKind::internal, n.describe() << " in " << what << " holds no tensor of its type");
      places_[k] = Place{Loc::constant, 0, 0, t->data()};
      batched[k] = false;
      continue;
    }
    const int s = static_cast<int>(steps_.size());
    const KernelImpl* impl = backend.kernel(n.op_name());
    SN_CHECK(impl != nullptr, ErrorKind::unsupported,
             n.describe() << " in " << what << " has no kernel on the " << backend.name() << " backend");
    Step st;
    st.node = &n;
    st.fn = impl->fn;
    bool any_batched = false;
    for (const Value& v : n.inputs) {
      if (!v.defined()) {  // an optional input not given: a null view, as the executable passes
        st.in.push_back(Place{Loc::constant, 0, 0, nullptr});
        st.in_batched.push_back(false);
        continue;
      }
      st.in.push_back(places_.at(key_of(v)));
      st.in_batched.push_back(batched.at(key_of(v)));
      any_batched = any_batched || st.in_batched.back();
    }
    const std::vector<std::pair<int, int>> pairs = impl->inplace_pairs(n);
    for (int o = 0; o < static_cast<int>(n.outputs.size()); ++o) {
      const TensorType& t = n.outputs[o];
      SN_CHECK(t.rank_known() && shape_known(t.shape), ErrorKind::shape,
               n.describe() << " in " << what << " makes " << type_str(t) << "; a body needs known shapes");
      SN_CHECK(!any_batched || (!t.shape.empty() && t.shape[0] == batch_), ErrorKind::shape,
               n.describe() << " in " << what << " makes " << type_str(t) << " from a batch of " << batch_
                            << "; its leading axis must be that batch");
      const Key ok{&n, o};
      batched[ok] = any_batched;
      auto c = claimed.find(ok);
      if (c != claimed.end()) {
        places_[ok] = Place{Loc::output, c->second, 0, nullptr};
      } else {
        PlanRequest r;
        r.bytes = type_bytes(t);
        r.birth = s;
        auto lr = last_read.find(ok);
        r.death = lr == last_read.end() ? s : lr->second;
        // Over an input that dies here, when the kernel allows it and the two stay the
        // same size at every batch extent.
        for (const auto& [po, pi] : pairs) {
          if (po != o || pi < 0 || pi >= static_cast<int>(n.inputs.size()) || !n.inputs[pi].defined()) continue;
          const Key ik = key_of(n.inputs[pi]);
          const Place& donor = places_.at(ik);
          if (donor.loc == Loc::scratch && last_read.at(ik) == s && batched.at(ik) == any_batched &&
              reqs[donor.offset].bytes == r.bytes) {
            r.inplace_of = static_cast<int>(donor.offset);
            break;
          }
        }
        places_[ok] = Place{Loc::scratch, 0, reqs.size(), nullptr};
        reqs.push_back(r);
      }
      st.out.push_back(places_.at(ok));
      st.out_batched.push_back(any_batched);
    }
    const size_t ws = impl->workspace ? impl->workspace(n) : 0;
    workspace_req.push_back(-1);
    if (ws > 0) {
      PlanRequest r;
      r.bytes = ws;
      r.birth = r.death = s;
      workspace_req.back() = static_cast<int>(reqs.size());
      reqs.push_back(r);
    }
    st.params = impl->prepare ? impl->prepare(n) : nullptr;
    steps_.push_back(std::move(st));
  }

  const MemoryPlan plan = plan_memory(reqs);
  auto resolve = [&](Place& p) {
    if (p.loc == Loc::scratch) p.offset = plan.offsets[p.offset];
  };
  for (size_t s = 0; s < steps_.size(); ++s) {
    for (Place& p : steps_[s].in) resolve(p);
    for (Place& p : steps_[s].out) resolve(p);
    if (workspace_req[s] >= 0) {
      steps_[s].has_workspace = true;
      steps_[s].workspace_offset = plan.offsets[workspace_req[s]];
    }
  }
  for (auto& kv : places_) resolve(kv.second);
  for (size_t j = 0; j < g.outputs.size(); ++j) {
    const Key k = key_of(g.outputs[j]);
    auto c = claimed.find(k);
    output_places_.push_back(c != claimed.end() && c->second == static_cast<int>(j)
                                 ? Place{Loc::output, static_cast<int>(j), 0, nullptr}
                                 : places_.at(k));
    output_batched_.push_back(batched.at(k));
  }
  // The views each run rebinds, grouped by the input or output they show.
  std::vector<std::vector<Use>> by_input(g.inputs.size()), by_output(g.outputs.size());
  for (size_t s = 0; s < steps_.size(); ++s) {
    const Step& st = steps_[s];
    auto note = [&](const Place& p, bool batched, uint32_t arg, bool out) {
      const Use u{static_cast<uint32_t>(s), arg, out};
      if (p.loc == Loc::input) by_input[p.index].push_back(u);
      if (p.loc == Loc::output) by_output[p.index].push_back(u);
      if (batched) batch_uses_.push_back(u);
    };
    for (size_t j = 0; j < st.in.size(); ++j) note(st.in[j], st.in_batched[j], static_cast<uint32_t>(j), false);
    for (size_t o = 0; o < st.out.size(); ++o) note(st.out[o], st.out_batched[o], static_cast<uint32_t>(o), true);
  }
  auto flatten = [](const std::vector<std::vector<Use>>& groups, std::vector<Use>& uses, std::vector<uint32_t>& begin) {
    for (const auto& grp : groups) {
      begin.push_back(static_cast<uint32_t>(uses.size()));
      uses.insert(uses.end(), grp.begin(), grp.end());
    }
    begin.push_back(static_cast<uint32_t>(uses.size()));
  };
  flatten(by_input, input_uses_, input_begin_);
  flatten(by_output, output_uses_, output_begin_);
  for (size_t j = 0; j < g.outputs.size(); ++j) {
    const Place& p = output_places_[j];
    if (p.loc == Loc::output && p.index == static_cast<int>(j)) continue;
    const TensorType& t = g.outputs[j].type();
    const bool b = output_batched_[j];
    const size_t rows = b ? static_cast<size_t>(t.shape[0]) : 1;
    copies_.push_back(Copy{static_cast<int>(j), p, type_bytes(t) / rows, rows, b});
  }

  stats_.scratch_bytes = plan.arena_bytes;
  stats_.naive_bytes = plan.naive_bytes;
  stats_.steps = static_cast<int>(steps_.size());
  for (int w : plan.shares_with) stats_.inplace_steps += w >= 0;
}

SubPlan::Place SubPlan::place_of(const Value& v) const {
  auto it = places_.find(key_of(v));
  SN_CHECK(it != places_.end(), ErrorKind::value, "the value is not computed in " << options_.what);
  return it->second;
}

void SubPlan::run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* scratch,
                  RunContext* run) const {
  Frame f(*this, scratch, run);
  f.run(inputs, outputs);
}

SubPlan::Frame::Frame(const SubPlan& plan, void* scratch, RunContext* run)
    : plan_(&plan), scratch_(static_cast<char*>(scratch)), bound_batch_(plan.batch_) {
  SN_CHECK(plan.scratch_bytes() == 0 || scratch != nullptr, ErrorKind::internal,
           plan.options_.what << " needs " << plan.scratch_bytes() << " bytes of scratch and was given none");
  SN_CHECK(reinterpret_cast<uintptr_t>(scratch) % scratch_alignment() == 0, ErrorKind::internal,
           "the scratch of " << plan.options_.what << " is not " << scratch_alignment() << "-byte aligned");
  if (run == nullptr) {
    own_run_ = std::make_unique<RunContext>();
    run = own_run_.get();
  }
  if (!plan.copies_.empty()) {
    in_ptr_.assign(plan.body_->inputs.size(), nullptr);
    out_ptr_.assign(plan.body_->outputs.size(), nullptr);
  }
  // Inputs and outputs are bound by set_input/set_output; constants and scratch values here.
  auto bind = [&](TensorView& v, const Place& p) {
    if (p.loc == Loc::constant) v.data = const_cast<void*>(p.constant);
    if (p.loc == Loc::scratch) v.data = scratch_ + p.offset;
  };
  ctx_.resize(plan.steps_.size());
  for (size_t s = 0; s < plan.steps_.size(); ++s) {
    const Step& st = plan.steps_[s];
    KernelContext& c = ctx_[s];
    c.run = run;
    c.params = st.params.get();
    c.workspace = st.has_workspace ? scratch_ + st.workspace_offset : nullptr;
    c.in.resize(st.in.size());
    c.out.resize(st.out.size());
    for (size_t j = 0; j < st.in.size(); ++j) {
      const Value& v = st.node->inputs[j];
      if (v.defined()) {
        c.in[j].dtype = v.dtype();
        c.in[j].shape = v.shape();
      }
      bind(c.in[j], st.in[j]);
    }
    for (size_t o = 0; o < st.out.size(); ++o) {
      c.out[o].dtype = st.node->outputs[o].dtype;
      c.out[o].shape = st.node->outputs[o].shape;
      bind(c.out[o], st.out[o]);
    }
  }
}

void SubPlan::Frame::set_input(size_t i, const void* data) {
  for (uint32_t u = plan_->input_begin_[i]; u < plan_->input_begin_[i + 1]; ++u)
    plan_->view(ctx_, plan_->input_uses_[u]).data = const_cast<void*>(data);
  if (!in_ptr_.empty()) in_ptr_[i] = data;
}

void SubPlan::Frame::set_output(size_t j, void* data) {
  for (uint32_t u = plan_->output_begin_[j]; u < plan_->output_begin_[j + 1]; ++u)
    plan_->view(ctx_, plan_->output_uses_[u]).data = data;
  if (!out_ptr_.empty()) out_ptr_[j] = data;
}

void SubPlan::Frame::run(int64_t batch) {
  if (batch < 0) batch = plan_->batch_;
  if (batch != bound_batch_) {
    SN_CHECK(plan_->batch_ >= 1 && batch >= 1 && batch <= plan_->batch_, ErrorKind::shape,
             plan_->options_.what << " was compiled for a batch of " << plan_->batch_ << ", not " << batch);
    for (const Use& u : plan_->batch_uses_) plan_->view(ctx_, u).shape[0] = batch;
    bound_batch_ = batch;
  }
  for (size_t s = 0; s < ctx_.size(); ++s) plan_->steps_[s].fn(ctx_[s]);
  for (const Copy& cp : plan_->copies_) {
    const void* src = nullptr;
    switch (cp.from.loc) {
      case Loc::input: src = in_ptr_[cp.from.index]; break;
      case Loc::output: src = out_ptr_[cp.from.index]; break;
      case Loc::constant: src = cp.from.constant; break;
      case Loc::scratch: src = scratch_ + cp.from.offset; break;
    }
    const size_t bytes = cp.bytes_per_row * (cp.batched ? static_cast<size_t>(batch) : cp.rows);
    if (src != out_ptr_[cp.output]) std::memmove(out_ptr_[cp.output], src, bytes);
  }
}

void SubPlan::Frame::run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) {
  const Graph& g = *plan_->body_;
  const std::string& what = plan_->options_.what;
  SN_CHECK(inputs.size() == g.inputs.size() && outputs.size() == g.outputs.size(), ErrorKind::value,
           what << " takes " << g.inputs.size() << " inputs and " << g.outputs.size() << " outputs, not "
                << inputs.size() << " and " << outputs.size());
  // The batch extent comes from the first batch input; every batched view must share it.
  int64_t batch = -1;
  auto fits = [&](const TensorView& v, const TensorType& t, bool batched) {
    if (v.dtype != t.dtype || v.shape.size() != t.shape.size() || (v.data == nullptr && v.bytes() > 0)) return false;
    for (size_t d = 0; d < v.shape.size(); ++d) {
      if (d == 0 && batched) {
        if (batch < 0) batch = v.shape[0];
        if (v.shape[0] != batch || batch < 1 || batch > t.shape[0]) return false;
      } else if (v.shape[d] != t.shape[d]) {
        return false;
      }
    }
    return true;
  };
  for (size_t i = 0; i < inputs.size(); ++i)
    SN_CHECK(fits(inputs[i], g.inputs[i].type(), plan_->input_batched_[i]), ErrorKind::shape,
             "input " << i + 1 << " of " << what << " is " << view_str(inputs[i]) << " but the body takes "
                      << type_str(g.inputs[i].type()) << (plan_->input_batched_[i] ? " (a batch of at most the first axis)" : ""));
  if (batch < 0) batch = plan_->batch_;
  for (size_t j = 0; j < outputs.size(); ++j)
    SN_CHECK(fits(outputs[j], g.outputs[j].type(), plan_->output_batched_[j]), ErrorKind::shape,
             "output " << j + 1 << " of " << what << " is " << view_str(outputs[j]) << " but the body makes "
                       << type_str(g.outputs[j].type()) << " (batch " << batch << ")");
  for (size_t i = 0; i < inputs.size(); ++i) set_input(i, inputs[i].data);
  for (size_t j = 0; j < outputs.size(); ++j) set_output(j, outputs[j].data);
  run(batch);
}

}  // namespace symnet
