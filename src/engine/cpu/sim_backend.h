// The simulated device ("sim"), for tests and developers: a backend whose memory the
// executor cannot address (Buffer::data() is null), reached only through upload/download,
// filled with garbage when allocated and poisoned when freed, running the CPU's kernels
// on its own copies. Every engine op case and training run passing on it shows that the
// executor makes every transfer a real device needs, before any GPU exists.
#pragma once
#include "engine/backend/backend.h"

namespace symnet {

// Registers "sim" in backends() (once; later calls do nothing).
void register_sim_backend();

}  // namespace symnet
