// libFuzzer harness: the idx reader (engine/io/idx.cpp), as read_idx() drives it: header,
// payload check, then decoding into a buffer of the declared size.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "engine/base/error.h"
#include "engine/io/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    symnet::io::IdxHeader h = symnet::io::idx_parse_header(data, size);
    symnet::io::idx_check_payload(h, size);
    // past the check the declared size is bounded by the input
    if (h.total_bytes() > size) std::abort();
    if (symnet::io::idx_is_integer(h.type)) {
      std::vector<int32_t> out(h.numel);
      symnet::io::idx_decode(h, data, size, out.data());
    } else {
      std::vector<double> out(h.numel);
      symnet::io::idx_decode(h, data, size, out.data());
    }
  } catch (const symnet::Error&) {
  }
  return 0;
}
