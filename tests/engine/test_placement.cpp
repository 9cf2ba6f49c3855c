// Placement across backends: nodes the target lacks fall back to the CPU with transfers
// between the memories; variables stay resident on the device between runs and the host
// reads and writes them only through Variable::host()/host_for_write().
#include <cmath>
#include <cstring>
#include <random>

#include "engine/cpu/sim_backend.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

namespace {

Tensor random_f32(const Shape& s, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  Tensor t(DType::f32, s);
  float* p = static_cast<float*>(t.data());
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = u(rng);
  return t;
}

// A small convolutional training step: conv (lacking on sim_partial) between ops it has.
struct ConvStep {
  VariablePtr w = Variable::create("w", random_f32({4, 2, 3, 3}, 1));
  VariablePtr b = Variable::create("b", random_f32({4}, 2));
  Graph graph;
  ConvStep() {
    Value x = op::input("x", DType::f32, {3, 2, 8, 8});
    Value wv = op::variable(w), bv = op::variable(b);
    Value h = op::relu(op::apply("conv", {op::mul(x, op::scalar(0.5, DType::f32)), wv, bv},
                                 AttrMap{{"pads", std::vector<int64_t>{1, 1, 1, 1}}}));
    h = op::apply("max_pool", {h},
                  AttrMap{{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}});
    Value loss = op::reduce_sum(op::square(h));
    auto g = gradients(loss, {wv, bv});
    Value lr = op::scalar(0.01, DType::f32);
    graph = graph_of({x}, {loss, op::sub(wv, op::mul(g[0], lr)), op::sub(bv, op::mul(g[1], lr))});
  }
  std::unique_ptr<Executable> compile(const std::string& target) const {
    CompileOptions o;
    o.target = target;
    o.update_vars = {w, b};
    return Executable::compile(graph, {{DType::f32, {3, 2, 8, 8}}}, o);
  }
};

// Counts the transfers of a device copy that is not a backend's (Variable's own logic).
class CountingCopy final : public DeviceCopy {
 public:
  explicit CountingCopy(size_t bytes) : mem(bytes) {}
  const void* kind() const override { return this; }
  void read(void* dst, size_t bytes) const override {
    ++reads;
    std::memcpy(dst, mem.data(), bytes);
  }
  void write(const void* src, size_t bytes) override {
    ++writes;
    std::memcpy(mem.data(), src, bytes);
  }
  std::vector<char> mem;
  mutable int reads = 0;
  int writes = 0;
};

}  // namespace

TEST_CASE("nodes a device lacks fall back to the CPU, with transfers both ways", "[placement]") {
  register_sim_backend();
  Tensor x = random_f32({3, 2, 8, 8}, 3);
  ConvStep on_cpu, on_dev;
  auto cpu = on_cpu.compile("cpu");
  auto dev = on_dev.compile("sim_partial");
  const CompileStats& st = dev->stats();
  REQUIRE_FALSE(st.fallback_nodes.empty());
  for (const std::string& n : st.fallback_nodes) CHECK(n.find("conv") != std::string::npos);
  CHECK(st.transfers >= 2);  // up to the device after the conv, back down for its gradient
  CHECK(st.transfer_bytes > 0);
  REQUIRE(st.steps_per_backend.size() == 2);
  CHECK(st.steps_per_backend[0].first == "cpu");
  CHECK(st.steps_per_backend[1].first == "sim_partial");
  REQUIRE(st.arenas.size() == 2);
  CHECK(st.arenas[1].first == std::string("sim"));
  CHECK(dev->describe_plan().find("transfer host -> sim") != std::string::npos);
  CHECK(dev->describe_plan().find("transfer sim -> host") != std::string::npos);

  // Same kernels, so the same bits, through three training steps that move the weights.
  const Tensor w0 = on_dev.w->host().clone();
  for (int step = 0; step < 3; ++step) {
    cpu->run({x.view()});
    dev->run({x.view()});
    check_close(to_tensor(dev->output(0)), to_tensor(cpu->output(0)), 0);
    check_close(on_dev.w->host(), on_cpu.w->host(), 0);
    check_close(on_dev.b->host(), on_cpu.b->host(), 0);
  }
  double moved = 0;
  for (int64_t i = 0; i < w0.numel(); ++i) moved += std::abs(on_dev.w->host().get_as_double(i) - w0.get_as_double(i));
  CHECK(moved > 1e-4);
}

TEST_CASE("variables stay on the device between runs; host writes reach it", "[placement]") {
  register_sim_backend();
  Tensor x = random_f32({3, 2, 8, 8}, 4);
  ConvStep on_cpu, on_dev;
  auto cpu = on_cpu.compile("cpu");
  auto dev = on_dev.compile("sim");
  CHECK(dev->stats().fallback_nodes.empty());
  CHECK(dev->stats().steps_per_backend == std::vector<std::pair<std::string, size_t>>{{"sim", dev->stats().steps}});
  dev->run({x.view()});
  cpu->run({x.view()});
  // Updated on the device: the device copy is current, the host's is fetched on reading.
  CHECK(on_dev.w->device_current());
  check_close(on_dev.w->host(), on_cpu.w->host(), 0);
  dev->run({x.view()});
  cpu->run({x.view()});
  check_close(on_dev.b->host(), on_cpu.b->host(), 0);

  // A host write (what R's parameter assignment does) makes the device copy stale; the
  // next run uploads the written value.
  Tensor fresh = random_f32({4, 2, 3, 3}, 5);
  on_dev.w->host_for_write(false).swap_storage(*std::make_shared<Tensor>(fresh.clone()));
  on_cpu.w->host_for_write(false).swap_storage(*std::make_shared<Tensor>(fresh.clone()));
  CHECK_FALSE(on_dev.w->device_current());
  dev->run({x.view()});
  cpu->run({x.view()});
  check_close(to_tensor(dev->output(0)), to_tensor(cpu->output(0)), 0);
  check_close(on_dev.w->host(), on_cpu.w->host(), 0);
}

TEST_CASE("a variable moves between a device and the host only when it must", "[placement]") {
  auto v = Variable::create("v", make_tensor(DType::f32, {2}, {1, 2}));
  auto copy = std::make_unique<CountingCopy>(v->bytes());
  CountingCopy& c = *copy;
  v->attach_device_copy(std::move(copy));
  CHECK(c.writes == 1);  // the host value went up once
  CHECK(v->device_current());
  v->host();
  v->host();
  CHECK(c.reads == 0);  // the host value was current
  // The device computes a new value: one download on the first host read, none after.
  float two[2] = {7, 8};
  std::memcpy(c.mem.data(), two, sizeof two);
  v->device_written();
  CHECK(v->host().get_as_double(1) == 8);
  CHECK(v->host().get_as_double(0) == 7);
  CHECK(c.reads == 1);
  // A host write marks the device stale; refreshing uploads once.
  static_cast<float*>(v->host_for_write().data())[0] = 3;
  CHECK_FALSE(v->device_current());
  v->refresh_device_copy();
  v->refresh_device_copy();
  CHECK(c.writes == 2);
  float back[2];
  std::memcpy(back, c.mem.data(), sizeof back);
  CHECK(back[0] == 3);
  CHECK(back[1] == 8);
  // Overwriting the whole value on the host needs no download first.
  v->device_written();
  v->host_for_write(false);
  CHECK(c.reads == 1);
}

TEST_CASE("a node no backend can run is an unsupported error naming both", "[placement]") {
  register_sim_backend();
  // The IR carries f16; no backend of this build computes in it.
  Value x = op::input("x", DType::f16, {4});
  Graph g = graph_of({x}, {op::relu(x)});
  CompileOptions o;
  o.target = "sim_partial";
  try {
    Executable::compile(g, {{DType::f16, {4}}}, o);
    FAIL("an f16 relu compiled");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::unsupported);
    CHECK(std::string(e.what()).find("sim_partial backend nor on the cpu") != std::string::npos);
  }
}

TEST_CASE("the simulated device's queued copies complete only when it gets to them", "[placement]") {
  // What makes a missing synchronize() in the executor show up as wrong values.
  register_sim_backend();
  const Backend& sim = backends().get("sim");
  auto buf = sim.buffer_type().allocate(2 * sizeof(float));
  float src[2] = {1, 2};
  buf->upload_async(0, src, sizeof src);
  src[0] = 9;  // overwritten before the device read it: the device sees the new value
  float got[2] = {0, 0};
  buf->download_async(0, got, sizeof got);
  CHECK(got[0] == 0);  // not delivered before synchronize()
  sim.synchronize();
  CHECK(got[0] == 9);
  CHECK(got[1] == 2);
  // A download takes the buffer's content when queued, not when delivered.
  float later[2] = {5, 6}, first[2] = {0, 0};
  buf->download_async(0, first, sizeof first);
  buf->upload(0, later, sizeof later);
  sim.synchronize();
  CHECK(first[0] == 9);
  float now[2];
  buf->download(0, now, sizeof now);
  CHECK(now[1] == 6);
}
