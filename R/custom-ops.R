# Custom operations from R: composed ones (an R function of symbols traced into a call
# node, optionally with a gradient of its own) and opaque ones (R code run inside a
# compiled graph through the engine's host_callback op; src/r_custom_op.cpp).

# ---- composed: sym_function() and sym_custom_gradient() ------------------------------------

#' Turn an R function of symbols into an operation
#'
#' `sym_function(fn)` returns a function that, called on symbols, computes
#' `fn` as one node of the graph: a *call* of a body recorded from `fn`,
#' shown under its own name by [sym_dot()], `summary()` of a model and
#' `print()` of its results, saved with models and compiled like the ops it
#' is made of (the engine splices the body in when compiling, so it fuses
#' and optimizes as if written inline). Gradients flow through it.
#'
#' `fn` is called once per distinct set of argument types (dtype and shape),
#' with one placeholder symbol per argument, to record the body; the recorded
#' body is reused for later calls with the same types. It may use any symbol
#' or parameter in scope: values computed outside become extra arguments of
#' the call, parameters stay trainable (parameters it creates are created
#' once per recording and shared by the calls that reuse it).
#'
#' @param fn A function of symbols returning a symbol (or an R value) or a
#'   list of them.
#' @param name The operation's name (shown in graphs and summaries); by
#'   default the name `fn` was passed as.
#' @return A function of class `symnet_op_function`: call it with symbols
#'   (or R values, which become constants) to get its result(s).
#' @seealso [sym_custom_gradient()] to give it a gradient of its own,
#'   [sym_custom_op()] for an operation written in plain R.
#' @examples
#' swish <- sym_function(function(x) x * sym_sigmoid(x))
#' x <- sym_var("x", 4)
#' y <- swish(x)
#' y
#' f <- sym_compile(list(y = y, dy = sym_grad(sym_sum(y), x)))
#' f(x = c(-2, -0.5, 0.5, 2))
#' @export
sym_function <- function(fn, name = NULL) {
  label <- .op_label(name, substitute(fn), "name")
  .check_step_fn(fn, "fn")
  .make_op_function(fn, NULL, label)
}

#' An operation with a gradient of its own
#'
#' `sym_custom_gradient(fn, grad_fn)` is [sym_function()] whose gradient is
#' computed by `grad_fn` instead of by differentiating `fn`: for
#' straight-through estimators (a rounding or sampling step whose gradient is
#' passed through unchanged), gradient clipping or scaling at one point of a
#' graph, and numerically stable hand-derived gradients. Like `fn`,
#' `grad_fn` is recorded once, as symbols; the gradient it builds is made of
#' ordinary ops, so it compiles, fuses, saves, and can itself be
#' differentiated (a second derivative differentiates `grad_fn`).
#'
#' `grad_fn` is called with `fn`'s arguments, then `y` (what `fn` returned:
#' a symbol, or a list of them) and `dy` (the gradient of the final result
#' with respect to `y`, shaped like `y`). It returns the gradient with
#' respect to each argument (a symbol, or a list with one element per
#' argument; `NULL` for none), each of its argument's type.
#'
#' Values `fn` uses besides its arguments get no gradient through it, and a
#' parameter ([sym_param()], [sym_shared()]) used by `fn` must be passed as
#' an argument: `grad_fn` decides its gradient.
#'
#' @param fn A function of symbols (see [sym_function()]).
#' @param grad_fn A function `(args..., y, dy)` returning one gradient per
#'   argument of `fn`.
#' @inheritParams sym_function
#' @return A function of class `symnet_op_function`.
#' @seealso [sym_function()], [sym_stop_gradient()].
#' @examples
#' # Straight-through rounding: round forward, pass the gradient through
#' ste_round <- sym_custom_gradient(function(x) sym_round(x),
#'                                  function(x, y, dy) dy)
#' x <- sym_var("x", 3)
#' y <- ste_round(x)
#' f <- sym_compile(list(y = y, dy = sym_grad(sym_sum(y * 2), x)))
#' f(x = c(0.2, 1.6, -2.7))
#'
#' # Clip the gradient flowing back through a point of the graph
#' clip_grad <- sym_custom_gradient(function(x) x,
#'                                  function(x, y, dy) sym_clip(dy, -1, 1))
#' @export
sym_custom_gradient <- function(fn, grad_fn, name = NULL) {
  label <- .op_label(name, substitute(fn), "name")
  .check_step_fn(fn, "fn")
  .check_step_fn(grad_fn, "grad_fn")
  .make_op_function(fn, grad_fn, label)
}

# The name shown for an operation: `name`, else the expression `fn` was passed as when it
# is a plain name, else "function".
.op_label <- function(name, expr, what, call = parent.frame()) {
  if (!is.null(name)) {
    if (!is.character(name) || length(name) != 1L || is.na(name) || !nzchar(name)) {
      sym_abort("{.arg {what}} must be a single non-empty string.", call = call)
    }
    return(name)
  }
  if (is.name(expr)) as.character(expr) else "function"
}

.make_op_function <- function(fn, grad_fn, label) {
  traces <- new.env(parent = emptyenv())  # signature -> recorded body
  op <- function(..., name = NULL) {
    args <- .symbols_arg(list(...), "...")
    if (!length(args)) sym_abort("{.val {label}} needs at least one argument.")
    node_name <- .node_name(name) %|e|% .op_node_name(label)
    key <- paste(vapply(args, function(a) .format_type(a$dtype, a$shape), character(1)), collapse = ";")
    tr <- traces[[key]] %||% (traces[[key]] <- .trace_op(fn, grad_fn, args, label))
    ptrs <- function(l) lapply(unname(l), function(s) if (is.null(s)) NULL else .ptr(s))
    res <- if (is.null(grad_fn)) {
      cpp_sym_function_call(ptrs(tr$params), ptrs(tr$outputs), tr$after, ptrs(args), label, node_name)
    } else {
      cpp_sym_custom_gradient_call(ptrs(tr$params), ptrs(tr$outputs), tr$after, ptrs(tr$grad_params),
                                   ptrs(tr$out_params), ptrs(tr$cot_params), ptrs(tr$grads), tr$grad_after,
                                   ptrs(args), label, node_name)
    }
    outs <- lapply(res, new_symbol)
    # State updates (batch norm statistics) computed before the op travel on, as through any op.
    ups <- .updates_of(args)
    if (length(ups)) outs <- lapply(outs, function(o) { o$updates <- ups; o })
    if (tr$single) return(outs[[1L]])
    stats::setNames(outs, tr$names)
  }
  structure(op, class = c("symnet_op_function", "function"), op_name = label,
            custom_gradient = !is.null(grad_fn))
}

# A node name for an operation's node when none is given: its name and a number no other
# node has, so summaries show it and random ops inside (named after the node) stay distinct.
.op_node_name <- function(label) {
  paste0(gsub("[^A-Za-z0-9_.]", "_", label), "_", format(cpp_last_node_id() + 1, scientific = FALSE))
}
`%|e|%` <- function(a, b) if (nzchar(a)) a else b

#' @export
print.symnet_op_function <- function(x, ...) {
  cat(sprintf("<symnet operation %s%s>\n", attr(x, "op_name"),
              if (isTRUE(attr(x, "custom_gradient"))) " (custom gradient)" else ""))
  invisible(x)
}

# Records fn (and grad_fn) on placeholders of the arguments' types.
.trace_op <- function(fn, grad_fn, args, label, call = parent.frame()) {
  arg_names <- names(formals(fn))
  arg_names <- arg_names[arg_names != "..."]
  pnames <- vapply(seq_along(args), function(i) if (i <= length(arg_names)) arg_names[[i]] else paste0("arg", i),
                   character(1))
  .check_arity(fn, "fn", length(args), "{length(args)} argument{?s}", call = call)
  after <- cpp_last_node_id()
  params <- lapply(cpp_function_params(lapply(unname(args), .ptr), pnames), new_symbol)
  raw <- .trace_call(fn, params, "fn", label, call)
  single <- is_symbol(raw$value)
  outputs <- raw$list
  .refuse_state_layers(outputs, after, label, call = call)
  tr <- list(params = params, outputs = outputs, after = after, single = single, names = names(outputs))
  if (is.null(grad_fn)) return(tr)
  .check_arity(grad_fn, "grad_fn", length(args) + 2L, "{length(args)} argument{?s}, {.arg y} and {.arg dy}",
               call = call)
  grad_after <- cpp_last_node_id()
  gp <- lapply(cpp_function_params(lapply(unname(args), .ptr), pnames), new_symbol)
  out_p <- lapply(cpp_function_params(lapply(unname(outputs), .ptr), rep("y", length(outputs))), new_symbol)
  cot_p <- lapply(cpp_function_params(lapply(unname(outputs), .ptr), rep("dy", length(outputs))), new_symbol)
  y <- if (single) out_p[[1L]] else stats::setNames(out_p, names(outputs))
  dy <- if (single) cot_p[[1L]] else stats::setNames(cot_p, names(outputs))
  g <- .trace_grad(grad_fn, c(gp, list(y, dy)), length(args), label, call)
  .refuse_state_layers(Filter(Negate(is.null), g), grad_after, label, call = call)
  c(tr, list(grad_params = gp, out_params = out_p, cot_params = cot_p, grads = g, grad_after = grad_after))
}

# Calls a recording function; errors say which operation was being recorded and on what.
.trace_call <- function(fn, args, what, label, call) {
  shapes <- vapply(args, function(a) if (is_symbol(a)) .format_type(a$dtype, a$shape) else "list", character(1))
  res <- withCallingHandlers(
    do.call(fn, unname(args)),
    symnet_error = function(e) {
      sym_abort("Recording {.val {label}} failed ({.arg {what}} was called with {.val {shapes}}).",
                kind = e$kind %||% "value", parent = e, call = call)
    })
  out <- .branch_result(res, what, call)
  list(value = out, list = if (is_symbol(out)) list(out) else out)
}

# The gradients grad_fn returns: a list with one symbol (or NULL) per argument.
.trace_grad <- function(grad_fn, args, n, label, call) {
  res <- withCallingHandlers(
    do.call(grad_fn, unname(args)),
    symnet_error = function(e) {
      sym_abort("Recording the gradient of {.val {label}} failed.", kind = e$kind %||% "value", parent = e,
                call = call)
    })
  if (is_symbol(res) || (n == 1L && !is.list(res))) res <- list(res)
  if (!is.list(res) || length(res) != n) {
    sym_abort("{.arg grad_fn} must return one gradient per argument ({n}), not {.obj_type_friendly {res}}.",
              call = call)
  }
  lapply(unname(res), function(g) {
    if (is.null(g) || is_symbol(g)) return(g)
    .check_branch_value(g, "grad_fn", call)
    as_symbol(g)
  })
}

# ---- opaque: sym_custom_op() ----------------------------------------------------------------

# The R-coded ops of this session, by name: list(name, forward, backward, infer). The
# engine's host_callback nodes name them; the dispatcher below finds them here.
.custom_ops <- new.env(parent = emptyenv())
# The R condition of the last failed callback, the parent of the engine error it becomes.
.custom_op_state <- new.env(parent = emptyenv())

#' An operation written in R
#'
#' `sym_custom_op(name, forward)` makes an operation whose computation is
#' plain R code, run inside a compiled function: anything R can compute
#' (a sorting-based loss, a call into another package), at the cost of
#' leaving the engine's fast paths. `forward` receives the inputs as R arrays
#' and returns the outputs as R arrays; `backward`, when given, returns the
#' gradients, so the op can sit inside a model trained with `fit()`.
#'
#' The op always runs on the CPU, on R's main thread (in a function compiled
#' for another device its inputs and outputs are copied there and back).
#' An error or an interrupt inside `forward` or `backward` becomes a classed
#' error (`symnet_custom_op_error`, with the op's name in `$custom_op` and
#' the R error as parent), and the compiled function stays usable.
#'
#' Each result must have the type the op declares: with `infer = NULL` the
#' (single) output has the type of the first input; otherwise
#' `infer(shapes, dtypes)` is called with the inputs' shapes (integer
#' vectors, `NA` for sizes known only when the graph runs) and dtypes and
#' returns `list(shape = , dtype = )`, or a list of those for several
#' outputs. Values returned with another shape, of a type the dtype cannot
#' hold, or not numeric at all are a classed error naming the op.
#'
#' Models and graphs hold the op by name: R functions are not written into
#' [save_model()] files. Saving such a model says so; in a new session, call
#' `sym_custom_op()` with the same name and functions again before
#' compiling or running the loaded model (loading reminds you when the op is
#' missing). The function `sym_custom_op()` returns holds the R functions: read
#' back with `readRDS()` in another session, its first call registers the op
#' again. Calling `sym_custom_op()` again with a name already registered
#' replaces its functions, also in functions compiled before.
#'
#' @param name The op's name: a string without `/`.
#' @param forward A function of the inputs (R arrays, one argument each)
#'   returning the output (an R array) or a list of outputs.
#' @param backward `NULL` (no gradient: [sym_grad()] through the op is an
#'   error) or a function `(inputs, outputs, grads)` of three lists of R
#'   arrays (the op's inputs, its outputs and the gradient with respect to
#'   each output) returning the gradient with respect to each input (an
#'   array for a single input, or a list; `NULL` for zero).
#' @param infer `NULL` or a function `(shapes, dtypes)` giving the outputs'
#'   types (see Details).
#' @return A function of class `symnet_custom_op`: call it with symbols to
#'   add the op to a graph (one symbol, or a list for several outputs).
#' @seealso [sym_function()] for an operation composed of symnet ops, which
#'   keeps the engine's speed and its automatic gradient.
#' @examples
#' # A rank transform: the rank of each element of a vector, as floats.
#' rank_op <- sym_custom_op("rank_op", forward = function(x) as.double(rank(x)),
#'                          backward = function(inputs, outputs, grads) 0 * inputs[[1]])
#' x <- sym_var("x", 5)
#' f <- sym_compile(rank_op(x) * 10)
#' f(x = c(0.3, -1, 2, 0.5, 0))
#' @export
sym_custom_op <- function(name, forward, backward = NULL, infer = NULL) {
  name <- .check_string(name, "name")
  if (!nzchar(name) || grepl("/", name, fixed = TRUE)) {
    sym_abort("{.arg name} must be a non-empty string without {.val /}.")
  }
  if (missing(forward) || !is.function(forward)) sym_abort("{.arg forward} must be a function of R arrays.")
  if (!is.null(backward) && !is.function(backward)) {
    sym_abort("{.arg backward} must be {.code NULL} or a function {.code (inputs, outputs, grads)}.")
  }
  if (!is.null(infer) && !is.function(infer)) {
    sym_abort("{.arg infer} must be {.code NULL} or a function {.code (shapes, dtypes)}.")
  }
  .register_custom_op(name, forward, backward, infer)
  op_name <- name
  op <- function(..., name = NULL) {
    # The op function holds its R functions: read back (readRDS()) into a session that does
    # not know the op, it registers it again.
    if (!exists(op_name, envir = .custom_ops, inherits = FALSE)) {
      .register_custom_op(op_name, forward, backward, infer)
    }
    inputs <- .symbols_arg(list(...), "...")
    .custom_op_node(op_name, inputs, .node_name(name) %|e|% .op_node_name(op_name))
  }
  structure(op, class = c("symnet_custom_op", "function"), op_name = op_name)
}

.register_custom_op <- function(name, forward, backward, infer) {
  assign(name, list(name = name, forward = forward, backward = backward, infer = infer), envir = .custom_ops)
  cpp_register_custom_op(name, !is.null(infer), !is.null(backward))
}

#' @export
print.symnet_custom_op <- function(x, ...) {
  name <- attr(x, "op_name")
  entry <- .custom_ops[[name]]
  cat(sprintf("<symnet custom op %s (R code%s)>\n", name,
              if (!is.null(entry) && !is.null(entry$backward)) ", with backward" else ", no backward"))
  invisible(x)
}

.custom_op_node <- function(name, inputs, node_name, call = parent.frame()) {
  entry <- .custom_ops[[name]]
  attrs <- list(callback = name, grad_callback = if (!is.null(entry$backward)) paste0(name, "/backward"))
  if (is.null(entry$infer)) {
    if (!length(inputs)) {
      sym_abort("{.val {name}} has no inputs, so it needs {.arg infer} to declare its outputs.", call = call)
    }
    attrs$output_like <- I(0L)
  } else {
    # The declared types are saved with the graph, so that a model using the op loads
    # before the op is registered again (the registered infer decides when compiling).
    types <- .custom_op_infer(entry, lapply(inputs, function(s) s$shape), vapply(inputs, function(s) s$dtype, ""))
    attrs$output_dtypes <- I(types$dtypes)
    attrs$output_ranks <- I(vapply(types$shapes, length, integer(1)))
    dims <- unlist(lapply(types$shapes, function(s) ifelse(is.na(s), -1L, as.integer(s))))
    attrs$output_shapes <- if (length(dims)) I(as.integer(dims))
  }
  .op("host_callback", inputs, attrs, node_name)
}

# The outputs' types from the user's infer function, checked: list(dtypes, shapes).
.custom_op_infer <- function(entry, shapes, dtypes) {
  res <- entry$infer(shapes, dtypes)
  outs <- if (is.list(res) && !is.null(res$dtype) && !is.list(res$dtype)) list(res) else res
  bad <- function(why) {
    sym_abort(c("{.arg infer} of custom op {.val {entry$name}} must return {.code list(shape = , dtype = )} or a list of them.",
                x = why), kind = "value", call = NULL)
  }
  if (!is.list(outs) || !length(outs)) bad("It returned {.obj_type_friendly {res}}.")
  dts <- character()
  shs <- list()
  for (o in outs) {
    if (!is.list(o) || !is.character(o$dtype) || length(o$dtype) != 1L || !o$dtype %in% .custom_op_dtypes) {
      bad("Each output needs a dtype among {.val {(.custom_op_dtypes)}}.")
    }
    s <- o$shape %||% integer()
    if (!is.numeric(s) && !all(is.na(s))) bad("A shape must be a vector of sizes ({.code NA} for unknown).")
    s <- as.double(s)
    if (any(!is.na(s) & (s < 0 | s != round(s)))) bad("Sizes must be non-negative whole numbers or {.code NA}.")
    dts <- c(dts, o$dtype)
    shs <- c(shs, list(s))
  }
  list(dtypes = dts, shapes = shs)
}

.custom_op_dtypes <- c("float32", "float64", "int32", "int64", "uint8", "bool")

# Called by the engine (src/r_custom_op.cpp) inside R_ToplevelExec for every run of a
# custom op's forward or backward ("<name>/backward") and for inference. Never signals:
# returns list(TRUE, value, "", replay) or list(FALSE, kind, message, replay); keeps the R
# condition of a failure for the error the engine raises (.raise_engine_error()), and the
# warnings and messages for .custom_op_replay() (`replay` says there are some).
.custom_op_dispatch <- function(op, phase, inputs, shapes, dtypes) {
  .custom_op_state$last_error <- NULL
  .custom_op_state$pending <- list()
  keep <- function(cond) {
    .custom_op_state$pending <- c(.custom_op_state$pending, list(cond))
    restart <- if (inherits(cond, "warning")) "muffleWarning" else "muffleMessage"
    if (!is.null(findRestart(restart))) invokeRestart(restart)
  }
  res <- withCallingHandlers(.custom_op_call(op, phase, inputs, shapes, dtypes),
                             warning = keep, message = keep)
  c(res, list(length(.custom_op_state$pending) > 0L))
}

# Signals the warnings and messages the last dispatch kept, where the caller's handlers see
# them (called by the engine glue after the op ran).
.custom_op_replay <- function() {
  pending <- .custom_op_state$pending
  .custom_op_state$pending <- list()
  for (cond in pending) {
    if (inherits(cond, "warning")) warning(cond) else message(cond)
  }
  invisible()
}

.custom_op_call <- function(op, phase, inputs, shapes, dtypes) {
  backward <- endsWith(op, "/backward")
  name <- if (backward) substr(op, 1L, nchar(op) - nchar("/backward")) else op
  fail <- function(kind, message, cond = NULL) {
    .custom_op_state$last_error <- cond
    list(FALSE, kind, message)
  }
  tryCatch({
    entry <- .custom_ops[[name]]
    if (is.null(entry)) {
      return(fail("unsupported", sprintf("the custom op '%s' is not registered in this session", name)))
    }
    if (phase == "infer") {
      types <- .custom_op_infer(entry, lapply(shapes, function(s) if (is.null(s)) NULL else as.integer(s)), dtypes)
      return(list(TRUE, list(types$dtypes, types$shapes), ""))
    }
    res <- if (backward) {
      n_in <- length(shapes)
      n_out <- (length(inputs) - n_in) %/% 2L
      entry$backward(inputs[seq_len(n_in)], inputs[n_in + seq_len(n_out)], inputs[n_in + n_out + seq_len(n_out)])
    } else {
      do.call(entry$forward, unname(inputs))
    }
    what <- if (backward) "backward" else "forward"
    if (!is.list(res) || is.data.frame(res)) res <- list(res)
    if (length(res) != length(shapes)) {
      return(fail("value", sprintf("%s of custom op '%s' returned %d value%s but the op has %d %s", what, name,
                                   length(res), if (length(res) == 1L) "" else "s", length(shapes),
                                   if (backward) "inputs (one gradient each)" else "outputs")))
    }
    out <- vector("list", length(shapes))
    for (k in seq_along(shapes)) {
      x <- res[[k]]
      if (is.null(x) && backward) {
        s <- as.integer(shapes[[k]])
        x <- if (length(s) >= 2L) array(0, dim = s) else rep(0, prod(s))
      }
      err <- .custom_op_check_output(x, shapes[[k]], dtypes[[k]])
      if (!is.null(err)) {
        return(fail(err$kind, sprintf("%s of custom op '%s': %s %d %s", what, name,
                                      if (backward) "the gradient for input" else "output", k, err$message)))
      }
      out[[k]] <- .custom_op_row_major(x, dtypes[[k]])
    }
    list(TRUE, out, "")
  }, error = function(e) {
    fail(if (inherits(e, "symnet_error")) e$kind %||% "value" else "value",
         sprintf("%s of custom op '%s' failed: %s", if (backward) "backward" else "forward", name,
                 conditionMessage(e)), e)
  }, interrupt = function(e) {
    fail("interrupt", sprintf("%s of custom op '%s' was interrupted", if (backward) "backward" else "forward",
                              name), e)
  })
}

# Why `x` cannot be an output of shape `shape` and dtype `dtype`, or NULL when it can.
.custom_op_check_output <- function(x, shape, dtype) {
  if (!(is.numeric(x) || is.logical(x)) || is.object(x) && !is.array(x)) {
    return(list(kind = "dtype", message = sprintf("must be a numeric or logical array, not %s", class(x)[1])))
  }
  given <- if (is.null(dim(x))) length(x) else dim(x)
  want <- as.integer(shape)
  ok <- if (length(want) <= 1L) length(x) == prod(want) else identical(as.integer(given), want)
  if (!ok) {
    return(list(kind = "shape", message = sprintf("has shape [%s] but the op declares [%s]",
                                                  paste(given, collapse = ", "), paste(want, collapse = ", "))))
  }
  v <- as.vector(x)
  if (dtype %in% c("int32", "int64", "uint8")) {
    lim <- switch(dtype, int32 = c(-.Machine$integer.max, .Machine$integer.max), uint8 = c(0, 255), c(-2^53, 2^53))
    if (anyNA(v) || any(v != round(v)) || any(v < lim[1] | v > lim[2])) {
      return(list(kind = "value", message = sprintf("holds values that dtype %s cannot hold", dtype)))
    }
  } else if (dtype == "bool" && (anyNA(v) || !all(v %in% c(0, 1)))) {
    return(list(kind = "value", message = "holds values other than TRUE/FALSE"))
  }
  NULL
}

# An output as the engine stores it: row-major (R is column-major), double for floats and
# int64, integer for int32/uint8, logical for bool.
.custom_op_row_major <- function(x, dtype) {
  if (!is.null(dim(x)) && length(dim(x)) >= 2L) x <- aperm(x, rev(seq_along(dim(x))))
  v <- as.vector(x)
  switch(dtype, int32 = , uint8 = as.integer(v), bool = as.logical(v), as.double(v))
}

# The custom op an engine error comes from ("<name>" or "<name>/backward"), or NULL.
.custom_op_of <- function(op) {
  if (!length(op) || !nzchar(op)) return(NULL)
  name <- sub("/backward$", "", op)
  if (exists(name, envir = .custom_ops, inherits = FALSE)) name else NULL
}

# The names of the custom ops (R-coded) a graph uses.
.custom_ops_in <- function(ptrs) {
  nodes <- .graph_walk(ptrs)
  ops <- character()
  for (r in nodes) {
    if (r$op != "host_callback") next
    cb <- cpp_sym_info(r$ptr)$attrs$callback
    if (!is.null(cb)) ops <- c(ops, sub("/backward$", "", jsonlite::parse_json(cb)))
  }
  unique(ops)
}

# The name an op shows in summaries and printed symbols: a traced function's or a custom
# op's own name, else the engine op.
.op_display <- function(info) {
  a <- info$attrs
  nm <- if (identical(info$op, "call")) a[["function"]] else if (identical(info$op, "host_callback")) a$callback
  if (is.null(nm)) return(info$op)
  nm <- tryCatch(jsonlite::parse_json(nm), error = function(e) NULL)
  if (is.character(nm) && length(nm) == 1L) nm else info$op
}

# Says (when saving) which R-coded ops a model uses: their R code is not in the file.
.note_custom_ops_saved <- function(ptrs) {
  ops <- .custom_ops_in(ptrs)
  if (!length(ops)) return(invisible())
  cli::cli_inform(c("i" = "The model uses the R-coded op{?s} {.val {ops}} (from {.fn sym_custom_op}); the R functions are not saved with it.",
                    " " = "Before using the loaded model in another session, call {.code sym_custom_op()} again for {.val {ops}}, with the same functions."),
                  class = "symnet_custom_op_message")
}

# Warns (when loading) about R-coded ops the loaded graph uses that this session lacks.
.check_custom_ops_loaded <- function(ptrs) {
  ops <- .custom_ops_in(ptrs)
  missing <- ops[!vapply(ops, function(o) exists(o, envir = .custom_ops, inherits = FALSE), logical(1))]
  if (!length(missing)) return(invisible())
  cli::cli_warn(c("The loaded model uses the R-coded op{?s} {.val {missing}}, not registered in this session.",
                  i = "Register each with {.code sym_custom_op(\"{missing[1]}\", forward = ..., backward = ...)} (the same functions as when the model was saved) before compiling or predicting."),
                class = "symnet_custom_op_warning")
}
