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
