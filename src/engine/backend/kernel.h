// What a kernel sees: tensor views, scratch memory, per-run state and the plain parameter
// struct its backend's prepare() built from the node at compile time. Kernels never see
// a Node, an attribute map or the op registry, so this header includes only base/.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/base/tensor.h"

namespace symnet {

// Per-run state visible to kernels.
struct RunContext {
  uint64_t seed = 0;       // the executable's seed
  uint64_t run_index = 0;  // increases every run, so random ops draw fresh numbers
  int num_threads = 1;
  std::function<void()> check_interrupt;  // may throw Error(interrupt); set by the host
};

struct KernelContext {
  std::vector<TensorView> in;
  std::vector<TensorView> out;
  void* workspace = nullptr;     // KernelImpl::workspace bytes, from the arena
  RunContext* run = nullptr;
  const void* params = nullptr;  // what KernelImpl::prepare built for this node, if anything

  template <class P>
  const P& param() const {
    return *static_cast<const P*>(params);
  }
};
using KernelFn = void (*)(KernelContext&);

}  // namespace symnet
