# Softmax and classification losses.

#' Softmax
#'
#' `sym_softmax(x, axis)` exponentiates and normalises along `axis` so the
#' values there sum to 1; `sym_log_softmax()` is its logarithm, computed
#' stably. The default axis is the last (the class axis of batch-first
#' scores `[n, classes]`).
#'
#' @param x A float symbol of rank >= 1.
#' @param axis The axis (1-based, negative from the end).
#' @param name Optional node name.
#' @return A symbol of the same shape.
#' @examples
#' z <- sym_var("z", c(NA, 3))
#' f <- sym_compile(sym_softmax(z))
#' f(z = rbind(c(1, 2, 3), c(0, 0, 0)))
#' @export
sym_softmax <- function(x, axis = -1, name = NULL) {
  x <- as_symbol(x)
  .op("softmax", list(x), list(axis = .axis0(axis, .rank(x))), name)
}

#' @rdname sym_softmax
#' @export
sym_log_softmax <- function(x, axis = -1, name = NULL) {
  x <- as_symbol(x)
  .op("log_softmax", list(x), list(axis = .axis0(axis, .rank(x))), name)
}

.reduce_loss <- function(loss, reduction, name) {
  switch(reduction,
    none = if (is.null(name)) loss else sym_identity(loss, name = name),
    mean = sym_mean(loss, name = name),
    sum = sym_sum(loss, name = name))
}

#' Cross-entropy losses
#'
#' `sym_softmax_cross_entropy(logits, labels)` is the cross-entropy between
#' `softmax(logits)` over the last axis and the targets, computed stably in
#' one fused op. Targets are either class labels -- an integer symbol or R
#' vector with the logits' shape minus the last axis, 1-based (`1..C`)
#' unless `index_base = 0` -- or class probabilities with the logits' shape
#' (a float symbol, or an R array of the logits' rank).
#'
#' `sym_sigmoid_cross_entropy(logits, labels)` is the elementwise binary
#' cross-entropy of `sigmoid(logits)` against targets in `[0, 1]`, computed
#' stably from the logits. `sym_binary_cross_entropy(probs, labels)` is the
#' same from probabilities (clipped to `[eps, 1 - eps]`).
#'
#' @param logits A float symbol: unnormalised scores, classes on the last
#'   axis for `sym_softmax_cross_entropy()`.
#' @param probs A float symbol of probabilities.
#' @param labels Targets, see above.
#' @param reduction `"mean"` (default) or `"sum"` over all examples, or
#'   `"none"` for one loss per example (per element for the binary losses).
#' @param index_base For class labels: 1 or 0; `NULL` (default) for the
#'   base the labels carry ([sym_index_base()]), else 1.
#' @param ignore_index A label value (in the same base as `labels`) whose
#'   examples contribute 0 loss and no gradient; `NULL` for none. (With
#'   `reduction = "mean"` they still count in the denominator.)
#' @param eps Clipping of probabilities in `sym_binary_cross_entropy()`.
#' @param name Optional node name.
#' @return A symbol: a scalar, or per-example losses for `reduction =
#'   "none"`.
#' @examples
#' z <- sym_var("z", c(NA, 3))
#' y <- sym_var("y", NA, dtype = "int32")
#' loss <- sym_softmax_cross_entropy(z, y)
#' f <- sym_compile(list(loss = loss, grad = sym_grad(loss, z)))
#' f(z = rbind(c(2, 0, 0), c(0, 0, 2)), y = c(1L, 2L))
#' @export
sym_softmax_cross_entropy <- function(logits, labels, reduction = c("mean", "sum", "none"),
                                      index_base = NULL, ignore_index = NULL, name = NULL) {
  if (missing(labels)) .missing_abort("labels", environment())
  logits <- .check_symbol(logits, "logits")
  reduction <- .match_arg(reduction, c("mean", "sum", "none"), "reduction")
  r <- .rank(logits)
  if (!is.na(r) && r < 1) sym_abort("{.arg logits} must have rank >= 1 (classes on the last axis).", kind = "shape")
  prob <- if (is_symbol(labels)) {
    .is_float_dtype(labels$dtype)
  } else {
    # R labels are class ids or probabilities by their rank relative to the logits'
    .need_rank(logits, "{.fn sym_softmax_cross_entropy} with R labels")
    rank <- if (is.null(dim(labels))) as.integer(length(labels) != 1) else length(dim(labels))
    is.numeric(labels) && rank == r
  }
  if (prob) {
    if (!is.null(ignore_index)) sym_abort("{.arg ignore_index} applies to class labels, not probabilities.")
    t <- if (is_symbol(labels)) labels else sym_const(labels, dtype = logits$dtype)
    loss <- .op("softmax_cross_entropy_prob", list(logits, t))
  } else {
    base <- .resolve_index_base(index_base, labels, "labels")
    idx <- .index_symbol(labels, "labels")
    attrs <- list(index_base = base)
    if (!is.null(ignore_index)) attrs$ignore_index <- .check_int(ignore_index, "ignore_index")
    loss <- .op("softmax_cross_entropy", list(logits, idx), attrs)
  }
  .reduce_loss(loss, reduction, name)
}

#' @rdname sym_softmax_cross_entropy
#' @export
sym_sigmoid_cross_entropy <- function(logits, labels, reduction = c("mean", "sum", "none"),
                                      name = NULL) {
  if (missing(labels)) .missing_abort("labels", environment())
  logits <- .check_symbol(logits, "logits")
  reduction <- .match_arg(reduction, c("mean", "sum", "none"), "reduction")
  t <- if (is_symbol(labels)) .cast_to(labels, logits$dtype) else sym_const(labels, dtype = logits$dtype)
  .reduce_loss(.op("sigmoid_cross_entropy", list(logits, t)), reduction, name)
}

#' @rdname sym_softmax_cross_entropy
#' @export
sym_binary_cross_entropy <- function(probs, labels, reduction = c("mean", "sum", "none"),
                                     eps = 1e-7, name = NULL) {
  if (missing(labels)) .missing_abort("labels", environment())
  probs <- .check_symbol(probs, "probs")
  reduction <- .match_arg(reduction, c("mean", "sum", "none"), "reduction")
  eps <- .check_number(eps, "eps", finite = TRUE)
  if (eps < 0 || eps >= 0.5) sym_abort("{.arg eps} must be in [0, 0.5).")
  t <- if (is_symbol(labels)) .cast_to(labels, probs$dtype) else sym_const(labels, dtype = probs$dtype)
  p <- sym_clip(probs, eps, 1 - eps)
  loss <- -(t * sym_log(p) + (1 - t) * sym_log(1 - p))
  .reduce_loss(loss, reduction, name)
}
