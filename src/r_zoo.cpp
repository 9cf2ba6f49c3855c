// Rcpp glue of the model zoo: the SHA-256 of a downloaded file, computed by the engine while
// streaming over the file (R has no SHA-256 of its own).
#include "r_glue.h"

#include "engine/io/sha256.h"

using namespace symnet;

// Lower-case hex SHA-256 of the file at `path`; a value error when it cannot be read.
// [[Rcpp::export]]
std::string cpp_sha256_file(std::string path) {
  SN_R_BEGIN
  return io::sha256_file(path);
  SN_R_END
  return std::string();
}

// SHA-256 of a raw vector (tests, and checks of small in-memory files).
// [[Rcpp::export]]
std::string cpp_sha256_raw(SEXP bytes) {
  SN_R_BEGIN
  if (TYPEOF(bytes) != RAWSXP) symnet_r::raise_error(ErrorKind::dtype, "bytes must be a raw vector");
  return io::sha256_hex(RAW_RO(bytes), static_cast<size_t>(Rf_xlength(bytes)));
  SN_R_END
  return std::string();
}
