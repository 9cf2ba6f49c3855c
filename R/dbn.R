# Deep belief networks: a stack of RBMs pretrained greedily, layer by layer, then turned
# into a sym_model of sigmoid dense layers carrying the pretrained weights, which fit()
# fine-tunes with backpropagation.

#' Deep belief networks
#'
#' `dbn(sizes)` creates a stack of RBMs (Hinton, Osindero and Teh, 2006):
#' `sizes = c(784, 256, 64)` makes an RBM 784 -> 256 and an RBM 256 -> 64.
#' [fit()][fit.symnet_dbn] pretrains them greedily, each on the hidden
#' probabilities of the one below; [dbn_model()] turns the stack into a
#' [sym_model()] of dense layers carrying the pretrained weights (and
#' optionally an output layer) that [fit()][fit.symnet_model] fine-tunes
#' with backpropagation.
#'
#' The RBMs are `x$rbms` (a list of `symnet_rbm`); the first has visible
#' units of type `visible`, the others Bernoulli visibles (their data are
#' probabilities); all have hidden units of type `hidden`. The same network
#' can be built from layers instead, initialised from pretrained RBMs with
#' [initializer_rbm()].
#'
#' @param sizes Numbers of units: the input width, then each hidden layer's
#'   (at least two numbers).
#' @param visible Unit type of the first layer's visible units (see [rbm()]).
#' @param hidden Unit type of every hidden layer.
#' @param name Name; the RBMs are named `"<name>_rbm1"`, `"<name>_rbm2"`, ...
#' @return A `symnet_dbn` object.
#' @seealso [fit.symnet_dbn()], [dbn_model()], [rbm()].
#' @examples
#' set.seed(1)
#' d <- dbn(c(16, 8, 4))
#' d
#' d$rbms[[2]]
#' @export
dbn <- function(sizes, visible = c("bernoulli", "gaussian"), hidden = c("bernoulli", "relu"), name = NULL) {
  sizes <- .check_ints(sizes, "sizes", min = 1)
  if (length(sizes) < 2) sym_abort("{.arg sizes} needs at least two numbers: the input width and a hidden layer.")
  visible <- .match_arg(visible, c("bernoulli", "gaussian"), "visible")
  hidden <- .match_arg(hidden, c("bernoulli", "relu"), "hidden")
  if (is.null(name)) {
    .rbm_counter$dbn <- (.rbm_counter$dbn %||% 0L) + 1L
    name <- paste0("dbn", .rbm_counter$dbn)
  }
  name <- .check_string(name, "name")
  if (!nzchar(name)) sym_abort("{.arg name} must not be empty.")
  rbms <- lapply(seq_len(length(sizes) - 1L), function(i) {
    rbm(sizes[i], sizes[i + 1L], visible = if (i == 1L) visible else "bernoulli", hidden = hidden,
        name = paste0(name, "_rbm", i))
  })
  .new_dbn(name, rbms)
}

.new_dbn <- function(name, rbms) {
  structure(list(name = name, rbms = rbms,
                 sizes = c(rbms[[1]]$n_visible, vapply(rbms, function(r) r$n_hidden, numeric(1)))),
            class = "symnet_dbn")
}

.check_dbn <- function(x, arg = "object", call = parent.frame()) {
  if (!inherits(x, "symnet_dbn")) {
    sym_abort("{.arg {arg}} must be a deep belief network from {.fn dbn}, not {.obj_type_friendly {x}}.", call = call)
  }
  x
}

#' @export
print.symnet_dbn <- function(x, ...) {
  cat(sprintf("<symnet DBN %s> %s (%d RBMs)\n", x$name, paste(x$sizes, collapse = " -> "), length(x$rbms)))
  for (r in x$rbms) cat("  ", format(r), "\n", sep = "")
  invisible(x)
}

#' Pretrain a deep belief network layer by layer
#'
#' `fit(dbn, x)` trains the RBMs of a [dbn()] greedily: the first on `x`,
#' each next one on the hidden probabilities ([transform()][transform.symnet_rbm])
#' of the one below, with [fit()][fit.symnet_rbm] and the same settings.
#'
#' @param object A `symnet_dbn`.
#' @param x Training data, as for [fit()][fit.symnet_rbm].
#' @param epochs Epochs per layer: one number, or one per RBM.
#' @param validation_data `NULL` or held-out data, propagated through the
#'   layers like `x`.
#' @param verbose As for [fit()][fit.symnet_rbm]; with `verbose > 0` a line
#'   names each layer before its training.
#' @param seed `NULL` or a whole number (layer `i` uses `seed + i - 1`).
#' @param ... Further arguments of [fit()][fit.symnet_rbm] (`batch_size`,
#'   `learning_rate`, `k`, `persistent`, `momentum`, ...).
#' @return A list of `symnet_history` objects, one per RBM (invisibly when
#'   `verbose > 0`); the RBMs are trained in place.
#' @seealso [dbn()], [dbn_model()].
#' @examples
#' set.seed(1)
#' x <- matrix(rbinom(100 * 16, 1, 0.3), 100, 16)
#' d <- dbn(c(16, 8, 4))
#' hs <- fit(d, x, epochs = 3, batch_size = 10, verbose = 0, seed = 1)
#' hs[[2]]
#' @export
fit.symnet_dbn <- function(object, x, epochs = 10, validation_data = NULL,
                           verbose = getOption("symnet.verbose", 1), seed = NULL, ...) {
  d <- .check_dbn(object)
  n <- length(d$rbms)
  epochs <- .check_ints(epochs, "epochs", min = 1)
  if (!length(epochs) %in% c(1L, n)) sym_abort("{.arg epochs} must be one number or {n} (one per RBM).")
  epochs <- rep_len(epochs, n)
  verbose <- .check_verbose(verbose)
  seed <- .check_seed_arg(seed)
  if (missing(x)) sym_abort("{.arg x} is missing: give the training data.")
  dots <- list(...)   # checked by fit.symnet_rbm() before the first layer trains
  # all data checks before any layer trains
  h <- .rbm_data(x, d$rbms[[1]], "x")
  hv <- if (!is.null(validation_data)) .rbm_data(validation_data, d$rbms[[1]], "validation_data")
  hists <- vector("list", n)
  names(hists) <- vapply(d$rbms, function(r) r$name, character(1))
  for (i in seq_len(n)) {
    r <- d$rbms[[i]]
    if (verbose > 0) cli::cli_inform(c(i = "Layer {i}/{n}: {r$name} ({r$n_visible} -> {r$n_hidden})"))
    args <- c(list(r, h, epochs = epochs[i], validation_data = hv, verbose = verbose,
                   seed = if (!is.null(seed)) seed + i - 1L), dots)
    hists[[i]] <- do.call(fit.symnet_rbm, args)
    if (i < n) {
      h <- transform(r, h)
      if (!is.null(hv)) hv <- transform(r, hv)
    }
  }
  if (verbose > 0) invisible(hists) else hists
}

#' @rdname transform.symnet_rbm
#' @export
transform.symnet_dbn <- function(`_data`, x, batch_size = 256, ...) {
  .check_dots(list(...), c("x", "batch_size"), "transform")
  d <- .check_dbn(`_data`, "_data")
  if (missing(x)) sym_abort("{.arg x} is missing: give the data to transform.")
  h <- .rbm_data(x, d$rbms[[1]], "x")
  batch_size <- .check_int(batch_size, "batch_size", min = 1)
  for (r in d$rbms) h <- .rbm_hidden_probs(r, h, batch_size)
  h
}

#' Initialise layers from a pretrained RBM
#'
#' `initializer_rbm(rbm)` is an initializer (see [initializers]) giving a
#' dense layer the RBM's weights (`what = "weights"`, for
#' `kernel_initializer`) or hidden biases (`"hidden_bias"`, for
#' `bias_initializer`): a [layer_dense()] of `n_hidden` units with a sigmoid
#' activation on an input of `n_visible` features then computes the RBM's
#' hidden probabilities.
#'
#' @param rbm A `symnet_rbm`.
#' @param what `"weights"` or `"hidden_bias"`.
#' @return A `symnet_initializer`.
#' @seealso [dbn_model()] builds the whole stack.
#' @examples
#' set.seed(1)
#' r <- rbm(6, 3)
#' x <- sym_var("x", c(NA, 6))
#' h <- layer_dense(x, 3, activation = "sigmoid", kernel_initializer = initializer_rbm(r),
#'                  bias_initializer = initializer_rbm(r, "hidden_bias"))
#' m <- sym_model(x, h)
#' xx <- matrix(runif(12), 2, 6)
#' all.equal(predict(m, xx), transform(r, xx), tolerance = 1e-6)
#' @export
initializer_rbm <- function(rbm, what = c("weights", "hidden_bias")) {
  r <- .check_rbm(rbm, "rbm")
  what <- .match_arg(what, c("weights", "hidden_bias"), "what")
  new_initializer(paste0("rbm_", what), function(shape) {
    v <- get_weights(r)[[what]]
    want <- if (what == "weights") c(r$n_visible, r$n_hidden) else r$n_hidden
    if (length(shape) != length(want) || any(shape != want)) {
      got <- .format_shape(shape)
      need <- .format_shape(want)
      sym_abort("{.fn initializer_rbm} gives {what} of shape {need}, but the layer asks for {got}.",
                kind = "shape", call = NULL)
    }
    v
  }, list(rbm = r$name, what = what))
}

#' Turn a pretrained DBN into a model to fine-tune
#'
#' `dbn_model(dbn)` builds a [sym_model()] with one [layer_dense()] per RBM
#' (sigmoid activation, or ReLU for ReLU hidden units), initialised with the
#' RBMs' weights and hidden biases, optionally followed by a randomly
#' initialised output layer. Train it with [fit()][fit.symnet_model]
#' (backpropagation fine-tuning); the DBN itself is not changed.
#'
#' @param dbn A `symnet_dbn`.
#' @param output_units `NULL` (no output layer) or the number of outputs
#'   (e.g. classes, for [loss_softmax_cross_entropy()]).
#' @param output_activation Activation of the output layer (see
#'   [layer_dense()]); `NULL` for logits.
#' @param name Model name; the layers are named `"<name>_dense1"`, ...,
#'   and `"<name>_output"`.
#' @return A `symnet_model`.
#' @seealso [dbn()], [initializer_rbm()].
#' @examples
#' set.seed(1)
#' x <- matrix(rbinom(200 * 16, 1, 0.3), 200, 16)
#' y <- as.integer(rowSums(x[, 1:8]) > rowSums(x[, 9:16]))
#' d <- dbn(c(16, 12, 8))
#' fit(d, x, epochs = 5, batch_size = 10, verbose = 0, seed = 1)
#' m <- dbn_model(d, output_units = 2)
#' m
#' h <- fit(m, x, y, loss = "softmax_cross_entropy", epochs = 5, metrics = "accuracy", verbose = 0)
#' h
#' @export
dbn_model <- function(dbn, output_units = NULL, output_activation = NULL, name = NULL) {
  d <- .check_dbn(dbn, "dbn")
  name <- if (is.null(name)) d$name else .check_string(name, "name")
  x <- sym_var("x", c(NA, d$sizes[1]))
  h <- x
  for (i in seq_along(d$rbms)) {
    r <- d$rbms[[i]]
    h <- layer_dense(h, r$n_hidden, activation = if (r$hidden == "relu") "relu" else "sigmoid",
                     kernel_initializer = initializer_rbm(r), bias_initializer = initializer_rbm(r, "hidden_bias"),
                     name = paste0(name, "_dense", i))
  }
  if (!is.null(output_units)) {
    output_units <- .check_int(output_units, "output_units", min = 1)
    h <- layer_dense(h, output_units, activation = output_activation, name = paste0(name, "_output"))
  }
  sym_model(x, h, name = name)
}
