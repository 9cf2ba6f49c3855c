# Loss objects for fit() and evaluate(): each knows how to turn R labels into
# the tensor fed to the training graph and how to build the loss symbol from
# the model output and the label symbol.

#' Losses
#'
#' Loss objects for [fit()][fit.symnet_model] and [evaluate()]. Each one
#' checks and converts the labels you give (before any training starts) and
#' builds the loss as symbols, so the loss, its gradients and the optimiser
#' update are compiled into one graph. Every loss is averaged over the
#' examples of a mini-batch.
#'
#' * `loss_softmax_cross_entropy()`: cross-entropy of `softmax(output)`
#'   over the last axis (the model outputs logits), or of the output itself
#'   with `from_logits = FALSE` (the model outputs probabilities, which are
#'   normalised to sum to 1 and clipped away from 0). Labels are class
#'   indices `0..K-1` (integer vector, as [dataset_fashion_mnist()] stores
#'   them), a factor (levels in order become `0..K-1`), or a matrix of
#'   one-hot rows or class probabilities with `K` columns.
#' * `loss_binary_cross_entropy()`: elementwise binary cross-entropy against
#'   targets in `[0, 1]` (numbers, logicals or a two-level factor); from
#'   logits by default, or from probabilities with `from_logits = FALSE`.
#' * `loss_mse()`, `loss_mae()`: mean squared and mean absolute error.
#' * `loss_huber()`: squared error below `delta`, linear above it.
#'
#' Strings work too: `"softmax_cross_entropy"` (also
#' `"sparse_categorical_crossentropy"`, `"categorical_crossentropy"`),
#' `"binary_cross_entropy"` (`"binary_crossentropy"`), `"mse"`, `"mae"`,
#' `"huber"`. A custom loss is an R function `function(y_true, y_pred)` of
#' symbols that returns a symbol (averaged over its elements, or kept per
#' example when sample or class weights are given); its labels are fed as
#' `float32` numbers with their own shape (a vector as one column for an
#' `[n, 1]` output), except class indices (a factor,
#' or whole numbers shaped like the output without its class axis), which
#' are fed as 0-based `int32`.
#'
#' **Softmax or sigmoid outputs** (keras' `from_logits` convention). When
#' the model's output is a softmax (for `loss_softmax_cross_entropy()`) or
#' a sigmoid (for `loss_binary_cross_entropy()`), as with
#' `layer_dense(..., activation = "softmax")`, `fit()` and [evaluate()]
#' compute the loss from the activation's input, the logits, whatever
#' `from_logits` says: applying the activation twice (`from_logits = TRUE`)
#' would train the wrong model, and probabilities lose precision. With
#' `from_logits = TRUE` a message (class `symnet_from_logits_message`) says
#' so; `from_logits = FALSE` is the silent way to say the output is a
#' probability. [predict()][predict.symnet_model] returns the model's
#' output, the probabilities.
#'
#' **Weights**: with `sample_weight` or `class_weight` in `fit()` the loss
#' of each example (averaged over its elements) is multiplied by its weight
#' and the batch loss is the mean of the weighted losses over the examples
#' (keras' `"sum_over_batch_size"`).
#'
#' For regression losses and binary cross-entropy, a label vector is taken
#' as one column when the model output has shape `[n, 1]`.
#'
#' @param from_logits Whether the model output is a logit (`TRUE`) or a
#'   probability (`FALSE`, clipped away from 0 and 1). A softmax or sigmoid
#'   output is detected either way (see Details).
#' @param delta Where the Huber loss turns from quadratic to linear (> 0).
#' @return A `symnet_loss` object.
#' @seealso [fit.symnet_model()], [evaluate()].
#' @examples
#' loss_softmax_cross_entropy()
#' loss_binary_cross_entropy(from_logits = FALSE)
#' loss_huber(delta = 2)
#'
#' # a loss is built from symbols: here on a batch of 2 examples, 3 classes
#' z <- sym_var("z", c(NA, 3))
#' y <- sym_var("y", NA, dtype = "int32")
#' l <- loss_softmax_cross_entropy()$build(z, y, "class")
#' sym_compile(l)(z = rbind(c(2, 0, 0), c(0, 3, 0)), y = c(0L, 1L))
#' @name losses
NULL

# build(y_pred, y_true, kind, reduction = "mean", from_logits = <the loss's own>): the loss
# symbol; reduction "none" keeps one value per element (for sample weights). fit() passes
# from_logits = TRUE with the logits when the model output is the activation named by
# `activation` (see .loss_input()).
.new_loss <- function(name, build, labels, args = list(), label = name, activation = NULL) {
  structure(list(name = name, label = label, build = build, labels = labels, args = args,
                 activation = activation),
            class = "symnet_loss")
}

.reduce_mean <- function(l, reduction) if (identical(reduction, "none")) l else sym_mean(l)

#' @rdname losses
#' @export
loss_softmax_cross_entropy <- function(from_logits = TRUE) {
  from_logits <- .check_flag(from_logits, "from_logits")
  default_fl <- from_logits
  .new_loss("softmax_cross_entropy",
            build = function(y_pred, y_true, kind, reduction = "mean", from_logits = default_fl) {
              fl <- from_logits
              # probabilities, normalised to sum 1 and clipped as keras does: softmax(log p) = p
              # for such p, so the cross-entropy of log(p) is -log p[label]
              z <- if (fl) y_pred else {
                sym_log(sym_clip(y_pred / sym_sum(y_pred, axis = -1, keepdims = TRUE), 1e-7, 1))
              }
              if (identical(kind, "prob")) {
                sym_softmax_cross_entropy(z, y_true, reduction = reduction)
              } else {
                sym_softmax_cross_entropy(z, y_true, reduction = reduction, index_base = 0)
              }
            },
            labels = .class_labels, args = list(from_logits = from_logits), activation = "softmax")
}

#' @rdname losses
#' @export
loss_binary_cross_entropy <- function(from_logits = TRUE) {
  from_logits <- .check_flag(from_logits, "from_logits")
  default_fl <- from_logits
  .new_loss("binary_cross_entropy",
            build = function(y_pred, y_true, kind, reduction = "mean", from_logits = default_fl) {
              fl <- from_logits
              if (fl) {
                sym_sigmoid_cross_entropy(y_pred, y_true, reduction = reduction)
              } else {
                sym_binary_cross_entropy(y_pred, y_true, reduction = reduction)
              }
            },
            labels = .binary_labels, args = list(from_logits = from_logits), activation = "sigmoid")
}

#' @rdname losses
#' @export
loss_mse <- function() {
  .new_loss("mse", build = function(y_pred, y_true, kind, reduction = "mean", ...) {
    .reduce_mean(sym_square(y_pred - y_true), reduction)
  }, labels = .target_labels)
}

#' @rdname losses
#' @export
loss_mae <- function() {
  .new_loss("mae", build = function(y_pred, y_true, kind, reduction = "mean", ...) {
    .reduce_mean(sym_abs(y_pred - y_true), reduction)
  }, labels = .target_labels)
}

#' @rdname losses
#' @export
loss_huber <- function(delta = 1) {
  delta <- .check_number(delta, "delta", finite = TRUE)
  if (delta <= 0) sym_abort("{.arg delta} must be > 0.")
  .new_loss("huber",
            build = function(y_pred, y_true, kind, reduction = "mean", ...) {
              a <- sym_abs(y_pred - y_true)
              q <- sym_minimum(a, delta)
              .reduce_mean(0.5 * q * q + delta * (a - q), reduction)
            },
            labels = .target_labels, args = list(delta = delta))
}

#' @export
print.symnet_loss <- function(x, ...) {
  args <- if (length(x$args)) {
    paste0("(", paste(names(x$args), vapply(x$args, format, character(1)), sep = " = ", collapse = ", "), ")")
  } else {
    ""
  }
  cat("<symnet loss> ", x$label, args, "\n", sep = "")
  invisible(x)
}

# Loss given by the user (object, string or function) -> symnet_loss.
.as_loss <- function(loss, arg = "loss", call = parent.frame()) {
  if (inherits(loss, "symnet_loss")) return(loss)
  if (is.character(loss) && length(loss) == 1 && !is.na(loss)) {
    key <- gsub("[^a-z]", "", tolower(loss))
    out <- switch(key,
      softmaxcrossentropy = , sparsecategoricalcrossentropy = , categoricalcrossentropy = ,
      crossentropy = , ce = loss_softmax_cross_entropy(),
      binarycrossentropy = , bce = loss_binary_cross_entropy(),
      mse = , meansquarederror = loss_mse(),
      mae = , meanabsoluteerror = loss_mae(),
      huber = loss_huber(),
      NULL)
    if (is.null(out)) {
      sym_abort(c("Unknown loss {.val {loss}}.",
                  i = "Use {.fn loss_softmax_cross_entropy}, {.fn loss_binary_cross_entropy}, {.fn loss_mse}, {.fn loss_mae}, {.fn loss_huber} or a function {.code function(y_true, y_pred)}."),
                call = call)
    }
    return(out)
  }
  if (is.function(loss)) {
    fn <- loss
    return(.new_loss("custom",
                     build = function(y_pred, y_true, kind, reduction = "mean", ...) {
                       l <- fn(y_true, y_pred)
                       if (!is_symbol(l)) {
                         sym_abort("A custom loss must return a symbol, not {.obj_type_friendly {l}}.", call = NULL)
                       }
                       if (!identical(l$shape, integer()) && !identical(reduction, "none")) l <- sym_mean(l)
                       l
                     },
                     labels = .custom_labels, label = "custom loss"))
  }
  sym_abort("{.arg {arg}} must be a loss object (e.g. {.fn loss_mse}), a loss name or a function, not {.obj_type_friendly {loss}}.",
            call = call)
}

# ---- label preparation ---------------------------------------------------------------
# Each returns list(value = R array with the batch on the first axis, dtype,
# shape = declared label shape (NA first), kind, levels). `out_shape` is the
# model output's declared shape.

.label_n <- function(y) if (is.null(dim(y))) length(y) else dim(y)[1]

.check_label_values <- function(y, what, call) {
  if (is.data.frame(y)) y <- as.matrix(y)
  if (!(is.numeric(y) || is.logical(y) || is.factor(y))) {
    sym_abort("{what}: must be numeric, logical or a factor, not {.obj_type_friendly {y}}.",
              kind = "dtype", call = call)
  }
  if (!length(y)) sym_abort("{what}: no data (length 0).", kind = "value", call = call)
  if (anyNA(y)) {
    sym_abort(c("{what}: NA found (first at position {which(is.na(y))[1]}).",
                i = "Remove or impute missing values before training."),
              kind = "value", call = call)
  }
  if (is.numeric(y) && any(!is.finite(y))) {
    sym_abort("{what}: infinite values found.", kind = "value", call = call)
  }
  y
}

.class_labels <- function(y, out_shape, what = "Labels", call = parent.frame()) {
  y <- .check_label_values(y, what, call)
  r <- length(out_shape)
  K <- out_shape[r]
  if (r < 2) {
    os <- .format_shape(out_shape)
    sym_abort("Softmax cross-entropy needs a model output of rank >= 2 (batch, ..., classes), not {os}.",
              kind = "shape", call = call)
  }
  yd <- dim(y)
  yr <- if (is.null(yd)) 1L else length(yd)
  # one-hot / probability labels: the output's rank, K on the last axis
  if (!is.factor(y) && yr == r && (r > 2 || (!is.na(K) && yd[r] == K && K > 1))) {
    if (!is.na(K) && yd[r] != K) {
      sym_abort("One-hot labels have {yd[r]} column{?s} but the model has {K} output{?s}.",
                kind = "shape", call = call)
    }
    if (is.logical(y)) y <- y + 0
    if (any(y < 0)) sym_abort("{what}: class probabilities must be >= 0.", kind = "value", call = call)
    return(list(value = y, dtype = "float32", shape = c(NA_integer_, out_shape[-1]), kind = "prob",
                levels = NULL))
  }
  levels <- NULL
  if (is.factor(y)) {
    levels <- levels(y)
    if (!is.na(K) && length(levels) > K) {
      sym_abort(c("The label factor has {length(levels)} levels but the model has {K} output{?s}.",
                  i = "Labels must index the classes on the output's last axis."),
                kind = "value", call = call)
    }
    y <- as.integer(y) - 1L
  } else {
    if (is.logical(y) || !.is_whole(y)) {
      sym_abort(c("{what}: must be whole numbers (class indices 0..K-1), a factor, or one-hot rows.",
                  i = "For numeric targets use a regression loss such as {.fn loss_mse}."),
                kind = "value", call = call)
    }
    rng <- range(y)
    if (rng[1] < 0 || (!is.na(K) && rng[2] > K - 1)) {
      hint <- if (!is.na(K) && rng[1] >= 1 && rng[2] == K) {
        c(i = "They look 1-based: subtract 1 (labels are 0-based, as in the datasets), or pass a factor.")
      } else {
        c(i = "The model has {K} output{?s} on its last axis, so labels must be in 0..{K - 1}.")
      }
      sym_abort(c("{what}: out of range, found {rng[1]}..{rng[2]}.", hint),
                kind = "value", call = call)
    }
    d <- dim(y)
    y <- as.integer(round(y))
    if (!is.null(d)) dim(y) <- d
  }
  # class labels: the output's shape without the class axis
  want <- r - 1L
  yd <- dim(y)
  if (want == 1L && !is.null(yd) && length(yd) == 2 && yd[2] == 1) {
    y <- as.vector(y)
    yd <- NULL
  }
  yr <- if (is.null(yd)) 1L else length(yd)
  if (yr != want) {
    sym_abort("Class labels must have rank {want} (the output's rank minus the class axis), not {yr}.",
              kind = "shape", call = call)
  }
  if (want > 1) .check_trailing(yd, out_shape[-r], what, call)
  list(value = y, dtype = "int32", shape = c(NA_integer_, out_shape[-c(1, r)]), kind = "class",
       levels = levels)
}

# Targets with the output's shape (a vector for an [n, 1] output).
.conform_target <- function(y, out_shape, what, call) {
  r <- length(out_shape)
  d <- dim(y)
  if (is.null(d)) {
    if (r == 2 && identical(out_shape[2], 1L)) {
      y <- matrix(y, ncol = 1)
    } else if (r != 1) {
      os <- .format_shape(out_shape)
      sym_abort("{what}: a vector was given but the model output has shape {os}.",
                kind = "shape", call = call)
    }
  } else if (length(d) != r) {
    os <- .format_shape(out_shape)
    sym_abort("{what}: rank {length(d)} was given but the model output has rank {r} ({os}).",
              kind = "shape", call = call)
  } else {
    .check_trailing(d, out_shape, what, call)
  }
  y
}

.check_trailing <- function(d, shape, what, call) {
  if (length(d) < 2) return(invisible())
  want <- shape[-1]
  got <- d[-1]
  bad <- !is.na(want) & want != got
  if (any(bad)) {
    gs <- .format_shape(c(NA, got))
    ws <- .format_shape(shape)
    sym_abort("{what}: shape {gs} was given but {ws} is expected.",
              kind = "shape", call = call)
  }
  invisible()
}

.binary_labels <- function(y, out_shape, what = "Labels", call = parent.frame()) {
  y <- .check_label_values(y, what, call)
  if (is.factor(y)) {
    if (nlevels(y) > 2) {
      sym_abort("Binary cross-entropy needs a factor with at most 2 levels, not {nlevels(y)}.",
                kind = "value", call = call)
    }
    y <- as.integer(y) - 1
  }
  d <- dim(y)
  y <- as.double(y)
  dim(y) <- d
  if (any(y < 0 | y > 1)) {
    rng <- range(y)
    sym_abort("Binary targets must be in [0, 1]; found {rng[1]}..{rng[2]}.", kind = "value", call = call)
  }
  y <- .conform_target(y, out_shape, what, call)
  list(value = y, dtype = "float32", shape = c(NA_integer_, out_shape[-1]), kind = "binary", levels = NULL)
}

.target_labels <- function(y, out_shape, what = "Targets", call = parent.frame()) {
  y <- .check_label_values(y, what, call)
  if (is.factor(y)) {
    sym_abort("Regression targets must be numeric, not a factor.", kind = "dtype", call = call)
  }
  y <- .conform_target(y + 0, out_shape, what, call)
  list(value = y, dtype = "float32", shape = c(NA_integer_, out_shape[-1]), kind = "target", levels = NULL)
}

# Custom losses get float32 labels (so `sym_mean(y_true)`, `y_pred - y_true` work whatever R
# type the labels had) except class indices: a factor, or whole numbers with the output's shape
# minus its class axis (of K > 1 classes), which stay int32 for sym_one_hot()/sym_gather().
.custom_labels <- function(y, out_shape, what = "Labels", call = parent.frame()) {
  y <- .check_label_values(y, what, call)
  d <- dim(y)
  if (is.factor(y)) {
    y <- as.integer(y) - 1L
    dim(y) <- d
  }
  dtype <- if (is.integer(y) && .looks_like_class_indices(y, out_shape)) "int32" else "float32"
  if (dtype == "float32" && !is.double(y)) {
    y <- as.double(y)
    dim(y) <- d
  }
  # a vector of targets for an [n, 1] output is one column, as for the built-in losses (else
  # y_pred - y_true would broadcast to [n, n])
  if (dtype == "float32" && is.null(d) && length(out_shape) == 2 && identical(out_shape[2], 1L)) {
    y <- matrix(y, ncol = 1)
    d <- dim(y)
  }
  shape <- if (is.null(d)) NA_integer_ else c(NA_integer_, d[-1])
  list(value = y, dtype = dtype, shape = shape, kind = if (dtype == "int32") "class" else "target",
       levels = NULL)
}

# Integer labels whose shape is the output's without its last (class) axis, K > 1.
.looks_like_class_indices <- function(y, out_shape) {
  r <- length(out_shape)
  if (r < 2) return(FALSE)
  K <- out_shape[r]
  if (!is.na(K) && K < 2) return(FALSE)
  d <- dim(y)
  yr <- if (is.null(d)) 1L else length(d)
  if (yr == 2 && r == 2 && d[2] == 1) yr <- 1L
  yr == r - 1L
}
