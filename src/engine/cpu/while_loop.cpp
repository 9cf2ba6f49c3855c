// The CPU kernel of while_loop (ops/while_loop.cpp): cond and body are specialised to the
// node's input types and planned once as sub-plans; a run binds one frame of each on the
// node's workspace and, per iteration, only moves addresses. The loop variables are
// double-buffered in the workspace (an iteration reads one buffer and writes the other;
// the first reads the inputs in place); the final ones are copied to the outputs, since
// which iteration is the last is known only once cond says so. Iteration i runs in its own
// random stream (loop_support.h), the same i as the gradient's reverse scan gives that slot.
#include <cstring>

#include "engine/backend/sub_plan.h"
#include "engine/base/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/loop_support.h"
#include "engine/passes/passes.h"

namespace symnet {

namespace {

struct WhilePlan {
  std::shared_ptr<const SubPlan> cond, body;
  std::string node;                   // for the max_iterations error
  size_t vars = 0;
  int64_t max_iterations = -1;        // -1: unbounded
  bool error_at_max = false, record = false;
  std::vector<size_t> var_offset;     // in each variable buffer
  std::vector<size_t> var_bytes;
  TensorType pred;                    // the cond's output
  size_t cond_scratch = 0, body_scratch = 0;  // rounded up
  size_t buffer = 0;                  // one set of variable buffers
};

std::shared_ptr<const SubPlan> plan_graph(const Backend& cpu, const Node& n, const char* name,
                                          const std::vector<TensorType>& types) {
  GraphPtr g = n.attrs.get_graph(name);
  SN_CHECK(g != nullptr, ErrorKind::attr, "attribute '" << name << "' is empty");
  Graph s = body_for_plan(cpu, *g, types);
  SubPlanOptions opts;
  opts.what = std::string("the ") + name + " of " + n.describe();
  return std::make_shared<const SubPlan>(cpu, std::make_shared<const Graph>(std::move(s)), opts);
}

WhilePlan while_plan(const Backend& cpu, const Node& n) {
  WhilePlan p;
  p.node = n.describe();
  p.vars = static_cast<size_t>(n.attrs.get_int("n_vars"));
  p.max_iterations = n.attrs.get_int("max_iterations", -1);
  p.error_at_max = n.attrs.get_int("error_at_max", 0) != 0;
  p.record = n.attrs.get_int("record", 0) != 0;
  std::vector<TensorType> types;
  for (const Value& v : n.inputs) types.push_back(v.type());
  for (size_t k = 0; k < p.vars; ++k) {
    p.var_offset.push_back(p.buffer);
    p.var_bytes.push_back(known_type_bytes(types[k], "while_loop"));
    p.buffer += round_up_to_align(p.var_bytes.back());
  }
  p.cond = plan_graph(cpu, n, "cond", types);
  p.body = plan_graph(cpu, n, "body", types);
  p.pred = p.cond->body().outputs.at(0).type();
  p.cond_scratch = round_up_to_align(p.cond->scratch_bytes());
  p.body_scratch = round_up_to_align(p.body->scratch_bytes());
  return p;
}

// Room for the predicate (one value of at most 8 bytes), kept aligned.
constexpr size_t kPredBytes = kLoopAlign;

void while_kernel(KernelContext& k) {
  const WhilePlan& p = k.param<WhilePlan>();
  const size_t V = p.vars;
  char* base = align_workspace(k.workspace);
  char* cond_scratch = base;
  char* body_scratch = cond_scratch + p.cond_scratch;
  char* buffers[2] = {body_scratch + p.body_scratch, body_scratch + p.body_scratch + p.buffer};
  char* pred_data = buffers[1] + p.buffer;

  LoopRun loop(k.run);
  SubPlan::Frame cond(*p.cond, cond_scratch, loop.context());
  SubPlan::Frame body(*p.body, body_scratch, loop.context());
  for (size_t i = V; i < k.in.size(); ++i) {
    cond.set_input(i, k.in[i].data);
    body.set_input(i, k.in[i].data);
  }
  cond.set_output(0, pred_data);
  const TensorView pred{pred_data, p.pred.dtype, p.pred.shape};
  std::vector<const void*> cur(V);
  for (size_t s = 0; s < V; ++s) cur[s] = k.in[s].data;
  auto holds = [&] {
    for (size_t s = 0; s < V; ++s) cond.set_input(s, cur[s]);
    cond.run();
    return predicate_value(pred, "the cond of while_loop");
  };

  int64_t it = 0;
  for (;; ++it) {
    loop.enter(static_cast<uint64_t>(it));
    if (p.max_iterations >= 0 && it == p.max_iterations) {
      SN_CHECK(!(p.error_at_max && holds()), ErrorKind::value,
               p.node << " still holds its cond after max_iterations = " << p.max_iterations
                      << " iterations, and was asked to fail there rather than stop");
      break;
    }
    if (!holds()) break;
    if (p.record)
      for (size_t s = 0; s < V; ++s)
        if (p.var_bytes[s] > 0)
          std::memcpy(static_cast<char*>(k.out[V + 1 + s].data) + it * p.var_bytes[s], cur[s], p.var_bytes[s]);
    char* write = buffers[it % 2];
    for (size_t s = 0; s < V; ++s) {
      body.set_input(s, cur[s]);
      body.set_output(s, write + p.var_offset[s]);
    }
    body.run();
    for (size_t s = 0; s < V; ++s) cur[s] = write + p.var_offset[s];
    loop.poll_interrupt();
  }
  for (size_t s = 0; s < V; ++s)
    if (p.var_bytes[s] > 0) std::memcpy(k.out[s].data, cur[s], p.var_bytes[s]);
  if (!p.record) return;
  *static_cast<int64_t*>(k.out[V].data) = it;
  // The slots the loop never reached hold zeros, so the outputs are defined.
  for (size_t s = 0; s < V; ++s)
    if (p.var_bytes[s] > 0)
      std::memset(static_cast<char*>(k.out[V + 1 + s].data) + it * p.var_bytes[s], 0,
                  (p.max_iterations - it) * p.var_bytes[s]);
}

}  // namespace

void bind_while_loop_kernels(Backend& b) {
  KernelImpl k;
  k.fn = while_kernel;
  const Backend* self = &b;
  k.prepare = [self](const Node& n) -> std::shared_ptr<const void> {
    return std::make_shared<WhilePlan>(while_plan(*self, n));
  };
  k.workspace = [self](const Node& n) {
    WhilePlan p = while_plan(*self, n);
    return p.cond_scratch + p.body_scratch + 2 * p.buffer + kPredBytes + kLoopAlign;
  };
  b.add_kernel("while_loop", std::move(k));
}

}  // namespace symnet
