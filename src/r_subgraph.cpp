// Rcpp exports for subgraphs: a call node from a body given as input and output symbols.
#include "r_glue.h"

#include "engine/passes/lift.h"

using namespace symnet;
using namespace symnet_r;

// A call of the body whose parameters are `params` (input symbols) and whose results are
// `outputs`, on `args` (one per parameter). Outer values the outputs use besides the
// parameters are lifted into extra arguments (variables and constants stay in the body).
// Returns the call's outputs.
// [[Rcpp::export]]
Rcpp::List cpp_sym_call(Rcpp::List params, Rcpp::List outputs, Rcpp::List args, std::string name) {
  SN_R_BEGIN
  LiftedBody lb = lift_body(values_from_r(params), values_from_r(outputs));
  std::vector<Value> ins = values_from_r(args);
  ins.insert(ins.end(), lb.captured.begin(), lb.captured.end());
  std::vector<Value> outs = make_node("call", ins, {{"body", lb.body}}, name);
  Rcpp::List res(outs.size());
  for (size_t i = 0; i < outs.size(); ++i) res[i] = wrap_value(outs[i]);
  return res;
  SN_R_END
  return Rcpp::List();
}

// The id of the newest graph node, as a double (ids stay far below 2^53): taken before
// tracing a branch, so that the nodes the branch's code makes are told apart.
// [[Rcpp::export]]
double cpp_last_node_id() { return static_cast<double>(last_node_id()); }

// A cond of two traced branches (passes/lift.h make_cond); returns its outputs.
// [[Rcpp::export]]
Rcpp::List cpp_sym_cond(SEXP pred, Rcpp::List then_outputs, double then_after, Rcpp::List else_outputs,
                        double else_after, std::string name) {
  SN_R_BEGIN
  std::vector<Value> outs = make_cond(value_from_r(pred), values_from_r(then_outputs),
                                      static_cast<uint64_t>(then_after), values_from_r(else_outputs),
                                      static_cast<uint64_t>(else_after), name);
  Rcpp::List res(outs.size());
  for (size_t i = 0; i < outs.size(); ++i) res[i] = wrap_value(outs[i]);
  return res;
  SN_R_END
  return Rcpp::List();
}
