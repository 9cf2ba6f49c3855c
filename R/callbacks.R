# Callbacks: R functions fit() calls at the start and end of training, of
# every epoch and (only when a callback asks for it) of every batch.

#' Callbacks
#'
#' Callbacks act on training from R at fixed points of
#' [fit()][fit.symnet_model]: `on_train_begin`, `on_epoch_begin`,
#' `on_batch_begin`, `on_batch_end`, `on_epoch_end`, `on_train_end`.
#'
#' * `callback_early_stopping()`: stops when the monitored figure has not
#'   improved by more than `min_delta` for `patience` epochs; optionally
#'   restores the weights of the best epoch at the end.
#' * `callback_model_checkpoint()`: saves the model with [save_model()]
#'   after every epoch (or only when the monitored figure improves). Files
#'   are written atomically (to a temporary file, then renamed), so a crash
#'   while saving never corrupts the last good checkpoint. `{epoch}` and
#'   the names of logged figures in braces (`{val_loss}`) in `filepath` are
#'   replaced by their values.
#' * `callback_csv_logger()`: writes one CSV row per epoch (`epoch`, the
#'   figures and the learning rate), flushed as training goes.
#' * `callback_learning_rate_scheduler()`: sets the learning rate at the
#'   start of every epoch from a schedule ([schedule_step()], ...) or a
#'   function `function(epoch, lr)` returning the new rate.
#' * `callback_terminate_on_nan()`: stops as soon as a batch loss is `NaN`
#'   or infinite, with a message, and `fit()` returns the history (keras'
#'   behaviour). Without it, `fit()` stops such a run with an error (see
#'   its `on_nonfinite`). Either way the non-finite step is not applied:
#'   the model keeps the weights of the last finite step.
#' * `callback_lambda()`: your own R functions. Epoch functions are called
#'   as `f(epoch, logs, state)`, batch functions as `f(batch, logs, state)`
#'   and train functions as `f(logs, state)`, where `logs` is a named list
#'   of figures (epoch means, or the batch's values and `size`) and `state`
#'   the training state: an environment with `model`, `optimizer`,
#'   `epoch`, `params`, `history` (a data frame of the completed epochs),
#'   `get_lr()`, `set_lr(value)`, and `stop_training` (set it to `TRUE` to
#'   stop after the current batch). Functions may take fewer arguments
#'   (`function(epoch, logs)`).
#'
#' Epochs are numbered from 1.
#'
#' @param monitor Name of the figure to watch: `"val_loss"`, `"loss"`,
#'   `"accuracy"`, `"val_accuracy"`, ...
#' @param min_delta Smallest change that counts as an improvement.
#' @param patience Number of epochs without improvement before stopping.
#' @param mode `"min"`, `"max"`, or `"auto"` (`"max"` for names containing
#'   `"acc"`, `"min"` otherwise).
#' @param restore_best_weights Restore the best epoch's weights when
#'   training ends.
#' @param baseline Stop if the figure does not beat this value within
#'   `patience` epochs (`NULL` for none).
#' @param filepath Path of the checkpoint file (see above).
#' @param save_best_only Save only when `monitor` improves.
#' @param filename Path of the CSV file.
#' @param separator Field separator.
#' @param append Append to an existing file instead of overwriting it.
#' @param schedule A schedule or a function `function(epoch, lr)`.
#' @param verbose Print a message when the callback acts.
#' @param on_epoch_begin,on_epoch_end,on_batch_begin,on_batch_end,on_train_begin,on_train_end
#'   Functions (or `NULL`), see above.
#' @return A `symnet_callback` object.
#' @seealso [fit.symnet_model()]
#' @examples
#' set.seed(1)
#' X <- matrix(rnorm(400), 200, 2)
#' y <- as.integer(X[, 1] > 0)
#' x <- sym_var("x", c(NA, 2))
#' model <- sym_model(x, layer_dense(x, 2))
#' log_file <- tempfile(fileext = ".csv")
#' h <- fit(model, X, y, loss = "softmax_cross_entropy", optimizer = optimizer_sgd(0.1),
#'          epochs = 30, metrics = "accuracy", validation_split = 0.25, verbose = 0,
#'          callbacks = list(
#'            callback_early_stopping(monitor = "val_loss", patience = 2),
#'            callback_csv_logger(log_file),
#'            callback_learning_rate_scheduler(
#'              function(epoch, lr) if (epoch > 5) lr * 0.9 else lr),
#'            callback_lambda(on_epoch_end = function(epoch, logs) {
#'              if (epoch %% 10 == 0) cat("epoch", epoch, "loss", logs$loss, "\n")
#'            })))
#' nrow(h$metrics)
#' head(read.csv(log_file))
#' @name callbacks
NULL

.hook_names <- c("on_train_begin", "on_epoch_begin", "on_batch_begin", "on_batch_end",
                 "on_epoch_end", "on_train_end")

.new_callback <- function(name, ...) {
  hooks <- list(...)
  for (h in names(hooks)) {
    if (!h %in% .hook_names) sym_abort("Unknown callback hook {.val {h}}.", call = NULL)
    if (!is.null(hooks[[h]]) && !is.function(hooks[[h]])) {
      sym_abort("{.arg {h}} must be a function or NULL, not {.obj_type_friendly {hooks[[h]]}}.", call = NULL)
    }
  }
  hooks <- Filter(Negate(is.null), hooks)
  structure(c(list(name = name), hooks), class = "symnet_callback")
}

#' @export
print.symnet_callback <- function(x, ...) {
  hooks <- intersect(names(x), .hook_names)
  cat("<symnet callback> ", x$name, " (", paste(hooks, collapse = ", "), ")\n", sep = "")
  invisible(x)
}

.as_callbacks <- function(callbacks, call = parent.frame()) {
  if (is.null(callbacks)) return(list())
  if (inherits(callbacks, "symnet_callback")) callbacks <- list(callbacks)
  if (!is.list(callbacks) || !all(vapply(callbacks, inherits, logical(1), "symnet_callback"))) {
    sym_abort("{.arg callbacks} must be a list of callbacks such as {.fn callback_early_stopping}.", call = call)
  }
  callbacks
}

# hook name -> list of functions (only the hooks some callback defines).
.callback_hooks <- function(callbacks) {
  out <- list()
  for (h in .hook_names) {
    fs <- Filter(Negate(is.null), lapply(callbacks, function(cb) cb[[h]]))
    if (length(fs)) out[[h]] <- fs
  }
  out
}

.cb_run <- function(cb, hook, args) {
  for (f in cb[[hook]]) .invoke_hook(f, args)
  invisible()
}

# Calls f with as many of args as it takes.
.invoke_hook <- function(f, args) {
  fm <- names(formals(f))
  if (!"..." %in% fm && length(fm) < length(args)) args <- args[seq_len(length(fm))]
  do.call(f, args)
}

.monitor_mode <- function(mode, monitor) {
  mode <- .match_arg(mode, c("auto", "min", "max"), "mode")
  if (mode == "auto") mode <- if (grepl("acc", monitor)) "max" else "min"
  mode
}

.improved <- function(value, best, mode, min_delta) {
  if (is.na(value)) return(FALSE)
  if (is.null(best) || is.na(best)) return(TRUE)
  if (mode == "min") value < best - min_delta else value > best + min_delta
}

.monitor_value <- function(logs, monitor, env, who) {
  v <- logs[[monitor]]
  if (is.null(v)) {
    if (!isTRUE(env$warned)) {
      cli::cli_warn(c("{who}: {.val {monitor}} is not among the logged figures ({.val {names(logs)}}); doing nothing.",
                      i = "Validation figures need {.arg validation_data} or {.arg validation_split}."))
      env$warned <- TRUE
    }
    return(NULL)
  }
  as.double(v)
}

#' @rdname callbacks
#' @export
callback_early_stopping <- function(monitor = "val_loss", min_delta = 0, patience = 0,
                                    mode = c("auto", "min", "max"), restore_best_weights = FALSE,
                                    baseline = NULL, verbose = FALSE) {
  monitor <- .check_string(monitor, "monitor")
  min_delta <- abs(.check_number(min_delta, "min_delta", finite = TRUE))
  patience <- .check_int(patience, "patience", min = 0)
  mode <- .monitor_mode(mode, monitor)
  restore_best_weights <- .check_flag(restore_best_weights, "restore_best_weights")
  if (!is.null(baseline)) baseline <- .check_number(baseline, "baseline")
  verbose <- .check_flag(verbose, "verbose")
  env <- new.env(parent = emptyenv())
  .new_callback(
    "early_stopping",
    on_train_begin = function(logs, state) {
      env$best <- baseline
      env$wait <- 0L
      env$best_weights <- NULL
      env$best_epoch <- NA_integer_
      env$stopped_epoch <- NA_integer_
      env$warned <- FALSE
    },
    on_epoch_end = function(epoch, logs, state) {
      v <- .monitor_value(logs, monitor, env, "Early stopping")
      if (is.null(v)) return(invisible())
      if (.improved(v, env$best, mode, min_delta)) {
        env$best <- v
        env$best_epoch <- epoch
        env$wait <- 0L
        if (restore_best_weights) env$best_weights <- get_weights(state$model)
      } else {
        env$wait <- env$wait + 1L
        if (env$wait >= max(patience, 1L)) {
          env$stopped_epoch <- epoch
          state$stop_training <- TRUE
          if (verbose) {
            cli::cli_inform("Early stopping at epoch {epoch}: {monitor} has not improved for {env$wait} epoch{?s}.")
          }
        }
      }
    },
    on_train_end = function(logs, state) {
      if (restore_best_weights && !is.null(env$best_weights) && !identical(env$best_epoch, state$epoch)) {
        set_weights(state$model, env$best_weights)
        if (verbose) cli::cli_inform("Restored the weights of epoch {env$best_epoch}.")
      }
    })
}

# filepath with {epoch} and {figure} replaced.
.format_checkpoint_path <- function(filepath, epoch, logs) {
  out <- gsub("{epoch}", sprintf("%03d", as.integer(epoch)), filepath, fixed = TRUE)
  for (nm in names(logs)) {
    out <- gsub(paste0("{", nm, "}"), formatC(as.double(logs[[nm]]), digits = 4, format = "f"), out,
                fixed = TRUE)
  }
  out
}

#' @rdname callbacks
#' @export
callback_model_checkpoint <- function(filepath, monitor = "val_loss", save_best_only = FALSE,
                                      mode = c("auto", "min", "max"), verbose = FALSE) {
  filepath <- .check_string(filepath, "filepath")
  monitor <- .check_string(monitor, "monitor")
  save_best_only <- .check_flag(save_best_only, "save_best_only")
  mode <- .monitor_mode(mode, monitor)
  verbose <- .check_flag(verbose, "verbose")
  env <- new.env(parent = emptyenv())
  .new_callback(
    "model_checkpoint",
    on_train_begin = function(logs, state) {
      env$best <- NULL
      env$warned <- FALSE
    },
    on_epoch_end = function(epoch, logs, state) {
      if (save_best_only) {
        v <- .monitor_value(logs, monitor, env, "Model checkpoint")
        if (is.null(v) || !.improved(v, env$best, mode, 0)) return(invisible())
        env$best <- v
      }
      path <- .format_checkpoint_path(filepath, epoch, logs)
      dir <- dirname(path)
      if (!dir.exists(dir)) dir.create(dir, recursive = TRUE, showWarnings = FALSE)
      # save_model() writes to a temporary file and renames it into place
      save_model(state$model, path, overwrite = TRUE)
      if (verbose) cli::cli_inform("Epoch {epoch}: saved the model to {.file {path}}.")
    })
}

#' @rdname callbacks
#' @export
callback_csv_logger <- function(filename, separator = ",", append = FALSE) {
  filename <- .check_string(filename, "filename")
  separator <- .check_string(separator, "separator")
  append <- .check_flag(append, "append")
  env <- new.env(parent = emptyenv())
  .new_callback(
    "csv_logger",
    on_train_begin = function(logs, state) {
      env$header <- NULL
      if (append && file.exists(filename) && file.size(filename) > 0) {
        first <- readLines(filename, n = 1, warn = FALSE)
        env$header <- strsplit(first, separator, fixed = TRUE)[[1]]
      } else {
        close(file(filename, open = "w"))
      }
    },
    on_epoch_end = function(epoch, logs, state) {
      row <- c(epoch = epoch, unlist(logs))
      con <- file(filename, open = "a")
      on.exit(close(con))
      if (is.null(env$header)) {
        env$header <- names(row)
        writeLines(paste(env$header, collapse = separator), con)
      }
      vals <- row[env$header]
      txt <- vapply(vals, function(v) if (is.na(v)) "NA" else format(v, digits = 7, scientific = FALSE),
                    character(1))
      writeLines(paste(txt, collapse = separator), con)
    })
}

#' @rdname callbacks
#' @export
callback_learning_rate_scheduler <- function(schedule, verbose = FALSE) {
  if (!is.function(schedule)) {
    sym_abort("{.arg schedule} must be a schedule or a function {.code function(epoch, lr)}.")
  }
  verbose <- .check_flag(verbose, "verbose")
  .new_callback(
    "learning_rate_scheduler",
    on_epoch_begin = function(epoch, logs, state) {
      old <- state$get_lr()
      new <- if (inherits(schedule, "symnet_schedule")) schedule(epoch) else .invoke_hook(schedule, list(epoch, old))
      if (!is.numeric(new) || length(new) != 1 || !is.finite(new) || new < 0) {
        sym_abort("The learning-rate schedule returned {.val {new}} at epoch {epoch}; it must be a number >= 0.",
                  call = NULL)
      }
      state$set_lr(new)
      if (verbose) cli::cli_inform("Epoch {epoch}: learning rate {format(new, digits = 4)}.")
    })
}

#' @rdname callbacks
#' @export
callback_terminate_on_nan <- function() {
  .new_callback(
    "terminate_on_nan",
    on_batch_end = function(batch, logs, state) {
      l <- logs$loss
      if (!is.null(l) && !is.finite(l)) {
        cli::cli_inform(c("!" = "Batch {batch} of epoch {state$epoch}: the loss is {l}; terminating training."))
        state$stop_training <- TRUE
      }
    })
}

#' @rdname callbacks
#' @export
callback_lambda <- function(on_epoch_begin = NULL, on_epoch_end = NULL, on_batch_begin = NULL,
                            on_batch_end = NULL, on_train_begin = NULL, on_train_end = NULL) {
  .new_callback("lambda", on_train_begin = on_train_begin, on_epoch_begin = on_epoch_begin,
                on_batch_begin = on_batch_begin, on_batch_end = on_batch_end,
                on_epoch_end = on_epoch_end, on_train_end = on_train_end)
}
