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

// The device's stream. A queued upload reads its source only when the device gets to it
// (before its next kernel or blocking copy), and a queued download reaches its destination
// only at synchronize(): an executor that overwrites a source or reads a destination too
// early computes wrong values here, as it would on a GPU.
class SimStream {
 public:
  void queue_upload(std::function<void()> apply) {
    std::lock_guard<std::mutex> lock(mu_);
    uploads_.push_back(std::move(apply));
  }
  // `bytes`: the buffer's content when the download was queued (stream order).
  void queue_download(void* dst, std::vector<char> bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    downloads_.push_back({dst, std::move(bytes)});
  }
  // What the device does before its next kernel or blocking copy: the uploads queued before.
  void run_uploads() {
    std::vector<std::function<void()>> todo;
    {
      std::lock_guard<std::mutex> lock(mu_);
      todo.swap(uploads_);
    }
    for (auto& f : todo) f();
  }
  void synchronize() {
    run_uploads();
    std::vector<Delivery> todo;
    {
      std::lock_guard<std::mutex> lock(mu_);
      todo.swap(downloads_);
    }
    for (Delivery& d : todo)
      if (!d.bytes.empty()) std::memcpy(d.dst, d.bytes.data(), d.bytes.size());
  }

 private:
  struct Delivery {
    void* dst;
    std::vector<char> bytes;
  };
  std::mutex mu_;
  std::vector<std::function<void()>> uploads_;
  std::vector<Delivery> downloads_;
};

class SimBuffer final : public StorageBuffer {
 public:
  SimBuffer(size_t bytes, SimStream& stream) : StorageBuffer(bytes), stream_(stream) {
    if (bytes) std::memset(mem_.data(), kFresh, bytes);
  }
  ~SimBuffer() override {
    stream_.run_uploads();  // none may land in freed memory
    if (mem_.bytes()) std::memset(mem_.data(), kPoisoned, mem_.bytes());
  }
  void* data() override { return nullptr; }  // the host may not touch device memory
  void* device_ptr() override { return mem_.data(); }
  void upload(size_t offset, const void* src, size_t bytes) override {
    stream_.run_uploads();
    StorageBuffer::upload(offset, src, bytes);
  }
  void download(size_t offset, void* dst, size_t bytes) const override {
    stream_.run_uploads();
    StorageBuffer::download(offset, dst, bytes);
  }
  void upload_async(size_t offset, const void* src, size_t bytes) override {
    if (bytes == 0) return;
    stream_.queue_upload([this, offset, src, bytes] { StorageBuffer::upload(offset, src, bytes); });
  }
  void download_async(size_t offset, void* dst, size_t bytes) const override {
    if (bytes == 0) return;
    stream_.run_uploads();
    std::vector<char> now(bytes);
    StorageBuffer::download(offset, now.data(), bytes);
    stream_.queue_download(dst, std::move(now));
  }
  void fill_zero() override {
    stream_.run_uploads();
    StorageBuffer::fill_zero();
  }
  void copy_from(const Buffer& src, size_t src_offset, size_t dst_offset, size_t bytes) override {
    stream_.run_uploads();
    StorageBuffer::copy_from(src, src_offset, dst_offset, bytes);
  }

 private:
  SimStream& stream_;
};

class SimBufferType final : public BufferType {
 public:
  explicit SimBufferType(SimStream& stream) : stream_(stream) {}
  const char* name() const override { return "sim"; }
  size_t alignment() const override { return 64; }
  bool is_host() const override { return false; }
  std::unique_ptr<Buffer> allocate(size_t bytes) const override {
    return std::make_unique<SimBuffer>(bytes, stream_);
  }

 private:
  SimStream& stream_;
};

// A CPU kernel run on the device: it waits for the uploads queued before it, then runs
// with the parameters the CPU's prepare() built.
struct SimKernelParams {
  KernelFn fn;
  std::shared_ptr<const void> inner;
  SimStream* stream;
};

void run_on_sim(KernelContext& k) {
  const SimKernelParams& p = k.param<SimKernelParams>();
  p.stream->run_uploads();
  struct Restore {
    KernelContext& k;
    const void* outer;
    ~Restore() { k.params = outer; }
  } restore{k, k.params};
  k.params = p.inner.get();
  p.fn(k);
}

KernelImpl on_sim(const KernelImpl& cpu, SimStream* stream) {
  KernelImpl k = cpu;
  k.fn = run_on_sim;
  k.prepare = [cpu, stream](const Node& n) -> std::shared_ptr<const void> {
    return std::make_shared<SimKernelParams>(SimKernelParams{cpu.fn, cpu.prepare ? cpu.prepare(n) : nullptr, stream});
  };
  return k;
}

class SimBackend final : public Backend {
 public:
  // Takes the CPU kernels of the ops `keep` accepts.
  SimBackend(const std::string& name, const Backend& cpu, const std::function<bool(const std::string&)>& keep)
      : Backend(name), cpu_(cpu), type_(stream_) {
    for (const std::string& op : cpu.kernel_ops())
      if (keep(op)) add_kernel(op, on_sim(*cpu.kernel(op), &stream_));
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
  void synchronize() const override { stream_.synchronize(); }

 private:
  const Backend& cpu_;
  mutable SimStream stream_;
  SimBufferType type_;
};

}  // namespace

void register_sim_backend() {
  static std::once_flag once;
  std::call_once(once, [] {
    // host_callback runs host code on host memory: like a device, the simulated ones leave
    // it to the CPU, with transfers around it.
    auto all = [](const std::string& op) { return op != "host_callback"; };
    auto no_conv = [](const std::string& op) { return op.rfind("conv", 0) != 0 && op != "host_callback"; };
    if (!backends().find("sim")) backends().add(std::make_unique<SimBackend>("sim", cpu_backend(), all));
    if (!backends().find("sim_partial"))
      backends().add(std::make_unique<SimBackend>("sim_partial", cpu_backend(), no_conv));
  });
}

bool is_sim_backend(const std::string& name) { return name == "sim" || name == "sim_partial"; }

}  // namespace symnet
