// libFuzzer harness: symnet's native model file (engine/io/model_file.cpp): the safetensors
// header, the graph JSON in its metadata and the binding of tensors to variables.
#include <cstdint>
#include <cstdlib>

#include "engine/base/error.h"
#include "engine/io/model_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    symnet::io::ModelFile m = symnet::io::read_model_file(data, size);
    // bound values must have exactly the sizes the file's entries validated
    for (const auto& v : m.variables) {
      const symnet::io::StTensor* t = m.st.find(v->name);
      if (!t || t->end - t->begin != v->value.bytes()) std::abort();
    }
  } catch (const symnet::Error&) {
  }
  return 0;
}
