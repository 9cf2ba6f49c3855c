// Shared pieces of the Rcpp glue: the one place where R arrays (column-major) and engine
// tensors (row-major) convert, attribute conversion, and engine errors -> R conditions.
#pragma once
// R errors raised from C++ must unwind C++ frames (destructors run) before R longjmps.
#ifndef RCPP_USE_UNWIND_PROTECT
#define RCPP_USE_UNWIND_PROTECT
#endif
#include <Rcpp.h>

#include <string>

#include "engine/base/error.h"
#include "engine/base/tensor.h"
#include "engine/ir/attr.h"
#include "engine/ir/node.h"

namespace symnet_r {

// Raises the engine error as a classed R condition (symnet_<kind>_error, symnet_error).
[[noreturn]] void raise_engine_error(const symnet::Error& e);
[[noreturn]] void raise_error(symnet::ErrorKind kind, const std::string& msg);

// R vector/array (double, integer or logical) -> engine tensor of `dtype` with shape
// dim(x) (or length(x) for a plain vector; a length-1 plain vector becomes rank 0 when
// `scalar_if_length1`). The column-major -> row-major transpose happens here only.
symnet::Tensor r_to_tensor(SEXP x, symnet::DType dtype, bool scalar_if_length1, const std::string& what);
// Converts into a preallocated tensor of a given shape (used for feeds): rank and dims of
// `x` must match `shape` (row-major engine shape).
void r_into_tensor(SEXP x, symnet::Tensor& out, const std::string& what);
// Engine view -> R array: double for floats and int64, integer for int32/uint8, logical
// for bool; dim set for rank >= 2, plain vector for rank 0 and 1.
SEXP tensor_to_r(const symnet::TensorView& v);
// The R shape of an R value: dim(x), or length(x) (rank 1).
symnet::Shape r_shape_of(SEXP x);

symnet::Shape shape_from_r(SEXP shape);   // NA -> unknown (-1)
Rcpp::NumericVector shape_to_r(const symnet::Shape& s);  // unknown -> NA
// A type's shape for R: NULL when the rank is unknown (an input declared without a shape).
SEXP type_shape_to_r(const symnet::TensorType& t);
symnet::AttrMap attrs_from_r(Rcpp::List attrs);
Rcpp::List attrs_to_r(const symnet::AttrMap& attrs);

// External-pointer helpers.
SEXP wrap_value(const symnet::Value& v);
const symnet::Value& value_from_r(SEXP p);
std::vector<symnet::Value> values_from_r(Rcpp::List l);
SEXP wrap_variable(const symnet::VariablePtr& v);
symnet::VariablePtr variable_from_r(SEXP p);

// Engine tensors held by R (datasets converted once, fed by rows without R copies).
SEXP wrap_tensor(const symnet::Tensor& t);
symnet::Tensor& tensor_from_r(SEXP p);
bool is_tensor_ptr(SEXP p);
// Frees the tensor behind `p` now; later use of `p` is a classed error.
void release_tensor(SEXP p);

// Polls R for a user interrupt at most every 100 ms; throws Error(interrupt).
void check_interrupt();

}  // namespace symnet_r

// Wraps an export body so engine errors become classed R errors.
#define SN_R_BEGIN try {
#define SN_R_END                                                             \
  }                                                                          \
  catch (const symnet::Error& e) {                                           \
    symnet_r::raise_engine_error(e);                                         \
  }                                                                          \
  catch (const std::bad_alloc&) {                                            \
    symnet_r::raise_error(symnet::ErrorKind::value, "out of memory");        \
  }
