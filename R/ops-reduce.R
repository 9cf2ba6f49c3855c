# Reductions over axes, arg-reductions and cumulative sums.

.reduce <- function(op, x, axis, keepdims, name, extra = list(), call = parent.frame()) {
  x <- as_symbol(x)
  axes <- .axes0(axis, .rank(x), "axis", call = call)
  keepdims <- .check_flag(keepdims, "keepdims", call = call)
  .op(op, list(x), c(list(axes = .ints_attr(axes), keepdims = keepdims), extra), name)
}

#' Reductions
#'
#' Reduce a symbol over some axes (all of them by default):
#' `sym_sum()`, `sym_mean()`, `sym_prod()`, `sym_max()`, `sym_min()`,
#' `sym_l1()` (sum of absolute values), `sym_l2()` (square root of the sum
#' of squares), `sym_logsumexp()` (`log(sum(exp(x)))`, computed stably) and
#' `sym_variance()`.
#'
#' Axes count from 1 and may be negative (`-1` is the last axis). For a
#' batch-first matrix `x` of shape `[n, k]`, `sym_sum(x, axis = 2)` is
#' `rowSums(x)` and `sym_sum(x, axis = 1)` is `colSums(x)`. With
#' `keepdims = TRUE` the reduced axes stay with size 1, which broadcasts
#' back against `x` (e.g. `x - sym_mean(x, 2, keepdims = TRUE)`).
#'
#' R's `sum()`, `prod()`, `max()`, `min()` and `mean()` on a symbol reduce
#' over everything, as these do with `axis = NULL`.
#'
#' @param x A symbol.
#' @param axis Axes to reduce (1-based; negative from the end); `NULL` for
#'   all.
#' @param keepdims Keep reduced axes with size 1.
#' @param correction For `sym_variance()`: divide by `n - correction`; the
#'   default 1 gives R's `var()`, 0 the population variance.
#' @param name Optional node name.
#' @return A symbol.
#' @examples
#' x <- sym_var("x", c(2, 3))
#' f <- sym_compile(list(rows = sym_sum(x, axis = 2), cols = sym_mean(x, axis = 1),
#'                       all = sym_max(x), lse = sym_logsumexp(x, axis = -1)))
#' f(x = matrix(1:6, 2, 3))
#' @name sym_reductions
NULL

#' @rdname sym_reductions
#' @export
sym_sum <- function(x, axis = NULL, keepdims = FALSE, name = NULL) {
  .reduce("reduce_sum", x, axis, keepdims, name)
}
#' @rdname sym_reductions
#' @export
sym_mean <- function(x, axis = NULL, keepdims = FALSE, name = NULL) {
  .reduce("reduce_mean", x, axis, keepdims, name)
}
#' @rdname sym_reductions
#' @export
sym_prod <- function(x, axis = NULL, keepdims = FALSE, name = NULL) {
  .reduce("reduce_prod", x, axis, keepdims, name)
}
#' @rdname sym_reductions
#' @export
sym_max <- function(x, axis = NULL, keepdims = FALSE, name = NULL) {
  .reduce("reduce_max", x, axis, keepdims, name)
}
#' @rdname sym_reductions
#' @export
sym_min <- function(x, axis = NULL, keepdims = FALSE, name = NULL) {
  .reduce("reduce_min", x, axis, keepdims, name)
}
#' @rdname sym_reductions
#' @export
sym_l1 <- function(x, axis = NULL, keepdims = FALSE, name = NULL) {
  .reduce("reduce_l1", x, axis, keepdims, name)
}
#' @rdname sym_reductions
#' @export
sym_l2 <- function(x, axis = NULL, keepdims = FALSE, name = NULL) {
  .reduce("reduce_l2", x, axis, keepdims, name)
}
#' @rdname sym_reductions
#' @export
sym_logsumexp <- function(x, axis = NULL, keepdims = FALSE, name = NULL) {
  .reduce("reduce_logsumexp", x, axis, keepdims, name)
}
#' @rdname sym_reductions
#' @export
sym_variance <- function(x, axis = NULL, keepdims = FALSE, correction = 1, name = NULL) {
  correction <- .check_int(correction, "correction", min = 0)
  .reduce("reduce_variance", x, axis, keepdims, name, list(correction = correction))
}

#' Positions of maxima and minima
#'
#' `sym_argmax()` and `sym_argmin()` return the position of the largest
#' (smallest) element along one axis; ties go to the first. Positions are
#' 1-based like R's [which.max()], unless `index_base = 0`. The result is an
#' int64 symbol (it comes back to R as doubles).
#'
#' @param x A symbol.
#' @param axis The axis (1-based, negative from the end). The default `-1`
#'   is the last axis: for batch-first class scores `[n, classes]` it gives
#'   the predicted class of each row.
#' @param keepdims Keep the reduced axis with size 1.
#' @param index_base 1 (R positions) or 0.
#' @param name Optional node name.
#' @return An int64 symbol.
#' @examples
#' scores <- sym_var("scores", c(NA, 3))
#' f <- sym_compile(sym_argmax(scores))
#' f(scores = rbind(c(0.1, 0.7, 0.2), c(0.9, 0.05, 0.05)))
#' @export
sym_argmax <- function(x, axis = -1, keepdims = FALSE, index_base = 1, name = NULL) {
  .argreduce("argmax", x, axis, keepdims, index_base, name)
}

#' @rdname sym_argmax
#' @export
sym_argmin <- function(x, axis = -1, keepdims = FALSE, index_base = 1, name = NULL) {
  .argreduce("argmin", x, axis, keepdims, index_base, name)
}

.argreduce <- function(op, x, axis, keepdims, index_base, name, call = parent.frame()) {
  x <- as_symbol(x)
  ax <- .axis0(axis, .rank(x), call = call)
  keepdims <- .check_flag(keepdims, "keepdims", call = call)
  base <- .check_index_base(index_base, call = call)
  r <- .op(op, list(x), list(axis = ax, keepdims = keepdims), if (base == 0) name else NULL)
  if (base == 0) r else .op("add", list(r, sym_const(1L, dtype = r$dtype)), name = name)
}

.check_index_base <- function(index_base, call = parent.frame()) {
  if (!is.numeric(index_base) || length(index_base) != 1 || !index_base %in% c(0, 1)) {
    sym_abort("{.arg index_base} must be 0 or 1.", call = call)
  }
  as.integer(index_base)
}

#' Cumulative sum along an axis
#'
#' @param x A numeric symbol.
#' @param axis The axis (1-based, negative from the end; default the last).
#' @param exclusive Exclude the current element (the first output is 0).
#' @param reverse Accumulate from the end of the axis.
#' @param name Optional node name.
#' @return A symbol of the same shape.
#' @examples
#' x <- sym_var("x", c(2, 3))
#' f <- sym_compile(list(c = sym_cumsum(x), r = sym_cumsum(x, axis = 1, reverse = TRUE)))
#' f(x = matrix(1:6, 2, 3))
#' @export
sym_cumsum <- function(x, axis = -1, exclusive = FALSE, reverse = FALSE, name = NULL) {
  x <- as_symbol(x)
  ax <- .axis0(axis, .rank(x))
  .op("cumsum", list(x),
      list(axis = ax, exclusive = .check_flag(exclusive, "exclusive"),
           reverse = .check_flag(reverse, "reverse")), name)
}
