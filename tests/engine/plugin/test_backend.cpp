// A backend built apart from the engine, as the CUDA library will be: its own kernels
// ("neg" and "add" for float32), registered through the C entry point of backend/plugin.h.
// Linked with --no-undefined, so it proves a backend needs no engine symbol to load.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "engine/backend/plugin.h"

namespace {

using namespace symnet;

// Host memory of its own (the engine's host buffer type is an engine symbol).
class PlainBuffer final : public Buffer {
 public:
  explicit PlainBuffer(size_t bytes) : bytes_(bytes), data_(static_cast<char*>(std::calloc(bytes ? bytes : 1, 1))) {
    if (!data_) throw std::bad_alloc();
  }
  ~PlainBuffer() override { std::free(data_); }
  size_t size() const override { return bytes_; }
  void* data() override { return data_; }
  void upload(size_t offset, const void* src, size_t bytes) override { std::memcpy(data_ + offset, src, bytes); }
  void download(size_t offset, void* dst, size_t bytes) const override { std::memcpy(dst, data_ + offset, bytes); }
  void fill_zero() override { std::memset(data_, 0, bytes_); }

 private:
  size_t bytes_;
  char* data_;
};

class PlainBufferType final : public BufferType {
 public:
  const char* name() const override { return "plugin_host"; }
  size_t alignment() const override { return 16; }
  bool is_host() const override { return true; }
  std::unique_ptr<Buffer> allocate(size_t bytes) const override { return std::make_unique<PlainBuffer>(bytes); }
};

// Element count without base/shape.cpp: a real backend library links the engine's base/
// objects (plain C++, no dependencies) instead.
int64_t count(const TensorView& v) {
  int64_t n = 1;
  for (int64_t d : v.shape) n *= d;
  return n;
}

void neg_f32(KernelContext& k) {
  const float* x = static_cast<const float*>(k.in[0].data);
  float* y = static_cast<float*>(k.out[0].data);
  for (int64_t i = 0, n = count(k.out[0]); i < n; ++i) y[i] = -x[i];
}

// Same-shape operands only: supports() refuses the rest.
void add_f32(KernelContext& k) {
  const float* a = static_cast<const float*>(k.in[0].data);
  const float* b = static_cast<const float*>(k.in[1].data);
  float* y = static_cast<float*>(k.out[0].data);
  for (int64_t i = 0, n = count(k.out[0]); i < n; ++i) y[i] = a[i] + b[i];
}

class TestBackend final : public Backend {
 public:
  TestBackend() : Backend("plugin_test") {
    add_kernel("neg", KernelImpl{neg_f32});
    KernelImpl add{add_f32};
    add.inplace = {{0, 0}, {0, 1}};
    add_kernel("add", add);
  }
  const BufferType& buffer_type() const override { return type_; }
  bool supports(const Node& n) const override {
    if (!kernel(n.op->name)) return false;
    for (const Value& v : n.inputs)
      if (v.node->outputs[v.index] != n.outputs[0] || n.outputs[0].dtype != DType::f32) return false;
    return true;
  }

 private:
  PlainBufferType type_;
};

}  // namespace

extern "C" int symnet_backend_register_v1(const symnet_host_api_v1* host, char* error, size_t len) {
  if (!symnet::abi_matches(host)) {
    std::snprintf(error, len, "built for symnet backend ABI %u", SYMNET_BACKEND_ABI_VERSION);
    return 1;
  }
  return host->add_backend(host->registry, new TestBackend(), error, len);
}
