// The simulated device ("sim"), for tests and developers: a backend whose memory the
// executor cannot address (Buffer::data() is null), reached only through upload/download,
// filled with garbage when allocated and poisoned when freed, running the CPU's kernels
// on its own copies. Its queued copies behave as on a GPU stream: an upload reads its
// source when the device gets to it, a download lands at synchronize(). Every engine op case and training run passing on it shows that the
// executor makes every transfer a real device needs, before any GPU exists.
#pragma once
#include "engine/backend/backend.h"

namespace symnet {

// Registers the simulated devices in backends() (once; later calls do nothing):
//  "sim"         every CPU kernel;
//  "sim_partial" a device that lacks the convolution kernels (conv*), so that their nodes
//                fall back to the CPU and values cross between the memories both ways.
void register_sim_backend();

// Whether `name` is one of the simulated devices above.
bool is_sim_backend(const std::string& name);

}  // namespace symnet
