# Symbols computed from nothing (or from another symbol's shape): fill,
# zeros/ones, eye, range, and the *_like variants.

#' Filled tensors
#'
#' `sym_fill(shape, value)` is a tensor of a fixed shape with every element
#' `value`; `sym_zeros()` and `sym_ones()` fill with 0 and 1.
#' `sym_fill_like(x, value)`, `sym_zeros_like(x)` and `sym_ones_like(x)`
#' take shape and type from the symbol `x`, so they also work when `x` has
#' sizes known only at run time. `sym_eye(n, m, k)` is the `n x m` matrix
#' with ones on diagonal `k` (0 the main diagonal, positive above).
#'
#' @param shape Whole numbers >= 0 (all known).
#' @param value The fill value.
#' @param dtype Element type.
#' @param x A symbol whose shape and type to copy.
#' @param n,m Rows and columns.
#' @param k Diagonal offset.
#' @param name Optional node name.
#' @return A symbol.
#' @examples
#' x <- sym_var("x", c(NA, 2))
#' f <- sym_compile(list(z = sym_zeros(c(2, 2)), e = sym_eye(2, 3, k = 1),
#'                       o = sym_ones_like(x) * 5))
#' f(x = matrix(0, 3, 2))
#' @export
sym_fill <- function(shape, value, dtype = "float32", name = NULL) {
  s <- .check_shape(shape, "shape", allow_unknown = FALSE)
  .op("fill", list(), list(shape = .ints_attr(s), value = .check_number(value, "value"),
                           dtype = .check_dtype(dtype)), name)
}

#' @rdname sym_fill
#' @export
sym_zeros <- function(shape, dtype = "float32", name = NULL) sym_fill(shape, 0, dtype, name)

#' @rdname sym_fill
#' @export
sym_ones <- function(shape, dtype = "float32", name = NULL) sym_fill(shape, 1, dtype, name)

#' @rdname sym_fill
#' @export
sym_fill_like <- function(x, value, name = NULL) {
  x <- .check_symbol(x)
  .op("fill_like", list(x), list(value = .check_number(value, "value")), name)
}

#' @rdname sym_fill
#' @export
sym_zeros_like <- function(x, name = NULL) sym_fill_like(x, 0, name)

#' @rdname sym_fill
#' @export
sym_ones_like <- function(x, name = NULL) sym_fill_like(x, 1, name)

#' @rdname sym_fill
#' @export
sym_eye <- function(n, m = n, k = 0, dtype = "float32", name = NULL) {
  .op("eye", list(), list(n = .check_int(n, "n", min = 0), m = .check_int(m, "m", min = 0),
                          k = .check_int(k, "k"), dtype = .check_dtype(dtype)), name)
}

#' Regular sequences
#'
#' `sym_range(from, to, by)` is the rank-1 sequence `from, from + by, ...`
#' up to and including `to` when it is hit, as R's [seq()] (not Python's
#' exclusive `range`). The default type is int32 when all three are whole
#' numbers, float32 otherwise.
#'
#' @param from,to First value and bound.
#' @param by Step (non-zero, with the sign of `to - from`).
#' @param dtype Element type (`NULL`: see above).
#' @param name Optional node name.
#' @return A rank-1 symbol.
#' @examples
#' sym_compile(sym_range(1, 10, by = 3))()
#' sym_compile(sym_range(0, 1, by = 0.25))()
#' @export
sym_range <- function(from, to, by = 1, dtype = NULL, name = NULL) {
  from <- .check_number(from, "from", finite = TRUE)
  to <- .check_number(to, "to", finite = TRUE)
  by <- .check_number(by, "by", finite = TRUE)
  if (by == 0) sym_abort("{.arg by} must not be 0.")
  if ((to - from) * by < 0) sym_abort("{.arg by} has the wrong sign to go from {from} to {to}.")
  if (is.null(dtype)) {
    dtype <- if (.is_whole(c(from, to, by)) && max(abs(c(from, to))) <= .large_int) "int32" else "float32"
  }
  dtype <- .check_dtype(dtype)
  n <- floor((to - from) / by + 1e-10) + 1
  if (n > .large_int) {
    sym_abort("The range from {from} to {to} by {by} has {format(n, big.mark = ',')} elements; at most {format(.large_int, big.mark = ',')} are possible.")
  }
  if (dtype == "int32" && max(abs(c(from, to))) > .large_int) {
    sym_abort("The range from {from} to {to} does not fit dtype {.val {dtype}}.")
  }
  limit <- if (.is_int_dtype(dtype)) from + n * by else from + (n - 0.5) * by
  .op("range", list(), list(start = from, limit = limit, delta = by, dtype = dtype), name)
}
