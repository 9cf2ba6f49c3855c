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
  // The random stream of the loop iteration being run; 0 outside loop bodies. Random
  // kernels mix a non-zero stream into their keys, so a body draws new numbers at every
  // iteration. Loop kernels (scan, while_loop) run iteration i in a copy of their context
  // whose stream is loop_stream(their stream, i).
  uint64_t stream = 0;
};

// The stream of iteration `index` of a loop run under stream `parent`: reproducible (the
// same iteration of the same loop draws the same numbers, so a gradient that reruns the
// body at that iteration sees them again), different per iteration, and composing (a loop
// nested in another mixes its index into the outer iteration's stream). Never 0.
inline uint64_t loop_stream(uint64_t parent, uint64_t index) {
  // splitmix64's finalizer over the parent stream stepped by the index.
  uint64_t z = parent * 0x9E3779B97F4A7C15ull + index + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return z != 0 ? z : 1;
}

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
