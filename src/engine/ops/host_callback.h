// host_callback: an op whose computation is a function the host program registers by name
// (R's sym_custom_op() runs R code this way). The engine holds no foreign headers: the host
// installs plain std::functions here, and the CPU kernel (cpu/bind_host_callback.cpp) looks
// them up by name when it runs.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/base/tensor.h"
#include "engine/ir/node.h"

namespace symnet {

struct HostCallback {
  // Computes the outputs from the inputs: `out` are preallocated views of the inferred
  // types; all views are in host memory. Runs on the thread that runs the executable, never
  // inside a parallel region (the op is no elementwise/batchwise op, so no fusion takes
  // it). Errors are thrown as symnet::Error.
  std::function<void(const std::vector<TensorView>& in, const std::vector<TensorView>& out)> run;
  // Output types for input types; empty: the node's declared types are used.
  std::function<std::vector<TensorType>(const std::vector<TensorType>& in)> infer;
};

// Installs (or replaces) the callback called `name`; a null `cb` removes it. Thread-safe.
void register_host_callback(const std::string& name, std::shared_ptr<const HostCallback> cb);
// The callback called `name`, or null.
std::shared_ptr<const HostCallback> find_host_callback(const std::string& name);
// The callback called `name`; an `unsupported` error saying how to register it otherwise.
std::shared_ptr<const HostCallback> get_host_callback(const std::string& name);

}  // namespace symnet
