// Rcpp exports for custom operations: calls of traced R functions (sym_function(),
// sym_custom_gradient()) and R-coded ops (sym_custom_op()), which the engine runs as
// host_callback nodes through the callbacks installed here.
//
// R code runs only on R's main thread and never longjmps across C++ frames: a callback
// checks the thread it is called on, then does all its R work (converting the inputs,
// calling symnet:::.custom_op_dispatch(), which catches errors and interrupts and returns a
// status) inside R_ToplevelExec, in a C-style function with no C++ objects alive across an
// R call. Whatever went wrong becomes a symnet::Error naming the op, which the executor
// passes up like any engine error; the executable stays usable. Warnings and messages the
// R code signals are kept by the dispatcher (R_ToplevelExec hides the caller's handlers)
// and signalled again afterwards through Rcpp, whose unwind protection turns a handler that
// jumps out (tryCatch(warning = ), options(warn = 2)) into a C++ exception that unwinds the
// executor's frames before R's jump resumes.
#include "r_glue.h"

#include <cstring>
#include <thread>

#include "engine/ops/call.h"
#include "engine/ops/host_callback.h"
#include "engine/passes/lift.h"

using namespace symnet;
using namespace symnet_r;

namespace {

std::thread::id& r_main_thread() {
  static std::thread::id id = std::this_thread::get_id();
  return id;
}

Rcpp::List wrap_values(const std::vector<Value>& outs) {
  Rcpp::List res(outs.size());
  for (size_t i = 0; i < outs.size(); ++i) res[i] = wrap_value(outs[i]);
  return res;
}

// One call of the R dispatcher: phase "run" (views in, types of the outputs) or "infer"
// (types in). Filled and read around R_ToplevelExec.
struct DispatchCall {
  const char* op;
  const char* phase;
  const std::vector<TensorView>* views = nullptr;  // run: the inputs
  const std::vector<TensorType>* types = nullptr;  // run: the outputs; infer: the inputs
  SEXP result = R_NilValue;
  bool replay = false;  // the R code signalled warnings or messages, kept for replay()
};

// Signals again the warnings and messages the last dispatch kept (see the top comment).
void replay(const DispatchCall& d) {
  if (!d.replay) return;
  Rcpp::Environment ns = Rcpp::Environment::namespace_env("symnet");
  Rcpp::Function f = ns[".custom_op_replay"];
  f();
}

SEXP types_shapes(const std::vector<TensorType>& ts) {
  SEXP l = PROTECT(Rf_allocVector(VECSXP, static_cast<R_xlen_t>(ts.size())));
  for (size_t k = 0; k < ts.size(); ++k) {
    if (ts[k].unknown_rank) continue;  // NULL: any rank
    SEXP s = Rf_allocVector(REALSXP, static_cast<R_xlen_t>(ts[k].shape.size()));
    SET_VECTOR_ELT(l, static_cast<R_xlen_t>(k), s);
    for (size_t d = 0; d < ts[k].shape.size(); ++d)
      REAL(s)[d] = ts[k].shape[d] < 0 ? NA_REAL : static_cast<double>(ts[k].shape[d]);
  }
  UNPROTECT(1);
  return l;
}

SEXP types_dtypes(const std::vector<TensorType>& ts) {
  SEXP v = PROTECT(Rf_allocVector(STRSXP, static_cast<R_xlen_t>(ts.size())));
  for (size_t k = 0; k < ts.size(); ++k)
    SET_STRING_ELT(v, static_cast<R_xlen_t>(k), Rf_mkChar(dtype_name(ts[k].dtype)));
  UNPROTECT(1);
  return v;
}

// Runs inside R_ToplevelExec: an R error here returns there, not through C++ frames.
void dispatch_in_r(void* data) {
  auto* d = static_cast<DispatchCall*>(data);
  SEXP ns = PROTECT(R_FindNamespace(Rf_mkString("symnet")));
  SEXP fn = PROTECT(Rf_findFun(Rf_install(".custom_op_dispatch"), ns));
  SEXP arg1, arg2, arg3;
  if (d->views) {
    arg1 = PROTECT(Rf_allocVector(VECSXP, static_cast<R_xlen_t>(d->views->size())));
    for (size_t i = 0; i < d->views->size(); ++i)
      SET_VECTOR_ELT(arg1, static_cast<R_xlen_t>(i), tensor_to_r((*d->views)[i]));
  } else {
    arg1 = PROTECT(Rf_allocVector(VECSXP, 0));
  }
  arg2 = PROTECT(types_shapes(*d->types));
  arg3 = PROTECT(types_dtypes(*d->types));
  SEXP call = PROTECT(Rf_lang6(fn, Rf_mkString(d->op), Rf_mkString(d->phase), arg1, arg2, arg3));
  d->result = Rf_eval(call, ns);
  R_PreserveObject(d->result);
  UNPROTECT(6);
}

// The status list .custom_op_dispatch() returns: list(ok, value) or list(ok = FALSE, kind,
// message). Returns `value`; throws the error otherwise. Reads only (no R allocation).
SEXP dispatch(DispatchCall& d) {
  SN_CHECK(std::this_thread::get_id() == r_main_thread(), ErrorKind::unsupported,
           "the custom op '" << d.op << "' runs R code, which only R's main thread may run; it was called from "
                             << "another thread");
  if (!R_ToplevelExec(dispatch_in_r, &d)) {
    if (d.result != R_NilValue) R_ReleaseObject(d.result);
    throw Error(ErrorKind::interrupt, std::string("the R code of custom op '") + d.op + "' was interrupted",
                d.op);
  }
  SEXP res = d.result;
  // Not collected before the caller is done with the value: neither this function nor the
  // callers allocate R memory until they call replay().
  R_ReleaseObject(res);
  d.replay = LOGICAL(VECTOR_ELT(res, 3))[0] != 0;
  SEXP ok = VECTOR_ELT(res, 0);
  if (LOGICAL(ok)[0]) return VECTOR_ELT(res, 1);
  std::string kind = CHAR(STRING_ELT(VECTOR_ELT(res, 1), 0));
  std::string msg = CHAR(STRING_ELT(VECTOR_ELT(res, 2), 0));
  ErrorKind k = ErrorKind::value;
  for (ErrorKind c : {ErrorKind::shape, ErrorKind::dtype, ErrorKind::value, ErrorKind::interrupt,
                      ErrorKind::unsupported, ErrorKind::index})
    if (kind == error_kind_name(c)) k = c;
  replay(d);
  throw Error(k, msg, d.op);
}

// Copies one validated result (the dispatcher made it double, integer or logical, of the
// output's length, in row-major order) into the output view.
void copy_result(SEXP x, const TensorView& out) {
  const int64_t n = out.numel();
  dispatch_dtype(out.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = out.ptr<T>();
    if (TYPEOF(x) == REALSXP) {
      const double* p = REAL(x);
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(p[i]);
    } else {
      const int* p = TYPEOF(x) == INTSXP ? INTEGER(x) : LOGICAL(x);
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(p[i]);
    }
  });
}

std::shared_ptr<HostCallback> make_callback(const std::string& engine_name, bool with_infer) {
  auto cb = std::make_shared<HostCallback>();
  cb->run = [engine_name](const std::vector<TensorView>& in, const std::vector<TensorView>& out) {
    std::vector<TensorType> types;
    for (const TensorView& v : out) types.push_back(TensorType{v.dtype, v.shape});
    DispatchCall d{engine_name.c_str(), "run", &in, &types};
    SEXP value = dispatch(d);
    SN_CHECK(TYPEOF(value) == VECSXP && Rf_xlength(value) == static_cast<R_xlen_t>(out.size()), ErrorKind::internal,
             "the dispatcher of '" << engine_name << "' returned a malformed result");
    for (size_t k = 0; k < out.size(); ++k) {
      SEXP x = VECTOR_ELT(value, static_cast<R_xlen_t>(k));
      SN_CHECK((TYPEOF(x) == REALSXP || TYPEOF(x) == INTSXP || TYPEOF(x) == LGLSXP) &&
                   Rf_xlength(x) == static_cast<R_xlen_t>(out[k].numel()),
               ErrorKind::internal, "the dispatcher of '" << engine_name << "' returned a malformed output");
      copy_result(x, out[k]);
    }
    replay(d);
  };
  if (with_infer) {
    cb->infer = [engine_name](const std::vector<TensorType>& in) {
      DispatchCall d{engine_name.c_str(), "infer", nullptr, &in};
      SEXP value = dispatch(d);  // list(dtypes = character, shapes = list of numeric with NA)
      SEXP dts = VECTOR_ELT(value, 0), shs = VECTOR_ELT(value, 1);
      std::vector<TensorType> outs;
      for (R_xlen_t k = 0; k < Rf_xlength(dts); ++k) {
        TensorType t;
        t.dtype = dtype_from_name(CHAR(STRING_ELT(dts, k)));
        SEXP s = VECTOR_ELT(shs, k);
        for (R_xlen_t j = 0; j < Rf_xlength(s); ++j)
          t.shape.push_back(ISNAN(REAL(s)[j]) ? -1 : static_cast<int64_t>(REAL(s)[j]));
        outs.push_back(t);
      }
      replay(d);
      return outs;
    };
  }
  return cb;
}

}  // namespace

// Installs the engine callbacks of the R-coded op `name` (its forward, and `name`/backward
// when it has one); the R functions stay in R's registry, looked up by the dispatcher.
// [[Rcpp::export]]
void cpp_register_custom_op(std::string name, bool with_infer, bool with_backward) {
  SN_R_BEGIN
  r_main_thread();  // first called from R: this is R's main thread
  register_host_callback(name, make_callback(name, with_infer));
  register_host_callback(name + "/backward", with_backward ? make_callback(name + "/backward", false) : nullptr);
  SN_R_END
}

// [[Rcpp::export]]
void cpp_unregister_custom_op(std::string name) {
  SN_R_BEGIN
  register_host_callback(name, nullptr);
  register_host_callback(name + "/backward", nullptr);
  SN_R_END
}

// The formal parameters a traced function is given: one input node per argument, of its
// type, named `names`.
// [[Rcpp::export]]
Rcpp::List cpp_function_params(Rcpp::List args, std::vector<std::string> names) {
  SN_R_BEGIN
  std::vector<Value> a = values_from_r(args);
  std::vector<Value> ps;
  for (size_t k = 0; k < a.size(); ++k) ps.push_back(body_input(k < names.size() ? names[k] : "arg", a[k].type()));
  return wrap_values(ps);
  SN_R_END
  return Rcpp::List();
}

// A call of a function traced on `params` after node `after` (passes/lift.h
// make_function_call); returns its outputs.
// [[Rcpp::export]]
Rcpp::List cpp_sym_function_call(Rcpp::List params, Rcpp::List outputs, double after, Rcpp::List args,
                                 std::string fn_name, std::string name) {
  SN_R_BEGIN
  return wrap_values(make_function_call(values_from_r(params), values_from_r(outputs), static_cast<uint64_t>(after),
                                        values_from_r(args), fn_name, name));
  SN_R_END
  return Rcpp::List();
}

// A call with a custom gradient (make_custom_gradient_call); `grads` holds NULL where the
// gradient function gave none (zero).
// [[Rcpp::export]]
Rcpp::List cpp_sym_custom_gradient_call(Rcpp::List params, Rcpp::List outputs, double fn_after,
                                        Rcpp::List grad_params, Rcpp::List out_params, Rcpp::List cot_params,
                                        Rcpp::List grads, double grad_after, Rcpp::List args, std::string fn_name,
                                        std::string name) {
  SN_R_BEGIN
  CustomGradientTrace t;
  t.params = values_from_r(params);
  t.outputs = values_from_r(outputs);
  t.fn_after = static_cast<uint64_t>(fn_after);
  t.grad_params = values_from_r(grad_params);
  t.out_params = values_from_r(out_params);
  t.cot_params = values_from_r(cot_params);
  for (R_xlen_t i = 0; i < grads.size(); ++i) t.grads.push_back(Rf_isNull(grads[i]) ? Value{} : value_from_r(grads[i]));
  t.grad_after = static_cast<uint64_t>(grad_after);
  return wrap_values(make_custom_gradient_call(t, values_from_r(args), fn_name, name));
  SN_R_END
  return Rcpp::List();
}
