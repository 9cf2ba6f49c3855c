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
#' `0..K-1` for `K` outputs), `NA`s, empty data and arrays whose rank does
#' not match the model input raise classed errors (`symnet_value_error`,
#' `symnet_shape_error`).
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
#' @param device `"cpu"` (GPU support arrives with the CUDA backend).
#' @param ... Unused.
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
#' @export
fit.symnet_model <- function(object, x = NULL, y = NULL, loss = NULL, optimizer = NULL, epochs = 1,
                             batch_size = 32, validation_data = NULL, validation_split = 0,
                             metrics = NULL, callbacks = NULL, shuffle = TRUE, seed = NULL,
                             verbose = getOption("symnet.verbose", 1), device = "cpu", ...) {
  call <- environment()
  model <- .check_model(object, "object")
  epochs <- .check_int(epochs, "epochs", min = 1)
  batch_size <- .check_int(batch_size, "batch_size", min = 1)
  shuffle <- .check_flag(shuffle, "shuffle")
  seed <- .check_seed_arg(seed)
  verbose <- .check_verbose(verbose)
  .check_device(device)
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
  callbacks <- .as_callbacks(callbacks)

  # ---- data (all checks happen here, before any training) ----
  train <- .data_source(x, y, inputs, outputs, losses, batch_size, shuffle, seed, "x", "y")
  val <- NULL
  if (validation_split > 0) {
    if (train$type != "arrays" || !is.null(train$iterator)) {
      sym_abort("{.arg validation_split} needs arrays; give {.arg validation_data} with iterators.")
    }
    split <- .split_source(train, validation_split)
    train <- split$train
    val <- split$val
  } else if (!is.null(validation_data)) {
    val <- .validation_source(validation_data, inputs, outputs, losses, batch_size)
  }
  specs <- train$specs
  if (!is.null(val) && !is.null(val$specs)) .check_compatible_specs(specs, val$specs)

  cfg <- list(loss = loss, optimizer = optimizer, metrics = metrics)
  cache$fit_config <- cfg
  step_fn <- .train_function(model, losses, metrics, specs, optimizer, seed)
  eval_fn <- if (!is.null(val)) .eval_function(model, losses, metrics, val$specs %||% specs) else NULL
  vars <- .optimizer_vars(optimizer)

  state <- .new_training_state(model, optimizer, vars,
                               params = list(epochs = epochs, batch_size = train$batch_size,
                                             samples = train$n, steps = train$steps,
                                             validation_samples = val$n %||% 0L,
                                             loss = .loss_label(losses), optimizer = optimizer$name,
                                             metrics = names(metrics), verbose = verbose))
  .run_fit(state, train, val, step_fn, eval_fn, callbacks, epochs, verbose)
}

.check_verbose <- function(verbose, call = parent.frame()) {
  if (isTRUE(verbose)) return(1L)
  if (isFALSE(verbose)) return(0L)
  if (!is.numeric(verbose) || length(verbose) != 1 || !verbose %in% 0:2) {
    sym_abort("{.arg verbose} must be 0, 1 or 2.", call = call)
  }
  as.integer(verbose)
}

.check_device <- function(device, call = parent.frame()) {
  device <- .check_string(device, "device", call = call)
  if (!identical(tolower(device), "cpu")) {
    sym_abort(c("Device {.val {device}} is not available in this build.",
                i = "Use {.code device = \"cpu\"}."),
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
                         labels = TRUE, call = parent.frame()) {
  if (is.function(x) && !inherits(x, "symnet_data_iterator")) {
    if (!is.null(y)) sym_abort("{.arg {yarg}} must be NULL when {.arg {xarg}} is a batch function.", call = call)
    return(.function_source(x, inputs, outputs, losses, labels, xarg, call))
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
  if (!is.null(src$iterator)) return(invisible())
  for (f in feeds) if (inherits(f, "symnet_tensor_ptr")) cpp_tensor_release(f)
  invisible()
}

# Engine tensors for an array source (once; cached on an iterator).
.source_feeds <- function(src, inputs) {
  dts <- vapply(inputs, function(s) s$dtype, character(1))
  key <- paste(c(names(dts), dts, .input_feed_names(inputs),
                 vapply(src$y, function(l) paste(l$kind, l$dtype), character(1))), collapse = "|")
  if (!is.null(src$iterator) && identical(src$iterator$tensors_key, key)) return(src$iterator$tensors)
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
  feeds
}

.label_names <- function(out_names) paste0(".label_", seq_along(out_names))

.function_source <- function(fn, inputs, outputs, losses, labels, xarg, call) {
  # peek at the first batch to learn the label encodings (the batch is kept)
  first <- .next_user_batch(fn, inputs, outputs, losses, labels, xarg, call)
  if (is.null(first)) sym_abort("The batch function {.arg {xarg}} returned no batch (empty data).", kind = "value", call = call)
  # an environment: the pending first batch and the step count change as it runs
  src <- list2env(list(type = "function", fn = fn, pending = first, n = NA_integer_, steps = NA_integer_,
                       batch_size = .rows(first$x[[1]]), shuffle = FALSE,
                       specs = if (labels) lapply(first$y, function(l) l[c("kind", "dtype", "shape", "levels")]),
                       inputs = inputs, outputs = outputs, losses = losses, labels = labels, xarg = xarg,
                       iterator = NULL),
                  parent = emptyenv())
  src
}

# One user batch, checked like arrays; NULL at the end of an epoch.
.next_user_batch <- function(fn, inputs, outputs, losses, labels, xarg, call = parent.frame()) {
  b <- fn()
  if (is.null(b)) return(NULL)
  if (!is.list(b) || !length(b)) {
    sym_abort("The batch function must return {.code list(x = , y = )} or NULL, not {.obj_type_friendly {b}}.",
              kind = "value", call = call)
  }
  bx <- b$x %||% b[[1]]
  by <- b$y %||% if (length(b) > 1) b[[2]]
  xs <- .match_inputs(bx, inputs, paste0(xarg, " batch"), call = call)
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
  list(x = xs, y = ys)
}

.batch_feeds <- function(b, inputs) {
  feeds <- lapply(b$x, .strip)
  names(feeds) <- .input_feed_names(inputs)[names(b$x)]
  if (!is.null(b$y)) {
    lf <- lapply(b$y, function(l) .strip(l$value))
    names(lf) <- .label_names(names(b$y))
    feeds <- c(feeds, lf)
  }
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
    s$n <- length(idx)
    s$steps <- as.integer(ceiling(s$n / s$batch_size))
    s
  }
  va <- take(src, va_idx)
  va$shuffle <- FALSE
  list(train = take(src, tr_idx), val = va)
}

.validation_source <- function(vd, inputs, outputs, losses, batch_size, call = parent.frame()) {
  if (inherits(vd, "symnet_data_iterator") || is.function(vd)) {
    return(.data_source(vd, NULL, inputs, outputs, losses, batch_size, FALSE, NULL,
                        "validation_data", "validation_data$y", call = call))
  }
  if (!is.list(vd) || length(vd) != 2) {
    sym_abort("{.arg validation_data} must be {.code list(x, y)}, a data iterator or a batch function.",
              call = call)
  }
  vx <- vd$x %||% vd[[1]]
  vy <- vd$y %||% vd[[2]]
  s <- .data_source(vx, vy, inputs, outputs, losses, batch_size, FALSE, NULL,
                    "validation_data$x", "validation_data$y", call = call)
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
.compile_graph <- function(outputs, updates, training, seed = NULL) {
  ups <- .resolve_updates(updates, unname(outputs), environment())
  opts <- list(device = "cpu", optimize = TRUE, training = training,
               seed = if (!is.null(seed)) as.double(seed))
  fptr <- cpp_compile(lapply(unname(outputs), .ptr), names(outputs), lapply(ups$vars, function(v) v$var),
                      lapply(ups$values, .ptr), opts)
  .new_function(fptr, bare = FALSE, output_names = names(outputs),
                update_names = vapply(ups$vars, function(v) v$name, character(1)), device = "cpu")
}

# Forward outputs in training mode (dropout active, batch norm on batch statistics),
# so the gradients taken from them are the training-mode gradients.
.training_view <- function(syms) {
  if (!length(syms)) return(syms)
  res <- lapply(cpp_graph_set_training(lapply(unname(syms), .ptr), TRUE), new_symbol)
  names(res) <- names(syms)
  res
}

# Label symbols, losses and metric symbols on the model outputs. Returns the
# named outputs list and the R-evaluated metrics.
.loss_graph <- function(outs, losses, metrics, specs) {
  on <- names(outs)
  multi <- length(on) > 1
  lvars <- list()
  per_loss <- list()
  msyms <- list()
  rmetrics <- list()
  lnames <- .label_names(on)
  for (i in seq_along(on)) {
    nm <- on[i]
    sp <- specs[[nm]]
    lv <- sym_var(lnames[i], shape = sp$shape, dtype = sp$dtype)
    # class labels are fed 0-based: they say so, for indexing ops in custom losses and metrics
    if (identical(sp$kind, "class")) lv <- sym_index_base(lv, 0)
    lvars[[nm]] <- lv
    l <- losses[[nm]]$build(outs[[nm]], lv, sp$kind)
    if (!is_symbol(l)) sym_abort("The loss for output {.val {nm}} did not return a symbol.", call = NULL)
    if (length(l$shape)) l <- sym_mean(l)
    if (l$dtype != "float32") l <- sym_cast(l, "float32")
    per_loss[[nm]] <- l
    ctx <- list(kind = sp$kind, from_logits = losses[[nm]]$args$from_logits %||% TRUE)
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

.train_function <- function(model, losses, metrics, specs, optimizer, seed) {
  cache <- .model_get(model, "cache")
  key <- paste("train", optimizer$id, paste(vapply(losses, .loss_key, character(1)), collapse = "|"),
               paste(vapply(metrics, .metric_key, character(1)), collapse = "|"), .spec_key(specs),
               seed %||% "")
  hit <- cache$train
  if (!is.null(hit) && identical(hit$key, key)) return(hit)
  outs <- .model_get(model, "outputs")
  aux <- .model_get(model, "aux_updates")
  tv <- .training_view(c(outs, lapply(aux, function(u) u$value)))
  t_outs <- tv[seq_along(outs)]
  aux_vals <- tv[-seq_along(outs)]
  g <- .loss_graph(t_outs, losses, metrics, specs)
  if (length(g$rmetrics)) {
    preds <- lapply(t_outs, sym_identity)
    names(preds) <- paste0(".pred_", names(t_outs))
    g$outputs <- c(g$outputs, preds)
  }
  params <- unname(.model_get(model, "params"))
  if (!length(params)) sym_abort("The model has no trainable parameters.", call = NULL)
  grads <- sym_grad(g$outputs$loss, params)
  vars <- .optimizer_vars(optimizer)
  ups <- optimizer$build(params, grads, vars$lr, vars$step)
  ups <- c(ups, list(list(vars$step, vars$step + 1)))
  for (k in seq_along(aux)) ups[[length(ups) + 1L]] <- list(aux[[k]]$var, aux_vals[[k]])
  fn <- .compile_graph(g$outputs, ups, training = TRUE, seed = seed)
  entry <- list(key = key, fn = fn, ptr = .fn_state(fn)$ptr, output_names = names(g$outputs),
                scalar = !startsWith(names(g$outputs), ".pred_"), rmetrics = g$rmetrics)
  cache$train <- entry
  entry
}

.eval_function <- function(model, losses, metrics, specs) {
  cache <- .model_get(model, "cache")
  key <- paste("eval", paste(vapply(losses, .loss_key, character(1)), collapse = "|"),
               paste(vapply(metrics, .metric_key, character(1)), collapse = "|"), .spec_key(specs))
  hit <- cache$eval
  if (!is.null(hit) && identical(hit$key, key)) return(hit)
  outs <- .model_get(model, "outputs")
  g <- .loss_graph(outs, losses, metrics, specs)
  if (length(g$rmetrics)) {
    preds <- lapply(outs, sym_identity)
    names(preds) <- paste0(".pred_", names(outs))
    g$outputs <- c(g$outputs, preds)
  }
  fn <- .compile_graph(g$outputs, list(), training = FALSE)
  entry <- list(key = key, fn = fn, ptr = .fn_state(fn)$ptr, output_names = names(g$outputs),
                scalar = !startsWith(names(g$outputs), ".pred_"), rmetrics = g$rmetrics)
  cache$eval <- entry
  entry
}

.predict_function <- function(model) {
  cache <- .model_get(model, "cache")
  hit <- cache$predict
  if (!is.null(hit)) return(hit)
  outs <- .model_get(model, "outputs")
  fn <- .compile_graph(outs, list(), training = FALSE)
  entry <- list(fn = fn, ptr = .fn_state(fn)$ptr, output_names = names(outs))
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

.run_fit <- function(state, train, val, step_fn, eval_fn, callbacks, epochs, verbose) {
  model <- state$model
  inputs <- .model_get(model, "inputs")
  feeds <- if (train$type == "arrays") .source_feeds(train, inputs) else NULL
  on.exit(.release_feeds(train, feeds), add = TRUE)
  val_feeds <- if (!is.null(val) && val$type == "arrays") .source_feeds(val, inputs) else NULL
  on.exit(.release_feeds(val, val_feeds), add = TRUE)
  opt <- state$optimizer
  rows_hist <- list()
  interrupted <- NULL
  cb <- .callback_hooks(callbacks)
  .cb_run(cb, "on_train_begin", list(list(), state))
  completed <- 0L
  res <- tryCatch({
    for (epoch in seq_len(epochs)) {
      state$epoch <- epoch
      if (inherits(opt$lr, "symnet_schedule")) state$set_lr(opt$lr(epoch))
      .cb_run(cb, "on_epoch_begin", list(epoch, list(), state))
      lr <- state$get_lr()
      ep <- .train_epoch(state, train, feeds, step_fn, cb, epoch, epochs, verbose)
      logs <- ep$logs
      if (!is.null(val)) {
        vl <- .eval_pass(eval_fn, val, val_feeds)
        names(vl) <- paste0("val_", names(vl))
        logs <- c(logs, vl)
      }
      logs <- c(logs, lr = lr)
      rows_hist[[epoch]] <- c(epoch = epoch, logs)
      state$history <- .history_df(rows_hist)
      completed <- epoch
      if (verbose > 0) .print_epoch_line(epoch, epochs, ep, logs)
      .cb_run(cb, "on_epoch_end", list(epoch, as.list(logs), state))
      if (isTRUE(state$stop_training)) break
    }
    NULL
  }, interrupt = function(e) e, symnet_interrupt_error = function(e) e)
  if (!is.null(res)) {
    interrupted <- list(epoch = state$epoch, completed = completed)
  } else {
    .cb_run(cb, "on_train_end", list(list(), state))
  }
  h <- .new_history(.history_df(rows_hist), state$params, interrupted = !is.null(interrupted),
                    stopped_early = is.null(interrupted) && completed < epochs)
  if (!is.null(interrupted)) {
    cli::cli_inform(c("!" = "Training interrupted during epoch {interrupted$epoch}: {completed} epoch{?s} completed.",
                      i = "The model keeps the weights reached; the history holds the completed epochs."))
    return(h)
  }
  if (verbose > 0) invisible(h) else h
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

# One epoch of training steps. Returns logs (epoch means) and timing.
.train_epoch <- function(state, src, feeds, fn, cb, epoch, epochs, verbose) {
  ptr <- fn$ptr
  scalar <- fn$scalar
  sn <- fn$output_names[scalar]
  rm <- fn$rmetrics
  has_rm <- length(rm) > 0
  sums <- numeric(length(sn) + length(rm))
  names(sums) <- c(sn, names(rm))
  seen <- 0
  has_bb <- length(cb$on_batch_begin) > 0
  has_be <- length(cb$on_batch_end) > 0
  steps <- src$steps
  bi <- if (src$type == "arrays") .batch_index(src$n, src$batch_size, src$shuffle, src$rng)
  # the bar is drawn only where it can be redrawn in place (a console, not a log)
  show_bar <- verbose == 1 && cli::is_dynamic_tty()
  pb <- NULL
  k <- 0L
  status <- function() .status_text(sums, seen, elapsed())
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
    if (src$type == "arrays") {
      if (k > steps) break
      idx <- .batch_rows(bi, k)
      bs <- length(idx)
      if (has_bb) .cb_run(cb, "on_batch_begin", list(k, list(size = bs), state))
      res <- cpp_function_run(ptr, feeds, idx)
    } else {
      b <- if (!is.null(src$pending)) src$pending else {
        .next_user_batch(src$fn, src$inputs, src$outputs, src$losses, src$labels, src$xarg)
      }
      src$pending <- NULL
      if (is.null(b)) break
      bs <- .rows(b$x[[1]])
      if (has_bb) .cb_run(cb, "on_batch_begin", list(k, list(size = bs), state))
      res <- cpp_function_run(ptr, .batch_feeds(b, src$inputs))
    }
    vals <- unlist(res[scalar], use.names = FALSE)
    if (has_rm) {
      yr <- if (src$type == "arrays") lapply(src$y, function(l) .take_rows(l$value, idx)) else lapply(b$y, function(l) l$value)
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
  if (is.na(src$steps) && src$type == "function") src$steps <- k - 1L
  logs <- if (seen > 0) sums / seen else sums * NA
  list(logs = logs, time = time, seen = seen, steps = k - 1L)
}

# A keras-style bar: [=========>..........]
.text_bar <- function(k, steps, width = 20L) {
  if (is.na(steps) || steps < 1) return("")
  done <- min(width, floor(width * k / steps))
  if (done >= width) return(paste0("[", strrep("=", width), "]"))
  paste0("[", strrep("=", done), ">", strrep(".", width - done - 1L), "]")
}

.status_text <- function(sums, seen, elapsed) {
  if (seen == 0) return("")
  v <- sums / seen
  parts <- paste0(names(v), " ", formatC(v, digits = 4, format = "f"))
  ips <- if (elapsed > 0) seen / elapsed else NA
  paste0(.format_rate(ips), " img/s | ", paste(parts, collapse = " "))
}

.format_rate <- function(x) {
  if (is.na(x) || !is.finite(x)) return("-")
  formatC(x, format = "f", digits = 0, big.mark = ",")
}

.print_epoch_line <- function(epoch, epochs, ep, logs) {
  show <- logs[names(logs) != "lr"]
  parts <- paste0(names(show), ": ", formatC(show, digits = 4, format = "f"))
  ips <- if (ep$time > 0) ep$seen / ep$time else NA
  line <- sprintf("Epoch %d/%d - %.1fs - %s img/s - %s", epoch, epochs, ep$time, .format_rate(ips),
                  paste(parts, collapse = " - "))
  cli::cli_verbatim(line)
}

# Loss and metrics over a whole data source (inference mode). Returns a
# named numeric vector (example-weighted means).
.eval_pass <- function(fn, src, feeds) {
  ptr <- fn$ptr
  scalar <- fn$scalar
  sn <- fn$output_names[scalar]
  rm <- fn$rmetrics
  sums <- numeric(length(sn) + length(rm))
  names(sums) <- c(sn, names(rm))
  seen <- 0
  if (src$type == "arrays") {
    for (k in seq_len(src$steps)) {
      s <- (k - 1L) * src$batch_size + 1L
      idx <- s:min(src$n, s + src$batch_size - 1L)
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
      b <- if (!is.null(src$pending)) src$pending else {
        .next_user_batch(src$fn, src$inputs, src$outputs, src$losses, src$labels, src$xarg)
      }
      src$pending <- NULL
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
#' @param ... Unused.
#' @return A named numeric vector: `loss` first, then the metrics (and, for
#'   several outputs, the loss of each).
#' @seealso [fit.symnet_model()], [predict.symnet_model()].
#' @examples
#' set.seed(1)
#' X <- matrix(rnorm(200), 100, 2)
#' y <- X %*% c(1, -2) + 0.5
#' x <- sym_var("x", c(NA, 2))
#' model <- sym_model(x, layer_dense(x, 1))
#' evaluate(model, X, y, loss = "mse", metrics = list(mae = function(y_true, y_pred) abs(y_true - y_pred)))
#' @export
evaluate <- function(object, ...) UseMethod("evaluate")

#' @rdname evaluate
#' @export
evaluate.symnet_model <- function(object, x = NULL, y = NULL, loss = NULL, metrics = NULL, batch_size = 256,
                                  ...) {
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
  src <- .data_source(x, y, inputs, outputs, losses, batch_size, FALSE, NULL, "x", "y")
  if (src$type == "arrays" && !is.null(src$iterator)) {
    src$batch_size <- batch_size
    src$steps <- as.integer(ceiling(src$n / batch_size))
  }
  fn <- .eval_function(model, losses, metrics, src$specs)
  feeds <- if (src$type == "arrays") .source_feeds(src, inputs) else NULL
  on.exit(.release_feeds(src, feeds), add = TRUE)
  .eval_pass(fn, src, feeds)
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
#' @param ... Unused.
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
predict.symnet_model <- function(object, x, batch_size = 256, ...) {
  model <- .check_model(object, "object")
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
  fn <- .predict_function(model)
  parts <- vector("list", ceiling(n / batch_size))
  for (k in seq_along(parts)) {
    s <- (k - 1L) * batch_size + 1L
    parts[[k]] <- cpp_function_run(fn$ptr, feeds, s:min(n, s + batch_size - 1L))
  }
  out <- lapply(stats::setNames(seq_along(fn$output_names), fn$output_names), function(i) {
    .bind_rows(lapply(parts, function(p) p[[i]]))
  })
  if (length(out) == 1) out[[1]] else out
}
