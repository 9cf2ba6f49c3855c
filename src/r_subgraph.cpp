// Rcpp exports for subgraphs: a call node from a body given as input and output symbols.
#include "r_glue.h"

#include "engine/ops/call.h"
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

// The formal inputs a traced scan step is given: one per initial state (its type) and one
// per sequence (one step's slice: the type without the leading axis), named after them.
// [[Rcpp::export]]
Rcpp::List cpp_scan_params(Rcpp::List init, Rcpp::List sequences) {
  SN_R_BEGIN
  std::vector<Value> s = values_from_r(init), q = values_from_r(sequences);
  Rcpp::List res(s.size() + q.size());
  for (size_t k = 0; k < s.size(); ++k) res[k] = wrap_value(body_input(s[k].node->name + "_prev", s[k].type()));
  for (size_t j = 0; j < q.size(); ++j) {
    TensorType t = q[j].type();
    if (!t.unknown_rank) {
      if (t.shape.empty()) {
        throw Error(ErrorKind::shape, "sequence " + std::to_string(j + 1) + " ('" + q[j].node->name +
                                          "') is a scalar; a sequence needs a leading (step) axis");
      }
      t.shape.erase(t.shape.begin());
    }
    res[s.size() + j] = wrap_value(body_input(q[j].node->name + "_t", t));
  }
  return res;
  SN_R_END
  return Rcpp::List();
}

// A scan of a step traced after node `after` (passes/lift.h make_scan); returns its outputs.
// [[Rcpp::export]]
Rcpp::List cpp_sym_scan(Rcpp::List state_params, Rcpp::List slice_params, Rcpp::List step_outputs, double after,
                        Rcpp::List init, Rcpp::List sequences, double n_steps, bool reverse, std::string name) {
  SN_R_BEGIN
  std::vector<Value> outs =
      make_scan(values_from_r(state_params), values_from_r(slice_params), values_from_r(step_outputs),
                static_cast<uint64_t>(after), values_from_r(init), values_from_r(sequences),
                static_cast<int64_t>(n_steps), reverse, name);
  Rcpp::List res(outs.size());
  for (size_t i = 0; i < outs.size(); ++i) res[i] = wrap_value(outs[i]);
  return res;
  SN_R_END
  return Rcpp::List();
}

// The formal loop variables a traced while loop's condition and body are given.
// [[Rcpp::export]]
Rcpp::List cpp_loop_var_params(Rcpp::List init) {
  SN_R_BEGIN
  std::vector<Value> s = values_from_r(init);
  Rcpp::List res(s.size());
  for (size_t k = 0; k < s.size(); ++k) res[k] = wrap_value(body_input(s[k].node->name + "_var", s[k].type()));
  return res;
  SN_R_END
  return Rcpp::List();
}

// A while loop of a condition and a body traced on `var_params` (passes/lift.h
// make_while_loop); returns its outputs (the final loop variables).
// [[Rcpp::export]]
Rcpp::List cpp_sym_while_loop(Rcpp::List var_params, SEXP cond_output, double cond_after, Rcpp::List body_outputs,
                              double body_after, Rcpp::List init, double max_iterations, bool error_at_max,
                              std::string name) {
  SN_R_BEGIN
  std::vector<Value> outs = make_while_loop(values_from_r(var_params), value_from_r(cond_output),
                                            static_cast<uint64_t>(cond_after), values_from_r(body_outputs),
                                            static_cast<uint64_t>(body_after), values_from_r(init),
                                            static_cast<int64_t>(max_iterations), error_at_max, name);
  Rcpp::List res(outs.size());
  for (size_t i = 0; i < outs.size(); ++i) res[i] = wrap_value(outs[i]);
  return res;
  SN_R_END
  return Rcpp::List();
}
