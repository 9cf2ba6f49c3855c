#include "engine/io/safetensors.h"

#include <cstdio>
#include <limits>
#include <unordered_set>

#include "engine/base/error.h"
#include "engine/base/json_value.h"

namespace symnet {
namespace io {

namespace {

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

[[noreturn]] void bad_entry(const std::string& name, const std::string& why) {
  SN_THROW(ErrorKind::value, "Tensor " << quoted(name) << " has an invalid entry in the header: " << why << ".");
}

// A JSON integer >= 0, or -1 when v is anything else.
int64_t non_negative(const json::Value& v) {
  if (v.kind != json::Value::number || !v.is_int || v.i < 0) return -1;
  return v.i;
}

}  // namespace

const StTensor* StFile::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const std::string* StFile::meta(const std::string& key) const {
  for (const auto& m : metadata)
    if (m.first == key) return &m.second;
  return nullptr;
}

namespace {
constexpr DType kStDtypes[] = {DType::f32, DType::f64,     DType::i32, DType::i64,
                               DType::u8,  DType::boolean, DType::f16, DType::bf16};
}  // namespace

const char* st_dtype_code(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
    case DType::boolean: return "BOOL";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
  }
  return "?";
}

size_t st_dtype_size(const std::string& c) {
  for (DType t : kStDtypes)
    if (c == st_dtype_code(t)) return dtype_size(t);
  return 0;
}

DType st_dtype_from_code(const std::string& c) {
  for (DType t : kStDtypes)
    if (c == st_dtype_code(t)) return t;
  SN_THROW(ErrorKind::value, "unknown safetensors dtype " << quoted(c));
}

StFile parse_safetensors(const uint8_t* p, size_t n) {
  if (n < 8)
    SN_THROW(ErrorKind::value, "The file is too short to be a symnet model (" << n << " byte"
                                   << (n == 1 ? "" : "s") << ").");
  uint64_t hlen = 0;
  for (int k = 7; k >= 0; --k) hlen = (hlen << 8) | p[k];
  if (hlen < 2 || hlen > n - 8)
    SN_THROW(ErrorKind::value, "The header length (" << hlen << ") does not fit the file (" << n
                                   << " bytes): the file is truncated or not a safetensors file.");
  StFile f;
  f.data_start = 8 + hlen;
  f.data_len = n - f.data_start;
  // Writers may pad the header with spaces (symnet does) or NULs.
  size_t len = static_cast<size_t>(hlen);
  const char* text = reinterpret_cast<const char*>(p + 8);
  while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\0')) --len;
  json::Value root;
  try {
    root = json::parse(std::string_view(text, len));
  } catch (const Error& e) {
    SN_THROW(ErrorKind::value, "The header is not a JSON object (" << e.what() << ").");
  }
  if (root.kind != json::Value::object) SN_THROW(ErrorKind::value, "The header is not a JSON object.");
  std::unordered_set<std::string> seen;
  for (const auto& m : root.members)
    if (!seen.insert(m.first).second) SN_THROW(ErrorKind::value, "The header lists " << quoted(m.first) << " twice.");
  for (const auto& [name, e] : root.members) {
    if (name == "__metadata__") {
      if (e.kind != json::Value::object)
        SN_THROW(ErrorKind::value, "The header's __metadata__ is not an object.");
      std::unordered_set<std::string> keys;
      for (const auto& [k, v] : e.members) {
        if (v.kind != json::Value::string)
          SN_THROW(ErrorKind::value, "Metadata entry " << quoted(k) << " is not a string.");
        if (!keys.insert(k).second) SN_THROW(ErrorKind::value, "Metadata entry " << quoted(k) << " appears twice.");
        f.metadata.emplace_back(k, v.s);
      }
      f.has_metadata = true;
      continue;
    }
    if (e.kind != json::Value::object) bad_entry(name, "not an object");
    StTensor t;
    t.name = name;
    const json::Value* dt = e.find("dtype");
    if (!dt || dt->kind != json::Value::string || st_dtype_size(dt->s) == 0) bad_entry(name, "unknown dtype");
    t.dtype = dt->s;
    const json::Value* sh = e.find("shape");
    if (!sh || sh->kind != json::Value::array) bad_entry(name, "no shape");
    // numel * element size, overflow-safe: a dimension of 0 wins over an overflow
    uint64_t numel = 1;
    bool overflow = false, has_zero = false;
    for (const auto& d : sh->items) {
      int64_t x = non_negative(d);
      if (x < 0) bad_entry(name, "a dimension is not a non-negative integer");
      t.shape.push_back(x);
      if (x == 0) has_zero = true;
      else if (__builtin_mul_overflow(numel, static_cast<uint64_t>(x), &numel)) overflow = true;
    }
    if (has_zero) numel = 0, overflow = false;
    const json::Value* off = e.find("data_offsets");
    if (!off || off->kind != json::Value::array || off->items.size() != 2) bad_entry(name, "no data_offsets pair");
    int64_t b = non_negative(off->items[0]), en = non_negative(off->items[1]);
    if (b < 0 || en < 0 || b > en) bad_entry(name, "invalid data_offsets");
    if (static_cast<uint64_t>(en) > f.data_len)
      bad_entry(name, "its data lies beyond the end of the file (truncated file?)");
    t.begin = static_cast<uint64_t>(b);
    t.end = static_cast<uint64_t>(en);
    uint64_t need = 0;
    if (!overflow && __builtin_mul_overflow(numel, static_cast<uint64_t>(st_dtype_size(t.dtype)), &need))
      overflow = true;
    if (overflow || need != t.end - t.begin) {
      std::string want;
      if (overflow) {
        double x = static_cast<double>(st_dtype_size(t.dtype));
        for (int64_t d : t.shape) x *= static_cast<double>(d);
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.6g", x);
        want = buf;
      } else {
        want = std::to_string(need);
      }
      SN_THROW(ErrorKind::value, "Tensor " << quoted(name) << " has " << t.end - t.begin << " bytes, not the "
                                           << want << " its dtype and shape need.");
    }
    f.tensors.push_back(std::move(t));
  }
  return f;
}

}  // namespace io
}  // namespace symnet
