// Compiling large graphs: deep chains must not recurse through the C++ stack, and the
// passes must give the same structure they give small graphs. Compile speed itself is
// measured by inst/benchmarks/compile-time.R, not asserted here.
#include <algorithm>
#include <cmath>
#include <exception>
#include <functional>
#include <iterator>
#include <map>
#include <random>

#include <pthread.h>

#include "engine/exec/executable.h"
#include "engine/backend/memory_plan.h"
#include "engine/passes/passes.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

namespace {

// y <- sin(y) * 0.999 + 0.001, `steps` times, on x * w; the loss and its gradient w.r.t. w.
// Each step writes its own constants, as R code does. About 10 nodes per step.
Graph chain_with_gradient(int steps, DType dt) {
  Value x = op::input("x", dt, {-1, 8});
  Value w = op::input("w", dt, {1, 8});
  Value y = op::mul(x, w);
  for (int i = 0; i < steps; ++i)
    y = op::add(op::mul(op::sin(y), op::scalar(0.999, dt)), op::scalar(0.001, dt));
  Value loss = op::reduce_sum(y);
  Value grad = gradients(loss, {w}).at(0);
  Graph g = Graph::from_outputs({loss, grad}, {"loss", "grad"});
  REQUIRE(g.inputs.size() == 2);  // ordered by name: w, x
  return g;
}

}  // namespace

namespace {

// Runs fn on a thread with a 1 MiB stack (a tenth of the usual main-thread limit), so that a
// recursion as deep as the graph fails here whatever `ulimit -s` says. Checks go after.
void on_small_stack(const std::function<void()>& fn) {
  struct Job {
    const std::function<void()>* fn;
    std::exception_ptr error;
  } job{&fn, nullptr};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, size_t{1} << 20);
  pthread_t thread;
  auto body = [](void* p) -> void* {
    auto* j = static_cast<Job*>(p);
    try {
      (*j->fn)();
    } catch (...) {
      j->error = std::current_exception();
    }
    return nullptr;
  };
  REQUIRE(pthread_create(&thread, &attr, body, &job) == 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace

TEST_CASE("graph walks, rewrites and destruction handle chains 100k nodes deep", "[passes][scale]") {
  const int depth = 100000;
  size_t nodes = 0, specialized = 0;
  bool simplified_to_x = false, stripped_same = false;
  on_small_stack([&] {
    Value x = op::input("x", DType::f32, {2});
    Value y = x;
    for (int i = 0; i < depth; ++i) y = op::neg(y);
    Graph g = graph_of({x}, {y});
    nodes = g.num_nodes();
    // Every node is remade (new input type), each on the one made just before.
    specialized = specialize(g, {TensorType{DType::f32, {2}}}).num_nodes();
    // neg(neg(v)) -> v all the way down: an even number of negations is x itself.
    simplified_to_x = simplify_algebra(g).outputs[0] == x;
    stripped_same = strip_identities(g).outputs[0] == y;
  });  // the chains were freed on that stack too
  CHECK(nodes == static_cast<size_t>(depth) + 1);
  CHECK(specialized == static_cast<size_t>(depth) + 1);
  CHECK(simplified_to_x);
  CHECK(stripped_same);

  // Compiled and run whole: a chain through a 2-input op with a shared side input.
  std::vector<Tensor> out;
  on_small_stack([&] {
    Value x = op::input("x", DType::f32, {2});
    Value s = op::input("s", DType::f32, {2});
    Value y = x;
    for (int i = 0; i < depth; ++i) y = op::add(y, s);
    out = run_graph(graph_of({s, x}, {y}),
                    {make_tensor(DType::f32, {2}, {1, -1}), make_tensor(DType::f32, {2}, {0.5, 2})});
  });
  REQUIRE(out.size() == 1);
  CHECK(out[0].get_as_double(0) == 0.5 + depth);
  CHECK(out[0].get_as_double(1) == 2.0 - depth);
}

TEST_CASE("a 50k-node chain and its gradient fuse into a forward and a backward group",
          "[passes][fuse][scale]") {
  Graph g = chain_with_gradient(5000, DType::f64);
  REQUIRE(g.num_nodes() > 50000);
  const std::vector<TensorType> types = {{DType::f64, {1, 8}}, {DType::f64, {3, 8}}};
  auto ex = compile_on_target(g, types);
  const CompileStats& st = ex->stats();
  // Forward chain (with the cos factors of the backward pass) and backward chain: the sum
  // and its broadcast gradient sit between them, so they cannot be one group.
  CHECK(st.fused_groups == 2);
  CHECK(st.nodes_after == 11);
  CHECK(st.steps == 6);
  // Every pass is reported, from specialisation to the plan.
  REQUIRE(st.passes.size() >= 3);
  CHECK(st.passes.front().name == "specialize");
  CHECK(st.passes.back().name == "plan");

  // Same numbers as the graph run op by op, unoptimised.
  std::vector<Tensor> feeds = {random_tensor(DType::f64, {1, 8}, 3, 0.5, 1.5),
                               random_tensor(DType::f64, {3, 8}, 4)};
  std::vector<Tensor> fused = run_graph(g, feeds, true);
  std::vector<Tensor> plain = run_graph(g, feeds, false);
  REQUIRE(fused.size() == 2);
  check_close(fused[0], plain[0], 1e-9);
  check_close(fused[1], plain[1], 1e-9);
}

TEST_CASE("long chains split into one fused group per segment between reductions",
          "[passes][fuse][scale]") {
  const int segments = 800, ops_per_segment = 20;
  Value x = op::input("x", DType::f32, {64});
  Value y = x;
  for (int s = 0; s < segments; ++s) {
    if (s > 0) y = op::mul(y, op::reduce_sum(y, {}, true));  // the reduction reads y: a group ends
    for (int k = 0; k < ops_per_segment / 2; ++k) y = op::tanh(op::mul(y, op::scalar(0.5, DType::f32)));
  }
  Graph g = graph_of({x}, {y});
  Graph f = fuse_elementwise(g);
  CHECK(count_op(f, "fused_elementwise") == static_cast<size_t>(segments));
  CHECK(count_op(f, "reduce_sum") == static_cast<size_t>(segments - 1));
  CHECK(count_op(f, "tanh") == 0);
  check_close(run_graph(f, {random_tensor(DType::f32, {64}, 5)}, false)[0],
              run_graph(g, {random_tensor(DType::f32, {64}, 5)}, false)[0], 1e-6);
}

TEST_CASE("fusion merges many independent chains through their common consumers",
          "[passes][fuse][scale]") {
  // k chains on separate inputs, summed pairwise in a tree: each add merges two groups,
  // so every check is between groups of many members. One group results.
  const int chains = 256, length = 100;
  std::vector<Value> ins, level;
  for (int c = 0; c < chains; ++c) {
    ins.push_back(op::input("x" + std::to_string(1000 + c), DType::f32, {16}));
    Value y = ins.back();
    for (int k = 0; k < length; ++k) y = op::sin(y);
    level.push_back(y);
  }
  while (level.size() > 1) {
    std::vector<Value> next;
    for (size_t i = 0; i + 1 < level.size(); i += 2) next.push_back(op::add(level[i], level[i + 1]));
    level = next;
  }
  Graph g = graph_of(ins, {level[0]});
  Graph f = fuse_elementwise(g);
  CHECK(count_op(f, "fused_elementwise") == 1);
  CHECK(f.num_nodes() == static_cast<size_t>(chains) + 1);
}

namespace {

// Best fit by scanning every free block: the rule plan_memory implements with an index.
std::vector<size_t> reference_offsets(const std::vector<PlanRequest>& reqs, size_t* arena) {
  auto align_to = [](size_t n, size_t a) { return (n + a - 1) / a * a; };
  std::map<size_t, size_t> free_blocks;
  size_t top = 0;
  auto allocate = [&](size_t bytes, size_t align) {
    auto best = free_blocks.end();
    for (auto it = free_blocks.begin(); it != free_blocks.end(); ++it) {
      if (align_to(it->first, align) + bytes > it->first + it->second) continue;
      if (best == free_blocks.end() || it->second < best->second) best = it;
    }
    if (best != free_blocks.end()) {
      size_t off = best->first, size = best->second, start = align_to(off, align);
      free_blocks.erase(best);
      if (start > off) free_blocks[off] = start - off;
      if (off + size > start + bytes) free_blocks[start + bytes] = off + size - start - bytes;
      return start;
    }
    size_t base = top;
    if (!free_blocks.empty()) {
      auto last = std::prev(free_blocks.end());
      if (last->first + last->second == top) {
        base = last->first;
        free_blocks.erase(last);
      }
    }
    size_t start = align_to(base, align);
    if (start > base) free_blocks[base] = start - base;
    top = start + bytes;
    return start;
  };
  auto release = [&](size_t off, size_t bytes) {
    auto it = free_blocks.emplace(off, bytes).first;
    auto next = std::next(it);
    if (next != free_blocks.end() && it->first + it->second == next->first) {
      it->second += next->second;
      free_blocks.erase(next);
    }
    if (it != free_blocks.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        free_blocks.erase(it);
      }
    }
  };
  std::vector<size_t> offsets(reqs.size());
  std::multimap<int, size_t> dies;  // death step -> request
  size_t next = 0;
  int last_step = 0;
  for (const PlanRequest& r : reqs) last_step = std::max({last_step, r.birth, r.death});
  for (int step = 0; step <= last_step; ++step) {
    for (; next < reqs.size() && reqs[next].birth == step; ++next) {
      const size_t bytes = align_to(reqs[next].bytes, kArenaAlign);
      offsets[next] = allocate(bytes, reqs[next].bytes >= kPageAlignFrom ? 4096 : kArenaAlign);
      dies.emplace(reqs[next].death, next);
    }
    auto range = dies.equal_range(step);
    for (auto it = range.first; it != range.second; ++it)
      release(offsets[it->second], align_to(reqs[it->second].bytes, kArenaAlign));
    dies.erase(range.first, range.second);
  }
  *arena = top;
  return offsets;
}

}  // namespace

TEST_CASE("memory plans of 100k requests keep exact best fit", "[plan][scale]") {
  std::mt19937 rng(7);
  std::vector<PlanRequest> reqs;
  const int steps = 100000;
  for (int s = 0; s < steps; ++s) {
    PlanRequest q;
    // Mostly small values with a few large ones, short and long lifetimes: many free
    // blocks of many sizes at once.
    q.bytes = rng() % 10 == 0 ? 64 * 1024 + rng() % 200000 : 1 + rng() % 5000;
    q.birth = s;
    q.death = s + static_cast<int>(rng() % 4 == 0 ? rng() % 2000 : rng() % 8);
    reqs.push_back(q);
  }
  MemoryPlan p = plan_memory(reqs);
  size_t ref_arena = 0;
  std::vector<size_t> ref = reference_offsets(reqs, &ref_arena);
  CHECK(p.arena_bytes == ref_arena);
  CHECK(p.offsets == ref);
  CHECK(p.arena_bytes <= p.naive_bytes);
}
