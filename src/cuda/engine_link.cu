// The library links its own copies of the engine's dependency-free objects (base/, ir/,
// math/conv_geometry: what kernels' prepare() functions read nodes with), not the engine
// itself. ir/node.o also holds make_node(), which reaches the op registry (ops/, every op
// definition); the library builds no nodes, so that one reference is satisfied here.
// Loaded RTLD_NOW | RTLD_LOCAL, the library cannot see the package's own registry().
#include "engine/base/error.h"
#include "engine/ir/op_schema.h"

namespace symnet {

const Registry& registry() {
  SN_THROW(ErrorKind::internal, "the CUDA backend library has no op registry: it must not build nodes");
}

}  // namespace symnet
