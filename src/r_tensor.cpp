// Rcpp exports for engine-resident data tensors: a dataset is converted to row-major
// once and mini-batches are gathered from it in C++, with no R copies per step.
#include "r_glue.h"

#include <cstring>

using namespace symnet;
using namespace symnet_r;

namespace {
// True when every element of an integer vector lies in 0..255 (NA does not).
bool fits_bytes(SEXP x) {
  const int* p = INTEGER_RO(x);
  const R_xlen_t n = Rf_xlength(x);
  unsigned bad = 0;
  for (R_xlen_t i = 0; i < n; ++i) bad |= static_cast<unsigned>(p[i]) > 255u;
  return n > 0 && bad == 0;
}
}  // namespace

// An engine tensor of `dtype` holding an R array. With `compact`, integer data bound for a
// floating dtype is stored as bytes when every value is 0..255 (image pixels): a quarter of
// the memory of float32, exact, and converted to the input's dtype row by row when fed.
// [[Rcpp::export]]
SEXP cpp_tensor_new(SEXP value, std::string dtype, bool compact = false) {
  SN_R_BEGIN
  DType dt = dtype_from_name(dtype);
  if (compact && TYPEOF(value) == INTSXP && Rf_getAttrib(value, R_LevelsSymbol) == R_NilValue && is_float(dt) &&
      fits_bytes(value))
    dt = DType::u8;
  return wrap_tensor(r_to_tensor(value, dt, false, "data"));
  SN_R_END
  return R_NilValue;
}

// Frees a data tensor now (R's collector would free it only when R itself runs short).
// [[Rcpp::export]]
void cpp_tensor_release(SEXP p) {
  SN_R_BEGIN
  release_tensor(p);
  SN_R_END
}

// [[Rcpp::export]]
Rcpp::List cpp_tensor_info(SEXP p) {
  SN_R_BEGIN
  Tensor& t = tensor_from_r(p);
  return Rcpp::List::create(Rcpp::Named("dtype") = std::string(dtype_name(t.dtype())),
                            Rcpp::Named("shape") = shape_to_r(t.shape()));
  SN_R_END
  return Rcpp::List();
}

// [[Rcpp::export]]
SEXP cpp_tensor_to_r(SEXP p) {
  SN_R_BEGIN
  return tensor_to_r(tensor_from_r(p).view());
  SN_R_END
  return R_NilValue;
}

// Rows (1-based, along the first dimension) of a tensor as a new tensor.
Tensor gather_rows(const Tensor& t, const Rcpp::IntegerVector& rows) {
  SN_CHECK(!t.shape().empty(), ErrorKind::shape, "cannot take rows of a rank-0 tensor");
  Shape s = t.shape();
  const int64_t n = s[0];
  s[0] = rows.size();
  Tensor out(t.dtype(), s);
  const size_t row_bytes = n ? t.bytes() / static_cast<size_t>(n) : 0;
  auto* src = static_cast<const char*>(t.data());
  auto* dst = static_cast<char*>(out.data());
  for (R_xlen_t i = 0; i < rows.size(); ++i) {
    int r = rows[i];
    SN_CHECK(r != NA_INTEGER && r >= 1 && r <= n, ErrorKind::value,
             "row index " << (r == NA_INTEGER ? std::string("NA") : std::to_string(r)) << " is out of range 1.." << n);
    std::memcpy(dst + i * row_bytes, src + (r - 1) * row_bytes, row_bytes);
  }
  return out;
}

// [[Rcpp::export]]
SEXP cpp_tensor_rows(SEXP p, Rcpp::IntegerVector rows) {
  SN_R_BEGIN
  return wrap_tensor(gather_rows(tensor_from_r(p), rows));
  SN_R_END
  return R_NilValue;
}
