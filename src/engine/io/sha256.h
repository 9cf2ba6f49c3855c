// SHA-256 (FIPS 180-4), streaming: the model zoo checks downloaded files (hundreds of MB)
// against published digests without holding them in memory, and without a dependency on a
// crypto library for one hash.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace symnet {
namespace io {

class Sha256 {
 public:
  Sha256();
  // Feeds `n` more bytes of the message.
  void update(const uint8_t* p, size_t n);
  // Pads, returns the 32-byte digest; the object must not be updated afterwards.
  std::array<uint8_t, 32> finish();

 private:
  void compress(const uint8_t* block);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_bytes_ = 0;
  bool finished_ = false;
};

// Lower-case hex of a digest.
std::string sha256_hex(const std::array<uint8_t, 32>& digest);
// Digest of a byte string, as lower-case hex.
std::string sha256_hex(const uint8_t* p, size_t n);
// Digest of a whole file read in 1 MiB chunks; `bytes_read` (if given) receives its size.
// Throws Error(value) when the file cannot be opened or read.
std::string sha256_file(const std::string& path, uint64_t* bytes_read = nullptr);

}  // namespace io
}  // namespace symnet
