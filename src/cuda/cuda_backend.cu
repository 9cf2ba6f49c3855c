// The backend "cuda:N" of one GPU: the kernels of src/cuda/kernels/, what runs here and
// what stays on the CPU, and synchronize(), where errors the kernels flagged on the device
// become the classed errors the CPU kernels raise.
#include <algorithm>
#include <map>
#include <sstream>
#include <variant>

#include "cuda/cuda_device.h"
#include "cuda/kernels/supports.h"

namespace symnet {
namespace cuda {

namespace {

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(Device& d) : Backend(device_name(d.ctx.device)), dev_(d) {
    bind_cuda_kernels(*this, &d.ctx);
  }

  const BufferType& buffer_type() const override { return *dev_.buffer_type; }

  // A kernel for the op, types it computes in, and sizes it can take (kernels/supports.h). Nodes with a body (control flow, calls,
  // fused groups) and host callbacks stay on the CPU: their kernels run other nodes or R
  // code on host memory, and the executor moves their values across.
  bool supports(const Node& n) const override {
    if (!kernel(n.op_name()) || n.op_name() == "host_callback" || !cuda_kernel_supports(n)) return false;
    for (const auto& kv : n.attrs.items())
      if (std::holds_alternative<GraphPtr>(kv.second)) return false;
    auto it = dtypes_.find(n.op_name());
    const std::vector<DType>* only = it == dtypes_.end() ? nullptr : &it->second;
    auto ok = [only](DType t) {
      return only ? std::find(only->begin(), only->end(), t) != only->end() : is_core_dtype(t);
    };
    for (const Value& v : n.inputs)
      if (v.defined() && !ok(v.dtype())) return false;
    for (const TensorType& t : n.outputs)
      if (!ok(t.dtype)) return false;
    return true;
  }

  void set_dtypes(const std::string& op, std::vector<DType> dtypes) {
    SN_CHECK(kernel(op) != nullptr, ErrorKind::internal,
             "set_kernel_dtypes: " << name() << " has no kernel for '" << op << "'");
    dtypes_[op] = std::move(dtypes);
  }

  // No lowering: the CPU's fusion builds bodies of CPU kernels; elementwise chains run as
  // they are until device fusion exists.
  Graph lower(const Graph& g, bool, std::vector<PassStats>*) const override { return g; }

  // Waits for the stream, then raises what a kernel flagged (the first record), clearing
  // it so the next run starts clean. The record's copy is queued before the wait, so a
  // step costs one synchronization.
  void synchronize() const override {
    DeviceGuard g(dev_.ctx.device);
    check_cuda(cudaMemcpyAsync(dev_.host_record, dev_.ctx.error_record, sizeof(DeviceErrorRecord),
                               cudaMemcpyDeviceToHost, dev_.ctx.stream),
               "cudaMemcpyAsync (error record)");
    check_cuda(cudaStreamSynchronize(dev_.ctx.stream), "cudaStreamSynchronize");
    const DeviceErrorRecord r = *dev_.host_record;
    if (r.code == kDeviceOk) return;
    check_cuda(cudaMemsetAsync(dev_.ctx.error_record, 0, sizeof(DeviceErrorRecord), dev_.ctx.stream),
               "cudaMemsetAsync (error record)");
    check_cuda(cudaStreamSynchronize(dev_.ctx.stream), "cudaStreamSynchronize");
    *dev_.host_record = DeviceErrorRecord{};
    raise(r);
  }

 private:
  [[noreturn]] void raise(const DeviceErrorRecord& r) const {
    std::ostringstream msg;
    // The CPU kernels' wording (kernels/cpu/softmax.cpp, index_kernels.cpp); the record
    // carries the exclusive bound, not the op's index base.
    if (r.code == kLabelOutOfRange) {
      msg << "label " << r.value << " (element " << r.position + 1 << " of the labels) is out of range: valid labels are below "
          << r.bound;
    } else if (r.code == kIndexOutOfRange) {
      msg << "index " << r.value << " (element " << r.position + 1 << " of the indices) is out of range: valid indices are below "
          << r.bound;
    } else {
      msg << "a kernel on " << name() << " reported error code " << r.code << " at element " << r.position + 1
          << " (value " << r.value << ", bound " << r.bound << ")";
      throw Error(ErrorKind::device, msg.str());
    }
    throw Error(ErrorKind::index, msg.str());
  }

  Device& dev_;
  std::map<std::string, std::vector<DType>> dtypes_;  // set_kernel_dtypes(); others: core dtypes
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(Device& d) { return std::make_unique<CudaBackend>(d); }

void set_kernel_dtypes(Backend& b, const std::string& op, std::vector<DType> dtypes) {
  auto* cb = dynamic_cast<CudaBackend*>(&b);
  SN_CHECK(cb != nullptr, ErrorKind::internal, "set_kernel_dtypes: '" << b.name() << "' is not a CUDA backend");
  cb->set_dtypes(op, std::move(dtypes));
}

}  // namespace cuda
}  // namespace symnet
