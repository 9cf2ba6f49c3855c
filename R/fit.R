# Training, evaluation and prediction. A training step is ONE compiled graph
# (forward pass, loss, gradients, optimiser updates, state updates, in-graph
# metrics) run by ONE call into the engine on rows of engine-resident data
# tensors: cpp_function_run(fn, feeds, rows = idx).

#' @importFrom generics fit
#' @export
generics::fit

#' Train a model
#'
#' `fit(model, x, y, ...)` trains a [sym_model()] in place with mini-batch
#' gradient descent. The forward pass, the loss, the gradients, the
#' optimiser's updates (and state updates such as batch-norm statistics)
#' and the built-in metrics are compiled into one graph, in training mode;
#' every step is one call into the engine, which gathers the mini-batch
#' rows from the data converted once into engine memory and updates the
#' weights in place. Nothing is done per parameter or per op in R.
#'
#' All data are checked before training starts: `x` and `y` with different
#' numbers of examples, labels out of range (class indices must lie in
#' `0..K-1` for `K` outputs), `NA`s, `Inf`s (see `check_finite`), empty data
#' and arrays whose rank does not match the model input raise classed
#' errors (`symnet_value_error`, `symnet_shape_error`), and so does an
#' argument `fit()` does not know (a misspelt `validation_splt = 0.2` is
#' never silently ignored).
#'
#' Training never applies a step whose loss or gradients are `NaN` or
#' infinite: by default it stops with a `symnet_nonfinite_error`, the model
#' keeping the weights of the last finite step (see `on_nonfinite`).
#'
#' A softmax (or sigmoid) output layer with [loss_softmax_cross_entropy()]
#' (or [loss_binary_cross_entropy()]) is trained from its logits, never
#' through the activation twice (see [losses]).
#'
#' Progress: with `verbose = 1` a progress bar per epoch shows the running
#' loss, the metrics and the throughput in examples per second, then one
#' line per epoch with the epoch's figures (and validation figures);
#' `verbose = 2` prints just the lines, `verbose = 0` nothing.
#'
#' Interrupting `fit()` (Ctrl-C, Esc) stops it cleanly between steps: the
#' model keeps the weights reached, and `fit()` returns the history of the
#' completed epochs with a message.
#'
#' `loss`, `optimizer` and `metrics` default to those of the model's
#' previous `fit()`, so calling `fit()` again continues training with the
#' same optimiser state.
#'
#' @param object A `symnet_model`.
#' @param x Training inputs: an array with the examples on the first axis
#'   (shaped like the model input, e.g. `[n, 1, 28, 28]` for an input
#'   declared `c(NA, 1, 28, 28)`), a named list of arrays for several
#'   inputs, a [data_iterator()], or a function returning mini-batches
#'   (see [data_iterator()]).
#' @param y Labels or targets (see [losses]); a named list for several
#'   outputs. `NULL` when `x` is an iterator.
#' @param loss A loss ([losses]), its name, a function, or a named list
#'   with one per output.
#' @param optimizer An optimiser ([optimizers]) or its name; default
#'   `optimizer_adam()` on the first `fit()`.
#' @param epochs Number of passes over the data.
#' @param batch_size Examples per mini-batch (the last batch of an epoch
#'   may be smaller).
#' @param validation_data Data evaluated after every epoch: `list(x, y)`, a
#'   [data_iterator()] or a batch function.
#' @param validation_split Fraction of the examples (the last ones, before
#'   shuffling) held out as validation data instead.
#' @param metrics Metrics to report, see [metrics].
#' @param callbacks A list of callbacks, see [callbacks].
#' @param shuffle Shuffle the training examples every epoch.
#' @param seed `NULL` or a whole number: makes shuffling and random ops
#'   (dropout) reproducible without touching R's RNG state.
#' @param verbose 0 (silent), 1 (progress bar and a line per epoch) or 2
#'   (a line per epoch). The bar is drawn only where the console can redraw
#'   it in place; elsewhere (logs, R Markdown) 1 gives the lines alone. The
#'   default is the option `symnet.verbose`, else 1.
#' @param device Where to compute: `"cpu"`, or a GPU: `"cuda"` (the first,
#'   `"cuda:0"`) or `"cuda:N"` when [cuda_is_available()] (otherwise a
#'   `symnet_cuda_unavailable_error`, also a `symnet_unsupported_error`,
#'   carries the reason; see [cuda_device_info()]). Developers can test the executor on
#'   a simulated device with `options(symnet.developer.sim_device = TRUE)`
#'   and `device = "sim"` (or `"sim_partial"`, a device without convolution
#'   kernels: those nodes fall back to the CPU).
#' @param class_weight `NULL` or weights of the classes, for classification
#'   losses (single-output models): a named numeric vector or list mapping
#'   a class to the weight that multiplies the loss of its examples, the
#'   names being 0-based class indices (`c("0" = 1, "1" = 5)`) or, for
#'   factor labels, the factor levels; or an unnamed vector of one weight
#'   per class (classes `0..K-1`). Classes not named get weight 1. For
#'   one-hot labels the class is the arg-max, for binary targets the
#'   rounded target. The validation figures are not weighted.
#' @param sample_weight `NULL` or one weight (>= 0) per training example,
#'   multiplying the loss of that example (with `class_weight`, the two
#'   multiply). The batch loss is the mean over its examples of the
#'   weighted losses, as in keras. With a batch function, the batches carry
#'   their weights instead (`list(x = , y = , sample_weight = )`).
#' @param initial_epoch Number of epochs already done (keras convention):
#'   training runs epochs `initial_epoch + 1` to `epochs`, numbered so, and
#'   learning-rate schedules, callbacks and the history see those numbers.
#'   To resume a run of 10 epochs for 5 more: `initial_epoch = 10, epochs = 15`.
#' @param steps_per_epoch `NULL` (one pass over the data per epoch) or the
#'   number of batches in an epoch: the batches are drawn from a stream over
#'   the data that continues across epochs and starts a new (reshuffled)
#'   pass whenever one ends, so an epoch may be shorter or longer than a
#'   pass.
#' @param check_finite Check that the input arrays hold only finite values
#'   (no `Inf`, and no value beyond the range of a `float32` input) before
#'   training; `NA`/`NaN` are always rejected. `FALSE` skips the check.
#' @param on_nonfinite What a training step whose loss or gradients are not
#'   finite (`NaN`, `Inf`) does. Such a step is never applied: the weights
#'   and the optimiser state stay those of the last finite step. `"stop"`
#'   (default) ends training with an error of class `symnet_nonfinite_error`
#'   (its `history` field holds the completed epochs, its `epoch` and
#'   `batch` fields where it happened); with [callback_terminate_on_nan()]
#'   among the callbacks training stops with just that callback's message
#'   and `fit()` returns the history. `"skip"` skips such steps, leaves them
#'   out of the epoch figures and warns (class `symnet_nonfinite_warning`)
#'   at the end with their number. `"ignore"` applies every step as computed
#'   (non-finite values then reach the weights), without checks.
#' @param strategy `NULL` (one process), or [strategy_data_parallel()] to
#'   train on every rank of an MPI job (see [dist_init()]), each on its share
#'   of every batch.
#' @param ... Nothing: an unknown argument is an error of class
#'   `symnet_unknown_argument_error` naming it (with the closest argument
#'   name as a suggestion).
#' @return A `symnet_history` (invisibly when `verbose > 0`): per-epoch
#'   loss and metrics (see [print.symnet_history()]). The model is changed
#'   in place.
#' @seealso [evaluate()], [predict.symnet_model()], [callbacks],
#'   [data_iterator()].
#' @examples
#' set.seed(1)
#' n <- 300
#' X <- matrix(rnorm(2 * n), n, 2)
#' y <- as.integer(X[, 1] * X[, 2] > 0)             # 0/1 classes
#' x <- sym_var("x", c(NA, 2))
#' out <- x |> layer_dense(16, activation = "relu") |> layer_dense(2)
#' model <- sym_model(x, out)
#' history <- fit(model, X, y, loss = loss_softmax_cross_entropy(),
#'                optimizer = optimizer_adam(0.02), epochs = 20, batch_size = 32,
#'                metrics = "accuracy", validation_split = 0.2, verbose = 0, seed = 1)
#' history
#' evaluate(model, X, y)
#' head(predict(model, X))
#' # 10 more epochs (numbered 21 to 30), class 1 weighing twice as much
#' h2 <- fit(model, X, y, epochs = 30, initial_epoch = 20, class_weight = c("0" = 1, "1" = 2),
#'           verbose = 0)
#' range(h2$metrics$epoch)
#' # a misspelt argument is an error, not silently ignored
#' try(fit(model, X, y, validation_splt = 0.2, verbose = 0))
#' @export
fit.symnet_model <- function(object, x = NULL, y = NULL, loss = NULL, optimizer = NULL, epochs = 1,
                             batch_size = 32, validation_data = NULL, validation_split = 0,
                             metrics = NULL, callbacks = NULL, shuffle = TRUE, seed = NULL,
                             verbose = getOption("symnet.verbose", 1), device = "cpu",
                             class_weight = NULL, sample_weight = NULL, initial_epoch = 0,
                             steps_per_epoch = NULL, check_finite = TRUE,
                             on_nonfinite = c("stop", "skip", "ignore"), strategy = NULL, ...) {
  .check_dots(list(...), names(formals(fit.symnet_model)), "fit")
  call <- environment()
  model <- .check_model(object, "object")
  epochs <- .check_int(epochs, "epochs", min = 1)
  initial_epoch <- .check_int(initial_epoch, "initial_epoch", min = 0)
  if (initial_epoch >= epochs) {
    sym_abort(c("{.arg initial_epoch} ({initial_epoch}) must be smaller than {.arg epochs} ({epochs}).",
                i = "{.arg epochs} is the number of the last epoch (keras convention): to train 5 more epochs after {initial_epoch}, use {.code initial_epoch = {initial_epoch}, epochs = {initial_epoch + 5}}."))
  }
  if (!is.null(steps_per_epoch)) steps_per_epoch <- .check_int(steps_per_epoch, "steps_per_epoch", min = 1)
  check_finite <- .check_flag(check_finite, "check_finite")
  on_nonfinite <- .match_arg(on_nonfinite, c("stop", "skip", "ignore"), "on_nonfinite")
  batch_size <- .check_int(batch_size, "batch_size", min = 1)
  shuffle <- .check_flag(shuffle, "shuffle")
  seed <- .check_seed_arg(seed)
  verbose <- .check_verbose(verbose)
  device <- .check_device(device)
  dp <- .dp_context(.check_strategy(strategy))
  if (!is.null(dp)) {
    if (!is.null(steps_per_epoch)) {
      sym_abort("{.arg steps_per_epoch} is not supported with {.fn strategy_data_parallel} yet.", kind = "unsupported")
    }
    # every rank shuffles alike; only rank 0 prints
    seed <- .dp_seed(seed)
    if (dp$rank != 0L) verbose <- 0L
  }
  validation_split <- .check_number(validation_split, "validation_split", finite = TRUE)
  if (validation_split < 0 || validation_split >= 1) {
    sym_abort("{.arg validation_split} must be in [0, 1).")
  }
  if (validation_split > 0 && !is.null(validation_data)) {
    sym_abort("Give {.arg validation_data} or {.arg validation_split}, not both.")
  }
  inputs <- .model_get(model, "inputs")
  outputs <- .model_get(model, "outputs")
  cache <- .model_get(model, "cache")
  prev <- cache$fit_config
  if (is.null(loss)) {
    loss <- prev$loss
    if (is.null(loss)) {
      sym_abort(c("{.arg loss} is missing.",
                  i = "E.g. {.code loss = loss_softmax_cross_entropy()} for classification, {.code loss_mse()} for regression."))
    }
  }
  losses <- .losses_for(loss, outputs)
  optimizer <- if (is.null(optimizer)) prev$optimizer %||% optimizer_adam() else .as_optimizer(optimizer)
  metrics <- if (is.null(metrics)) prev$metrics %||% list() else .as_metrics(metrics)
  callbacks <- .dp_callbacks(.as_callbacks(callbacks), dp)

  # ---- data (all checks happen here, before any training) ----
  # (before the batch function is asked for its first batch)
  if (!is.null(sample_weight) && .is_batch_function(x)) .abort_fn_sample_weight(environment())
  train <- .data_source(x, y, inputs, outputs, losses, batch_size, shuffle, seed, "x", "y",
                        check_finite = check_finite)
  train <- .add_weights(train, sample_weight, class_weight, outputs)
  if (!is.null(dp) && (train$type != "arrays" || !is.null(train$iterator))) {
    sym_abort("{.fn strategy_data_parallel} needs the training data as arrays, not a batch function or iterator.",
              kind = "unsupported")
  }
  val <- NULL
  if (validation_split > 0) {
    if (train$type != "arrays" || !is.null(train$iterator)) {
      sym_abort("{.arg validation_split} needs arrays; give {.arg validation_data} with iterators.")
    }
    split <- .split_source(train, validation_split)
    train <- split$train
    val <- split$val
  } else if (!is.null(validation_data)) {
    val <- .validation_source(validation_data, inputs, outputs, losses, batch_size, check_finite)
  }
  specs <- train$specs
  if (!is.null(val) && !is.null(val$specs)) .check_compatible_specs(specs, val$specs)
  if (!is.null(val) && val$type == "function") val$weighted <- FALSE

  cfg <- list(loss = loss, optimizer = optimizer, metrics = metrics)
  cache$fit_config <- cfg
  step_fn <- .train_function(model, losses, metrics, specs, optimizer, seed, weighted = train$weighted,
                             guard = on_nonfinite != "ignore", device = device, dp = dp)
  eval_fn <- if (!is.null(val)) .eval_function(model, losses, metrics, val$specs %||% specs, device = device) else NULL
  vars <- .optimizer_vars(optimizer)

  train$steps_per_epoch <- steps_per_epoch
  # A fit resumed at initial_epoch (from a checkpoint) with a seed shuffles its epochs as the
  # uninterrupted run did: the seeded stream skips the earlier epochs' permutations.
  if (initial_epoch > 0L && train$type == "arrays" && is.null(train$iterator) && isTRUE(train$shuffle) &&
      is.null(steps_per_epoch) && !is.null(seed)) {
    for (i in seq_len(initial_epoch)) train$rng$perm(train$n)
  }
  state <- .new_training_state(model, optimizer, vars,
                               params = list(epochs = epochs, initial_epoch = initial_epoch,
                                             batch_size = train$batch_size,
                                             samples = train$n, steps = steps_per_epoch %||% train$steps,
                                             validation_samples = val$n %||% 0L,
                                             loss = .loss_label(losses), optimizer = optimizer$name,
                                             metrics = names(metrics), verbose = verbose,
                                             on_nonfinite = on_nonfinite))
  state$rate_unit <- .rate_unit(inputs)
  state$dp <- dp
  .dp_guard(dp, {
    if (!is.null(dp)) {
      .dp_broadcast_state(c(.model_get(model, "params"), lapply(.model_get(model, "aux_updates"), function(u) u$var),
                            .optimizer_state_vars(optimizer)))
    }
    .run_fit(state, train, val, step_fn, eval_fn, callbacks, epochs, verbose, initial_epoch, on_nonfinite)
  })
}

# `...` of fit()/evaluate()/predict() must be empty: a misspelt or unsupported argument is an
# error naming it, with the closest known argument (by edit distance) as a suggestion.
.check_dots <- function(dots, known, fn, call = parent.frame()) {
  if (!length(dots)) return(invisible())
  known <- setdiff(known, "...")
  nms <- names(dots) %||% rep("", length(dots))
  if (any(!nzchar(nms))) {
    k <- which(!nzchar(nms))[1]
    cli::cli_abort(c("{.fn {fn}} got an unnamed argument it does not take (the {.ordinal {k}} one in {.arg ...}).",
                     i = "Name the arguments; {.fn {fn}} takes {.arg {known}}."),
                   class = c("symnet_unknown_argument_error", "symnet_value_error", "symnet_error"),
                   kind = "value", argument = "", call = call)
  }
  bad <- nms[1]
  d <- utils::adist(bad, known, ignore.case = TRUE)[1, ]
  close <- known[d == min(d) & d <= max(2, nchar(bad) %/% 3)]
  hint <- if (length(close)) c(i = "Did you mean {.arg {close[1]}}?") else c(i = "{.fn {fn}} takes {.arg {known}}.")
  cli::cli_abort(c("{.fn {fn}} has no argument {.arg {bad}}.", hint),
                 class = c("symnet_unknown_argument_error", "symnet_value_error", "symnet_error"),
                 kind = "value", argument = bad, suggestion = if (length(close)) close[1], call = call)
}

# Throughput unit of the progress line: images for image batches ([N, C, H, W] inputs).
.rate_unit <- function(inputs) {
  img <- any(vapply(inputs, function(s) length(s$shape) == 4L, logical(1)))
  if (img) "img/s" else "samples/s"
}

# Rejects Inf (and values a float32 input cannot hold) in input arrays; NA/NaN are caught earlier.
# min() and max() scan without allocating (range() copies its input), so this costs two passes
# over the data.
.check_finite_inputs <- function(xs, inputs, arg, call = parent.frame()) {
  for (nm in names(xs)) {
    v <- xs[[nm]]
    if (!is.double(v)) next
    r <- c(min(v), max(v))
    lim <- if (identical(inputs[[nm]]$dtype, "float32")) 3.4028234663852886e38 else Inf
    if (all(is.finite(r)) && max(abs(r)) <= lim) next
    what <- if (length(xs) == 1) paste0("`", arg, "`") else sprintf("`%s$%s`", arg, nm)
    k <- which(!is.finite(v) | abs(v) > lim)[1]
    val <- v[k]
    pos <- if (is.null(dim(v))) k else paste0("[", paste(arrayInd(k, dim(v)), collapse = ", "), "]")
    sym_abort(c("{what} contains the non-finite value {val} (first at {pos}){if (is.finite(val)) ', beyond the float32 range' else ''}.",
                i = "Training on it would turn the weights into NaN. Remove or clip such values, or use {.code check_finite = FALSE} to skip this check."),
              kind = "value", call = call)
  }
  invisible()
}

# Per-example weights (sample_weight times class_weight) for the training source, fed to the
# training graph as ".weight". Validation figures stay unweighted.
.add_weights <- function(src, sample_weight, class_weight, outputs, call = parent.frame()) {
  # a batch function whose batches carry sample_weight makes the training weighted too
  src$weighted <- !is.null(sample_weight) || !is.null(class_weight) || isTRUE(src$weighted)
  if (!src$weighted) return(src)
  if (!is.null(class_weight)) {
    if (length(outputs) > 1) {
      sym_abort(c("{.arg class_weight} works for models with one output; this one has {length(outputs)}.",
                  i = "Give per-example weights with {.arg sample_weight} instead."),
                kind = "unsupported", call = call)
    }
    src$class_weight <- .check_class_weight(class_weight, src$specs[[1]], outputs[[1]]$shape, call)
  }
  if (src$type == "function") {
    if (!is.null(sample_weight)) .abort_fn_sample_weight(call)
    return(src)
  }
  w <- rep(1, src$n)
  if (!is.null(sample_weight)) w <- .check_sample_weight(sample_weight, src$n, "sample_weight", call)
  if (!is.null(class_weight)) w <- w * .class_weight_values(src$class_weight, src$y[[1]])
  src[["ex_weights"]] <- w
  src
}

.abort_fn_sample_weight <- function(call) {
  sym_abort(c("With a batch function, {.arg sample_weight} cannot be matched to the examples.",
              i = "Return the weights with each batch: {.code list(x = , y = , sample_weight = )}."),
            call = call)
}

.is_batch_function <- function(x) is.function(x) && !inherits(x, "symnet_data_iterator")

.check_sample_weight <- function(w, n, what, call) {
  if (is.data.frame(w)) w <- as.matrix(w)
  if (!is.null(dim(w)) && !(length(dim(w)) == 2 && dim(w)[2] == 1)) {
    sym_abort("{.arg {what}} must be a vector with one weight per example, not an array of shape {.val {dim(w)}}.",
              kind = "shape", call = call)
  }
  if (!is.numeric(w) && !is.logical(w)) {
    sym_abort("{.arg {what}} must be numeric, not {.obj_type_friendly {w}}.", kind = "dtype", call = call)
  }
  w <- as.double(w)
  if (length(w) != n) {
    sym_abort("{.arg {what}} has {length(w)} weight{?s} but there are {n} example{?s}.", call = call)
  }
  if (anyNA(w) || any(!is.finite(w)) || any(w < 0)) {
    sym_abort("{.arg {what}} must be finite numbers >= 0.", call = call)
  }
  w
}

# class_weight -> list(w = weights of classes 0..K-1 (1 for those not given), levels).
.check_class_weight <- function(cw, spec, out_shape, call) {
  kind <- spec$kind
  if (!kind %in% c("class", "prob", "binary")) {
    sym_abort(c("{.arg class_weight} needs class labels (a classification loss), not {kind} targets.",
                i = "Use {.arg sample_weight} to weight the examples of a regression."), call = call)
  }
  if (is.list(cw)) {
    ok <- all(vapply(cw, function(v) is.numeric(v) && length(v) == 1, logical(1)))
    if (!ok) sym_abort("{.arg class_weight} must map classes to single numbers.", call = call)
    cw <- unlist(cw)
  }
  if (!is.numeric(cw) || !length(cw) || anyNA(cw) || any(!is.finite(cw)) || any(cw < 0)) {
    sym_abort("{.arg class_weight} must be finite numbers >= 0, named by class.", call = call)
  }
  K <- if (kind == "binary") 2L else out_shape[length(out_shape)]
  levels <- spec$levels
  nms <- names(cw)
  if (is.null(nms)) {
    if (!is.na(K) && length(cw) != K) {
      sym_abort("An unnamed {.arg class_weight} needs one weight per class ({K}), not {length(cw)}.", call = call)
    }
    return(list(w = as.double(cw), levels = levels, kind = kind))
  }
  idx <- integer(length(nms))
  for (i in seq_along(nms)) {
    if (!is.null(levels) && nms[i] %in% levels) {
      idx[i] <- match(nms[i], levels) - 1L
    } else if (grepl("^[0-9]+$", nms[i])) {
      idx[i] <- as.integer(nms[i])
    } else {
      known <- if (!is.null(levels)) levels else "0-based class indices"
      sym_abort(c("{.arg class_weight} names the unknown class {.val {nms[i]}}.",
                  i = "Name the weights by {.val {known}}."), call = call)
    }
  }
  if (anyDuplicated(idx)) sym_abort("{.arg class_weight} gives a class twice.", call = call)
  top <- max(idx, if (!is.null(levels)) length(levels) - 1L, if (!is.na(K)) K - 1L)
  if (!is.na(K) && any(idx >= K)) {
    sym_abort("{.arg class_weight} names class {max(idx)} but there are {K} classes (0..{K - 1}).",
              call = call)
  }
  w <- rep(1, top + 1L)
  w[idx + 1L] <- as.double(cw)
  list(w = w, levels = levels, kind = kind)
}

# Weight of each example from its label.
.class_weight_values <- function(cw, lab, call = parent.frame()) {
  y <- lab$value
  cls <- switch(cw$kind,
    class = {
      if (!is.null(dim(y)) && length(dim(y)) > 1) {
        sym_abort("{.arg class_weight} needs one class per example, not labels of shape {.val {dim(y)}}.",
                  call = call)
      }
      as.integer(y)
    },
    prob = {
      if (length(dim(y)) != 2) sym_abort("{.arg class_weight} needs one label row per example.", call = call)
      max.col(y, ties.method = "first") - 1L
    },
    binary = {
      if (!is.null(dim(y)) && prod(dim(y)[-1]) != 1) {
        sym_abort("{.arg class_weight} needs one binary target per example, not {prod(dim(y)[-1])}.",
                  call = call)
      }
      as.integer(round(as.vector(y)))
    })
  out <- rep(1, length(cls))
  known <- cls < length(cw$w)
  out[known] <- cw$w[cls[known] + 1L]
  out
}

.check_verbose <- function(verbose, call = parent.frame()) {
  if (isTRUE(verbose)) return(1L)
  if (isFALSE(verbose)) return(0L)
  if (!is.numeric(verbose) || length(verbose) != 1 || !verbose %in% 0:2) {
    sym_abort("{.arg verbose} must be 0, 1 or 2.", call = call)
  }
  as.integer(verbose)
}

# Devices are the engine's backends. "sim" and "sim_partial" are simulated devices (memory
# the executor may only reach through uploads and downloads; the partial one lacks the
# convolution kernels, which fall back to the CPU), for developers testing the executor:
# options(symnet.developer.sim_device = TRUE) makes them available.
.sim_devices <- c("sim", "sim_partial")
# "cuda" and "cuda:N" name GPUs (R/cuda.R): the CUDA library is opened at the first such
# use, and an unavailable GPU is a classed error carrying the reason.
.check_device <- function(device, call = parent.frame()) {
  device <- tolower(.check_string(device, "device", call = call))
  if (device %in% .sim_devices && isTRUE(getOption("symnet.developer.sim_device"))) return(device)
  cuda <- .cuda_device_name(device)
  if (!is.null(cuda)) return(.cuda_check_device(cuda, call = call))
  available <- setdiff(cpp_backend_names(), .sim_devices)
  if (!device %in% available) {
    sym_abort(c("Device {.val {device}} is not available in this build.",
                i = "Available: {.val {available}}."),
              kind = "unsupported", call = call)
  }
  device
}

# loss argument -> named list (one per output) of symnet_loss.
.losses_for <- function(loss, outputs, call = parent.frame()) {
  on <- names(outputs)
  if (is.list(loss) && !inherits(loss, "symnet_loss")) {
    nms <- names(loss)
    if (is.null(nms) || any(!nzchar(nms))) {
      if (length(loss) != length(on)) {
        sym_abort("{.arg loss} must have one loss per output ({length(on)}).", call = call)
      }
      names(loss) <- on
    }
    missing <- setdiff(on, names(loss))
    if (length(missing)) sym_abort("{.arg loss} lacks a loss for output{?s} {.val {missing}}.", call = call)
    extra <- setdiff(names(loss), on)
    if (length(extra)) sym_abort("{.arg loss} names unknown output{?s} {.val {extra}}.", call = call)
    return(lapply(loss[on], .as_loss, call = call))
  }
  l <- .as_loss(loss, call = call)
  stats::setNames(rep(list(l), length(on)), on)
}

.loss_label <- function(losses) {
  labs <- unique(vapply(losses, function(l) l$label, character(1)))
  paste(labs, collapse = ", ")
}

.loss_key <- function(l) {
  paste0(l$name, "(", paste(names(l$args), unlist(l$args), collapse = ","), ")",
         if (identical(l$name, "custom")) paste(deparse(environment(l$build)$fn), collapse = "") else "")
}

.metric_key <- function(m) {
  paste0(m$name, if (!is.null(m$fn)) paste(deparse(m$fn), collapse = "") else "")
}

.spec_key <- function(specs) {
  paste(vapply(specs, function(s) paste(s$kind, s$dtype, paste(s$shape, collapse = "x")), character(1)),
        collapse = ";")
}

# ---- data sources ----------------------------------------------------------------------------

# A data source for the step loop: type "arrays" (R arrays, converted once to
# engine tensors, batches gathered by rows) or "function" (user batches).
.data_source <- function(x, y, inputs, outputs, losses, batch_size, shuffle, seed, xarg, yarg,
                         labels = TRUE, check_finite = FALSE, call = parent.frame()) {
  if (is.function(x) && !inherits(x, "symnet_data_iterator")) {
    if (!is.null(y)) sym_abort("{.arg {yarg}} must be NULL when {.arg {xarg}} is a batch function.", call = call)
    return(.function_source(x, inputs, outputs, losses, labels, xarg, call, check_finite))
  }
  iterator <- NULL
  if (inherits(x, "symnet_data_iterator")) {
    if (!is.null(y)) {
      sym_abort("{.arg {yarg}} must be NULL when {.arg {xarg}} is a data iterator (it holds the labels).",
                call = call)
    }
    iterator <- x
    y <- x$y
    batch_size <- x$batch_size
    shuffle <- x$shuffle
    x <- x$x
  }
  xs <- .match_inputs(x, inputs, xarg, call = call)
  if (check_finite) .check_finite_inputs(xs, inputs, xarg, call = call)
  src <- list(type = "arrays", x = xs, n = .rows(xs[[1]]), batch_size = batch_size, shuffle = shuffle,
              rng = if (!is.null(iterator)) iterator$rng else .rng_stream(seed), iterator = iterator,
              y = NULL, specs = NULL)
  if (labels) {
    if (is.null(y)) {
      sym_abort(c("{.arg {yarg}} is missing: give the labels or targets.",
                  i = "For a data iterator, give them to {.fn data_iterator}."),
                kind = "value", call = call)
    }
    ys <- .match_labels(y, outputs, losses, yarg, call = call)
    nx <- src$n
    for (nm in names(ys)) {
      ny <- .rows(ys[[nm]]$value)
      if (ny != nx) {
        sym_abort(c("{.arg {xarg}} has {nx} example{?s} but {.arg {yarg}} has {ny}.",
                    i = "x and y must have the same number of examples (rows)."),
                  kind = "value", call = call)
      }
    }
    src$y <- ys
    src$specs <- lapply(ys, function(l) l[c("kind", "dtype", "shape", "levels")])
  }
  src$steps <- as.integer(ceiling(src$n / batch_size))
  src
}

# Frees the engine copies of a data source's arrays now rather than whenever R's garbage
# collector gets to them (it does not see their size). Those cached on an iterator stay.
.release_feeds <- function(src, feeds) {
  if (!is.null(src$iterator)) {
    w <- feeds[[".weight"]]
    if (inherits(w, "symnet_tensor_ptr")) cpp_tensor_release(w)
    return(invisible())
  }
  for (f in feeds) if (inherits(f, "symnet_tensor_ptr")) cpp_tensor_release(f)
  invisible()
}

# Engine tensors for an array source (once; cached on an iterator).
.source_feeds <- function(src, inputs) {
  dts <- vapply(inputs, function(s) s$dtype, character(1))
  key <- paste(c(names(dts), dts, .input_feed_names(inputs),
                 vapply(src$y, function(l) paste(l$kind, l$dtype), character(1))), collapse = "|")
  # example weights change with every fit(), so they are never cached on an iterator
  wfeed <- if (!is.null(src[["ex_weights"]])) list(.weight = .as_tensors(list(src[["ex_weights"]]), "float32")[[1]])
  if (!is.null(src$iterator) && identical(src$iterator$tensors_key, key)) return(c(src$iterator$tensors, wfeed))
  feeds <- .as_tensors(src$x, dts[names(src$x)], compact = TRUE)
  names(feeds) <- .input_feed_names(inputs)[names(src$x)]
  if (!is.null(src$y)) {
    lt <- .as_tensors(lapply(src$y, function(l) l$value), vapply(src$y, function(l) l$dtype, character(1)))
    names(lt) <- .label_names(names(src$y))
    feeds <- c(feeds, lt)
  }
  if (!is.null(src$iterator)) {
    src$iterator$tensors <- feeds
    src$iterator$tensors_key <- key
  }
  c(feeds, wfeed)
}

.label_names <- function(out_names) paste0(".label_", seq_along(out_names))

.function_source <- function(fn, inputs, outputs, losses, labels, xarg, call, check_finite = FALSE) {
  # peek at the first batch to learn the label encodings (the batch is kept)
  first <- .next_user_batch(fn, inputs, outputs, losses, labels, xarg, call, check_finite)
  if (is.null(first)) sym_abort("The batch function {.arg {xarg}} returned no batch (empty data).", kind = "value", call = call)
  # an environment: the pending first batch and the step count change as it runs
  src <- list2env(list(type = "function", fn = fn, pending = first, n = NA_integer_, steps = NA_integer_,
                       batch_size = .rows(first$x[[1]]), shuffle = FALSE,
                       specs = if (labels) lapply(first$y, function(l) l[c("kind", "dtype", "shape", "levels")]),
                       inputs = inputs, outputs = outputs, losses = losses, labels = labels, xarg = xarg,
                       iterator = NULL, check_finite = check_finite,
                       weighted = !is.null(first$sample_weight)),
                  parent = emptyenv())
  src
}

# One user batch, checked like arrays; NULL at the end of an epoch.
.next_user_batch <- function(fn, inputs, outputs, losses, labels, xarg, call = parent.frame(),
                             check_finite = FALSE) {
  b <- fn()
  if (is.null(b)) return(NULL)
  if (!is.list(b) || !length(b)) {
    sym_abort("The batch function must return {.code list(x = , y = )} or NULL, not {.obj_type_friendly {b}}.",
              kind = "value", call = call)
  }
  bx <- b$x %||% b[[1]]
  by <- b$y %||% if (length(b) > 1) b[[2]]
  xs <- .match_inputs(bx, inputs, paste0(xarg, " batch"), call = call)
  if (check_finite) .check_finite_inputs(xs, inputs, paste0(xarg, " batch"), call = call)
  ys <- NULL
  if (labels) {
    ys <- .match_labels(by, outputs, losses, "y batch", call = call)
    nx <- .rows(xs[[1]])
    for (nm in names(ys)) {
      ny <- .rows(ys[[nm]]$value)
      if (ny != nx) {
        sym_abort("A batch has {nx} input example{?s} but {ny} label{?s}.", kind = "value", call = call)
      }
    }
  }
  sw <- b$sample_weight %||% if (length(b) > 2) b[[3]]
  if (!is.null(sw)) sw <- .check_sample_weight(sw, .rows(xs[[1]]), "sample_weight of a batch", call)
  list(x = xs, y = ys, sample_weight = sw)
}

# The next batch of a function source, with its example weights when the training is weighted.
.source_batch <- function(src) {
  b <- if (!is.null(src$pending)) src$pending else {
    .next_user_batch(src$fn, src$inputs, src$outputs, src$losses, src$labels, src$xarg,
                     check_finite = isTRUE(src$check_finite))
  }
  src$pending <- NULL
  if (!is.null(b) && isTRUE(src$weighted)) {
    w <- b$sample_weight %||% rep(1, .rows(b$x[[1]]))
    if (!is.null(src$class_weight)) w <- w * .class_weight_values(src$class_weight, b$y[[1]], call = NULL)
    b[["ex_weights"]] <- w
  }
  b
}

.batch_feeds <- function(b, inputs) {
  feeds <- lapply(b$x, .strip)
  names(feeds) <- .input_feed_names(inputs)[names(b$x)]
  if (!is.null(b$y)) {
    lf <- lapply(b$y, function(l) .strip(l$value))
    names(lf) <- .label_names(names(b$y))
    feeds <- c(feeds, lf)
  }
  if (!is.null(b[["ex_weights"]])) feeds[[".weight"]] <- as.double(b[["ex_weights"]])
  feeds
}

.split_source <- function(src, fraction) {
  n <- src$n
  nv <- floor(n * fraction)
  if (nv < 1 || nv >= n) {
    sym_abort("{.arg validation_split} = {fraction} leaves {n - nv} training and {nv} validation example{?s}; both must be at least 1.")
  }
  tr_idx <- seq_len(n - nv)
  va_idx <- (n - nv + 1):n
  take <- function(s, idx) {
    s$x <- lapply(s$x, .take_rows, idx)
    s$y <- lapply(s$y, function(l) {
      l$value <- .take_rows(l$value, idx)
      l
    })
    if (!is.null(s[["ex_weights"]])) s[["ex_weights"]] <- s[["ex_weights"]][idx]
    s$n <- length(idx)
    s$steps <- as.integer(ceiling(s$n / s$batch_size))
    s
  }
  va <- take(src, va_idx)
  va$shuffle <- FALSE
  va[["ex_weights"]] <- NULL
  va$weighted <- FALSE
  list(train = take(src, tr_idx), val = va)
}

.validation_source <- function(vd, inputs, outputs, losses, batch_size, check_finite = FALSE,
                               call = parent.frame()) {
  if (inherits(vd, "symnet_data_iterator") || is.function(vd)) {
    return(.data_source(vd, NULL, inputs, outputs, losses, batch_size, FALSE, NULL,
                        "validation_data", "validation_data$y", check_finite = check_finite, call = call))
  }
  if (!is.list(vd) || length(vd) != 2) {
    sym_abort("{.arg validation_data} must be {.code list(x, y)}, a data iterator or a batch function.",
              call = call)
  }
  vx <- vd$x %||% vd[[1]]
  vy <- vd$y %||% vd[[2]]
  s <- .data_source(vx, vy, inputs, outputs, losses, batch_size, FALSE, NULL,
                    "validation_data$x", "validation_data$y", check_finite = check_finite, call = call)
  s
}

.check_compatible_specs <- function(a, b, call = parent.frame()) {
  for (nm in names(a)) {
    if (!identical(a[[nm]]$kind, b[[nm]]$kind) || !identical(a[[nm]]$dtype, b[[nm]]$dtype)) {
      sym_abort("The validation labels for {.val {nm}} are encoded differently ({b[[nm]]$kind}) from the training labels ({a[[nm]]$kind}).",
                kind = "value", call = call)
    }
  }
}

# ---- compiled functions ------------------------------------------------------------------------

# Compiles outputs + update pairs with the training flag, through the glue
# (sym_compile() has no `training` option).
.compile_graph <- function(outputs, updates, training, seed = NULL, device = "cpu") {
  ups <- .resolve_updates(updates, unname(outputs), environment())
  opts <- list(device = device, optimize = TRUE, training = training,
               seed = if (!is.null(seed)) as.double(seed))
  fptr <- cpp_compile(lapply(unname(outputs), .ptr), names(outputs), lapply(ups$vars, function(v) v$var),
                      lapply(ups$values, .ptr), opts)
  .new_function(fptr, bare = FALSE, output_names = names(outputs),
                update_names = vapply(ups$vars, function(v) v$name, character(1)), device = device)
}

# Forward outputs in training mode (dropout active, batch norm on batch statistics),
# so the gradients taken from them are the training-mode gradients.
.training_view <- function(syms) {
  if (!length(syms)) return(syms)
  res <- lapply(cpp_graph_set_training(lapply(unname(syms), .ptr), TRUE), new_symbol)
  names(res) <- names(syms)
  res
}

# What the loss of an output is computed from. A loss that knows its activation (softmax for
# the softmax cross-entropy, sigmoid for the binary one) and meets an output that is that
# activation (e.g. layer_dense(activation = "softmax")) works on the activation's input, the
# logits: from logits it would otherwise apply the activation twice, and from probabilities it
# would lose precision (keras does the same). Returns list(pred, from_logits (NULL: the loss's
# own), probabilities (the output is a probability)).
.loss_input <- function(pred, loss, output_name, tell = FALSE) {
  plain <- list(pred = pred, from_logits = NULL, probabilities = FALSE)
  act <- loss$activation
  if (is.null(act)) return(plain)
  p <- .ptr(pred)
  info <- cpp_sym_info(p)
  if (!identical(info$op, act)) return(plain)
  if (act == "softmax") {
    ax <- info$attrs$axis
    ax <- if (is.null(ax)) -1L else as.integer(jsonlite::parse_json(ax))
    r <- length(pred$shape)
    if (!length(ax) || !(ax == -1L || ax == r - 1L)) return(plain)
  }
  if (tell && isTRUE(loss$args$from_logits)) {
    fname <- paste0("loss_", loss$name)
    cli::cli_inform(c("i" = "The output {.val {output_name}} is a {act}, so {.fn {fname}} uses its input (the logits) rather than apply {act} twice.",
                      " " = "Say {.code from_logits = FALSE} to make this explicit (silent); {.fn predict} returns the {act} output."),
                    class = c("symnet_from_logits_message", "symnet_message"))
  }
  list(pred = new_symbol(cpp_sym_inputs(p)[[1]]), from_logits = TRUE, probabilities = TRUE)
}

# Label symbols, losses and metric symbols on the model outputs. Returns the
# named outputs list and the R-evaluated metrics.
.loss_graph <- function(outs, losses, metrics, specs, weighted = FALSE, tell = FALSE) {
  on <- names(outs)
  multi <- length(on) > 1
  lvars <- list()
  per_loss <- list()
  msyms <- list()
  rmetrics <- list()
  lnames <- .label_names(on)
  wvar <- if (weighted) sym_var(".weight", NA_integer_, dtype = "float32")
  for (i in seq_along(on)) {
    nm <- on[i]
    sp <- specs[[nm]]
    lv <- sym_var(lnames[i], shape = sp$shape, dtype = sp$dtype)
    # class labels are fed 0-based: they say so, for indexing ops in custom losses and metrics
    if (identical(sp$kind, "class")) lv <- sym_index_base(lv, 0)
    lvars[[nm]] <- lv
    li <- .loss_input(outs[[nm]], losses[[nm]], nm, tell)
    args <- list(li$pred, lv, sp$kind, reduction = if (weighted) "none" else "mean")
    if (!is.null(li$from_logits)) args$from_logits <- li$from_logits
    l <- do.call(losses[[nm]]$build, args)
    if (!is_symbol(l)) sym_abort("The loss for output {.val {nm}} did not return a symbol.", call = NULL)
    if (l$dtype != "float32") l <- sym_cast(l, "float32")
    if (weighted) {
      .need_rank(l, "A weighted loss")
      if (!length(l$shape)) {
        sym_abort(c("Sample or class weights need the loss of each example, but the loss for output {.val {nm}} is a single number.",
                    i = "Let a custom loss return one value per example (or per element), not their mean."),
                  call = NULL)
      }
      r <- length(l$shape)
      if (r > 1) l <- sym_mean(l, axis = 2:r)
      l <- sym_mean(l * wvar)
    } else if (!identical(l$shape, integer())) {
      l <- sym_mean(l)  # anything but a known scalar, an unknown rank included
    }
    per_loss[[nm]] <- l
    ctx <- list(kind = sp$kind,
                from_logits = if (li$probabilities) FALSE else losses[[nm]]$args$from_logits %||% TRUE)
    for (m in metrics) {
      mname <- if (multi) paste0(nm, "_", m$name) else m$name
      s <- .metric_symbol(m, lv, outs[[nm]], ctx)
      if (is.null(s)) {
        rmetrics[[mname]] <- list(metric = m, output = nm)
      } else {
        msyms[[mname]] <- s
      }
    }
  }
  total <- Reduce(`+`, per_loss)
  res <- list(loss = total)
  if (multi) names(per_loss) <- paste0(on, "_loss") else per_loss <- list()
  list(outputs = c(res, per_loss, msyms), rmetrics = rmetrics, labels = lvars)
}

.train_function <- function(model, losses, metrics, specs, optimizer, seed, weighted = FALSE,
                            guard = TRUE, device = "cpu", dp = NULL) {
  cache <- .model_get(model, "cache")
  key <- paste("train", optimizer$id, paste(vapply(losses, .loss_key, character(1)), collapse = "|"),
               paste(vapply(metrics, .metric_key, character(1)), collapse = "|"), .spec_key(specs),
               seed %||% "", weighted, guard, device, .transfer_key(model),
               if (is.null(dp)) "" else paste(dp$size, dp$bucket_bytes, dp$sync_batch_norm))
  hit <- cache$train
  if (!is.null(hit) && identical(hit$key, key)) return(hit)
  outs <- .model_get(model, "outputs")
  aux <- .model_get(model, "aux_updates")
  tv <- .training_view(c(outs, lapply(aux, function(u) u$value)))
  if (isTRUE(dp$sync_batch_norm)) tv <- .dp_sync_batch_norm(tv)
  t_outs <- tv[seq_along(outs)]
  aux_vals <- tv[-seq_along(outs)]
  # the softmax/sigmoid-output message is given once per model, not at every recompilation
  g <- .loss_graph(t_outs, losses, metrics, specs, weighted = weighted, tell = !isTRUE(cache$told_from_logits))
  cache$told_from_logits <- TRUE
  if (length(g$rmetrics)) {
    preds <- lapply(t_outs, sym_identity)
    names(preds) <- paste0(".pred_", names(t_outs))
    g$outputs <- c(g$outputs, preds)
  }
  params <- unname(Filter(function(v) !.is_frozen(v), .model_get(model, "params")))
  if (!length(params)) {
    sym_abort(c("The model has no trainable parameters.",
                i = if (length(.model_get(model, "params"))) "All of them are frozen: see {.fn unfreeze_weights}."),
              call = NULL)
  }
  # frozen batch norms keep their running statistics (their nodes stay in inference mode)
  live <- !vapply(aux, function(u) .is_frozen(u$var), logical(1))
  aux <- aux[live]
  aux_vals <- aux_vals[live]
  if (is.null(dp)) {
    grads <- sym_grad(g$outputs$loss, params)
  } else {
    # the examples of this rank's share: the first input's rows
    first <- .model_get(model, "inputs")[[1]]
    count <- sym_sum(sym_cast(sym_fill_like(sym_flatten(first)[, 1], 1), "float64"))
    grads <- .dp_reduce_grads(sym_grad(.dp_scaled_loss(g$outputs$loss, count), params), dp$bucket_bytes)
    # state such as batch-norm running statistics, averaged (synchronized ones agree already)
    aux_vals <- lapply(aux_vals, sym_allreduce, reduction = "mean")
  }
  vars <- .optimizer_vars(optimizer)
  ups <- optimizer$build(params, grads, vars$lr, vars$step)
  ups <- c(ups, list(list(vars$step, vars$step + 1)))
  for (k in seq_along(aux)) ups[[length(ups) + 1L]] <- list(aux[[k]]$var, aux_vals[[k]])
  if (guard) {
    # A step whose loss or any gradient is NaN/Inf is not applied: every update (weights,
    # optimiser state, step counter, batch-norm statistics) keeps the old value. x * 0 is 0 for
    # finite x and NaN otherwise, so the probe cannot overflow the way a plain sum could.
    probe <- g$outputs$loss * 0
    for (gr in grads) {
      z <- sym_sum(gr * 0)
      probe <- probe + if (z$dtype == "float32") z else sym_cast(z, "float32")
    }
    ok <- probe == 0
    ups <- lapply(ups, function(u) list(u[[1]], sym_where(ok, u[[2]], u[[1]])))
    g$outputs[[".step_ok"]] <- sym_cast(ok, "float32")
  }
  fn <- .compile_graph(g$outputs, ups, training = TRUE, seed = seed, device = device)
  entry <- list(key = key, fn = fn, ptr = .fn_state(fn)$ptr, output_names = names(g$outputs),
                scalar = !startsWith(names(g$outputs), "."), rmetrics = g$rmetrics,
                guard = guard)
  cache$train <- entry
  entry
}

.eval_function <- function(model, losses, metrics, specs, weighted = FALSE, device = "cpu") {
  cache <- .model_get(model, "cache")
  key <- paste("eval", paste(vapply(losses, .loss_key, character(1)), collapse = "|"),
               paste(vapply(metrics, .metric_key, character(1)), collapse = "|"), .spec_key(specs), weighted, device)
  hit <- cache$eval
  if (!is.null(hit) && identical(hit$key, key)) return(hit)
  outs <- .model_get(model, "outputs")
  g <- .loss_graph(outs, losses, metrics, specs, weighted = weighted)
  if (length(g$rmetrics)) {
    preds <- lapply(outs, sym_identity)
    names(preds) <- paste0(".pred_", names(outs))
    g$outputs <- c(g$outputs, preds)
  }
  fn <- .compile_graph(g$outputs, list(), training = FALSE, device = device)
  entry <- list(key = key, fn = fn, ptr = .fn_state(fn)$ptr, output_names = names(g$outputs),
                scalar = !startsWith(names(g$outputs), "."), rmetrics = g$rmetrics)
  cache$eval <- entry
  entry
}

.predict_function <- function(model, device = "cpu") {
  cache <- .model_get(model, "cache")
  hit <- cache$predict
  if (!is.null(hit) && identical(hit$device, device)) return(hit)
  outs <- .model_get(model, "outputs")
  fn <- .compile_graph(outs, list(), training = FALSE, device = device)
  entry <- list(fn = fn, ptr = .fn_state(fn)$ptr, output_names = names(outs), device = device)
  cache$predict <- entry
  entry
}

# ---- the loops -------------------------------------------------------------------------------

.new_training_state <- function(model, optimizer, vars, params) {
  st <- new.env(parent = emptyenv())
  st$model <- model
  st$optimizer <- optimizer
  st$params <- params
  st$epoch <- 0L
  st$stop_training <- FALSE
  st$history <- NULL
  st$get_lr <- function() as.double(cpp_shared_get(vars$lr$var))
  st$set_lr <- function(value) {
    value <- .check_number(value, "learning rate", finite = TRUE)
    if (value < 0) sym_abort("The learning rate must be >= 0.", call = NULL)
    cpp_shared_set(vars$lr$var, value)
    invisible(value)
  }
  class(st) <- "symnet_training_state"
  st
}

#' @export
print.symnet_training_state <- function(x, ...) {
  cat(sprintf("<symnet training state> epoch %d of %d, lr %s%s\n", x$epoch, x$params$epochs,
              format(x$get_lr(), digits = 4), if (isTRUE(x$stop_training)) ", stopping" else ""))
  invisible(x)
}

.run_fit <- function(state, train, val, step_fn, eval_fn, callbacks, epochs, verbose,
                     initial_epoch = 0L, on_nonfinite = "stop") {
  model <- state$model
  inputs <- .model_get(model, "inputs")
  feeds <- if (train$type == "arrays") .source_feeds(train, inputs) else NULL
  on.exit(.release_feeds(train, feeds), add = TRUE)
  val_feeds <- if (!is.null(val) && val$type == "arrays") .source_feeds(val, inputs) else NULL
  on.exit(.release_feeds(val, val_feeds), add = TRUE)
  opt <- state$optimizer
  rows_hist <- list()
  interrupted <- NULL
  nonfinite <- NULL
  skipped <- 0
  cb <- .callback_hooks(callbacks)
  quiet_stop <- any(vapply(callbacks, function(k) identical(k$name, "terminate_on_nan"), logical(1)))
  # where the batches come from: one pass per epoch, or a stream of passes cut into
  # steps_per_epoch batches
  stream <- new.env(parent = emptyenv())
  .cb_run(cb, "on_train_begin", list(list(), state))
  completed <- 0L
  res <- tryCatch({
    for (epoch in seq.int(initial_epoch + 1L, epochs)) {
      state$epoch <- epoch
      if (inherits(opt$lr, "symnet_schedule")) state$set_lr(opt$lr(epoch))
      .cb_run(cb, "on_epoch_begin", list(epoch, list(), state))
      lr <- state$get_lr()
      ep <- .train_epoch(state, train, feeds, step_fn, cb, epoch, epochs, verbose, stream, on_nonfinite,
                         quiet_stop)
      skipped <- skipped + ep$skipped
      if (!is.null(ep$nonfinite)) {
        nonfinite <- ep$nonfinite
        if (!quiet_stop) break
      }
      logs <- ep$logs
      if (!is.null(val)) {
        # arrays are shared out between the ranks like the training data
        vl <- .eval_pass(eval_fn, val, val_feeds, dp = if (val$type == "arrays") state$dp)
        names(vl) <- paste0("val_", names(vl))
        logs <- c(logs, vl)
      }
      logs <- c(logs, lr = lr)
      rows_hist[[length(rows_hist) + 1L]] <- c(epoch = epoch, logs)
      state$history <- .history_df(rows_hist)
      completed <- completed + 1L
      if (verbose > 0) .print_epoch_line(epoch, epochs, ep, logs, state$rate_unit)
      .cb_run(cb, "on_epoch_end", list(epoch, as.list(logs), state))
      if (isTRUE(state$stop_training)) break
    }
    NULL
  }, interrupt = function(e) e, symnet_interrupt_error = function(e) e)
  if (!is.null(res)) {
    interrupted <- list(epoch = state$epoch, completed = completed)
  } else if (is.null(nonfinite) || quiet_stop) {
    .cb_run(cb, "on_train_end", list(list(), state))
  }
  h <- .new_history(.history_df(rows_hist), state$params, interrupted = !is.null(interrupted),
                    stopped_early = is.null(interrupted) && completed < epochs - initial_epoch)
  if (!is.null(nonfinite) && !quiet_stop && is.null(interrupted)) .abort_nonfinite(nonfinite, h)
  if (skipped > 0) {
    cli::cli_warn(c("{skipped} training step{?s} had a non-finite loss or gradient and {?was/were} skipped.",
                    i = "Their weights updates were not applied; lower the learning rate or check the data."),
                  class = c("symnet_nonfinite_warning", "symnet_warning"), skipped = skipped)
  }
  if (!is.null(interrupted)) {
    cli::cli_inform(c("!" = "Training interrupted during epoch {interrupted$epoch}: {completed} epoch{?s} completed.",
                      i = "The model keeps the weights reached; the history holds the completed epochs."))
    return(h)
  }
  if (verbose > 0) invisible(h) else h
}

.abort_nonfinite <- function(nf, history, call = NULL) {
  what <- if (is.finite(nf$loss)) "a gradient" else paste("the loss", if (is.nan(nf$loss)) "(NaN)" else paste0("(", nf$loss, ")"))
  cli::cli_abort(c("Training stopped at epoch {nf$epoch}, batch {nf$batch}: {what} is not finite.",
                   i = "That step was not applied: the model keeps the weights of the last finite step; the error's {.field history} holds the {nrow(history$metrics)} completed epoch{?s}.",
                   i = "Lower the learning rate, check the data and the loss, or choose {.code on_nonfinite = \"skip\"} (or {.val ignore})."),
                 class = c("symnet_nonfinite_error", "symnet_value_error", "symnet_error"), kind = "value",
                 epoch = nf$epoch, batch = nf$batch, loss = nf$loss, history = history, call = call)
}

.history_df <- function(rows) {
  if (!length(rows)) return(data.frame(epoch = integer()))
  cols <- unique(unlist(lapply(rows, names)))
  df <- as.data.frame(do.call(rbind, lapply(rows, function(r) r[cols])))
  names(df) <- cols
  df$epoch <- as.integer(df$epoch)
  rownames(df) <- NULL
  df
}

# One epoch of training steps. Returns logs (epoch means), timing, the number of skipped
# non-finite steps and, when a non-finite step stops training, where it happened.
.train_epoch <- function(state, src, feeds, fn, cb, epoch, epochs, verbose, stream = new.env(),
                         on_nonfinite = "stop", quiet_stop = FALSE) {
  ptr <- fn$ptr
  scalar <- fn$scalar
  sn <- fn$output_names[scalar]
  rm <- fn$rmetrics
  has_rm <- length(rm) > 0
  guard <- isTRUE(fn$guard)
  sums <- numeric(length(sn) + length(rm))
  names(sums) <- c(sn, names(rm))
  seen <- 0
  skipped <- 0
  nonfinite <- NULL
  has_bb <- length(cb$on_batch_begin) > 0
  has_be <- length(cb$on_batch_end) > 0
  spe <- src$steps_per_epoch
  steps <- spe %||% src$steps
  arrays <- src$type == "arrays"
  # batches of the current pass over the data; without steps_per_epoch every epoch is one pass
  if (arrays && (is.null(spe) || is.null(stream$bi))) {
    stream$bi <- .batch_index(src$n, src$batch_size, src$shuffle, src$rng)
    stream$k <- 0L
  }
  # the bar is drawn only where it can be redrawn in place (a console, not a log)
  show_bar <- verbose == 1 && cli::is_dynamic_tty()
  pb <- NULL
  k <- 0L
  unit <- state$rate_unit %||% "samples/s"
  status <- function() .status_text(sums, seen, elapsed(), unit)
  bar <- function() .text_bar(k, steps)
  t0 <- as.double(Sys.time())
  elapsed <- function() as.double(Sys.time()) - t0
  if (show_bar) {
    pb <- cli::cli_progress_bar(
      total = if (is.na(steps)) NA else steps, clear = TRUE, .envir = environment(),
      format = paste0("Epoch ", epoch, "/", epochs, " {cli::pb_current}/{cli::pb_total} {bar()} ETA {cli::pb_eta} | {status()}"),
      format_done = "", format_failed = "")
  }
  repeat {
    k <- k + 1L
    if (!is.null(spe) && k > spe) break
    if (arrays) {
      if (is.null(spe) && k > steps) break
      if (stream$k >= src$steps) {
        stream$bi <- .batch_index(src$n, src$batch_size, src$shuffle, src$rng)
        stream$k <- 0L
      }
      stream$k <- stream$k + 1L
      idx <- .batch_rows(stream$bi, stream$k)
      if (!is.null(state$dp)) {
        idx <- .dp_shard(idx, state$dp)
        if (!length(idx)) next
      }
      bs <- length(idx)
      if (has_bb) .cb_run(cb, "on_batch_begin", list(k, list(size = bs), state))
      res <- cpp_function_run(ptr, feeds, idx)
    } else {
      b <- .source_batch(src)
      # with steps_per_epoch, the end of a pass starts the next one (unless it was empty)
      if (is.null(b) && !is.null(spe) && k > 1L) b <- .source_batch(src)
      if (is.null(b)) break
      bs <- .rows(b$x[[1]])
      if (has_bb) .cb_run(cb, "on_batch_begin", list(k, list(size = bs), state))
      res <- cpp_function_run(ptr, .batch_feeds(b, src$inputs))
    }
    vals <- unlist(res[scalar], use.names = FALSE)
    if (guard && !isTRUE(res[[".step_ok"]] > 0)) {
      if (on_nonfinite == "skip") {
        skipped <- skipped + 1
        if (show_bar) cli::cli_progress_update(id = pb, set = k, .envir = environment())
        next
      }
      nonfinite <- list(epoch = epoch, batch = k, loss = as.double(res[["loss"]]))
      if (!quiet_stop) break
    }
    if (has_rm) {
      yr <- if (arrays) lapply(src$y, function(l) .take_rows(l$value, idx)) else lapply(b$y, function(l) l$value)
      vals <- c(vals, vapply(rm, function(r) {
        .metric_r_value(r$metric, yr[[r$output]], res[[paste0(".pred_", r$output)]])
      }, numeric(1)))
    }
    sums <- sums + vals * bs
    seen <- seen + bs
    if (has_be) {
      bl <- as.list(vals)
      names(bl) <- names(sums)
      .cb_run(cb, "on_batch_end", list(k, c(list(size = bs), bl), state))
    }
    if (show_bar) cli::cli_progress_update(id = pb, set = k, .envir = environment())
    if (isTRUE(state$stop_training)) break
  }
  if (show_bar) cli::cli_progress_done(id = pb, .envir = environment())
  time <- elapsed()
  if (is.na(src$steps) && src$type == "function" && is.null(spe)) src$steps <- k - 1L
  if (!is.null(state$dp)) {
    # the epoch's figures over every rank's examples
    tot <- dist_allreduce(c(sums, seen), "sum")
    sums[] <- tot[seq_along(sums)]
    seen <- tot[length(tot)]
  }
  logs <- if (seen > 0) sums / seen else sums * NA
  list(logs = logs, time = time, seen = seen, steps = k - 1L, skipped = skipped, nonfinite = nonfinite)
}

# A keras-style bar: [=========>..........]
.text_bar <- function(k, steps, width = 20L) {
  if (is.na(steps) || steps < 1) return("")
  done <- min(width, floor(width * k / steps))
  if (done >= width) return(paste0("[", strrep("=", width), "]"))
  paste0("[", strrep("=", done), ">", strrep(".", width - done - 1L), "]")
}

.status_text <- function(sums, seen, elapsed, unit = "samples/s") {
  if (seen == 0) return("")
  v <- sums / seen
  parts <- paste0(names(v), " ", formatC(v, digits = 4, format = "f"))
  ips <- if (elapsed > 0) seen / elapsed else NA
  paste0(.format_rate(ips), " ", unit, " | ", paste(parts, collapse = " "))
}

.format_rate <- function(x) {
  if (is.na(x) || !is.finite(x)) return("-")
  formatC(x, format = "f", digits = 0, big.mark = ",")
}

.print_epoch_line <- function(epoch, epochs, ep, logs, unit = "samples/s") {
  show <- logs[names(logs) != "lr"]
  parts <- paste0(names(show), ": ", formatC(show, digits = 4, format = "f"))
  ips <- if (ep$time > 0) ep$seen / ep$time else NA
  line <- sprintf("Epoch %d/%d - %.1fs - %s %s - %s", epoch, epochs, ep$time, .format_rate(ips), unit,
                  paste(parts, collapse = " - "))
  cli::cli_verbatim(line)
}

# Loss and metrics over a whole data source (inference mode). Returns a
# named numeric vector (example-weighted means).
.eval_pass <- function(fn, src, feeds, dp = NULL) {
  ptr <- fn$ptr
  scalar <- fn$scalar
  sn <- fn$output_names[scalar]
  rm <- fn$rmetrics
  sums <- numeric(length(sn) + length(rm))
  names(sums) <- c(sn, names(rm))
  seen <- 0
  if (src$type == "arrays") {
    # data parallel: this rank's contiguous share of the examples, in batches
    rows <- if (!is.null(dp)) .dp_rows(src$n, dp)
    steps <- if (is.null(rows)) src$steps else ceiling(length(rows) / src$batch_size)
    for (k in seq_len(steps)) {
      s <- (k - 1L) * src$batch_size + 1L
      idx <- if (is.null(rows)) s:min(src$n, s + src$batch_size - 1L) else rows[s:min(length(rows), s + src$batch_size - 1L)]
      res <- cpp_function_run(ptr, feeds, idx)
      vals <- unlist(res[scalar], use.names = FALSE)
      if (length(rm)) {
        vals <- c(vals, vapply(rm, function(r) {
          .metric_r_value(r$metric, .take_rows(src$y[[r$output]]$value, idx), res[[paste0(".pred_", r$output)]])
        }, numeric(1)))
      }
      sums <- sums + vals * length(idx)
      seen <- seen + length(idx)
    }
  } else {
    repeat {
      b <- .source_batch(src)
      if (is.null(b)) break
      res <- cpp_function_run(ptr, .batch_feeds(b, src$inputs))
      bs <- .rows(b$x[[1]])
      vals <- unlist(res[scalar], use.names = FALSE)
      if (length(rm)) {
        vals <- c(vals, vapply(rm, function(r) {
          .metric_r_value(r$metric, b$y[[r$output]]$value, res[[paste0(".pred_", r$output)]])
        }, numeric(1)))
      }
      sums <- sums + vals * bs
      seen <- seen + bs
    }
  }
  if (!is.null(dp)) {
    # example-weighted over the ranks, as over the batches
    tot <- dist_allreduce(c(sums, seen), "sum")
    sums[] <- tot[seq_along(sums)]
    seen <- tot[length(tot)]
  }
  if (seen > 0) sums / seen else sums * NA
}

# ---- evaluate and predict ------------------------------------------------------------------------

#' Evaluate a model
#'
#' `evaluate(model, x, y)` computes the loss and metrics of a model on
#' data, in inference mode (dropout off, batch norm on running
#' statistics), batch by batch through the compiled graph.
#'
#' @param object A `symnet_model`.
#' @param x,y Data as for [fit()][fit.symnet_model] (arrays, a
#'   [data_iterator()] or a batch function).
#' @param loss,metrics As for `fit()`; default to those of the model's
#'   last `fit()`.
#' @param batch_size Examples per batch.
#' @param sample_weight `NULL` or one weight (>= 0) per example: the loss
#'   is then the weighted one, as in [fit()][fit.symnet_model] (the metrics
#'   are not weighted). Not for batch functions.
#' @param check_finite Check that the input arrays hold only finite values,
#'   as in `fit()`.
#' @param device Where to compute, as for [fit()][fit.symnet_model].
#' @param strategy `NULL`, or [strategy_data_parallel()] in a script run on
#'   several MPI processes (after [dist_init()]): every rank then evaluates
#'   its contiguous share of the examples (arrays only, given on every rank)
#'   and the figures are combined over the ranks, weighted by their examples
#'   as over batches; every rank returns the same result. Every rank must
#'   call `evaluate()`.
#' @param ... Nothing: an unknown argument is an error of class
#'   `symnet_unknown_argument_error`.
#' @return A named numeric vector: `loss` first, then the metrics (and, for
#'   several outputs, the loss of each).
#' @seealso [fit.symnet_model()], [predict.symnet_model()].
#' @examples
#' set.seed(1)
#' X <- matrix(rnorm(200), 100, 2)
#' y <- X %*% c(1, -2) + 0.5
#' x <- sym_var("x", c(NA, 2))
#' model <- sym_model(x, layer_dense(x, 1))
#' mae <- function(y_true, y_pred) abs(y_true - y_pred)
#' evaluate(model, X, y, loss = "mse", metrics = list(mae = mae))
#' @export
evaluate <- function(object, ...) UseMethod("evaluate")

#' @export
evaluate.default <- function(object, ...) {
  sym_abort("{.fn evaluate} needs a symnet model (from {.fn sym_model}), not {.obj_type_friendly {object}}.")
}

#' @rdname evaluate
#' @export
evaluate.symnet_model <- function(object, x = NULL, y = NULL, loss = NULL, metrics = NULL, batch_size = 256,
                                  sample_weight = NULL, check_finite = TRUE, device = "cpu", strategy = NULL,
                                  ...) {
  device <- .check_device(device)
  dp <- .dp_context(.check_strategy(strategy))
  .check_dots(list(...), names(formals(evaluate.symnet_model)), "evaluate")
  check_finite <- .check_flag(check_finite, "check_finite")
  model <- .check_model(object, "object")
  batch_size <- .check_int(batch_size, "batch_size", min = 1)
  prev <- .model_get(model, "cache")$fit_config
  loss <- loss %||% prev$loss
  if (is.null(loss)) {
    why <- prev$loss_note %||% "the model has not been fitted (nor loaded from a file saved after fit())"
    sym_abort(c("{.arg loss} is missing.", i = "No loss to reuse: {why}."))
  }
  metrics <- if (is.null(metrics)) prev$metrics %||% list() else .as_metrics(metrics)
  inputs <- .model_get(model, "inputs")
  outputs <- .model_get(model, "outputs")
  losses <- .losses_for(loss, outputs)
  if (!is.null(sample_weight) && .is_batch_function(x)) .abort_fn_sample_weight(environment())
  src <- .data_source(x, y, inputs, outputs, losses, batch_size, FALSE, NULL, "x", "y",
                      check_finite = check_finite)
  if (src$type == "arrays" && !is.null(src$iterator)) {
    src$batch_size <- batch_size
    src$steps <- as.integer(ceiling(src$n / batch_size))
  }
  src <- .add_weights(src, sample_weight, NULL, outputs)
  if (!is.null(dp) && src$type != "arrays") {
    sym_abort("{.fn evaluate} with {.fn strategy_data_parallel} needs the data as arrays, not a batch function.",
              kind = "unsupported")
  }
  fn <- .eval_function(model, losses, metrics, src$specs, weighted = src$weighted, device = device)
  feeds <- if (src$type == "arrays") .source_feeds(src, inputs) else NULL
  on.exit(.release_feeds(src, feeds), add = TRUE)
  .dp_guard(dp, .eval_pass(fn, src, feeds, dp = dp))
}

#' Predict with a model
#'
#' `predict(model, x)` runs the model on new data in inference mode
#' (dropout off, batch norm on running statistics), batch by batch through
#' the compiled graph: the data are converted once into engine memory and
#' each batch is one call into the engine.
#'
#' @param object A `symnet_model`.
#' @param x Inputs: an array, a named list of arrays for several inputs, or
#'   a [data_iterator()].
#' @param batch_size Examples per batch.
#' @param device Where to compute, as for [fit()][fit.symnet_model].
#' @param strategy `NULL`, or [strategy_data_parallel()] in a script run on
#'   several MPI processes (after [dist_init()]): every rank then predicts
#'   its contiguous share of the rows of `x` (given in full on every rank)
#'   and every rank returns all the predictions, in the order of `x`. Every
#'   rank must call `predict()`. The strategy is an argument, not something
#'   the model remembers from [fit()][fit.symnet_model], so that one rank
#'   can still predict alone (`if (dist_rank() == 0) predict(model, x)`)
#'   without waiting for the others.
#' @param ... Nothing: an unknown argument is an error of class
#'   `symnet_unknown_argument_error`.
#' @return The output for all examples: an array with the examples on the
#'   first axis (a vector for rank-1 outputs), or a named list of them for
#'   models with several outputs. For a classifier trained with
#'   [loss_softmax_cross_entropy()] these are logits; `max.col(p) - 1`
#'   gives 0-based classes.
#' @seealso [fit.symnet_model()], [evaluate()].
#' @examples
#' set.seed(1)
#' x <- sym_var("x", c(NA, 3))
#' model <- sym_model(x, layer_dense(x, 2))
#' predict(model, matrix(1:6, 2, 3))
#' @importFrom stats predict
#' @export
predict.symnet_model <- function(object, x, batch_size = 256, device = "cpu", strategy = NULL, ...) {
  .check_dots(list(...), names(formals(predict.symnet_model)), "predict")
  model <- .check_model(object, "object")
  device <- .check_device(device)
  dp <- .dp_context(.check_strategy(strategy))
  batch_size <- .check_int(batch_size, "batch_size", min = 1)
  inputs <- .model_get(model, "inputs")
  if (inherits(x, "symnet_data_iterator")) x <- x$x
  if (is.function(x)) sym_abort("{.fn predict} takes arrays or a {.fn data_iterator}, not a batch function.")
  xs <- .match_inputs(x, inputs, "x")
  n <- .rows(xs[[1]])
  dts <- vapply(inputs, function(s) s$dtype, character(1))
  feeds <- .as_tensors(xs, dts[names(xs)], compact = TRUE)
  on.exit(.release_feeds(NULL, feeds), add = TRUE)
  names(feeds) <- .input_feed_names(inputs)[names(xs)]
  fn <- .predict_function(model, device)
  rows <- if (is.null(dp)) seq_len(n) else .dp_rows(n, dp)
  parts <- .dp_guard(dp, {
    parts <- vector("list", ceiling(length(rows) / batch_size))
    for (k in seq_along(parts)) {
      s <- (k - 1L) * batch_size + 1L
      parts[[k]] <- cpp_function_run(fn$ptr, feeds, rows[s:min(length(rows), s + batch_size - 1L)])
    }
    # data parallel: every rank's rows, in rank order (the order of x); a rank without rows
    # sends nothing
    if (!is.null(dp)) parts <- unlist(.dist_allgather_object(parts), recursive = FALSE)
    parts
  })
  out <- lapply(stats::setNames(seq_along(fn$output_names), fn$output_names), function(i) {
    .bind_rows(lapply(parts, function(p) p[[i]]))
  })
  if (length(out) == 1) out[[1]] else out
}
