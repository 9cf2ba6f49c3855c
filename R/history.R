# Training history: what fit() returns.

utils::globalVariables(".data")

.new_history <- function(metrics, params, interrupted = FALSE, stopped_early = FALSE) {
  structure(list(metrics = metrics, params = params, interrupted = interrupted,
                 stopped_early = stopped_early),
            class = "symnet_history")
}

#' Training history
#'
#' [fit()][fit.symnet_model] returns a `symnet_history`: `h$metrics` is a
#' data frame with one row per completed epoch (`epoch`, `loss`, the
#' metrics, the validation figures prefixed `val_`, and the learning rate
#' `lr`); `h$params` holds the training settings (`epochs`,
#' `initial_epoch`, `batch_size`, `samples`, `steps` (batches per epoch),
#' `validation_samples`, `loss`, `optimizer`, `metrics`, `on_nonfinite`);
#' `h$interrupted` and `h$stopped_early` tell how training
#' ended.
#'
#' `print()` summarises the run and shows the figures of the last epochs;
#' `plot()` draws the loss and every metric against the epoch, training
#' and validation together, with ggplot2 when it is installed (returning
#' the ggplot object) and base graphics otherwise; `as.data.frame()`
#' returns `h$metrics`.
#'
#' @param x A `symnet_history`.
#' @param metrics Names of the figures to plot (without `val_`); `NULL`
#'   for all except the learning rate.
#' @param method `"auto"` (ggplot2 when installed), `"ggplot2"` or `"base"`.
#' @param n Number of epochs to print (the last ones).
#' @param row.names,optional Unused (for the `as.data.frame()` generic).
#' @param ... Unused.
#' @return `print()`: `x` invisibly. `plot()`: a ggplot object, or `x`
#'   invisibly for base graphics. `as.data.frame()`: a data frame.
#' @examples
#' set.seed(1)
#' X <- matrix(rnorm(400), 200, 2)
#' y <- as.integer(X[, 1] + X[, 2] > 0)
#' x <- sym_var("x", c(NA, 2))
#' model <- sym_model(x, layer_dense(x, 2))
#' h <- fit(model, X, y, loss = "softmax_cross_entropy", optimizer = optimizer_sgd(0.5),
#'          epochs = 5, metrics = "accuracy", validation_split = 0.2, verbose = 0)
#' h
#' as.data.frame(h)
#' plot(h, method = "base")
#' @name symnet_history
NULL

#' @rdname symnet_history
#' @export
print.symnet_history <- function(x, n = 10, ...) {
  df <- x$metrics
  p <- x$params
  ne <- nrow(df)
  how <- if (isTRUE(x$interrupted)) ", interrupted" else if (isTRUE(x$stopped_early)) ", stopped early" else ""
  ie <- p$initial_epoch %||% 0L
  planned <- (p$epochs %||% (ne + ie)) - ie
  from <- if (ie > 0) sprintf(" (from epoch %d)", ie + 1L) else ""
  cat(sprintf("<symnet history> %d of %d epoch%s%s%s; %s example%s%s, batch size %s\n", ne,
              planned, if (planned == 1) "" else "s", from, how,
              if (is.null(p$samples)) "?" else .format_count(p$samples), if (identical(p$samples, 1L)) "" else "s",
              if (isTRUE(p$validation_samples > 0)) sprintf(" (%s validation)", .format_count(p$validation_samples)) else "",
              p$batch_size %||% "?"))
  if (!is.null(p$loss)) {
    cat(sprintf("  loss: %s; optimizer: %s%s\n", p$loss, p$optimizer %||% "?",
                if (length(p$metrics)) paste0("; metrics: ", paste(p$metrics, collapse = ", ")) else ""))
  }
  if (ne) {
    shown <- utils::tail(df, n)
    num <- vapply(shown, is.double, logical(1))
    shown[num] <- lapply(shown[num], function(v) signif(v, 4))
    if (ne > n) cat(sprintf("  (last %d epochs)\n", n))
    print(shown, row.names = FALSE)
  }
  invisible(x)
}

#' @rdname symnet_history
#' @export
as.data.frame.symnet_history <- function(x, row.names = NULL, optional = FALSE, ...) x$metrics

# Long format: epoch, metric, data (training/validation), value.
.history_long <- function(df, metrics) {
  cols <- setdiff(names(df), c("epoch", "lr"))
  base <- unique(sub("^val_", "", cols))
  if (!is.null(metrics)) {
    bad <- setdiff(metrics, c(base, "lr"))
    if (length(bad)) {
      sym_abort(c("Not in the history: {.val {bad}}.", i = "It has {.val {c(base, 'lr')}}."))
    }
    base <- metrics
  }
  rows <- list()
  for (m in base) {
    for (pre in c("", "val_")) {
      col <- paste0(pre, m)
      if (!col %in% names(df)) next
      rows[[length(rows) + 1L]] <- data.frame(
        epoch = df$epoch, metric = m,
        data = if (pre == "") "training" else "validation",
        value = as.double(df[[col]]), stringsAsFactors = FALSE)
    }
  }
  out <- do.call(rbind, rows)
  out$metric <- factor(out$metric, levels = base)
  out$data <- factor(out$data, levels = c("training", "validation"))
  out
}

#' @rdname symnet_history
#' @export
plot.symnet_history <- function(x, metrics = NULL, method = c("auto", "ggplot2", "base"), ...) {
  method <- .match_arg(method, c("auto", "ggplot2", "base"), "method")
  df <- x$metrics
  if (!nrow(df)) sym_abort("The history is empty: no epoch was completed.")
  long <- .history_long(df, metrics)
  if (method == "auto") method <- if (requireNamespace("ggplot2", quietly = TRUE)) "ggplot2" else "base"
  if (method == "ggplot2") {
    if (!requireNamespace("ggplot2", quietly = TRUE)) {
      sym_abort("{.code method = \"ggplot2\"} needs the ggplot2 package.", kind = "unsupported")
    }
    p <- ggplot2::ggplot(long, ggplot2::aes(x = .data$epoch, y = .data$value, colour = .data$data)) +
      ggplot2::geom_line() +
      ggplot2::geom_point(size = 1.5) +
      ggplot2::facet_wrap(ggplot2::vars(.data$metric), ncol = 1, scales = "free_y") +
      ggplot2::labs(x = "epoch", y = NULL, colour = NULL) +
      ggplot2::theme_bw() +
      ggplot2::theme(legend.position = "top")
    if (max(df$epoch) <= 12) p <- p + ggplot2::scale_x_continuous(breaks = unique(df$epoch))
    return(p)
  }
  ms <- levels(long$metric)
  op <- graphics::par(mfrow = c(length(ms), 1), mar = c(3, 4, 1.5, 1), mgp = c(2, 0.7, 0))
  on.exit(graphics::par(op))
  cols <- c(training = "#1b6ca8", validation = "#d95f02")
  for (m in ms) {
    d <- long[long$metric == m, ]
    graphics::plot(range(d$epoch), range(d$value, na.rm = TRUE), type = "n", xlab = "epoch", ylab = m)
    for (k in levels(d$data)) {
      dk <- d[d$data == k, ]
      if (nrow(dk)) graphics::lines(dk$epoch, dk$value, type = "o", pch = 19, cex = 0.6, col = cols[[k]])
    }
    present <- levels(droplevels(d$data))
    graphics::legend("topright", legend = present, col = cols[present], lty = 1, pch = 19, bty = "n",
                     cex = 0.8)
  }
  invisible(x)
}
