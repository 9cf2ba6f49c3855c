#include "engine/io/file_bytes.h"

#include <fstream>
#include <sstream>

#include "engine/base/error.h"

namespace symnet {
namespace io {

std::string read_file_bytes(const std::string& path, const std::string& what, int64_t limit) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  SN_CHECK(in, ErrorKind::value, "cannot open " << what << " '" << path << "'");
  const std::streamoff size = in.tellg();
  SN_CHECK(size >= 0, ErrorKind::value, "cannot read " << what << " '" << path << "'");
  SN_CHECK(size < limit, ErrorKind::value,
           what << " '" << path << "' is " << size << " bytes, over the " << limit << "-byte limit for it");
  std::string bytes(static_cast<size_t>(size), '\0');
  in.seekg(0);
  in.read(&bytes[0], size);
  SN_CHECK(in.gcount() == size, ErrorKind::value, "could not read all of " << what << " '" << path << "'");
  return bytes;
}

}  // namespace io
}  // namespace symnet
