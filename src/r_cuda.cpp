// Rcpp glue of the CUDA backend: opening its library (R/cuda.R decides when: lazily, at the
// first CUDA question or device = "cuda"), its information as an R list, the caching
// allocator's figures and the backend's options.
#include "r_glue.h"

#include "engine/backend/cuda_library.h"
#include "engine/base/json_value.h"

using namespace symnet;

namespace {

// JSON -> R: objects become named lists, arrays lists, numbers doubles (byte counts pass
// 2^31), booleans logicals, null NULL.
SEXP json_to_r(const json::Value& v) {
  switch (v.kind) {
    case json::Value::null: return R_NilValue;
    case json::Value::boolean: return Rcpp::wrap(v.b);
    case json::Value::number: return Rcpp::wrap(v.is_int ? static_cast<double>(v.i) : v.d);
    case json::Value::string: return Rcpp::wrap(v.s);
    case json::Value::array: {
      Rcpp::List out(v.items.size());
      for (size_t i = 0; i < v.items.size(); ++i) out[i] = json_to_r(v.items[i]);
      return out;
    }
    case json::Value::object: {
      Rcpp::List out(v.members.size());
      Rcpp::CharacterVector names(v.members.size());
      for (size_t i = 0; i < v.members.size(); ++i) {
        out[i] = json_to_r(v.members[i].second);
        names[i] = v.members[i].first;
      }
      out.attr("names") = names;
      return out;
    }
  }
  return R_NilValue;
}

Rcpp::List status_to_r(const CudaStatus& s) {
  return Rcpp::List::create(Rcpp::Named("attempted") = s.attempted, Rcpp::Named("loaded") = s.library_loaded,
                            Rcpp::Named("available") = s.available, Rcpp::Named("reason") = s.reason,
                            Rcpp::Named("backends") = Rcpp::wrap(s.backends));
}

}  // namespace

// Opens the CUDA backend library at `path` (once per process; later calls return the first
// outcome) and registers its devices when a driver and a GPU answer.
// [[Rcpp::export]]
Rcpp::List cpp_cuda_load(std::string path) {
  SN_R_BEGIN
  return status_to_r(load_cuda_library(path));
  SN_R_END
  return Rcpp::List();
}

// [[Rcpp::export]]
Rcpp::List cpp_cuda_status() {
  SN_R_BEGIN
  return status_to_r(cuda_status());
  SN_R_END
  return Rcpp::List();
}

// The library's information (versions, devices, its reason), or NULL when none is loaded.
// [[Rcpp::export]]
SEXP cpp_cuda_info() {
  SN_R_BEGIN
  const std::string text = cuda_info_json();
  if (text.empty()) return R_NilValue;
  return json_to_r(json::parse(text));
  SN_R_END
  return R_NilValue;
}

// in_use, peak and reserved bytes of device `device`, or NULL for a device not registered.
// [[Rcpp::export]]
SEXP cpp_cuda_memory_stats(int device, bool reset_peak) {
  SN_R_BEGIN
  uint64_t in_use = 0, peak = 0, reserved = 0;
  if (!cuda_memory_stats(device, reset_peak, in_use, peak, reserved)) return R_NilValue;
  return Rcpp::NumericVector::create(Rcpp::Named("in_use") = static_cast<double>(in_use),
                                     Rcpp::Named("peak") = static_cast<double>(peak),
                                     Rcpp::Named("reserved") = static_cast<double>(reserved));
  SN_R_END
  return R_NilValue;
}

// [[Rcpp::export]]
void cpp_cuda_set_option(std::string name, std::string value) {
  SN_R_BEGIN
  cuda_set_option(name, value);
  SN_R_END
}
