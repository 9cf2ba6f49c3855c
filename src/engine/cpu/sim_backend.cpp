#include "engine/cpu/sim_backend.h"

#include <cstring>
#include <functional>
#include <mutex>
#include <variant>

#include "engine/cpu/cpu_backend.h"

namespace symnet {

namespace {

constexpr unsigned char kFresh = 0xA5;     // what a new buffer holds: never a useful value
constexpr unsigned char kPoisoned = 0xDD;  // what a freed buffer holds

class SimBuffer final : public StorageBuffer {
 public:
  explicit SimBuffer(size_t bytes) : StorageBuffer(bytes) {
    if (bytes) std::memset(mem_.data(), kFresh, bytes);
  }
  ~SimBuffer() override {
    if (mem_.bytes()) std::memset(mem_.data(), kPoisoned, mem_.bytes());
  }
  void* data() override { return nullptr; }  // the host may not touch device memory
  void* device_ptr() override { return mem_.data(); }
};

class SimBufferType final : public BufferType {
 public:
  const char* name() const override { return "sim"; }
  size_t alignment() const override { return 64; }
  bool is_host() const override { return false; }
  std::unique_ptr<Buffer> allocate(size_t bytes) const override { return std::make_unique<SimBuffer>(bytes); }
};

class SimBackend final : public Backend {
 public:
  // Takes the CPU kernels of the ops `keep` accepts.
  SimBackend(const std::string& name, const Backend& cpu, const std::function<bool(const std::string&)>& keep)
      : Backend(name), cpu_(cpu) {
    for (const std::string& op : cpu.kernel_ops())
      if (keep(op)) add_kernel(op, *cpu.kernel(op));
  }
  const BufferType& buffer_type() const override { return type_; }
  // A node with a body (a fused group) runs here only when every node of the body does,
  // since its kernel runs their kernels.
  bool supports(const Node& n) const override {
    if (!kernel(n.op_name()) || !cpu_.supports(n)) return false;
    for (const auto& kv : n.attrs.items()) {
      const auto* body = std::get_if<GraphPtr>(&kv.second);
      if (!body || !*body) continue;
      for (const NodePtr& b : (*body)->topo_order())
        if (!b->op->has(kSource) && b->op_name() != "constant" && !supports(*b)) return false;
    }
    return true;
  }
  Graph lower(const Graph& g, bool fuse, std::vector<PassStats>* stats) const override {
    return cpu_.lower(g, fuse, stats);
  }

 private:
  const Backend& cpu_;
  SimBufferType type_;
};

}  // namespace

void register_sim_backend() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto all = [](const std::string&) { return true; };
    auto no_conv = [](const std::string& op) { return op.rfind("conv", 0) != 0; };
    if (!backends().find("sim")) backends().add(std::make_unique<SimBackend>("sim", cpu_backend(), all));
    if (!backends().find("sim_partial"))
      backends().add(std::make_unique<SimBackend>("sim_partial", cpu_backend(), no_conv));
  });
}

bool is_sim_backend(const std::string& name) { return name == "sim" || name == "sim_partial"; }

}  // namespace symnet
