// Rcpp exports for engine-resident data tensors: a dataset is converted to row-major
// once and mini-batches are gathered from it in C++, with no R copies per step.
#include "r_glue.h"

#include <cstring>

using namespace symnet;
using namespace symnet_r;

// [[Rcpp::export]]
SEXP cpp_tensor_new(SEXP value, std::string dtype) {
  SN_R_BEGIN
  return wrap_tensor(r_to_tensor(value, dtype_from_name(dtype), false, "data"));
  SN_R_END
  return R_NilValue;
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
