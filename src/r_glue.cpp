#include "r_glue.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "engine/ir/graph.h"
#include "engine/kernels/cpu/parallel.h"
#include "r_persist.h"

namespace symnet_r {

using namespace symnet;

void raise_engine_error(const Error& e) {
  Rcpp::Environment ns = Rcpp::Environment::namespace_env("symnet");
  Rcpp::Function raise = ns[".raise_engine_error"];
  raise(error_kind_name(e.kind()), std::string(e.what()), e.op(), e.node());
  Rcpp::stop(e.what());  // not reached: .raise_engine_error always signals
}

void raise_error(ErrorKind kind, const std::string& msg) { raise_engine_error(Error(kind, msg)); }

Shape r_shape_of(SEXP x) {
  SEXP dim = Rf_getAttrib(x, R_DimSymbol);
  Shape s;
  if (dim == R_NilValue) {
    s.push_back(Rf_xlength(x));
  } else {
    for (R_xlen_t i = 0; i < Rf_xlength(dim); ++i) s.push_back(INTEGER_RO(dim)[i]);
  }
  return s;
}

namespace {

// Column-major (R) -> row-major (engine) element order for `shape`, calling
// f(row_major_index, col_major_index) for every element whose first-axis index lies in
// [row0, row1). The first axis is contiguous in R and the last in the engine, so the pairs
// are visited in tiles of those two axes (for each combination of the axes between them):
// both sides then read and write whole cache lines, instead of one side striding by the
// product of all other axes at every element.
constexpr int64_t kConvertTile = 16;

template <typename F>
void for_each_cm_rm_rows(const Shape& shape, int64_t row0, int64_t row1, F& f) {
  const size_t r = shape.size();
  if (r <= 1) {
    for (int64_t i = row0; i < row1; ++i) f(i, i);
    return;
  }
  std::vector<int64_t> rm_stride(r, 1), cm_stride(r, 1);
  for (size_t k = r - 1; k-- > 0;) rm_stride[k] = rm_stride[k + 1] * shape[k + 1];
  for (size_t k = 1; k < r; ++k) cm_stride[k] = cm_stride[k - 1] * shape[k - 1];
  const int64_t cols = shape[r - 1];
  const int64_t row_rm = rm_stride[0], col_cm = cm_stride[r - 1];
  std::vector<int64_t> mid(r, 0);  // indices of axes 1 .. r-2
  int64_t rm_base = 0, cm_base = 0;
  for (;;) {
    for (int64_t i0 = row0; i0 < row1; i0 += kConvertTile) {
      const int64_t i1 = std::min(row1, i0 + kConvertTile);
      for (int64_t j0 = 0; j0 < cols; j0 += kConvertTile) {
        const int64_t j1 = std::min(cols, j0 + kConvertTile);
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j0; j < j1; ++j) f(rm_base + i * row_rm + j, cm_base + i + j * col_cm);
      }
    }
    // next combination of the middle axes (none when r == 2)
    size_t k = r - 2;
    for (; k >= 1; --k) {
      ++mid[k];
      rm_base += rm_stride[k];
      cm_base += cm_stride[k];
      if (mid[k] < shape[k]) break;
      rm_base -= rm_stride[k] * shape[k];
      cm_base -= cm_stride[k] * shape[k];
      mid[k] = 0;
    }
    if (k == 0) return;
  }
}

// All elements, on the engine's threads when the array is large: the conversion of a
// [64, 50, 256] output was a tenth of an LSTM call. f runs on several threads at once, so it
// may only write its own element (and record problems through atomics); no R API inside.
template <typename F>
void for_each_cm_rm(const Shape& shape, F&& f) {
  const int64_t n = shape_numel(shape);
  if (n == 0) return;
  const int64_t rows = shape.size() <= 1 ? n : shape[0];
  const int64_t blocks = (rows + kConvertTile - 1) / kConvertTile;
  constexpr int64_t kParallelElements = int64_t(1) << 17;
  if (n < kParallelElements || blocks < 2) {
    for_each_cm_rm_rows(shape, 0, rows, f);
    return;
  }
  parallel_for(blocks, 1, [&](int64_t b, int64_t e) {
    for_each_cm_rm_rows(shape, b * kConvertTile, std::min(rows, e * kConvertTile), f);
  });
}

// The smallest column-major position reported bad, whichever thread found it first: the
// error names the same element on any thread count.
void note_bad(std::atomic<int64_t>& bad, int64_t cm) {
  int64_t cur = bad.load(std::memory_order_relaxed);
  while ((cur < 0 || cm < cur) && !bad.compare_exchange_weak(cur, cm, std::memory_order_relaxed)) {
  }
}

// "value 300 at position 7": positions are R's (1-based, column-major).
std::string offending(double v, int64_t cm) {
  std::ostringstream o;
  o.precision(17);
  o << "value " << v << " at position " << (cm + 1);
  return o.str();
}

// Whether a double converts to T without wrapping, truncation or overflow to infinity.
template <typename T>
bool representable(double v) {
  if constexpr (std::is_same_v<T, bool>) {
    return !std::isnan(v);
  } else if constexpr (std::is_floating_point_v<T>) {
    return !std::isfinite(v) || std::fabs(v) <= static_cast<double>(std::numeric_limits<T>::max());
  } else {
    // int32's lowest value is R's NA_integer_: it could not come back to R as a number.
    constexpr double lo = static_cast<double>(std::numeric_limits<T>::lowest()) + (sizeof(T) == 4 ? 1 : 0);
    constexpr double hi = static_cast<double>(std::numeric_limits<T>::max());
    if (!std::isfinite(v) || v != std::trunc(v) || v < lo) return false;
    // int64's max() rounds up to 2^63 as a double, which is itself out of range.
    return sizeof(T) == 8 ? v < hi : v <= hi;
  }
}

template <typename T>
const char* range_text() {
  if constexpr (std::is_same_v<T, uint8_t>) return "whole numbers 0..255";
  else if constexpr (std::is_same_v<T, int32_t>) return "whole numbers -2147483647..2147483647";
  else if constexpr (std::is_same_v<T, int64_t>) return "whole numbers within +-2^63";
  else if constexpr (std::is_same_v<T, float>) return "numbers of magnitude up to 3.4e38 (float32)";
  else return "non-missing numbers";
}

// Fills `out` (row-major) from an R vector; every value must be representable in T exactly as
// R holds it (integers in range and whole, floats within range): nothing wraps or truncates silently.
template <typename T>
void fill_from_r(SEXP x, T* out, const Shape& shape, const std::string& what, DType dtype) {
  const std::string dt = dtype_name(dtype);
  switch (TYPEOF(x)) {
    case REALSXP: {
      const double* p = REAL_RO(x);
      std::atomic<int64_t> found{-1};
      for_each_cm_rm(shape, [&](int64_t rm, int64_t cm) {
        const double v = p[cm];
        if constexpr (std::is_floating_point_v<T>) {
          if constexpr (!std::is_same_v<T, double>) {
            if (!representable<T>(v)) note_bad(found, cm);
          }
          out[rm] = static_cast<T>(v);
        } else {
          if (!representable<T>(v)) {
            note_bad(found, cm);
            return;
          }
          if constexpr (std::is_same_v<T, bool>) out[rm] = v != 0;
          else out[rm] = static_cast<T>(v);
        }
      });
      const int64_t bad = found.load();
      if (bad >= 0) {
        const double v = p[bad];
        if (std::isnan(v))
          raise_error(ErrorKind::value, what + " contains NA/NaN (position " + std::to_string(bad + 1) +
                                            "), which dtype " + dt + " cannot hold");
        raise_error(ErrorKind::value, what + " has " + offending(v, bad) + ", which dtype " + dt +
                                          " cannot hold (it takes " + range_text<T>() + ")");
      }
      break;
    }
    case INTSXP:
    case LGLSXP: {
      const int* p = TYPEOF(x) == INTSXP ? INTEGER_RO(x) : LOGICAL_RO(x);
      std::atomic<int64_t> found{-1};
      for_each_cm_rm(shape, [&](int64_t rm, int64_t cm) {
        const int v = p[cm];
        if (v == NA_INTEGER) {
          if constexpr (std::is_floating_point_v<T>) {
            out[rm] = static_cast<T>(NAN);
          } else {
            note_bad(found, cm);
          }
          return;
        }
        if constexpr (std::is_same_v<T, uint8_t>) {
          if (v < 0 || v > 255) {
            note_bad(found, cm);
            return;
          }
        }
        if constexpr (std::is_same_v<T, bool>) out[rm] = v != 0;
        else out[rm] = static_cast<T>(v);
      });
      const int64_t bad = found.load();
      if (bad >= 0) {
        if (p[bad] == NA_INTEGER)
          raise_error(ErrorKind::value, what + " contains NA (position " + std::to_string(bad + 1) +
                                            "), which dtype " + dt + " cannot hold");
        raise_error(ErrorKind::value, what + " has " + offending(p[bad], bad) + ", which dtype " + dt +
                                          " cannot hold (it takes " + range_text<T>() + ")");
      }
      break;
    }
    default:
      raise_error(ErrorKind::dtype, what + " must be a numeric, integer or logical array, not " +
                                        std::string(Rf_type2char(TYPEOF(x))));
  }
}

}  // namespace

void r_into_tensor(SEXP x, Tensor& out, const std::string& what) {
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    fill_from_r<T>(x, out.ptr<T>(), out.shape(), what, out.dtype());
  });
}

Tensor r_to_tensor(SEXP x, DType dtype, bool scalar_if_length1, const std::string& what) {
  if (TYPEOF(x) != REALSXP && TYPEOF(x) != INTSXP && TYPEOF(x) != LGLSXP)
    raise_error(ErrorKind::dtype, what + " must be a numeric, integer or logical array, not " +
                                      std::string(Rf_type2char(TYPEOF(x))));
  Shape s = r_shape_of(x);
  if (scalar_if_length1 && Rf_getAttrib(x, R_DimSymbol) == R_NilValue && Rf_xlength(x) == 1) s = {};
  if (!is_core_dtype(dtype)) raise_error(ErrorKind::dtype, std::string("cannot convert R values to ") + dtype_name(dtype));
  Tensor t(dtype, s);
  r_into_tensor(x, t, what);
  return t;
}

SEXP tensor_to_r(const TensorView& v) {
  const int64_t n = v.numel();
  SEXP out;
  switch (v.dtype) {
    case DType::f32:
    case DType::f64:
    case DType::i64: {
      out = PROTECT(Rf_allocVector(REALSXP, n));
      double* o = REAL(out);
      dispatch_dtype(v.dtype, [&](auto tag) {
        using T = decltype(tag);
        const T* p = v.ptr<T>();
        for_each_cm_rm(v.shape, [&](int64_t rm, int64_t cm) { o[cm] = static_cast<double>(p[rm]); });
      });
      break;
    }
    case DType::i32:
    case DType::u8: {
      out = PROTECT(Rf_allocVector(INTSXP, n));
      int* o = INTEGER(out);
      dispatch_dtype(v.dtype, [&](auto tag) {
        using T = decltype(tag);
        const T* p = v.ptr<T>();
        for_each_cm_rm(v.shape, [&](int64_t rm, int64_t cm) { o[cm] = static_cast<int>(p[rm]); });
      });
      break;
    }
    case DType::boolean: {
      out = PROTECT(Rf_allocVector(LGLSXP, n));
      int* o = LOGICAL(out);
      const bool* p = v.ptr<bool>();
      for_each_cm_rm(v.shape, [&](int64_t rm, int64_t cm) { o[cm] = p[rm] ? 1 : 0; });
      break;
    }
    default:
      raise_error(ErrorKind::dtype, std::string("cannot return ") + dtype_name(v.dtype) + " values to R");
  }
  if (v.shape.size() >= 2) {
    SEXP dim = PROTECT(Rf_allocVector(INTSXP, v.shape.size()));
    for (size_t i = 0; i < v.shape.size(); ++i) INTEGER(dim)[i] = static_cast<int>(v.shape[i]);
    Rf_setAttrib(out, R_DimSymbol, dim);
    UNPROTECT(1);
  }
  UNPROTECT(1);
  return out;
}

Shape shape_from_r(SEXP shape) {
  Shape s;
  if (shape == R_NilValue) return s;
  Rcpp::NumericVector v(shape);
  for (double d : v) {
    if (Rcpp::NumericVector::is_na(d) || d == -1) {
      s.push_back(kUnknownDim);
    } else {
      if (d < 0 || std::floor(d) != d) raise_error(ErrorKind::shape, "shape entries must be non-negative whole numbers or NA");
      s.push_back(static_cast<int64_t>(d));
    }
  }
  return s;
}

Rcpp::NumericVector shape_to_r(const Shape& s) {
  Rcpp::NumericVector v(s.size());
  for (size_t i = 0; i < s.size(); ++i) v[i] = s[i] < 0 ? NA_REAL : static_cast<double>(s[i]);
  return v;
}

SEXP type_shape_to_r(const TensorType& t) {
  if (t.unknown_rank) return R_NilValue;
  return shape_to_r(t.shape);
}

AttrMap attrs_from_r(Rcpp::List attrs) {
  AttrMap m;
  if (attrs.size() == 0) return m;
  Rcpp::CharacterVector names = attrs.names();
  for (R_xlen_t i = 0; i < attrs.size(); ++i) {
    std::string key = Rcpp::as<std::string>(names[i]);
    SEXP a = attrs[i];
    if (a == R_NilValue) continue;
    bool as_is = Rf_inherits(a, "AsIs");
    R_xlen_t n = Rf_xlength(a);
    switch (TYPEOF(a)) {
      case INTSXP:
      case LGLSXP: {
        const int* p = TYPEOF(a) == INTSXP ? INTEGER_RO(a) : LOGICAL_RO(a);
        std::vector<int64_t> v;
        for (R_xlen_t j = 0; j < n; ++j) {
          if (p[j] == NA_INTEGER) raise_error(ErrorKind::attr, "attribute '" + key + "' contains NA");
          v.push_back(p[j]);
        }
        if (n == 1 && !as_is) m.set(key, v[0]); else m.set(key, v);
        break;
      }
      case REALSXP: {
        std::vector<double> v(REAL_RO(a), REAL_RO(a) + n);
        if (n == 1 && !as_is) m.set(key, v[0]); else m.set(key, v);
        break;
      }
      case STRSXP: {
        std::vector<std::string> v;
        for (R_xlen_t j = 0; j < n; ++j) v.push_back(CHAR(STRING_ELT(a, j)));
        if (n == 1 && !as_is) m.set(key, v[0]); else m.set(key, v);
        break;
      }
      default:
        raise_error(ErrorKind::attr, "attribute '" + key + "' has unsupported R type " + Rf_type2char(TYPEOF(a)));
    }
  }
  return m;
}

Rcpp::List attrs_to_r(const AttrMap& attrs) {
  Rcpp::List out;
  for (const auto& [k, a] : attrs.items()) out[k] = attr_value_str(a);
  return out;
}

// ---- graph values and shared variables behind external pointers ------------------------------

namespace {

struct ValueBox { Value v; };
struct VariableBox { VariablePtr v; };

SEXP value_state(void* box) {
  return graph_payload({static_cast<ValueBox*>(box)->v}, {"value"});
}

void* value_restore(SEXP payload, RestoreMemo& memo) {
  std::vector<Value> outs = restore_graph_payload(payload, memo).outputs;
  SN_CHECK(outs.size() == 1, ErrorKind::value, "a saved symbol must have one value");
  return new ValueBox{outs[0]};
}

void value_destroy(void* box) { delete static_cast<ValueBox*>(box); }

SEXP variable_state(void* box) {
  const VariablePtr& v = static_cast<VariableBox*>(box)->v;
  return Rcpp::List::create(Rcpp::Named("id") = static_cast<double>(v->id),
                            Rcpp::Named("data") = variable_data_ptr(v));
}

void* variable_restore(SEXP payload, RestoreMemo& memo) {
  // The data pointer inside the payload was read, and its variable rebuilt, before us.
  return new VariableBox{memo_variable(memo, Rcpp::as<double>(Rcpp::List(payload)["id"]))};
}

void variable_destroy(void* box) { delete static_cast<VariableBox*>(box); }

}  // namespace

const PersistKind kValueKind{"value", value_state, value_restore, value_destroy};
const PersistKind kVariableKind{"variable", variable_state, variable_restore, variable_destroy};

SEXP wrap_value(const Value& v) { return make_persistent_ptr(kValueKind, new ValueBox{v}); }

const Value& value_from_r(SEXP p) {
  if (TYPEOF(p) != EXTPTRSXP || !Rf_inherits(p, "symnet_value_ptr"))
    raise_error(ErrorKind::value, "expected a symnet symbol");
  return static_cast<ValueBox*>(persistent_box(p, kValueKind))->v;
}

std::vector<Value> values_from_r(Rcpp::List l) {
  std::vector<Value> out;
  for (R_xlen_t i = 0; i < l.size(); ++i) out.push_back(value_from_r(l[i]));
  return out;
}

SEXP wrap_variable(const VariablePtr& v) { return make_persistent_ptr(kVariableKind, new VariableBox{v}); }

VariablePtr variable_from_r(SEXP p) {
  if (TYPEOF(p) != EXTPTRSXP || !Rf_inherits(p, "symnet_variable_ptr"))
    raise_error(ErrorKind::value, "expected a symnet shared variable");
  return static_cast<VariableBox*>(persistent_box(p, kVariableKind))->v;
}

namespace {
struct TensorBox { Tensor t; };
}  // namespace

SEXP wrap_tensor(const Tensor& t) {
  Rcpp::XPtr<TensorBox> p(new TensorBox{t}, true);
  p.attr("class") = "symnet_tensor_ptr";
  return p;
}

bool is_tensor_ptr(SEXP p) { return TYPEOF(p) == EXTPTRSXP && Rf_inherits(p, "symnet_tensor_ptr"); }

Tensor& tensor_from_r(SEXP p) {
  if (!is_tensor_ptr(p)) raise_error(ErrorKind::value, "expected a symnet tensor");
  auto* box = static_cast<TensorBox*>(R_ExternalPtrAddr(p));
  if (!box) raise_error(ErrorKind::value, "this tensor was released or comes from another R session; convert the data again");
  return box->t;
}

void release_tensor(SEXP p) {
  if (!is_tensor_ptr(p)) raise_error(ErrorKind::value, "expected a symnet tensor");
  auto* box = static_cast<TensorBox*>(R_ExternalPtrAddr(p));
  R_ClearExternalPtr(p);  // the finalizer then has nothing left to delete
  delete box;
}

namespace {
void check_interrupt_fn(void*) { R_CheckUserInterrupt(); }
}  // namespace

void check_interrupt() {
  static auto last = std::chrono::steady_clock::now();
  auto now = std::chrono::steady_clock::now();
  if (now - last < std::chrono::milliseconds(100)) return;
  last = now;
  // R_ToplevelExec returns FALSE when the interrupt longjmp happened inside it.
  if (!R_ToplevelExec(check_interrupt_fn, nullptr))
    throw Error(ErrorKind::interrupt, "interrupted by the user");
}

}  // namespace symnet_r
