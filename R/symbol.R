# Symbols: R handles on engine graph values.
#
# A symbol is a list(ptr, dtype, shape) of class "symnet_symbol": `ptr` is the
# engine value (an external pointer); `dtype` and `shape` are cached at
# creation (engine nodes are immutable).

new_symbol <- function(ptr) {
  info <- cpp_sym_info(ptr)
  structure(list(ptr = ptr, dtype = info$dtype, shape = .shape_int(info$shape)),
            class = "symnet_symbol")
}

# Engine shape -> R: NA for unknown sizes; NULL stays NULL (an input declared
# without a shape, and values computed from it: any rank, known when fed).
.shape_int <- function(s) {
  if (is.null(s)) return(NULL)
  s <- as.double(s)
  out <- rep(NA_integer_, length(s))
  out[!is.na(s)] <- as.integer(s[!is.na(s)])
  out
}

#' Test whether an object is a symbol
#'
#' @param x An object.
#' @return `TRUE` when `x` is a `symnet_symbol` (shared variables from
#'   [sym_shared()] are symbols too).
#' @examples
#' is_symbol(sym_var("x"))
#' is_symbol(1)
#' @export
is_symbol <- function(x) inherits(x, "symnet_symbol")

.ptr <- function(x) x$ptr

# Rank of a symbol; NA when it is known only when the graph is fed. Code that
# needs a rank uses this, never length(x$shape): the shape of an unknown rank
# is NULL, whose length 0 would read as a scalar.
.rank <- function(x) if (is.null(x$shape)) NA_integer_ else length(x$shape)

# Aborts when a symbol's rank is unknown, naming what to declare.
.need_rank <- function(x, what, call = parent.frame(), example = "c(NA, NA)") {
  if (!is.null(x$shape)) return(invisible(x))
  what <- cli::format_inline(what)
  nm <- .unknown_rank_inputs(x)
  ex <- sprintf('sym_var("%s", %s)', if (length(nm)) nm[1] else "x", example)
  who <- if (length(nm)) paste0("input ", paste0('"', nm, '"', collapse = ", ")) else "the input"
  sym_abort(c("{what} needs the rank of its input, which is known only when the graph is fed.",
              i = "{who} was declared without a shape; declare one, e.g. {.code {ex}}."),
            kind = "shape", call = call)
}

# `sym_var("x", <shape>)` naming the input `x` is computed from (the
# shapeless one first), for messages telling users which shape to declare.
.declare_example <- function(x, shape) {
  nm <- .unknown_rank_inputs(x)
  if (!length(nm)) {
    info <- cpp_sym_info(.ptr(x))
    nm <- if (identical(info$op, "input")) info$name else "x"
  }
  sprintf('sym_var("%s", %s)', nm[1], shape)
}

# Names of the inputs declared without a shape that `x` is computed from.
.unknown_rank_inputs <- function(x) {
  ins <- tryCatch(cpp_graph_inputs(list(.ptr(x))), error = function(e) list())
  nm <- character()
  for (p in ins) {
    i <- cpp_sym_info(p)
    if (is.null(i$shape)) nm <- c(nm, i$name)
  }
  unique(nm)
}

.check_symbol <- function(x, arg = "x", call = parent.frame()) {
  if (!is_symbol(x)) {
    sym_abort("{.arg {arg}} must be a symnet symbol, not {.obj_type_friendly {x}}.",
              call = call)
  }
  x
}

# Applies an engine op to symbols; returns one symbol, or a list when the op
# has several outputs (or `multi = TRUE`). The results carry the state updates
# their inputs carry (see sym_with_update()).
.op <- function(op, inputs, attrs = list(), name = NULL, multi = FALSE) {
  ptrs <- lapply(inputs, .ptr)
  if (!length(attrs)) attrs <- stats::setNames(list(), character())
  res <- cpp_sym_apply(op, ptrs, attrs, .node_name(name))
  outs <- lapply(res, new_symbol)
  ups <- .updates_of(inputs)
  if (length(ups)) outs <- lapply(outs, function(o) { o$updates <- ups; o })
  if (!multi && length(outs) == 1L) outs[[1L]] else outs
}

.node_name <- function(name, call = parent.frame(2)) {
  if (is.null(name)) return("")
  if (!is.character(name) || length(name) != 1 || is.na(name)) {
    sym_abort("{.arg name} must be a single string or {.code NULL}.", call = call)
  }
  name
}

#' Declare a graph input
#'
#' `sym_var()` creates a placeholder whose value is supplied each time a
#' compiled function runs ([sym_compile()]). The name is the argument name of
#' the compiled function.
#'
#' Shapes are batch-first and equal R's `dim()`: an input declared with
#' `shape = c(NA, 3)` accepts any R matrix with 3 columns. `NA` marks a
#' dimension known only at run time; every distinct set of run-time shapes is
#' compiled once and cached.
#'
#' Without a shape (`shape = NULL`, the default) the input takes **any shape**,
#' rank included, like MXNet's `Variable("data")` or TensorFlow's
#' `placeholder(shape = None)`: graph algebra on it is resolved when it is fed,
#' so one compiled function accepts a vector, a matrix or an array (a single
#' number without `dim` is fed as a scalar). Its `dim()` is `NULL` and it
#' prints as `float32[...]`. What needs a rank before the graph is fed raises
#' a classed error naming the shape to declare: [sym_grad()] through it, and
#' layers that create weights from the input's size ([layer_dense()] needs
#' the last dimension, convolutions and normalisation the channels).
#'
#' A **scalar** (rank 0) is declared with an empty shape, `shape = integer()`
#' (the `dim()` of a scalar symbol; note that `c()` is `NULL` in R, so it
#' means any shape); a plain R vector is rank 1 (`shape = NA` for any
#' length).
#'
#' @param name Name of the input (a single string, unique within a graph).
#' @param shape Integer vector of dimensions; `NA` for an unknown size;
#'   `integer()` for a scalar; `NULL` for any shape.
#' @param dtype Element type, one of [sym_dtypes()].
#' @return A `symnet_symbol`.
#' @seealso [sym_const()], [sym_shared()], [sym_compile()]
#' @examples
#' x <- sym_var("x", shape = c(NA, 3))
#' x
#' dim(x)
#' f <- sym_compile(sum(x * 2))
#' f(x = matrix(1:6, 2, 3))
#'
#' # any shape: one function for vectors and matrices
#' a <- sym_var("a")
#' a
#' g <- sym_compile(sym_sum(a * a, axis = -1))
#' g(a = 1:3)
#' g(a = matrix(1:6, 2))
#'
#' # a scalar
#' lr <- sym_var("lr", shape = integer())
#' dim(lr)
#' @export
sym_var <- function(name, shape = NULL, dtype = "float32") {
  name <- .check_string(name, "name")
  if (!nzchar(name)) sym_abort("{.arg name} must not be empty.")
  shape <- if (is.null(shape)) NULL else as.double(.check_shape(shape, "shape"))
  dtype <- .check_dtype(dtype)
  new_symbol(cpp_sym_input(name, dtype, shape))
}

.default_dtype <- function(value) {
  if (is.logical(value)) "bool" else if (is.integer(value)) "int32" else "float32"
}

.check_value <- function(value, arg = "value", call = parent.frame()) {
  if (is.factor(value)) {
    sym_abort("{.arg {arg}} is a factor; convert it with {.code as.integer()} first.", call = call)
  }
  if (!(is.numeric(value) || is.logical(value))) {
    sym_abort("{.arg {arg}} must be a numeric, integer or logical vector or array, not {.obj_type_friendly {value}}.",
              call = call)
  }
  value
}

#' Constants and coercion to symbols
#'
#' `sym_const()` embeds an R value in the graph. `as_symbol()` returns
#' symbols unchanged and turns R numbers, vectors and arrays into constants;
#' R operators on symbols do this for you (`2 * x`, `x + c(1, 2, 3)`), giving
#' the number the element type of the symbol it meets.
#'
#' An R array with `dim = c(2, 3)` becomes the engine tensor `[2, 3]` with
#' the same element at every index; a vector without `dim` is rank 1 and a
#' single number is a scalar (rank 0).
#'
#' @param value A numeric, integer or logical vector or array.
#' @param dtype Element type; `NULL` picks `"float32"` for doubles, `"int32"`
#'   for integers and `"bool"` for logicals.
#' @param name Optional node name (shown by `print()` and [sym_dot()]).
#' @param x An object to convert: a symbol, a shared variable, or an R value.
#' @return A `symnet_symbol`.
#' @examples
#' k <- sym_const(matrix(1:6, 2, 3))
#' k
#' as_symbol(2.5)
#' x <- sym_var("x", c(NA, 3))
#' y <- x + sym_const(c(10, 20, 30))
#' sym_compile(y)(x = matrix(0, 2, 3))
#' @export
sym_const <- function(value, dtype = NULL, name = NULL) {
  .check_value(value)
  dtype <- if (is.null(dtype)) .default_dtype(value) else .check_dtype(dtype)
  new_symbol(cpp_sym_const(.strip(value), dtype, .node_name(name, parent.frame())))
}

# Drops attributes other than dim (names, classes) before handing to C++.
.strip <- function(value) {
  # already bare (no attribute but dim): no copy -- a large feed would otherwise be
  # duplicated on every call
  a <- names(attributes(value))
  if ((is.null(a) || identical(a, "dim")) && typeof(value) %in% c("double", "integer", "logical")) return(value)
  d <- dim(value)
  if (is.logical(value)) v <- as.logical(value)
  else if (is.integer(value)) v <- as.integer(value)
  else v <- as.double(value)
  if (!is.null(d)) dim(v) <- d
  v
}

#' @rdname sym_const
#' @export
as_symbol <- function(x, dtype = NULL) {
  if (is_symbol(x)) {
    if (!is.null(dtype)) {
      dtype <- .check_dtype(dtype)
      if (dtype != x$dtype) x <- sym_cast(x, dtype)
    }
    return(x)
  }
  sym_const(x, dtype = dtype)
}

# R value -> constant for an operand meeting a symbol of dtype `dt`.
.const_for <- function(value, dt, call = parent.frame()) {
  .check_value(value, "operand", call = call)
  sym_const(value, dtype = dt)
}

#' Dimensions of a symbol
#'
#' `dim()` of a symbol is its engine shape, batch-first, with `NA` for sizes
#' known only at run time; a scalar has `dim() == integer(0)`. A symbol whose
#' rank is known only at run time (computed from an input declared without a
#' shape, see [sym_var()]) has `dim() == NULL`.
#'
#' @param x A `symnet_symbol`.
#' @return An integer vector, or `NULL` for an unknown rank.
#' @examples
#' dim(sym_var("x", c(NA, 28, 28)))
#' dim(sym_var("s", integer()))
#' dim(sym_var("any"))
#' @export
dim.symnet_symbol <- function(x) x$shape

#' Inspect a symbol
#'
#' `sym_info()` returns what the engine knows about a symbol: the op that
#' makes it, its node name, element type, shape and attributes.
#' `sym_inputs()` returns the symbols it is computed from.
#'
#' @param x A `symnet_symbol`.
#' @return `sym_info()`: a list with elements `op`, `name`, `dtype`, `shape`
#'   (`NULL` for a rank known only when fed),
#'   `index` (output index of its node), `id`, `n_inputs`, `n_outputs` and
#'   `attrs` (attribute values as strings). `sym_inputs()`: a list of
#'   symbols.
#' @examples
#' x <- sym_var("x", c(2, 3))
#' y <- sym_sum(exp(x), axis = 2)
#' str(sym_info(y))
#' sym_inputs(y)
#' @export
sym_info <- function(x) {
  .check_symbol(x)
  info <- cpp_sym_info(.ptr(x))
  info["shape"] <- list(.shape_int(info$shape))  # NULL (unknown rank) kept as an element
  info
}

#' @rdname sym_info
#' @export
sym_inputs <- function(x) {
  .check_symbol(x)
  lapply(cpp_sym_inputs(.ptr(x)), new_symbol)
}

.format_shape <- function(s) {
  if (is.null(s)) return("[...]")
  if (!length(s)) return("[]")
  paste0("[", paste(ifelse(is.na(s), "?", s), collapse = ", "), "]")
}

.format_type <- function(dtype, shape) paste0(dtype, .format_shape(shape))

#' Print and format symbols
#'
#' A symbol prints as its node name, the op that computes it from which
#' inputs, and its type, e.g. `<symbol add_7 = add(x, mul_6) float32[?, 3]>`.
#'
#' @param x A `symnet_symbol`.
#' @param ... Unused.
#' @return `format()` returns a string; `print()` returns `x` invisibly.
#' @examples
#' x <- sym_var("x", c(NA, 3))
#' print(sym_relu(x) + 1)
#' format(x)
#' @export
format.symnet_symbol <- function(x, ...) {
  info <- cpp_sym_info(.ptr(x))
  type <- .format_type(x$dtype, x$shape)
  nm <- info$name
  if (info$n_outputs > 1) nm <- paste0(nm, ":", info$index + 1)
  if (info$op %in% c("input", "constant", "variable")) {
    kind <- switch(info$op, input = "input", constant = "constant", variable = "shared")
    return(sprintf("<symbol %s (%s) %s>", nm, kind, type))
  }
  ins <- vapply(cpp_sym_inputs(.ptr(x)), function(p) {
    i <- cpp_sym_info(p)
    if (i$n_outputs > 1) paste0(i$name, ":", i$index + 1) else i$name
  }, character(1))
  sprintf("<symbol %s = %s(%s) %s>", nm, .op_display(info), paste(ins, collapse = ", "), type)
}

#' @rdname format.symnet_symbol
#' @export
print.symnet_symbol <- function(x, ...) {
  cat(format(x, ...), "\n", sep = "")
  invisible(x)
}

#' @export
as.character.symnet_symbol <- function(x, ...) format(x, ...)

#' @export
str.symnet_symbol <- function(object, ...) {
  cat(" ", format(object), "\n", sep = "")
  invisible()
}

#' List the engine's ops
#'
#' @return A sorted character vector of the op names registered in the
#'   engine, usable with [sym_apply()].
#' @examples
#' head(sym_ops())
#' length(sym_ops())
#' @export
sym_ops <- function() sort(cpp_op_names())

#' Apply any engine op
#'
#' `sym_apply()` is the escape hatch behind every `sym_*()` op: it applies a
#' registered engine op (see [sym_ops()]) to symbols with attributes given
#' as they are stored in the engine. Unlike the R-level wrappers, it does no
#' conversion: axes are **0-based** and attribute names are the engine's.
#'
#' Attribute values: a length-1 integer is an int, a length-1 double a float,
#' a string a string; longer vectors are lists of ints, floats or strings.
#' Wrap a length-1 vector in [I()] to pass it as a one-element list (`axes =
#' I(0L)`). Logical values become ints 0/1. `NULL` values are dropped.
#'
#' @param op Engine op name.
#' @param ... Input symbols (R values are converted with [as_symbol()],
#'   taking the element type of the first symbol input).
#' @param attrs Named list of attributes.
#' @param name Optional node name.
#' @return A symbol, or a list of symbols for ops with several outputs.
#' @examples
#' x <- sym_var("x", c(2, 3))
#' s <- sym_apply("reduce_sum", x, attrs = list(axes = I(1L), keepdims = FALSE))
#' dim(s)
#' @export
sym_apply <- function(op, ..., attrs = list(), name = NULL) {
  op <- .check_string(op, "op")
  inputs <- .as_inputs(list(...))
  if (!is.list(attrs) || (length(attrs) && (is.null(names(attrs)) || any(!nzchar(names(attrs)))))) {
    sym_abort("{.arg attrs} must be a named list.")
  }
  .op(op, inputs, attrs, name)
}

# Converts a list of operands: R values take the dtype of the first symbol.
.as_inputs <- function(inputs, call = parent.frame()) {
  syms <- Filter(is_symbol, inputs)
  dt <- if (length(syms)) syms[[1]]$dtype else NULL
  lapply(inputs, function(v) if (is_symbol(v)) v else .const_for(v, dt %||% .default_dtype(v), call = call))
}
