// Whole-file reads for the protobuf-based readers (ONNX, Caffe): the size is checked
// against a limit before anything is allocated.
#pragma once
#include <cstdint>
#include <string>

namespace symnet {
namespace io {

// The bytes of `path`; value errors naming `what` when it cannot be opened or read, or
// when it is `limit` bytes or larger.
std::string read_file_bytes(const std::string& path, const std::string& what, int64_t limit);

}  // namespace io
}  // namespace symnet
