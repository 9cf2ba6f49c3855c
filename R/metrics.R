# Metrics: built into the training and evaluation graphs when they can be
# expressed with symbols; plain R functions run on each mini-batch's
# predictions otherwise.

#' Metrics
#'
#' Metrics reported by [fit()][fit.symnet_model] (per epoch, for training
#' and validation data) and [evaluate()]. Built-in metrics are computed in
#' the compiled graph, alongside the loss.
#'
#' * `metric_accuracy()`: the fraction of correct predictions. For class
#'   labels, the arg-max of the output over its last axis against the
#'   label (or the arg-max of one-hot labels); for binary cross-entropy,
#'   the output thresholded at 0.5 (at 0 for logits) against the targets.
#' * `metric_top_k_accuracy(k)`: the fraction of examples whose label is
#'   among the `k` highest scores.
#'
#' * `metric_mae()`, `metric_mse()`: mean absolute and mean squared error
#'   between the output and the targets (regression, binary or one-hot
#'   targets; not class indices).
#'
#' Give metrics to `fit()` as a list or character vector: `"accuracy"`
#' (`"acc"`), `"top_k_accuracy"` (k = 5), `"mae"`
#' (`"mean_absolute_error"`), `"mse"` (`"mean_squared_error"`), metric
#' objects, or R functions
#' `function(y_true, y_pred)` returning a number, named by the list's
#' names (`metrics = list(mae = function(y_true, y_pred) ...)`). A function
#' is first tried on symbols: if it returns a symbol it becomes part of the
#' compiled graph; otherwise it is called in R on every mini-batch, with
#' `y_true` as fed to the loss (class labels as 0-based integers) and
#' `y_pred` the model output, and the epoch value is the mean over
#' examples of the per-batch values.
#'
#' @param k Number of top scores that count as a hit.
#' @return A `symnet_metric` object.
#' @seealso [fit.symnet_model()], [evaluate()].
#' @examples
#' metric_accuracy()
#' metric_top_k_accuracy(3)
#' metric_mae()
#'
#' # metrics are symbols: accuracy of 2 predictions, 3 classes
#' z <- sym_var("z", c(NA, 3))
#' y <- sym_var("y", NA, dtype = "int32")
#' acc <- metric_accuracy()$build(y, z, list(kind = "class"))
#' sym_compile(acc)(z = rbind(c(2, 0, 0), c(0, 0, 3)), y = c(0L, 1L))
#' @name metrics
NULL

.new_metric <- function(name, build = NULL, fn = NULL) {
  structure(list(name = name, build = build, fn = fn), class = "symnet_metric")
}

#' @rdname metrics
#' @export
metric_accuracy <- function() {
  .new_metric("accuracy", build = function(y_true, y_pred, ctx) {
    kind <- ctx$kind
    if (identical(kind, "binary") || (identical(kind, "target") && .is_single_column(y_pred))) {
      thr <- if (isFALSE(ctx$from_logits)) 0.5 else 0
      return(mean((y_pred > thr) == (y_true > 0.5)))
    }
    if (identical(kind, "class")) {
      return(mean(sym_argmax(y_pred, index_base = 0) == y_true))
    }
    if (identical(kind, "prob")) {
      return(mean(sym_argmax(y_pred, index_base = 0) == sym_argmax(y_true, index_base = 0)))
    }
    sym_abort("Accuracy needs class labels or binary targets.", call = NULL)
  })
}

.is_single_column <- function(s) {
  .need_rank(s, "This metric")
  sh <- s$shape
  length(sh) <= 1 || identical(sh[length(sh)], 1L)
}

#' @rdname metrics
#' @export
metric_top_k_accuracy <- function(k = 5) {
  k <- .check_int(k, "k", min = 1)
  .new_metric(sprintf("top_%d_accuracy", k), build = function(y_true, y_pred, ctx) {
    if (identical(ctx$kind, "prob")) y_true <- sym_argmax(y_true, index_base = 0)
    if (!ctx$kind %in% c("class", "prob")) {
      sym_abort("Top-k accuracy needs class labels.", call = NULL)
    }
    # the label's rank among the scores: how many classes score higher
    idx <- sym_unsqueeze(sym_cast(y_true, "int64"), -1)
    true_score <- sym_gather_elements(y_pred, idx, axis = -1, index_base = 0)
    higher <- sym_sum(sym_cast(y_pred > true_score, "float32"), axis = -1)
    mean(higher < k)
  })
}

# Elementwise error metrics: on the output against targets of its shape.
.error_metric <- function(name, f) {
  .new_metric(name, build = function(y_true, y_pred, ctx) {
    if (identical(ctx$kind, "class")) {
      sym_abort(c("Metric {.val {name}} needs targets shaped like the output, not class indices.",
                  i = "Use {.val accuracy} for class labels, or one-hot labels."), call = NULL)
    }
    f(y_pred - sym_cast(y_true, y_pred$dtype))
  })
}

#' @rdname metrics
#' @export
metric_mae <- function() .error_metric("mae", function(d) sym_mean(sym_abs(d)))

#' @rdname metrics
#' @export
metric_mse <- function() .error_metric("mse", function(d) sym_mean(sym_square(d)))

#' @export
print.symnet_metric <- function(x, ...) {
  cat("<symnet metric> ", x$name, if (!is.null(x$fn)) " (R function)", "\n", sep = "")
  invisible(x)
}

# metrics argument -> list of symnet_metric with unique names.
.as_metrics <- function(metrics, call = parent.frame()) {
  if (is.null(metrics)) return(list())
  if (inherits(metrics, "symnet_metric") || is.function(metrics)) metrics <- list(metrics)
  if (is.character(metrics)) metrics <- as.list(metrics)
  if (!is.list(metrics)) {
    sym_abort("{.arg metrics} must be a list of metrics, metric names or functions.", call = call)
  }
  nms <- names(metrics) %||% rep("", length(metrics))
  out <- vector("list", length(metrics))
  for (i in seq_along(metrics)) {
    m <- metrics[[i]]
    if (inherits(m, "symnet_metric")) {
      out[[i]] <- m
    } else if (is.character(m) && length(m) == 1 && !is.na(m)) {
      key <- gsub("[^a-z0-9]", "", tolower(m))
      out[[i]] <- switch(key,
        accuracy = , acc = metric_accuracy(),
        topkaccuracy = , top5accuracy = , top5 = metric_top_k_accuracy(5),
        mae = , meanabsoluteerror = metric_mae(),
        mse = , meansquarederror = metric_mse(),
        sym_abort(c("Unknown metric {.val {m}}.",
                    i = "Use {.val accuracy}, {.val top_k_accuracy}, {.val mae}, {.val mse}, a metric object or a function {.code function(y_true, y_pred)}."),
                  call = call))
    } else if (is.function(m)) {
      nm <- if (!is.na(nms[i]) && nzchar(nms[i])) nms[i] else paste0("metric_", i)
      out[[i]] <- .new_metric(nm, fn = m)
      next
    } else {
      sym_abort("Metric {i} must be a metric object, a name or a function, not {.obj_type_friendly {m}}.",
                call = call)
    }
    if (!is.na(nms[i]) && nzchar(nms[i])) out[[i]]$name <- nms[i]
  }
  names(out) <- vapply(out, function(m) m$name, character(1))
  if (anyDuplicated(names(out))) {
    sym_abort("Metric names must be unique: {.val {names(out)[duplicated(names(out))]}}.", call = call)
  }
  if (any(names(out) %in% "loss")) sym_abort("A metric may not be called {.val loss}.", call = call)
  out
}

# In-graph symbol for a metric, or NULL when it must run in R.
.metric_symbol <- function(m, y_true, y_pred, ctx) {
  if (!is.null(m$build)) {
    s <- m$build(y_true, y_pred, ctx)
  } else {
    s <- tryCatch(m$fn(y_true, y_pred), error = function(e) NULL)
    if (!is_symbol(s)) return(NULL)
  }
  if (!.is_float_dtype(s$dtype)) s <- sym_cast(s, "float32")
  if (!identical(s$shape, integer())) s <- sym_mean(s)
  s
}

# An R-evaluated metric on one batch.
.metric_r_value <- function(m, y_true, y_pred) {
  v <- m$fn(y_true, y_pred)
  if (!is.numeric(v) && !is.logical(v)) {
    sym_abort("Metric {.val {m$name}} must return a number, not {.obj_type_friendly {v}}.", call = NULL)
  }
  mean(as.double(v))
}
