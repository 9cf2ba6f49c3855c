# Shared variables: values that live in the engine between calls.

.symnet_state <- new.env(parent = emptyenv())
.symnet_state$shared_counter <- 0L

#' Shared variables
#'
#' `sym_shared(value)` creates a variable whose value lives in the engine
#' between calls of compiled functions (Theano's shared variables): model
#' parameters, optimiser state, running statistics. Use it in graphs like
#' any symbol; read it with `sym_value(v)` and replace it with
#' `sym_value(v) <- array` (same shape). Compiled functions update shared
#' variables in place with `sym_compile(..., updates = )`, so a training
#' loop copies no weights between R and the engine.
#'
#' Shared variables survive `saveRDS()`/`readRDS()` and travel to parallel
#' workers with their value at the moment they are saved; symbols and
#' compiled functions that use them come back using the same restored
#' variable when saved together (in one list, model or environment).
#'
#' @param value Initial value: an R vector or array (`dim()` is the shape; a
#'   single number is a scalar).
#' @param name Name (shown when printing and in [sym_dot()]; used to match
#'   `updates` in [sym_compile()]). Defaults to `"shared<N>"`.
#' @param dtype Element type; `NULL` picks float32 for doubles, int32 for
#'   integers and bool for logicals.
#' @param trainable Whether training code (layers, optimisers) should treat
#'   the variable as a parameter to learn; `FALSE` for state such as
#'   counters or running statistics. [sym_grad()] works either way.
#' @param v A shared variable.
#' @return `sym_shared()`: a `symnet_shared` object, which is also a
#'   symbol. `sym_value()`: an R array (a plain vector for rank 0 and 1).
#' @seealso [sym_compile()] for `updates`.
#' @examples
#' w <- sym_shared(matrix(0, 2, 2), name = "w")
#' w
#' sym_value(w) <- diag(2)
#' sym_value(w)
#'
#' # a counter that increments on every call
#' n <- sym_shared(0, name = "n")
#' step <- sym_compile(n, updates = list(n = n + 1))
#' step(); step()
#' sym_value(n)
#' @export
sym_shared <- function(value, name = NULL, dtype = NULL, trainable = TRUE) {
  .check_value(value)
  if (is.null(name)) {
    .symnet_state$shared_counter <- .symnet_state$shared_counter + 1L
    name <- paste0("shared", .symnet_state$shared_counter)
  }
  name <- .check_string(name, "name")
  if (!nzchar(name)) sym_abort("{.arg name} must not be empty.")
  dtype <- if (is.null(dtype)) .default_dtype(value) else .check_dtype(dtype)
  trainable <- .check_flag(trainable, "trainable")
  vptr <- cpp_shared_new(name, .strip(value), dtype, trainable)
  .new_shared(vptr)
}

# Wraps an engine variable (pointer) as a symnet_shared symbol.
.new_shared <- function(vptr) {
  node <- cpp_shared_symbol(vptr)
  info <- cpp_shared_info(vptr)
  structure(list(ptr = node, dtype = info$dtype, shape = .shape_int(info$shape), var = vptr,
                 var_id = format(info$id, scientific = FALSE), name = info$name,
                 trainable = isTRUE(info$trainable)),
            class = c("symnet_shared", "symnet_symbol"))
}

#' @rdname sym_shared
#' @export
is_shared <- function(v) inherits(v, "symnet_shared")

.check_shared <- function(v, arg = "v", call = parent.frame()) {
  if (!is_shared(v)) {
    sym_abort("{.arg {arg}} must be a shared variable from {.fn sym_shared}, not {.obj_type_friendly {v}}.",
              call = call)
  }
  v
}

#' @rdname sym_shared
#' @export
sym_value <- function(v) {
  .check_shared(v)
  cpp_shared_get(v$var)
}

#' @rdname sym_shared
#' @export
`sym_value<-` <- function(v, value) {
  .check_shared(v)
  .check_value(value)
  cpp_shared_set(v$var, .strip(value))
  v
}

#' @export
format.symnet_shared <- function(x, ...) {
  sprintf("<shared %s %s%s>", x$name, .format_type(x$dtype, x$shape),
          if (isFALSE(x$trainable)) " (not trainable)" else "")
}

#' @export
print.symnet_shared <- function(x, ...) {
  cat(format(x), "\n", sep = "")
  val <- tryCatch(sym_value(x), error = function(e) NULL)
  if (!is.null(val)) {
    v <- as.vector(val)
    n <- length(v)
    shown <- format(utils::head(v, 8), digits = 4)
    cat("  values: ", paste(shown, collapse = " "), if (n > 8) sprintf(" ... (%d in all)", n), "\n",
        sep = "")
  }
  invisible(x)
}
