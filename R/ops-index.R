# Indexing ops: gather, gather_elements, scatter_elements, one_hot.
# Positions are 1-based (R) unless index_base = 0.

# Index operand -> integer symbol holding the positions as given; the op itself is told the
# base (attribute index_base), so range errors name the values the user wrote.
.index_symbol <- function(indices, arg = "indices", call = parent.frame()) {
  if (is_symbol(indices)) {
    if (!.is_int_dtype(indices$dtype)) {
      sym_abort("{.arg {arg}} must be an integer symbol (int32, int64 or uint8), not {indices$dtype}.",
                kind = "dtype", call = call)
    }
    if (indices$dtype == "uint8") indices <- sym_cast(indices, "int32")
    return(indices)
  }
  if (!is.numeric(indices) || anyNA(indices) || !.is_whole(indices)) {
    sym_abort("{.arg {arg}} must contain whole numbers without NA.", call = call)
  }
  if (any(abs(indices) > 2^53)) sym_abort("{.arg {arg}} has positions beyond 2^53.", call = call)
  d <- dim(indices)
  v <- round(as.double(indices))
  if (!is.null(d)) dim(v) <- d
  sym_const(v, dtype = "int64")
}

# The base that positions in `indices` count from: `index_base` when given, else the base the
# indices carry (labels that fit() feeds are 0-based, see sym_index_base()), else 1 (R).
# A given base that contradicts the carried one is an error, never a silent shift.
.resolve_index_base <- function(index_base, indices, arg = "indices", call = parent.frame()) {
  carried <- if (is_symbol(indices)) indices$index_base else NULL
  if (is.null(index_base)) return(carried %||% 1L)
  base <- .check_index_base(index_base, call = call)
  if (!is.null(carried) && carried != base) {
    sym_abort(c("{.arg {arg}} count from {carried} but {.code index_base = {base}} was given.",
                i = "The symbol carries its base (see {.fn sym_index_base}); drop {.arg index_base} to use it."),
              call = call)
  }
  base
}

#' Declare where integer positions count from
#'
#' `sym_index_base(x, base)` marks an integer symbol as holding positions
#' or class labels that count from `base` (0 or 1). Indexing ops
#' ([sym_gather()], [sym_one_hot()], [sym_softmax_cross_entropy()], ...)
#' called without `index_base` then use that base, and one called with a
#' different `index_base` is an error. The class labels that [fit()] hands
#' to custom losses and metrics carry base 0 this way, so
#' `sym_one_hot(y_true, 10)` in a custom loss is right without remembering
#' `index_base = 0`. `sym_index_base(x)` returns the base `x` carries
#' (`NULL` for none).
#'
#' Out-of-range positions are never wrapped or clamped: they raise a
#' `symnet_index_error` at run time naming the value and the valid range.
#'
#' @param x An integer symbol.
#' @param base 0 or 1.
#' @return `sym_index_base(x, base)`: `x` carrying `base`.
#'   `sym_index_base(x)`: 0, 1 or `NULL`.
#' @examples
#' y <- sym_index_base(sym_var("y", NA, dtype = "int32"), 0)
#' f <- sym_compile(sym_one_hot(y, 3))
#' f(y = c(0L, 2L))
#' try(f(y = 3L))  # labels 0..2 only
#' @export
sym_index_base <- function(x, base) {
  x <- .check_symbol(x)
  if (missing(base)) return(x$index_base)
  if (!.is_int_dtype(x$dtype)) {
    sym_abort("{.arg x} must be an integer symbol (int32, int64 or uint8), not {x$dtype}.", kind = "dtype")
  }
  x$index_base <- .check_index_base(base)
  x
}

#' Gather and scatter by position
#'
#' `sym_gather(x, indices, axis)` picks slices of `x` along `axis` at the
#' given positions: the result has the shape of `x` with axis `axis`
#' replaced by the shape of `indices` (a vector of positions picks rows,
#' like `x[indices, ]`; an embedding lookup is `sym_gather(table, ids)`).
#'
#' `sym_gather_elements(x, indices, axis)` picks one element per position:
#' `indices` has the rank of `x`, and the result has its shape, with
#' `out[i, j] = x[indices[i, j], j]` for `axis = 1`.
#' `sym_scatter_elements(x, indices, updates, axis)` is the inverse: a copy
#' of `x` where `out[indices[i, j], j] = updates[i, j]` (for `axis = 1`),
#' or with `reduction = "add"`/`"mul"` combined with the old value.
#'
#' Positions are 1-based (R style); give `index_base = 0` for 0-based data
#' (or mark the symbol with [sym_index_base()]). Positions may be R
#' vectors/arrays (constants) or integer symbols. A position outside the
#' axis -- 0 or a negative number included -- is a `symnet_index_error`
#' when the function runs, naming the value and the valid range; nothing
#' wraps around.
#'
#' @param x A symbol.
#' @param indices Positions: an R integer vector/array or an integer symbol.
#' @param updates Values to write (same shape as `indices`).
#' @param axis The axis (1-based, negative from the end).
#' @param reduction How `sym_scatter_elements()` combines: `"none"`
#'   (replace), `"add"` or `"mul"`.
#' @param index_base 1 or 0; `NULL` (default) for the base `indices`
#'   carries ([sym_index_base()]), else 1.
#' @param name Optional node name.
#' @return A symbol.
#' @examples
#' x <- sym_var("x", c(3, 2))
#' f <- sym_compile(list(rows = sym_gather(x, c(3, 1)),
#'                       picked = sym_gather_elements(x, matrix(c(1, 3), 1), axis = 1)))
#' f(x = matrix(1:6, 3, 2))
#' s <- sym_scatter_elements(sym_zeros(c(2, 3)), matrix(c(3, 1), 2), matrix(c(5, 7), 2),
#'                           axis = 2)
#' sym_compile(s)()
#' @export
sym_gather <- function(x, indices, axis = 1, index_base = NULL, name = NULL) {
  if (missing(indices)) .missing_abort("indices", environment())
  x <- as_symbol(x)
  base <- .resolve_index_base(index_base, indices)
  ax <- .axis0(axis, .rank(x))
  .op("gather", list(x, .index_symbol(indices)), list(axis = ax, index_base = base), name)
}

#' @rdname sym_gather
#' @export
sym_gather_elements <- function(x, indices, axis = 1, index_base = NULL, name = NULL) {
  if (missing(indices)) .missing_abort("indices", environment())
  x <- as_symbol(x)
  base <- .resolve_index_base(index_base, indices)
  ax <- .axis0(axis, .rank(x))
  .op("gather_elements", list(x, .index_symbol(indices)), list(axis = ax, index_base = base), name)
}

#' @rdname sym_gather
#' @export
sym_scatter_elements <- function(x, indices, updates, axis = 1,
                                 reduction = c("none", "add", "mul"),
                                 index_base = NULL, name = NULL) {
  if (missing(indices)) .missing_abort("indices", environment())
  if (missing(updates)) .missing_abort("updates", environment())
  x <- as_symbol(x)
  base <- .resolve_index_base(index_base, indices)
  ax <- .axis0(axis, .rank(x))
  reduction <- .match_arg(reduction, c("none", "add", "mul"), "reduction")
  upd <- if (is_symbol(updates)) updates else .const_for(updates, x$dtype)
  .op("scatter_elements", list(x, .index_symbol(indices), upd),
      list(axis = ax, reduction = reduction, index_base = base), name)
}

#' One-hot encoding
#'
#' `sym_one_hot(labels, depth)` turns class labels into indicator vectors
#' along a new axis (the last by default): label `k` becomes a vector of
#' `depth` values that is `on_value` at position `k` and `off_value`
#' elsewhere. Labels are 1-based (`1..depth`, as `as.integer()` of a factor
#' gives) unless `index_base = 0` (`0..depth-1`, as many datasets store
#' them, or as [sym_index_base()] declares); a label out of range is a
#' `symnet_index_error` when the function runs.
#'
#' @param labels An integer symbol or R vector/array of labels.
#' @param depth Number of classes.
#' @param axis Position of the new axis in the result (default last).
#' @param on_value,off_value Values for the label's position and the rest.
#' @param dtype Element type of the result.
#' @param index_base 1 or 0; `NULL` (default) for the base `labels`
#'   carries ([sym_index_base()]), else 1.
#' @param name Optional node name.
#' @return A symbol with one more axis than `labels`.
#' @examples
#' y <- sym_var("y", NA, dtype = "int32")
#' sym_compile(sym_one_hot(y, 3))(y = c(1L, 3L, 2L))
#' @export
sym_one_hot <- function(labels, depth, axis = -1, on_value = 1, off_value = 0,
                        dtype = "float32", index_base = NULL, name = NULL) {
  if (missing(labels)) .missing_abort("labels", environment())
  if (missing(depth)) .missing_abort("depth", environment())
  base <- .resolve_index_base(index_base, labels, "labels")
  idx <- .index_symbol(labels, "labels")
  depth <- .check_int(depth, "depth", min = 1)
  ax <- .axis0(axis, .rank(idx) + 1L)
  .op("one_hot", list(idx),
      list(depth = depth, axis = ax,
           on_value = .check_number(on_value, "on_value"),
           off_value = .check_number(off_value, "off_value"),
           dtype = .check_dtype(dtype), index_base = base), name)
}
