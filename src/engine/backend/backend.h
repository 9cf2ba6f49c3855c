// Backends: where and how nodes run. In the spirit of ggml-backend: a backend owns a
// buffer type (how its memory is allocated and whether the host can address it), a kernel
// table (op name -> kernel, workspace, prepare -> plain parameters, in-place pairs), a
// supports(node) query, a lowering hook (its own graph rewrites, such as the CPU's fusion)
// and synchronize(). Backends are registered by name in one process-wide registry; one
// built separately (the CUDA library) registers through the C entry point of plugin.h.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/backend/kernel.h"
#include "engine/base/error.h"
#include "engine/ir/graph.h"
#include "engine/ir/op_schema.h"
#include "engine/passes/passes.h"

namespace symnet {

// A block of a backend's memory. Host-addressable buffers expose data(); others (device
// memory) are reached only through upload/download/copy.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual size_t size() const = 0;
  // Host pointer to the memory, or nullptr when the host cannot address it.
  virtual void* data() = 0;
  // The address this backend's kernels use (a device pointer); data() for host memory.
  virtual void* device_ptr() { return data(); }
  // Blocking copies: download() returns when the bytes are in `dst`, after all work queued
  // on the backend before it.
  virtual void upload(size_t offset, const void* src, size_t bytes) = 0;
  virtual void download(size_t offset, void* dst, size_t bytes) const = 0;
  // Queued copies, ordered with the backend's kernels on its stream: they complete at the
  // backend's next synchronize(), and `src`/`dst` must stay untouched until then. A
  // synchronous backend keeps these defaults.
  virtual void upload_async(size_t offset, const void* src, size_t bytes) { upload(offset, src, bytes); }
  virtual void download_async(size_t offset, void* dst, size_t bytes) const { download(offset, dst, bytes); }
  virtual void fill_zero() = 0;
  // Copies bytes from another buffer of the same buffer type. This default goes through
  // host memory; device buffers copy on the device.
  virtual void copy_from(const Buffer& src, size_t src_offset, size_t dst_offset, size_t bytes) {
    std::vector<char> tmp(bytes);
    src.download(src_offset, tmp.data(), bytes);
    upload(dst_offset, tmp.data(), bytes);
  }
};

// Memory from the engine's allocator (Storage), reached with bounds-checked copies: host
// buffers, and the simulated device's (which hides data()).
class StorageBuffer : public Buffer {
 public:
  explicit StorageBuffer(size_t bytes) : mem_(bytes) {}
  size_t size() const override { return mem_.bytes(); }
  void* data() override { return mem_.data(); }
  void upload(size_t offset, const void* src, size_t bytes) override;
  void download(size_t offset, void* dst, size_t bytes) const override;
  void fill_zero() override;
  void copy_from(const Buffer& src, size_t src_offset, size_t dst_offset, size_t bytes) override;

 protected:
  Storage mem_;

 private:
  void check(size_t offset, size_t bytes) const;
};

class BufferType {
 public:
  virtual ~BufferType() = default;
  virtual const char* name() const = 0;
  virtual size_t alignment() const = 0;
  virtual bool is_host() const = 0;
  // Throws Error(value) naming the bytes when the memory cannot be had.
  virtual std::unique_ptr<Buffer> allocate(size_t bytes) const = 0;
};

// The 64-byte aligned host memory every host backend shares (Storage underneath).
const BufferType& host_buffer_type();

// Shared variables resident on a device: the variable's copy in `type`'s memory, made
// current (created, and the host value uploaded, when the variable has none there yet).
Buffer& resident_buffer(Variable& v, const BufferType& type);
// After the device computed a variable's new value into `fresh` (of `type`, the size of the
// variable): makes it the resident copy, handing the old one back in `fresh` for the next
// run, and marks the host value stale.
void replace_resident(Variable& v, const BufferType& type, std::unique_ptr<Buffer>& fresh);

struct KernelImpl {
  KernelImpl() = default;
  explicit KernelImpl(KernelFn f) : fn(f) {}

  KernelFn fn = nullptr;
  // Reads the node once, at compile time, into the plain parameter struct the kernel finds
  // in KernelContext::params (also plans of fused bodies). Empty: the kernel takes none.
  std::function<std::shared_ptr<const void>(const Node&)> prepare;
  std::function<size_t(const Node&)> workspace;  // scratch bytes; empty: none
  // The algorithm the kernel takes for this node (a convolution's lowering), named once at
  // compile time for profiles and describe_plan(); empty: none to report.
  std::function<std::string(const Node&)> algorithm;
  std::vector<std::pair<int, int>> inplace;      // (output, input) pairs that may share memory
  // Per-node in-place pairs, for ops whose safety depends on the node (fused groups);
  // used instead of `inplace` when set.
  std::function<std::vector<std::pair<int, int>>(const Node&)> inplace_for;

  std::vector<std::pair<int, int>> inplace_pairs(const Node& n) const { return inplace_for ? inplace_for(n) : inplace; }
};

// A node made ready to run outside an executable (constant folding, tests): its
// parameters prepared and its workspace allocated.
struct PreparedKernel {
  const KernelImpl* impl = nullptr;
  std::shared_ptr<const void> params;
  size_t workspace_bytes = 0;
};

// Everything here is defined in this header, so that a backend built as a separate shared
// library (plugin.h) links without any symbol of the engine.
class Backend {
 public:
  explicit Backend(std::string name) : name_(std::move(name)) {}
  virtual ~Backend() = default;
  const std::string& name() const { return name_; }
  virtual const BufferType& buffer_type() const = 0;

  // Kernel table. Adding a kernel twice is an engine bug.
  void add_kernel(const std::string& op, KernelImpl impl) {
    SN_CHECK(impl.fn != nullptr && !kernels_.count(op), ErrorKind::internal,
             "backend '" << name_ << "': kernel for '" << op << "' is null or added twice");
    kernels_.emplace(op, std::move(impl));
  }
  const KernelImpl* kernel(const std::string& op) const {
    auto it = kernels_.find(op);
    return it == kernels_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> kernel_ops() const {
    std::vector<std::string> out;
    for (const auto& kv : kernels_) out.push_back(kv.first);
    return out;
  }

  // Whether this backend can run the node: a kernel for its op (and, in overrides, its dtypes).
  virtual bool supports(const Node& n) const { return kernel(n.op->name) != nullptr; }
  // The backend's own rewrites of an optimized graph (fusion), recorded in stats.
  virtual Graph lower(const Graph& g, bool /*fuse*/, std::vector<PassStats>* /*stats*/) const { return g; }
  // Waits for queued work (no-op on synchronous backends).
  virtual void synchronize() const {}

 private:
  std::string name_;
  std::map<std::string, KernelImpl> kernels_;
};

// Runs one node on host tensors with a host backend's kernel (constant folding, tests).
// Throws what the kernel throws.
std::vector<Tensor> evaluate_on(const Backend& b, const Node& n, const std::vector<TensorView>& inputs,
                                RunContext* run = nullptr);

class BackendRegistry {
 public:
  // Takes ownership; throws an internal error when the name is taken.
  Backend& add(std::unique_ptr<Backend> b);
  const Backend* find(const std::string& name) const;
  // Throws an unsupported error listing the known backends when the name is unknown.
  const Backend& get(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::vector<std::unique_ptr<Backend>> backends_;
};

// Folds constants with a host backend's kernels (the given one when it is a host backend,
// else the CPU's).
ConstantEvaluator host_evaluator(const Backend& target);

// Replaces every node the backend does not support by its op's decomposition (repeatedly,
// as decompositions may use ops the backend lacks too), so a backend needs kernels for the
// core ops only. Nodes without a decomposition are left for the executor to report.
Graph decompose_for(const Graph& g, const Backend& b);

// The whole compile-time pipeline for a target: the generic passes, then the target's
// decompositions for what it lacks, its lowering (fusion on the CPU) when `fuse` is set.
Graph optimize(const Graph& g, std::vector<PassStats>* stats = nullptr, bool fuse = true,
               const std::string& target = "cpu");

// The process-wide backend registry, holding the built-in backends on first use. Backends loaded from shared libraries are added at run time.
BackendRegistry& backends();
// Defined by the built-in backends' folder (cpu/), called once by backends().
void register_builtin_backends(BackendRegistry& r);

}  // namespace symnet
