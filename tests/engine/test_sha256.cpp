// SHA-256 against the FIPS 180-2 appendix B examples, streaming in pieces that straddle block
// boundaries, and over a file.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/base/error.h"
#include "engine/io/sha256.h"
#include "harness.h"

using namespace symnet;

namespace {
std::string digest_of(const std::string& s) {
  return io::sha256_hex(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
}  // namespace

TEST_CASE("sha256: FIPS 180-2 test vectors", "[io][sha256]") {
  CHECK(digest_of("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(digest_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(digest_of(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // the empty message (a single padding block)
  CHECK(digest_of("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("sha256: streaming in uneven pieces gives the one-shot digest", "[io][sha256]") {
  std::string msg;
  for (int i = 0; i < 1000; ++i) msg.push_back(static_cast<char>((i * 131 + 7) & 0xff));
  const std::string whole = digest_of(msg);
  for (size_t piece : {1, 3, 55, 56, 63, 64, 65, 200}) {
    io::Sha256 h;
    for (size_t at = 0; at < msg.size(); at += piece) {
      const size_t n = std::min(piece, msg.size() - at);
      h.update(reinterpret_cast<const uint8_t*>(msg.data()) + at, n);
    }
    CHECK(io::sha256_hex(h.finish()) == whole);
  }
  // lengths around the padding boundary (55/56 bytes need one or two final blocks)
  CHECK(digest_of(msg.substr(0, 55)) != digest_of(msg.substr(0, 56)));
}

TEST_CASE("sha256: files are hashed in chunks; a missing file is a value error", "[io][sha256]") {
  const std::string path = (std::filesystem::temp_directory_path() / "symnet_sha256_test.bin").string();
  std::string content(3 * (1 << 20) + 17, 'a');  // over three read chunks
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f);
  std::fwrite(content.data(), 1, content.size(), f);
  std::fclose(f);
  uint64_t n = 0;
  CHECK(io::sha256_file(path, &n) == digest_of(content));
  CHECK(n == content.size());
  std::remove(path.c_str());
  try {
    io::sha256_file(path);
    FAIL("no error for a missing file");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::value);
    CHECK(std::string(e.what()).find(path) != std::string::npos);
  }
}
