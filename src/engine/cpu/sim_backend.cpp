#include "engine/cpu/sim_backend.h"

#include <cstring>
#include <mutex>

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
  explicit SimBackend(const Backend& cpu) : Backend("sim"), cpu_(cpu) {
    for (const std::string& op : cpu.kernel_ops()) add_kernel(op, *cpu.kernel(op));
  }
  const BufferType& buffer_type() const override { return type_; }
  bool supports(const Node& n) const override { return cpu_.supports(n); }
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
    if (!backends().find("sim")) backends().add(std::make_unique<SimBackend>(cpu_backend()));
  });
}

}  // namespace symnet
