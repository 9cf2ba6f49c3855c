# Symbolic gradients.

#' Gradients
#'
#' `sym_grad(y, wrt)` builds the gradient of the scalar symbol `y` with
#' respect to `wrt`: symbols (inputs, shared variables or any intermediate
#' value) of the same graph. Gradients are ordinary symbols, built from
#' engine ops by reverse-mode differentiation, so they can be compiled,
#' combined, and differentiated again (grad-of-grad).
#'
#' `y` must be a float scalar: reduce a vector first (`sum(y)`,
#' `sym_mean(y)`). A `wrt` that `y` does not depend on gets a zero gradient.
#' Integer, bool and piecewise-constant ops (comparisons, [sym_argmax()],
#' [sym_stop_gradient()], ...) pass no gradient.
#'
#' Gradients are built when `sym_grad()` is called, before the graph is fed,
#' and gradient rules need ranks (which axes to sum a broadcast over, how to
#' transpose a matrix product). A path from `wrt` to `y` through an input
#' declared without a shape ([sym_var()] with `shape = NULL`) is therefore a
#' classed shape error naming that input; declare its shape (`NA` sizes are
#' fine).
#'
#' @param y A float scalar symbol.
#' @param wrt A symbol, or a (named) list of symbols.
#' @return A symbol with the shape of `wrt`, or a list of them with the
#'   names of `wrt`.
#' @examples
#' x <- sym_var("x", integer())   # a scalar
#' y <- x^3
#' dy <- sym_grad(y, x)      # 3 x^2
#' d2y <- sym_grad(dy, x)    # 6 x
#' sym_compile(list(dy = dy, d2y = d2y))(x = 2)
#'
#' w <- sym_var("w", 3)
#' v <- sym_var("v", 3)
#' g <- sym_grad(sum(w * v), list(w = w, v = v))
#' sym_compile(g)(w = 1:3, v = 4:6)
#' @export
sym_grad <- function(y, wrt) {
  y <- .check_symbol(y, "y")
  if (!.is_float_dtype(y$dtype)) {
    sym_abort("{.arg y} must be a float symbol to differentiate, not {y$dtype}.", kind = "dtype")
  }
  s <- y$shape
  if (length(s) && (anyNA(s) || prod(s) != 1)) {
    type <- .format_type(y$dtype, s)
    sym_abort(c("{.arg y} must be a scalar, not {type}.",
                i = "Reduce it first, e.g. {.code sym_grad(sum(y), wrt)}."),
              kind = "shape")
  }
  single <- is_symbol(wrt)
  wl <- if (single) list(wrt) else wrt
  if (!is.list(wl) || !length(wl) || !all(vapply(wl, is_symbol, logical(1)))) {
    sym_abort("{.arg wrt} must be a symbol or a non-empty list of symbols.")
  }
  res <- cpp_sym_grad(.ptr(y), lapply(wl, .ptr))
  out <- lapply(res, new_symbol)
  if (single) return(out[[1]])
  names(out) <- names(wl)
  out
}
