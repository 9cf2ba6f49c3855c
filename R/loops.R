#' Loop over sequences, carrying state
#'
#' `sym_scan()` applies `fn` once per step along the first axis of
#' `sequences`, carrying state from step to step, and stacks what each step
#' returns -- Theano's `scan` and keras3's `op_scan()`. The loop compiles into
#' the graph: it runs in C++ with the step's memory planned once and reused,
#' and gradients flow through it (a reverse loop over the steps).
#'
#' `fn` is called once, when `sym_scan()` runs, to record one step. Its
#' arguments are, in order: one slice of each sequence (the sequence without its
#' first axis), the current value of each state, then `non_sequences`. It
#' returns the new states first (same element types and shapes as `init`),
#' then any per-step outputs, as a list (or one symbol when there is a single
#' result). A step may use any symbol or parameter in scope: values computed
#' outside are passed into the loop, parameters stay trainable, and random ops
#' (dropout) inside the step draw new numbers at every step.
#'
#' @param fn A function of symbols recording one step (see Details).
#' @param sequences A symbol (or R array) or a list of them, looped over along
#'   their first axis; all must have the same length. May be empty when
#'   `n_steps` is given.
#' @param init The initial state: a symbol (or R value) or a list of them; may
#'   be empty.
#' @param non_sequences Extra values passed unchanged to every step (a list);
#'   captured symbols work too, this is for Theano-style code.
#' @param n_steps Number of steps: required without sequences, otherwise it
#'   must equal their length.
#' @param reverse If `TRUE`, steps run from the last position to the first; the
#'   stacked outputs stay in position order (output `t` comes from the step
#'   that read position `t`).
#' @param name Optional node name.
#' @return A list: `state`, the final states (one symbol when `init` is a single
#'   value, otherwise a list with `init`'s names), and `outputs`, a list of the
#'   per-step outputs, each stacked along a new first axis of length `n_steps`.
#' @seealso [sym_fori_loop()], [sym_while_loop()], [sym_cond()].
#' @examples
#' # A cumulative sum and a running maximum over the rows of a matrix
#' x <- sym_var("x", c(5, 2))
#' res <- sym_scan(function(x_t, total) {
#'   total <- total + x_t
#'   list(total, total)
#' }, sequences = x, init = sym_zeros(2))
#' f <- sym_compile(list(final = res$state, path = res$outputs[[1]],
#'                       grad = sym_grad(sym_sum(res$outputs[[1]]), x)))
#' f(x = matrix(1:10, 5, 2))
#' @export
sym_scan <- function(fn, sequences = list(), init = list(), non_sequences = list(),
                     n_steps = NULL, reverse = FALSE, name = NULL) {
  .check_step_fn(fn, "fn")
  single_state <- is_symbol(init) || (!is.null(init) && !is.list(init))
  seq_l <- .symbols_arg(sequences, "sequences")
  init_l <- .symbols_arg(init, "init")
  non_seq <- .symbols_arg(non_sequences, "non_sequences")
  if (!is.logical(reverse) || length(reverse) != 1L || is.na(reverse)) {
    sym_abort("{.arg reverse} must be TRUE or FALSE.")
  }
  steps <- -1
  if (!is.null(n_steps)) {
    steps <- .count_arg(n_steps, "n_steps")
  } else if (!length(seq_l)) {
    sym_abort("A scan without {.arg sequences} needs {.arg n_steps}.")
  }
  node_name <- .node_name(name)
  after <- cpp_last_node_id()
  params <- cpp_scan_params(lapply(unname(init_l), .ptr), lapply(unname(seq_l), .ptr))
  state_p <- params[seq_along(init_l)]
  slice_p <- params[length(init_l) + seq_along(seq_l)]
  args <- c(lapply(slice_p, new_symbol), lapply(state_p, new_symbol), unname(non_seq))
  .check_arity(fn, "fn", length(args),
               "{length(seq_l)} sequence slice{?s}, {length(init_l)} state{?s} and {length(non_seq)} non-sequence{?s}")
  out <- .trace_step(fn, args, "fn", if (nzchar(node_name)) node_name else "sym_scan")
  if (length(out) < length(init_l)) {
    sym_abort("{.arg fn} returns {length(out)} value{?s} but the scan carries {length(init_l)} state{?s}: return the new states first.")
  }
  .refuse_state_layers(out, after, "sym_scan")
  res <- lapply(cpp_sym_scan(state_p, slice_p, lapply(unname(out), .ptr), after,
                             lapply(unname(init_l), .ptr), lapply(unname(seq_l), .ptr),
                             steps, reverse, node_name),
                new_symbol)
  states <- stats::setNames(res[seq_along(init_l)], names(init_l))
  outputs <- res[-seq_along(init_l)]
  if (length(init_l)) names(outputs) <- names(out)[-seq_along(init_l)] else names(outputs) <- names(out)
  list(state = if (single_state) states[[1L]] else states, outputs = outputs)
}

#' Loop a fixed number of times
#'
#' `sym_fori_loop(lower, upper, body_fn, init)` computes
#' `for (i in lower:upper) state <- body_fn(i, state)` inside the graph (keras3's
#' `op_fori_loop()`, with R's inclusive bounds): `i` is an integer scalar
#' symbol. With R numbers as bounds the trip count is fixed when the graph is
#' built and the loop is a [sym_scan()]; with a symbol as either bound it is
#' decided when the graph runs, by a [sym_while_loop()] (give `max_iterations`
#' to differentiate it). `upper < lower` runs no step.
#'
#' @param lower,upper Whole numbers: the first and last value of `i`.
#' @param body_fn A function `(i, state)` (or `(i, state1, state2, ...)` when
#'   `init` is a list) returning the new state(s).
#' @param init The initial state: a symbol (or R value) or a list of them.
#' @param max_iterations With symbolic bounds: `NULL` or the bound on the trip
#'   count that makes the loop differentiable ([sym_while_loop()]).
#' @param name Optional node name.
#' @return The final state, shaped like `init`.
#' @seealso [sym_scan()], [sym_while_loop()].
#' @examples
#' # Power iteration: the dominant eigenvector of a matrix
#' a <- sym_var("a", c(3, 3))
#' v <- sym_fori_loop(1, 50, function(i, v) {
#'   w <- sym_matmul(a, v)
#'   w / sqrt(sym_sum(w * w))
#' }, init = matrix(1, 3, 1))
#' f <- sym_compile(v)
#' f(a = diag(c(1, 5, 2)))
#' @export
sym_fori_loop <- function(lower, upper, body_fn, init, max_iterations = NULL, name = NULL) {
  .check_step_fn(body_fn, "body_fn")
  if (missing(init) || is.null(init) || (is.list(init) && !is_symbol(init) && !length(init))) {
    sym_abort("{.arg init} is required: the loop's state (a symbol, an R value or a list of them).")
  }
  n_states <- if (is_symbol(init) || !is.list(init)) 1L else length(init)
  .check_arity(body_fn, "body_fn", 1L + n_states, "the index and {n_states} state{?s}")
  if (is_symbol(lower) || is_symbol(upper)) {
    return(.fori_while(lower, upper, body_fn, init, max_iterations, name))
  }
  lo <- .whole_arg(lower, "lower")
  hi <- .whole_arg(upper, "upper")
  n <- max(0, hi - lo + 1)
  # an array, not a plain vector: one step must stay a 1-element sequence, not a scalar
  idx <- sym_const(array(if (n > 0) seq(lo, hi) else integer(), dim = n), dtype = "int32")
  res <- sym_scan(function(i, ...) body_fn(i, ...), sequences = idx, init = init, n_steps = n, name = name)
  res$state
}

#' Loop while a condition holds
#'
#' `sym_while_loop(cond_fn, body_fn, loop_vars)` computes
#' `while (cond_fn(vars)) vars <- body_fn(vars)` inside the graph, deciding the
#' number of iterations when the compiled function runs (keras3's
#' `op_while_loop()`, TensorFlow's `while_loop`).
#'
#' Both functions are called once, with one symbol per loop variable, to
#' record the condition (a single bool, or a number compared with 0) and the
#' body (the new values of all loop variables, of the same element types and
#' shapes). They may use other symbols and parameters in scope.
#'
#' Gradients flow through the loop when `max_iterations` is set: the loop
#' keeps the values of every iteration (at most `max_iterations` of them) and
#' the gradient walks them backwards (TensorFlow's approach).
#'
#' @param cond_fn A function of the loop variables returning a scalar symbol.
#' @param body_fn A function of the loop variables returning their new values
#'   (a list, or one symbol for one variable).
#' @param loop_vars The initial values: a symbol (or R value) or a list of them.
#' @param max_iterations `NULL` (no bound; no gradient) or a whole number: the
#'   loop stops after that many iterations even if the condition still holds
#'   (see `on_max`).
#' @param on_max What reaching `max_iterations` with the condition still true
#'   does: `"stop"` (return the values so far, keras's behaviour) or `"error"`
#'   (a `symnet_value_error` when the compiled function runs).
#' @param name Optional node name.
#' @return The final loop variables, shaped like `loop_vars`.
#' @seealso [sym_fori_loop()], [sym_scan()], [sym_cond()].
#' @examples
#' # Halve a value until it drops below 1, counting the steps
#' x <- sym_var("x", integer())
#' res <- sym_while_loop(function(v, n) v >= 1, function(v, n) list(v / 2, n + 1),
#'                       list(x, 0), max_iterations = 100)
#' f <- sym_compile(list(v = res[[1]], n = res[[2]], dv = sym_grad(res[[1]], x)))
#' f(x = 37)
#' @export
sym_while_loop <- function(cond_fn, body_fn, loop_vars, max_iterations = NULL, on_max = c("stop", "error"),
                           name = NULL) {
  .check_step_fn(cond_fn, "cond_fn")
  .check_step_fn(body_fn, "body_fn")
  if (missing(loop_vars) || is.null(loop_vars) ||
      (is.list(loop_vars) && !is_symbol(loop_vars) && !length(loop_vars))) {
    sym_abort("{.arg loop_vars} must hold at least one value.")
  }
  single <- is_symbol(loop_vars) || !is.list(loop_vars)
  vars <- .symbols_arg(loop_vars, "loop_vars")
  max_it <- if (is.null(max_iterations)) -1 else .count_arg(max_iterations, "max_iterations")
  on_max <- .match_arg(on_max, c("stop", "error"), "on_max")
  node_name <- .node_name(name)
  loop <- if (nzchar(node_name)) node_name else "sym_while_loop"
  n <- length(vars)
  .check_arity(cond_fn, "cond_fn", n, "{n} loop variable{?s}")
  .check_arity(body_fn, "body_fn", n, "{n} loop variable{?s}")
  params <- cpp_loop_var_params(lapply(unname(vars), .ptr))
  args <- lapply(params, new_symbol)
  cond_after <- cpp_last_node_id()
  pred <- .trace_step(cond_fn, args, "cond_fn", loop)
  if (length(pred) != 1L) sym_abort("{.arg cond_fn} must return one value, not {length(pred)}.")
  body_after <- cpp_last_node_id()
  out <- .trace_step(body_fn, args, "body_fn", loop)
  if (length(out) != n) {
    sym_abort("{.arg body_fn} returns {length(out)} value{?s} but the loop has {n} variable{?s}.")
  }
  .refuse_state_layers(c(pred, out), cond_after, "sym_while_loop")
  res <- lapply(cpp_sym_while_loop(params, .ptr(pred[[1]]), cond_after, lapply(unname(out), .ptr), body_after,
                                   lapply(unname(vars), .ptr), max_it, on_max == "error", node_name),
                new_symbol)
  if (single) return(res[[1L]])
  stats::setNames(res, names(vars))
}

# sym_fori_loop() with bounds known only when the graph runs: a while loop over (i, state).
.fori_while <- function(lower, upper, body_fn, init, max_iterations, name) {
  lo <- sym_cast(as_symbol(lower), "int32")
  hi <- sym_cast(as_symbol(upper), "int32")
  if (length(lo$shape) || length(hi$shape)) {
    sym_abort("{.arg lower} and {.arg upper} must be scalars.", kind = "shape", call = parent.frame())
  }
  single <- is_symbol(init) || !is.list(init)
  states <- .symbols_arg(init, "init")
  res <- sym_while_loop(function(i, ...) i <= hi,
                        function(i, ...) {
                          new <- body_fn(i, ...)
                          c(list(i + 1L), if (is_symbol(new) || !is.list(new)) list(new) else unname(new))
                        },
                        c(list(lo), unname(states)), max_iterations = max_iterations, name = name)
  out <- stats::setNames(res[-1], names(states))
  if (single) out[[1L]] else out
}

.check_step_fn <- function(fn, what, call = parent.frame()) {
  if (missing(fn) || !is.function(fn)) {
    sym_abort("{.arg {what}} must be a function of symbols.", call = call)
  }
}

# A step function must accept `n` positional arguments; `what_args` says which (cli text,
# interpolated in the caller's frame).
.check_arity <- function(fn, what, n, what_args, call = parent.frame()) {
  f <- formals(fn)
  if ("..." %in% names(f)) return(invisible())
  required <- sum(vapply(f, function(d) identical(d, quote(expr = )), logical(1)))
  if (n > length(f) || n < required) {
    receives <- cli::format_inline(what_args, .envir = parent.frame())
    sym_abort(c("{.arg {what}} takes {length(f)} argument{?s} ({required} required) but is called with {n}.",
                i = "It receives {receives}."),
              call = call)
  }
}

# A loop argument as a (possibly named) list of symbols; R values become constants.
.symbols_arg <- function(x, what, call = parent.frame()) {
  if (is.null(x)) return(list())
  l <- if (is_symbol(x) || !is.list(x)) list(x) else x
  lapply(l, function(v) {
    if (is_symbol(v)) return(v)
    if (!(is.numeric(v) || is.logical(v)) || !length(v)) {
      sym_abort("{.arg {what}} must hold symbols or numbers, not {.obj_type_friendly {v}}.", call = call)
    }
    as_symbol(v)
  })
}

.count_arg <- function(n, what, call = parent.frame()) {
  if (!is.numeric(n) || length(n) != 1L || is.na(n) || n < 0 || n != round(n) || n > .Machine$integer.max) {
    sym_abort("{.arg {what}} must be a single non-negative whole number.", call = call)
  }
  as.numeric(n)
}

.whole_arg <- function(n, what, call = parent.frame()) {
  if (!is.numeric(n) || length(n) != 1L || is.na(n) || n != round(n) || abs(n) > .Machine$integer.max) {
    sym_abort("{.arg {what}} must be a single whole number or a symbol.", call = call)
  }
  as.numeric(n)
}

# Runs a step function on its parameter symbols and returns its results as a list of
# symbols. Errors raised while it runs say which loop's step they come from and what the
# step was given.
.trace_step <- function(fn, args, what, loop, call = parent.frame()) {
  shapes <- vapply(args, function(a) .format_type(a$dtype, a$shape), character(1))
  res <- withCallingHandlers(
    do.call(fn, args),
    symnet_error = function(e) {
      sym_abort("Recording the step of {.val {loop}} failed ({.arg {what}} was called with {.val {shapes}}).",
                kind = e$kind %||% "value", parent = e, call = call)
    })
  res <- .branch_result(res, what, call)
  if (is_symbol(res)) list(res) else res
}

.refuse_state_layers <- function(outs, after, loop, call = parent.frame()) {
  if (length(.updates_of(outs)) || .makes_state(outs, after)) {
    sym_abort(c("Layers that update state while training (batch normalization) cannot be used inside {.fn {loop}} yet.",
                i = "Apply them outside the loop."),
              kind = "unsupported", call = call)
  }
}
