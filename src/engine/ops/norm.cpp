// Placeholder until this family's ops land.
#include "engine/ops/registry.h"

namespace symnet {

void register_norm_ops(Registry&) {}

}  // namespace symnet
