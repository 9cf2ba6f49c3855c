# Normalization layers: batch norm (running statistics as auxiliary state
# updated in the training graph) and layer norm.

#' Batch normalization layer
#'
#' `layer_batch_norm(x)` normalizes each channel (dimension 2 of `[N, C,
#' ...]`: the features of `[N, F]`, the channels of NCHW images) and
#' applies a learnt scale `gamma` and offset `beta`:
#' `gamma * (x - mean) / sqrt(var + epsilon) + beta`.
#'
#' In inference (the graph as built, [predict()] and `evaluate()`), `mean`
#' and `var` are the running statistics `"<name>/moving_mean"` and
#' `"<name>/moving_variance"` (non-trainable parameters). In training
#' ([fit()][generics::fit] compiles the step in training mode) they are the
#' statistics of the mini-batch, and the running statistics are updated
#' after each step as keras does: `moving = momentum * moving + (1 -
#' momentum) * batch` (the batch variance in the update is the unbiased
#' one, as PyTorch). A model built with [sym_model()] finds these updates in
#' the batch-norm nodes of its graph (listed in `model$aux_updates`), so
#' models built on the outputs of another model keep updating its
#' statistics; user-written layers attach theirs with [sym_with_update()].
#'
#' @inheritParams layer_dense
#' @param x Input symbol `[N, C, ...]` with a known `C`.
#' @param momentum Momentum of the running statistics (keras convention:
#'   the weight of the old value; PyTorch's `momentum` is `1 - momentum`).
#' @param epsilon Added to the variance.
#' @param center,scale Learn `beta` / `gamma` (otherwise fixed at 0 / 1).
#' @param beta_initializer,gamma_initializer,moving_mean_initializer,moving_variance_initializer
#'   Initializers.
#' @return A symbol of the shape of `x`.
#' @family layers
#' @examples
#' x <- sym_var("x", c(NA, 3, 4, 4))
#' y <- layer_batch_norm(x)
#' model <- sym_model(x, y)
#' model
#' names(get_weights(model))
#' @export
layer_batch_norm <- function(x, momentum = 0.99, epsilon = 1e-3, center = TRUE, scale = TRUE,
                             beta_initializer = "zeros", gamma_initializer = "ones",
                             moving_mean_initializer = "zeros", moving_variance_initializer = "ones",
                             name = NULL) {
  x <- .layer_input(x)
  momentum <- .check_number(momentum, "momentum", finite = TRUE)
  if (momentum < 0 || momentum > 1) sym_abort("{.arg momentum} must be in [0, 1], not {momentum}.")
  epsilon <- .check_number(epsilon, "epsilon", finite = TRUE)
  if (epsilon < 0) sym_abort("{.arg epsilon} must be >= 0.")
  center <- .check_flag(center, "center")
  scale <- .check_flag(scale, "scale")
  dt <- .float_input(x, "layer_batch_norm")
  if (length(x$shape) < 2 || is.na(x$shape[2])) {
    shp <- .format_shape(x$shape)
    ex <- .declare_example(x, "c(NA, channels)")
    sym_abort(c("{.fn layer_batch_norm} needs an input [N, C, ...] with a known C, not {shp}.",
                i = "Declare the input with its channels, e.g. {.code {ex}}."),
              kind = "shape")
  }
  ch <- x$shape[2]
  nm <- .layer_name("batch_norm", "BatchNorm", name)
  gamma <- if (scale) sym_param(.nn(nm, "gamma"), ch, gamma_initializer, dtype = dt)
           else sym_const(rep(1, ch), dtype = dt, name = .nn(nm, "gamma"))
  beta <- if (center) sym_param(.nn(nm, "beta"), ch, beta_initializer, dtype = dt)
          else sym_const(rep(0, ch), dtype = dt, name = .nn(nm, "beta"))
  mm <- sym_param(.nn(nm, "moving_mean"), ch, moving_mean_initializer, dtype = dt, trainable = FALSE)
  mv <- sym_param(.nn(nm, "moving_variance"), ch, moving_variance_initializer, dtype = dt,
                  trainable = FALSE)
  ins <- list(x, gamma, beta, mm, mv)
  # One node in inference mode (1 output). The compiled training step flips it to
  # training mode (5 outputs: y, batch mean, batch var, new running mean, new running
  # var), and sym_model() takes the running-statistics updates from outputs 4 and 5
  # of the flipped node (.graph_state_updates()): the update lives in the graph, so
  # nothing outlives the layer's symbols and models.
  y <- .op("batch_norm", ins, list(epsilon = epsilon, momentum = momentum, training = 0L),
           .nn(nm, "batch_norm"))
  y
}

#' Layer normalization layer
#'
#' `layer_layer_norm(x)` normalizes each example over the last axis (or
#' over `axis` and all axes after it) to mean 0 and variance 1, then applies
#' a learnt elementwise scale `gamma` and offset `beta` of the normalized
#' shape. Unlike batch normalization it behaves the same in training and
#' inference.
#'
#' @inheritParams layer_batch_norm
#' @param x Input symbol; the normalized dimensions must be known.
#' @param axis First normalized axis (1-based, negative from the end; the
#'   default `-1` normalizes the last axis only, as keras).
#' @param epsilon Added to the variance.
#' @param beta_initializer,gamma_initializer Initializers of `beta` and `gamma`
#'   (see [sym_param()]).
#' @return A symbol of the shape of `x`.
#' @family layers
#' @examples
#' x <- sym_var("x", c(NA, 4))
#' y <- layer_layer_norm(x)
#' sym_compile(y)(x = rbind(1:4, c(2, 2, 2, 6)))
#' @export
layer_layer_norm <- function(x, axis = -1, epsilon = 1e-3, center = TRUE, scale = TRUE,
                             beta_initializer = "zeros", gamma_initializer = "ones", name = NULL) {
  x <- .layer_input(x)
  epsilon <- .check_number(epsilon, "epsilon", finite = TRUE)
  if (epsilon < 0) sym_abort("{.arg epsilon} must be >= 0.")
  center <- .check_flag(center, "center")
  scale <- .check_flag(scale, "scale")
  dt <- .float_input(x, "layer_layer_norm")
  .need_rank(x, "{.fn layer_layer_norm}", example = "c(NA, n_features)")
  r <- length(x$shape)
  if (r < 1) sym_abort("{.fn layer_layer_norm} needs an input of rank >= 1.", kind = "shape")
  ax <- .axis0(axis, r)
  norm_shape <- x$shape[(ax + 1L):r]
  if (anyNA(norm_shape)) {
    shp <- .format_shape(x$shape)
    ex <- .declare_example(x, "c(NA, n_features)")
    sym_abort(c("{.fn layer_layer_norm} needs the normalized dimensions known; the input is {shp}.",
                i = "Declare them, e.g. {.code {ex}}."),
              kind = "shape")
  }
  nm <- .layer_name("layer_norm", "LayerNorm", name)
  gamma <- if (scale) sym_param(.nn(nm, "gamma"), norm_shape, gamma_initializer, dtype = dt)
           else sym_const(array(1, norm_shape), dtype = dt, name = .nn(nm, "gamma"))
  ins <- list(x, gamma)
  if (center) ins[[3]] <- sym_param(.nn(nm, "beta"), norm_shape, beta_initializer, dtype = dt)
  .op("layer_norm", ins, list(axis = ax, epsilon = epsilon), .nn(nm, "layer_norm"), multi = TRUE)[[1]]
}
