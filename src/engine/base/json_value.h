// A small JSON document model and strict parser (RFC 8259), shared by the readers of
// bytes from outside: the graph JSON format (ir/json.cpp) and the safetensors header
// (io/safetensors.cpp). Malformed input throws Error(value), never crashes: nesting is
// depth-limited and memory is a bounded multiple of the text length.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace symnet {
namespace json {

struct Value {
  enum Kind { null, boolean, number, string, array, object } kind = null;
  bool b = false;
  bool is_int = false;  // an integer literal that fits int64 (then `i` holds it)
  int64_t i = 0;
  double d = 0;
  std::string s;
  std::vector<Value> items;
  std::vector<std::pair<std::string, Value>> members;  // in document order, duplicates kept

  // First member named k, or nullptr.
  const Value* find(const std::string& k) const;
};

// Parses one JSON value filling the whole text (surrounding whitespace allowed). Errors:
// Error(value, "malformed JSON at offset N: ...").
Value parse(std::string_view text);

}  // namespace json
}  // namespace symnet
