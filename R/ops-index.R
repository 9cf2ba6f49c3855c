# Indexing ops: gather, gather_elements, scatter_elements, one_hot.
# Positions are 1-based (R) unless index_base = 0.

# Index operand -> 0-based integer symbol.
.index_symbol <- function(indices, base, arg = "indices", call = parent.frame()) {
  if (is_symbol(indices)) {
    if (!.is_int_dtype(indices$dtype)) {
      sym_abort("{.arg {arg}} must be an integer symbol (int32, int64 or uint8), not {indices$dtype}.",
                kind = "dtype", call = call)
    }
    if (indices$dtype == "uint8") indices <- sym_cast(indices, "int32")
    if (base == 0L) return(indices)
    return(sym_sub(indices, sym_const(1L, dtype = indices$dtype)))
  }
  if (!is.numeric(indices) || anyNA(indices) || !.is_whole(indices)) {
    sym_abort("{.arg {arg}} must contain whole numbers without NA.", call = call)
  }
  v <- indices - base
  d <- dim(indices)
  v <- as.integer(round(v))
  if (!is.null(d)) dim(v) <- d
  sym_const(v, dtype = "int64")
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
#' Positions are 1-based (R style); give `index_base = 0` for 0-based data.
#' Positions may be R vectors/arrays (constants) or integer symbols.
#'
#' @param x A symbol.
#' @param indices Positions: an R integer vector/array or an integer symbol.
#' @param updates Values to write (same shape as `indices`).
#' @param axis The axis (1-based, negative from the end).
#' @param reduction How `sym_scatter_elements()` combines: `"none"`
#'   (replace), `"add"` or `"mul"`.
#' @param index_base 1 (default) or 0.
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
sym_gather <- function(x, indices, axis = 1, index_base = 1, name = NULL) {
  x <- as_symbol(x)
  base <- .check_index_base(index_base)
  ax <- .axis0(axis, length(x$shape))
  .op("gather", list(x, .index_symbol(indices, base)), list(axis = ax), name)
}

#' @rdname sym_gather
#' @export
sym_gather_elements <- function(x, indices, axis = 1, index_base = 1, name = NULL) {
  x <- as_symbol(x)
  base <- .check_index_base(index_base)
  ax <- .axis0(axis, length(x$shape))
  .op("gather_elements", list(x, .index_symbol(indices, base)), list(axis = ax), name)
}

#' @rdname sym_gather
#' @export
sym_scatter_elements <- function(x, indices, updates, axis = 1,
                                 reduction = c("none", "add", "mul"),
                                 index_base = 1, name = NULL) {
  x <- as_symbol(x)
  base <- .check_index_base(index_base)
  ax <- .axis0(axis, length(x$shape))
  reduction <- .match_arg(reduction, c("none", "add", "mul"), "reduction")
  upd <- if (is_symbol(updates)) updates else .const_for(updates, x$dtype)
  .op("scatter_elements", list(x, .index_symbol(indices, base), upd),
      list(axis = ax, reduction = reduction), name)
}

#' One-hot encoding
#'
#' `sym_one_hot(labels, depth)` turns class labels into indicator vectors
#' along a new axis (the last by default): label `k` becomes a vector of
#' `depth` values that is `on_value` at position `k` and `off_value`
#' elsewhere. Labels are 1-based (`1..depth`, as `as.integer()` of a factor
#' gives) unless `index_base = 0` (`0..depth-1`, as many datasets store
#' them); labels out of range give all `off_value`.
#'
#' @param labels An integer symbol or R vector/array of labels.
#' @param depth Number of classes.
#' @param axis Position of the new axis in the result (default last).
#' @param on_value,off_value Values for the label's position and the rest.
#' @param dtype Element type of the result.
#' @param index_base 1 (default) or 0.
#' @param name Optional node name.
#' @return A symbol with one more axis than `labels`.
#' @examples
#' y <- sym_var("y", NA, dtype = "int32")
#' sym_compile(sym_one_hot(y, 3))(y = c(1L, 3L, 2L))
#' @export
sym_one_hot <- function(labels, depth, axis = -1, on_value = 1, off_value = 0,
                        dtype = "float32", index_base = 1, name = NULL) {
  base <- .check_index_base(index_base)
  idx <- .index_symbol(labels, base, "labels")
  depth <- .check_int(depth, "depth", min = 1)
  ax <- .axis0(axis, length(idx$shape) + 1L)
  .op("one_hot", list(idx),
      list(depth = depth, axis = ax,
           on_value = .check_number(on_value, "on_value"),
           off_value = .check_number(off_value, "off_value"),
           dtype = .check_dtype(dtype)), name)
}
