// Reader of the idx format of (Fashion-)MNIST: a big-endian header (two zero bytes, an
// element-type byte, a rank byte, then `rank` 32-bit dimensions) followed by the elements
// in row-major order. Decompression (gzip) is the caller's business: these functions see
// the plain bytes. Every size is checked against the bytes present before anything is
// allocated, so a file can never make the reader allocate more than its own size allows.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace symnet {
namespace io {

enum class IdxType : uint8_t { u8 = 0x08, i8 = 0x09, i16 = 0x0B, i32 = 0x0C, f32 = 0x0D, f64 = 0x0E };

struct IdxHeader {
  IdxType type = IdxType::u8;
  std::vector<int64_t> dims;  // as in the file (row-major order), each 0 .. 2^31 - 1
  size_t header_bytes = 0;    // 4 + 4 * rank
  size_t elem_size = 1;
  // Elements and payload bytes the header declares, saturated at UINT64_MAX (a header can
  // declare more than any file could hold).
  uint64_t numel = 0;
  uint64_t payload_bytes = 0;
  // header_bytes + payload_bytes, saturated.
  uint64_t total_bytes() const;
};

// Longest possible header (rank 8).
constexpr size_t kIdxMaxHeaderBytes = 4 + 4 * 8;

// Parses the header at the start of `p` (n bytes; the payload need not be there).
// Throws Error(value) whose message says what is wrong ("wrong magic number", ...).
IdxHeader idx_parse_header(const uint8_t* p, size_t n);

// Whether the elements become int32 (integer types) or double (float types).
bool idx_is_integer(IdxType t);

// Decodes the elements of a whole file `p` (n bytes) into `out`, in column-major order
// (the first dimension varies fastest, as in R and Fortran), converting to int32 or double
// (see idx_is_integer; the other overload throws). `out` must hold h.numel elements.
// Throws Error(value) "A of B elements present (truncated)" when the payload is short.
// Bytes after the payload are ignored.
void idx_decode(const IdxHeader& h, const uint8_t* p, size_t n, int32_t* out);
void idx_decode(const IdxHeader& h, const uint8_t* p, size_t n, double* out);

// Checks that the payload is complete (the truncation error of idx_decode) without decoding.
void idx_check_payload(const IdxHeader& h, size_t n);

}  // namespace io
}  // namespace symnet
