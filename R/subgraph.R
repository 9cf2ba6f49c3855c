# Subgraphs (internal): a call node runs a body -- a graph from parameter symbols to result
# symbols -- on arguments. The engine inlines it when compiling; passes, the model walk
# and gradients look inside it. The building block of control flow and imported functions.

# The outputs (a list of symbols) of a call of the body `params` -> `outputs` on `args`
# (one symbol per parameter). Values the outputs use besides the parameters are passed in
# as extra arguments; shared variables and constants stay inside the body.
.sym_call <- function(params, outputs, args, name = "") {
  if (inherits(params, "symnet_symbol")) params <- list(params)
  if (inherits(outputs, "symnet_symbol")) outputs <- list(outputs)
  if (inherits(args, "symnet_symbol")) args <- list(args)
  if (length(args) != length(params)) {
    sym_abort("A call needs one argument per parameter ({length(params)}), not {length(args)}.")
  }
  ptrs <- function(l) lapply(unname(l), .ptr)
  lapply(cpp_sym_call(ptrs(params), ptrs(outputs), ptrs(args), name), new_symbol)
}
