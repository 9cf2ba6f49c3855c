// Rcpp glue of the byte loaders in engine/io: R reads the bytes (decompressing gzip through
// its connections), the engine parses and validates them.
#include "r_glue.h"

#include <cstring>
#include <limits>

#include "engine/io/idx.h"
#include "engine/io/safetensors.h"

using namespace symnet;
using symnet_r::raise_error;

namespace {

const uint8_t* raw_bytes(SEXP x, const char* what) {
  if (TYPEOF(x) != RAWSXP) raise_error(ErrorKind::dtype, std::string(what) + " must be a raw vector");
  return RAW_RO(x);
}

}  // namespace

// Bytes an idx file has in all (header + payload) from its first bytes (at least the
// header; see kIdxMaxHeaderBytes), Inf when the header declares more than 2^64.
// [[Rcpp::export]]
double cpp_idx_size(SEXP head) {
  SN_R_BEGIN
  const uint8_t* p = raw_bytes(head, "head");
  io::IdxHeader h = io::idx_parse_header(p, static_cast<size_t>(Rf_xlength(head)));
  uint64_t total = h.total_bytes();
  return total == std::numeric_limits<uint64_t>::max() ? R_PosInf : static_cast<double>(total);
  SN_R_END
  return 0;
}

// The largest header read_idx() needs before it knows the file's size.
// [[Rcpp::export]]
int cpp_idx_max_header() { return static_cast<int>(io::kIdxMaxHeaderBytes); }

// The contents of a whole (decompressed) idx file as an R array: integer for integer
// element types, double for float ones; dim set for rank >= 2.
// [[Rcpp::export]]
SEXP cpp_idx_read(SEXP bytes) {
  SN_R_BEGIN
  const uint8_t* p = raw_bytes(bytes, "bytes");
  const size_t n = static_cast<size_t>(Rf_xlength(bytes));
  io::IdxHeader h = io::idx_parse_header(p, n);
  io::idx_check_payload(h, n);  // before allocating: numel is now bounded by n
  const bool integer = io::idx_is_integer(h.type);
  Rcpp::RObject out = Rf_allocVector(integer ? INTSXP : REALSXP, static_cast<R_xlen_t>(h.numel));
  if (integer) io::idx_decode(h, p, n, INTEGER(out));
  else io::idx_decode(h, p, n, REAL(out));
  if (h.dims.size() >= 2) {
    Rcpp::IntegerVector dim(h.dims.size());
    for (size_t j = 0; j < h.dims.size(); ++j) dim[j] = static_cast<int>(h.dims[j]);
    out.attr("dim") = dim;
  }
  return out;
  SN_R_END
  return R_NilValue;
}

// Parses a safetensors file: list(meta = named list of strings or NULL, tensors = named
// list of list(dtype, shape, begin, end), data_start = offset of the data buffer).
// [[Rcpp::export]]
Rcpp::List cpp_st_parse(SEXP bytes) {
  SN_R_BEGIN
  const uint8_t* p = raw_bytes(bytes, "bytes");
  io::StFile f = io::parse_safetensors(p, static_cast<size_t>(Rf_xlength(bytes)));
  SEXP meta = R_NilValue;
  Rcpp::List m(f.metadata.size());
  if (f.has_metadata) {
    Rcpp::CharacterVector names(f.metadata.size());
    for (size_t i = 0; i < f.metadata.size(); ++i) {
      names[i] = Rcpp::String(f.metadata[i].first, CE_UTF8);
      m[i] = Rcpp::String(f.metadata[i].second, CE_UTF8);
    }
    m.attr("names") = names;
    meta = m;
  }
  Rcpp::List tensors(f.tensors.size());
  Rcpp::CharacterVector tnames(f.tensors.size());
  for (size_t i = 0; i < f.tensors.size(); ++i) {
    const io::StTensor& t = f.tensors[i];
    Rcpp::NumericVector shape(t.shape.size());
    for (size_t j = 0; j < t.shape.size(); ++j) shape[j] = static_cast<double>(t.shape[j]);
    tnames[i] = Rcpp::String(t.name, CE_UTF8);
    tensors[i] = Rcpp::List::create(Rcpp::Named("dtype") = t.dtype, Rcpp::Named("shape") = shape,
                                    Rcpp::Named("begin") = static_cast<double>(t.begin),
                                    Rcpp::Named("end") = static_cast<double>(t.end));
  }
  tensors.attr("names") = tnames;
  return Rcpp::List::create(Rcpp::Named("meta") = meta, Rcpp::Named("tensors") = tensors,
                            Rcpp::Named("data_start") = static_cast<double>(f.data_start));
  SN_R_END
  return Rcpp::List();
}

// bytes[offset + 1 .. offset + len] without R's index vector (8 bytes per byte taken).
// [[Rcpp::export]]
SEXP cpp_raw_slice(SEXP bytes, double offset, double len) {
  SN_R_BEGIN
  const uint8_t* p = raw_bytes(bytes, "bytes");
  const double n = static_cast<double>(Rf_xlength(bytes));
  if (!(offset >= 0 && len >= 0 && offset + len <= n))
    raise_error(ErrorKind::value, "the slice lies outside the bytes");
  SEXP out = Rf_allocVector(RAWSXP, static_cast<R_xlen_t>(len));
  if (len > 0) std::memcpy(RAW(out), p + static_cast<size_t>(offset), static_cast<size_t>(len));
  return out;
  SN_R_END
  return R_NilValue;
}
