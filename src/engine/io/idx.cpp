#include "engine/io/idx.h"

#include <cstdio>
#include <cstring>
#include <limits>
#include <string>

#include "engine/base/error.h"

namespace symnet {
namespace io {

namespace {

constexpr uint64_t kSat = std::numeric_limits<uint64_t>::max();

uint64_t sat_mul(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? kSat : r;
}

uint64_t sat_add(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? kSat : r;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

size_t elem_size(IdxType t) {
  switch (t) {
    case IdxType::u8: case IdxType::i8: return 1;
    case IdxType::i16: return 2;
    case IdxType::i32: case IdxType::f32: return 4;
    case IdxType::f64: return 8;
  }
  return 0;
}

// The product of the dimensions as a decimal number, exact or not (for messages only:
// it may exceed any integer type).
std::string declared_elements(const IdxHeader& h) {
  if (h.numel != kSat) return std::to_string(h.numel);
  double n = 1;
  for (int64_t d : h.dims) n *= static_cast<double>(d);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", n);
  return buf;
}

// Element k of the payload (big-endian) as a number of type T.
template <typename T>
T element(IdxType t, const uint8_t* e) {
  switch (t) {
    case IdxType::u8: return static_cast<T>(e[0]);
    case IdxType::i8: return static_cast<T>(static_cast<int8_t>(e[0]));
    case IdxType::i16: return static_cast<T>(static_cast<int16_t>(static_cast<uint16_t>((e[0] << 8) | e[1])));
    case IdxType::i32: return static_cast<T>(static_cast<int32_t>(be32(e)));
    case IdxType::f32: {
      uint32_t u = be32(e);
      float f;
      std::memcpy(&f, &u, 4);
      return static_cast<T>(f);
    }
    case IdxType::f64: {
      uint64_t u = (uint64_t{be32(e)} << 32) | be32(e + 4);
      double d;
      std::memcpy(&d, &u, 8);
      return static_cast<T>(d);
    }
  }
  return T{};
}

template <typename T>
void decode(const IdxHeader& h, const uint8_t* p, size_t n, T* out) {
  idx_check_payload(h, n);
  const uint64_t numel = h.numel;  // finite now: the payload is there
  if (numel == 0) return;
  const uint8_t* src = p + h.header_bytes;
  const size_t es = h.elem_size;
  const size_t r = h.dims.size();
  if (r == 1) {
    for (uint64_t k = 0; k < numel; ++k) out[k] = element<T>(h.type, src + k * es);
    return;
  }
  // Walk the file in row-major order with an odometer over the indices, keeping the
  // column-major destination offset: stride of dimension j there is prod(dims[0..j)).
  std::vector<uint64_t> cm_stride(r), idx(r, 0);
  uint64_t s = 1;
  for (size_t j = 0; j < r; ++j) {
    cm_stride[j] = s;
    s *= static_cast<uint64_t>(h.dims[j]);  // <= numel: no overflow
  }
  uint64_t dst = 0;
  for (uint64_t k = 0; k < numel; ++k) {
    out[dst] = element<T>(h.type, src + k * es);
    for (size_t j = r; j-- > 0;) {  // the last dimension varies fastest in the file
      if (++idx[j] < static_cast<uint64_t>(h.dims[j])) {
        dst += cm_stride[j];
        break;
      }
      dst -= cm_stride[j] * (idx[j] - 1);
      idx[j] = 0;
    }
  }
}

}  // namespace

uint64_t IdxHeader::total_bytes() const { return sat_add(header_bytes, payload_bytes); }

IdxHeader idx_parse_header(const uint8_t* p, size_t n) {
  if (n < 4) SN_THROW(ErrorKind::value, "it is too short to hold a header");
  if (p[0] != 0 || p[1] != 0) SN_THROW(ErrorKind::value, "wrong magic number");
  const int rank = p[3];
  if (rank < 1 || rank > 8) SN_THROW(ErrorKind::value, "implausible rank " << rank);
  IdxHeader h;
  h.header_bytes = 4 + 4 * static_cast<size_t>(rank);
  if (n < h.header_bytes) SN_THROW(ErrorKind::value, "truncated header");
  h.numel = 1;
  for (int j = 0; j < rank; ++j) {
    uint32_t d = be32(p + 4 + 4 * j);
    if (d > static_cast<uint32_t>(std::numeric_limits<int32_t>::max()))
      SN_THROW(ErrorKind::value, "dimension " << j + 1 << " is negative");
    h.dims.push_back(static_cast<int64_t>(d));
    h.numel = sat_mul(h.numel, d);
  }
  const uint8_t type = p[2];
  switch (type) {
    case 0x08: case 0x09: case 0x0B: case 0x0C: case 0x0D: case 0x0E:
      h.type = static_cast<IdxType>(type);
      break;
    default: {
      char buf[8];
      std::snprintf(buf, sizeof buf, "0x%02X", static_cast<unsigned>(type));
      SN_THROW(ErrorKind::value, "unknown element type " << buf);
    }
  }
  h.elem_size = elem_size(h.type);
  h.payload_bytes = sat_mul(h.numel, h.elem_size);
  return h;
}

bool idx_is_integer(IdxType t) { return t != IdxType::f32 && t != IdxType::f64; }

void idx_check_payload(const IdxHeader& h, size_t n) {
  const uint64_t have = n > h.header_bytes ? (n - h.header_bytes) / h.elem_size : 0;
  if (h.numel == kSat || have < h.numel)
    SN_THROW(ErrorKind::value, have << " of " << declared_elements(h) << " elements present (truncated)");
}

void idx_decode(const IdxHeader& h, const uint8_t* p, size_t n, int32_t* out) {
  SN_CHECK(idx_is_integer(h.type), ErrorKind::internal, "idx_decode: float elements into an int32 buffer");
  decode(h, p, n, out);
}

void idx_decode(const IdxHeader& h, const uint8_t* p, size_t n, double* out) {
  SN_CHECK(!idx_is_integer(h.type), ErrorKind::internal, "idx_decode: integer elements into a double buffer");
  decode(h, p, n, out);
}

}  // namespace io
}  // namespace symnet
