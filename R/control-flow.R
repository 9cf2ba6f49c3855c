#' Choose between two computations
#'
#' `sym_cond(pred, true_fn, false_fn)` computes `true_fn()` when `pred` is true
#' and `false_fn()` otherwise, deciding when the compiled function runs: only
#' the taken branch is computed, and gradients flow through the branch that
#' ran (like keras3's `op_cond()` or Theano's `ifelse`).
#'
#' Each function is called once, without arguments, to record its branch; it
#' may use any symbol and parameter in scope, and every symbol it builds
#' becomes part of its branch. Both branches must return the same number of
#' results, of the same element types and shapes.
#'
#' @param pred A symbol holding one value (bool, or a number compared with 0).
#'   An R `TRUE` or `FALSE` chooses the branch now: the other function is not
#'   called.
#' @param true_fn,false_fn Functions of no arguments returning a symbol (or an
#'   R value) or a list of them.
#' @param name Optional node name.
#' @return What `true_fn` returns, as symbols: one symbol, or a list with its
#'   names.
#' @examples
#' x <- sym_var("x", 3)
#' big <- sym_var("big", integer(), dtype = "bool")
#' y <- sym_cond(big, function() x * 100, function() -x)
#' f <- sym_compile(list(y = y, dy = sym_grad(sym_sum(y), x)))
#' f(x = 1:3, big = TRUE)
#' f(x = 1:3, big = FALSE)
#' @export
sym_cond <- function(pred, true_fn, false_fn, name = NULL) {
  if (!is_symbol(pred) &&
      (!(is.logical(pred) || is.numeric(pred)) || length(pred) != 1L || is.na(pred))) {
    sym_abort("{.arg pred} must be a symbol or a single TRUE/FALSE, not {.obj_type_friendly {pred}}.")
  }
  .check_branch_fn(true_fn, "true_fn")
  .check_branch_fn(false_fn, "false_fn")
  if (!is_symbol(pred)) {
    return(.branch_result(if (isTRUE(as.logical(pred))) true_fn() else false_fn(), "true_fn"))
  }
  node_name <- .node_name(name)
  then_after <- cpp_last_node_id()
  then_out <- .branch_result(true_fn(), "true_fn")
  else_after <- cpp_last_node_id()
  else_out <- .branch_result(false_fn(), "false_fn")
  single <- is_symbol(then_out)
  then_l <- if (single) list(then_out) else then_out
  else_l <- if (is_symbol(else_out)) list(else_out) else else_out
  if (length(then_l) != length(else_l)) {
    sym_abort("{.arg true_fn} returns {length(then_l)} result{?s} but {.arg false_fn} {length(else_l)}.")
  }
  if (length(.updates_of(c(then_l, else_l))) || .makes_state(then_l, then_after) ||
      .makes_state(else_l, else_after)) {
    sym_abort(c("Layers that update state while training (batch normalization) cannot be used in a branch yet.",
                i = "Apply them outside {.fn sym_cond} and choose between their results."),
              kind = "unsupported")
  }
  ptrs <- function(l) lapply(unname(l), .ptr)
  outs <- lapply(cpp_sym_cond(.ptr(pred), ptrs(then_l), then_after, ptrs(else_l), else_after, node_name),
                 new_symbol)
  if (single) return(outs[[1L]])
  stats::setNames(outs, names(then_l))
}

.check_branch_fn <- function(fn, what, call = parent.frame()) {
  if (missing(fn) || !is.function(fn)) {
    sym_abort("{.arg {what}} must be a function of no arguments.", call = call)
  }
  f <- formals(fn)
  required <- names(f)[vapply(f, function(d) identical(d, quote(expr = )), logical(1)) & names(f) != "..."]
  if (length(required)) {
    sym_abort("{.arg {what}} must be a function of no arguments; it requires {.arg {required}}.", call = call)
  }
}

# Whether a branch made (after node `after`) a node whose state fit() updates: its update
# would be a value inside the branch, which the training step cannot apply.
.makes_state <- function(outs, after) {
  nodes <- .graph_walk(lapply(unname(outs), .ptr))
  any(vapply(nodes, function(r) r$op == "batch_norm" && as.numeric(r$id) > after, logical(1)))
}

# A branch function's result as a symbol or a list of symbols (R values become constants).
.branch_result <- function(res, what, call = parent.frame()) {
  if (is_symbol(res)) return(res)
  if (is.list(res) && length(res)) {
    return(lapply(res, function(r) {
      if (is_symbol(r)) return(r)
      .check_branch_value(r, what, call)
      as_symbol(r)
    }))
  }
  .check_branch_value(res, what, call)
  as_symbol(res)
}

.check_branch_value <- function(r, what, call) {
  if (!(is.numeric(r) || is.logical(r)) || !length(r)) {
    sym_abort("{.arg {what}} must return symbols or numbers, not {.obj_type_friendly {r}}.", call = call)
  }
}
