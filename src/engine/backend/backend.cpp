#include "engine/backend/backend.h"

#include <cstring>

#include "engine/base/error.h"

namespace symnet {

void StorageBuffer::upload(size_t offset, const void* src, size_t bytes) {
  check(offset, bytes);
  if (bytes) std::memcpy(static_cast<char*>(mem_.data()) + offset, src, bytes);
}

void StorageBuffer::download(size_t offset, void* dst, size_t bytes) const {
  check(offset, bytes);
  if (bytes) std::memcpy(dst, static_cast<const char*>(mem_.data()) + offset, bytes);
}

void StorageBuffer::fill_zero() {
  if (mem_.bytes()) std::memset(mem_.data(), 0, mem_.bytes());
}

void StorageBuffer::copy_from(const Buffer& src, size_t src_offset, size_t dst_offset, size_t bytes) {
  const auto* other = dynamic_cast<const StorageBuffer*>(&src);
  if (!other) return Buffer::copy_from(src, src_offset, dst_offset, bytes);
  other->check(src_offset, bytes);
  check(dst_offset, bytes);
  if (bytes)
    std::memmove(static_cast<char*>(mem_.data()) + dst_offset,
                 static_cast<const char*>(other->mem_.data()) + src_offset, bytes);
}

void StorageBuffer::check(size_t offset, size_t bytes) const {
  SN_CHECK(offset <= mem_.bytes() && bytes <= mem_.bytes() - offset, ErrorKind::internal,
           "buffer access [" << offset << ", +" << bytes << ") outside its " << mem_.bytes() << " bytes");
}

namespace {

class HostBufferType final : public BufferType {
 public:
  const char* name() const override { return "host"; }
  size_t alignment() const override { return 64; }
  bool is_host() const override { return true; }
  std::unique_ptr<Buffer> allocate(size_t bytes) const override { return std::make_unique<StorageBuffer>(bytes); }
};

// A variable's value kept in a backend buffer between runs.
class ResidentCopy final : public DeviceCopy {
 public:
  ResidentCopy(const BufferType& type, size_t bytes) : type_(type), buf_(type.allocate(bytes)) {}
  const void* kind() const override { return &type_; }
  void read(void* dst, size_t bytes) const override { buf_->download(0, dst, bytes); }
  void write(const void* src, size_t bytes) override { buf_->upload(0, src, bytes); }
  std::unique_ptr<Buffer>& buffer() { return buf_; }

 private:
  const BufferType& type_;
  std::unique_ptr<Buffer> buf_;
};

ResidentCopy& resident_copy(Variable& v, const BufferType& type) {
  DeviceCopy* c = v.device_copy();
  if (!c || c->kind() != &type) v.attach_device_copy(std::make_unique<ResidentCopy>(type, v.bytes()));
  return static_cast<ResidentCopy&>(*v.device_copy());
}

}  // namespace

Buffer& resident_buffer(Variable& v, const BufferType& type) {
  ResidentCopy& c = resident_copy(v, type);
  v.refresh_device_copy();
  return *c.buffer();
}

void replace_resident(Variable& v, const BufferType& type, std::unique_ptr<Buffer>& fresh) {
  ResidentCopy& c = resident_copy(v, type);
  SN_CHECK(fresh && fresh->size() == c.buffer()->size(), ErrorKind::internal,
           "new value of variable '" << v.name << "' does not fit its resident buffer");
  std::swap(c.buffer(), fresh);
  v.device_written();
}

const BufferType& host_buffer_type() {
  static const HostBufferType t;
  return t;
}

std::vector<Tensor> evaluate_on(const Backend& b, const Node& n, const std::vector<TensorView>& inputs, RunContext* run) {
  SN_CHECK(b.buffer_type().is_host(), ErrorKind::internal, "evaluate_on() a non-host backend '" << b.name() << "'");
  const KernelImpl* impl = b.kernel(n.op_name());
  SN_CHECK(impl != nullptr, ErrorKind::unsupported,
           n.describe() << " has no kernel on the " << b.name() << " backend");
  std::vector<Tensor> outs;
  KernelContext k;
  k.in = inputs;
  for (const TensorType& t : n.outputs) {
    outs.emplace_back(t.dtype, t.shape);
    k.out.push_back(outs.back().view());
  }
  std::shared_ptr<const void> params = impl->prepare ? impl->prepare(n) : nullptr;
  k.params = params.get();
  Tensor workspace;
  size_t bytes = impl->workspace ? impl->workspace(n) : 0;
  if (bytes > 0) {
    workspace = Tensor(DType::u8, {static_cast<int64_t>(bytes)});
    k.workspace = workspace.data();
  }
  RunContext local;
  k.run = run ? run : &local;
  impl->fn(k);
  return outs;
}

Backend& BackendRegistry::add(std::unique_ptr<Backend> b) {
  SN_CHECK(b != nullptr, ErrorKind::internal, "null backend");
  SN_CHECK(find(b->name()) == nullptr, ErrorKind::value, "a backend named '" << b->name() << "' is already registered");
  backends_.push_back(std::move(b));
  return *backends_.back();
}

const Backend* BackendRegistry::find(const std::string& name) const {
  for (const auto& b : backends_)
    if (b->name() == name) return b.get();
  return nullptr;
}

const Backend& BackendRegistry::get(const std::string& name) const {
  const Backend* b = find(name);
  if (b == nullptr) {
    std::string known;
    for (const auto& x : backends_) known += (known.empty() ? "'" : ", '") + x->name() + "'";
    SN_THROW(ErrorKind::unsupported, "no backend named '" << name << "' (available: " << known << ")");
  }
  return *b;
}

std::vector<std::string> BackendRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& b : backends_) out.push_back(b->name());
  return out;
}

ConstantEvaluator host_evaluator(const Backend& target) {
  const Backend* host = target.buffer_type().is_host() ? &target : &backends().get("cpu");
  return [host](const Node& n, const std::vector<TensorView>& inputs) -> std::vector<Tensor> {
    if (!host->supports(n)) return {};
    return evaluate_on(*host, n, inputs);
  };
}

namespace {

bool needs_decomposition(const Node& n, const Backend& b) {
  return n.op->decompose && !n.op->has(kSource) && n.op_name() != "constant" && !b.supports(n);
}

}  // namespace

Graph decompose_for(const Graph& g, const Backend& b) {
  Graph cur = g;
  for (int round = 0;; ++round) {
    bool any = false;
    for (const NodePtr& n : cur.topo_order()) any = any || needs_decomposition(*n, b);
    if (!any) return cur;
    SN_CHECK(round < 16, ErrorKind::internal, "decompositions for backend '" << b.name() << "' do not terminate");
    cur = rewrite_graph(cur, [&](const Node& n, const std::vector<Value>& ins) -> std::vector<Value> {
      if (!needs_decomposition(n, b)) return {};
      std::vector<Value> outs = n.op->decompose(n, ins);
      SN_CHECK(outs.size() == n.outputs.size(), ErrorKind::internal,
               "decomposition of " << n.describe() << " gave " << outs.size() << " values for "
                                   << n.outputs.size() << " outputs");
      for (size_t i = 0; i < outs.size(); ++i)
        SN_CHECK(outs[i].type() == n.outputs[i], ErrorKind::internal,
                 "decomposition of " << n.describe() << " gave " << type_str(outs[i].type()) << " for "
                                     << type_str(n.outputs[i]));
      return outs;
    });
  }
}

Graph optimize(const Graph& g, std::vector<PassStats>* stats, bool fuse, const std::string& target) {
  const Backend& b = backends().get(target);
  Graph cur = decompose_for(optimize_generic(g, host_evaluator(b), stats), b);
  return b.lower(cur, fuse, stats);
}

BackendRegistry& backends() {
  static BackendRegistry* reg = [] {
    auto* r = new BackendRegistry();  // never destroyed: plugins may hold references at exit
    register_builtin_backends(*r);
    return r;
  }();
  return *reg;
}

}  // namespace symnet
