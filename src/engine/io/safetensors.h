// Reader of the safetensors layout (the container of symnet's native model file): an
// 8-byte little-endian header length N, N bytes of JSON header, then the data buffer.
// The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the data buffer) and may hold "__metadata__", an object of strings.
// Every offset, shape and size is validated against the bytes present (overflow-safe)
// before the caller could allocate anything from it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/base/dtype.h"

namespace symnet {
namespace io {

struct StTensor {
  std::string name;
  std::string dtype;           // safetensors code: F32, F64, I32, I64, U8, BOOL, F16, BF16
  std::vector<int64_t> shape;  // each >= 0
  uint64_t begin = 0, end = 0; // in the data buffer; end - begin = numel * element size
};

struct StFile {
  bool has_metadata = false;
  std::vector<std::pair<std::string, std::string>> metadata;  // in header order
  std::vector<StTensor> tensors;                              // in header order, names unique
  uint64_t data_start = 0;  // offset of the data buffer in the file (8 + N)
  uint64_t data_len = 0;    // bytes after it

  const StTensor* find(const std::string& name) const;
  const std::string* meta(const std::string& key) const;
};

// Element size of a safetensors dtype code, 0 when unknown.
size_t st_dtype_size(const std::string& code);
// The safetensors code of an engine dtype, and back (throws for unknown codes).
const char* st_dtype_code(DType t);
DType st_dtype_from_code(const std::string& code);

// Parses the file `p` (n bytes). Throws Error(value) with a message for users (whole
// sentences: "The header length (N) does not fit the file (M bytes).", ...).
StFile parse_safetensors(const uint8_t* p, size_t n);

}  // namespace io
}  // namespace symnet
