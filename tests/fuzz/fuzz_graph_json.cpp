// libFuzzer harness: the graph JSON reader (engine/ir/json.cpp). Any input must give a graph
// or an Error; a graph must survive a write/read round trip unchanged.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/base/error.h"
#include "engine/ir/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  symnet::Graph g;
  try {
    g = symnet::graph_from_json(text);
  } catch (const symnet::Error&) {
    return 0;
  }
  // What was accepted is written with values and must read back to the same document.
  std::string j1 = symnet::graph_to_json(g, true);
  std::string j2 = symnet::graph_to_json(symnet::graph_from_json(j1), true);
  if (j1 != j2) std::abort();
  return 0;
}
