cb_data <- function(n = 60, seed = 1) {
  set.seed(seed)
  x <- matrix(rnorm(2 * n), n, 2)
  list(x = x, y = as.integer(x[, 1] - x[, 2] > 0))
}

cb_model <- function(seed = 1) {
  set.seed(seed)
  x <- sym_var("x", c(NA, 2))
  sym_model(x, layer_dense(x, 2))
}

test_that("early stopping stops when the monitored figure stalls", {
  d <- cb_data()
  m <- cb_model()
  # a zero learning rate: the loss never improves, so training stops after patience + 1 epochs
  h <- fit(m, d$x, d$y, loss = "ce", optimizer = optimizer_sgd(1e-12), epochs = 20, verbose = 0,
           callbacks = list(callback_early_stopping(monitor = "loss", patience = 2, min_delta = 1e-3)))
  expect_identical(nrow(h$metrics), 3L)
  expect_true(h$stopped_early)
  expect_output(print(h), "stopped early")
  # improving training runs to the end
  h2 <- fit(cb_model(), d$x, d$y, loss = "ce", optimizer = optimizer_sgd(0.5), epochs = 4, verbose = 0,
            callbacks = list(callback_early_stopping(monitor = "loss", patience = 0)))
  expect_identical(nrow(h2$metrics), 4L)
  expect_false(h2$stopped_early)
  # a missing figure warns and does nothing
  expect_warning(h3 <- fit(cb_model(), d$x, d$y, loss = "ce", epochs = 2, verbose = 0,
                           callbacks = list(callback_early_stopping())), "val_loss")
  expect_identical(nrow(h3$metrics), 2L)
})

test_that("early stopping can restore the best weights", {
  set.seed(4)
  X <- matrix(rnorm(100), 50, 2)
  y <- X %*% c(1, -1)
  x <- sym_var("x", c(NA, 2))
  m <- sym_model(x, layer_dense(x, 1))
  best <- NULL
  # the learning rate jumps at epoch 3 and training diverges
  sched <- callback_learning_rate_scheduler(function(epoch, lr) if (epoch >= 3) 5 else 0.05)
  keep <- callback_lambda(on_epoch_end = function(epoch, logs, state) {
    if (epoch == 2) best <<- get_weights(state$model)
  })
  h <- fit(m, X, y, loss = "mse", optimizer = optimizer_sgd(0.05), epochs = 10, batch_size = 10, verbose = 0,
           callbacks = list(sched, keep,
                            callback_early_stopping(monitor = "loss", patience = 2,
                                                    restore_best_weights = TRUE)))
  expect_identical(nrow(h$metrics), 4L)
  expect_identical(which.min(h$metrics$loss), 2L)
  expect_identical(get_weights(m), best)
})

test_that("model checkpoints are written atomically and load back", {
  d <- cb_data()
  m <- cb_model()
  dir <- withr::local_tempdir()
  path <- file.path(dir, "model-{epoch}.snm")
  best <- file.path(dir, "best.snm")
  fit(m, d$x, d$y, loss = "ce", optimizer = optimizer_sgd(0.5), epochs = 3, verbose = 0,
      validation_split = 0.25,
      callbacks = list(callback_model_checkpoint(path, save_best_only = FALSE),
                       callback_model_checkpoint(best, monitor = "val_loss", save_best_only = TRUE)))
  files <- sort(list.files(dir))
  expect_identical(files, c("best.snm", "model-001.snm", "model-002.snm", "model-003.snm"))
  m3 <- load_model(file.path(dir, "model-003.snm"))
  expect_equal(predict(m3, d$x), predict(m, d$x))
  # a failing save leaves the previous checkpoint intact (temporary file + rename)
  good <- readBin(best, "raw", file.size(best))
  broken <- callback_model_checkpoint(best, monitor = "loss", save_best_only = FALSE)
  withr::with_options(list(), {
    bad_model <- cb_model(2)
    state <- new.env()
    state$model <- structure(new.env(), class = "symnet_model")   # an unusable model: saving fails
    expect_error(broken$on_epoch_end(1, list(loss = 1), state))
  })
  expect_identical(readBin(best, "raw", file.size(best)), good)
  expect_identical(sort(list.files(dir)), files)
})

test_that("the CSV logger writes one row per epoch", {
  d <- cb_data()
  f <- withr::local_tempfile(fileext = ".csv")
  fit(cb_model(), d$x, d$y, loss = "ce", metrics = "accuracy", epochs = 3, verbose = 0,
      validation_split = 0.2, callbacks = list(callback_csv_logger(f)))
  log <- read.csv(f)
  expect_identical(names(log), c("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"))
  expect_identical(log$epoch, 1:3)
  fit(cb_model(), d$x, d$y, loss = "ce", metrics = "accuracy", epochs = 2, verbose = 0,
      validation_split = 0.2, callbacks = list(callback_csv_logger(f, append = TRUE)))
  expect_identical(read.csv(f)$epoch, c(1:3, 1:2))
  g <- withr::local_tempfile(fileext = ".tsv")
  fit(cb_model(), d$x, d$y, loss = "ce", epochs = 1, verbose = 0,
      callbacks = list(callback_csv_logger(g, separator = "\t")))
  expect_identical(names(read.delim(g)), c("epoch", "loss", "lr"))
})

test_that("the learning-rate scheduler sets the rate each epoch", {
  d <- cb_data()
  h <- fit(cb_model(), d$x, d$y, loss = "ce", optimizer = optimizer_sgd(0.1), epochs = 3, verbose = 0,
           callbacks = list(callback_learning_rate_scheduler(function(epoch, lr) lr / 2)))
  expect_equal(h$metrics$lr, c(0.05, 0.025, 0.0125), tolerance = 1e-6)
  h2 <- fit(cb_model(), d$x, d$y, loss = "ce", epochs = 2, verbose = 0,
            callbacks = list(callback_learning_rate_scheduler(schedule_exponential(0.2, 0.5))))
  expect_equal(h2$metrics$lr, c(0.2, 0.1), tolerance = 1e-6)
  expect_error(fit(cb_model(), d$x, d$y, loss = "ce", epochs = 1, verbose = 0,
                   callbacks = list(callback_learning_rate_scheduler(function(epoch, lr) NA))),
               class = "symnet_value_error")
})

test_that("terminate on NaN stops at the first bad batch", {
  d <- cb_data()
  seen <- 0L
  count <- callback_lambda(on_batch_end = function(batch, logs) seen <<- seen + 1L)
  expect_message(h <- fit(cb_model(), d$x * 1e30, cbind(d$y, d$y), loss = "mse", optimizer = optimizer_sgd(1e10),
                          epochs = 5, batch_size = 10, verbose = 0,
                          callbacks = list(count, callback_terminate_on_nan())),
                 "terminating")
  expect_identical(nrow(h$metrics), 1L)
  expect_lt(seen, 6L)
})

test_that("lambda callbacks see every hook, in order, with the training state", {
  d <- cb_data(20)
  calls <- character()
  rec <- function(what) function(...) calls <<- c(calls, what)
  cb <- callback_lambda(on_train_begin = rec("tb"), on_epoch_begin = rec("eb"),
                        on_batch_begin = rec("bb"), on_batch_end = rec("be"),
                        on_epoch_end = function(epoch, logs, state) {
                          calls <<- c(calls, "ee")
                          expect_s3_class(state, "symnet_training_state")
                          expect_identical(state$epoch, epoch)
                          expect_true(all(c("loss", "lr") %in% names(logs)))
                        },
                        on_train_end = rec("te"))
  expect_output(print(cb), "lambda")
  fit(cb_model(), d$x, d$y, loss = "ce", epochs = 2, batch_size = 10, verbose = 0, callbacks = cb)
  expect_identical(calls, c("tb", rep(c("eb", "bb", "be", "bb", "be", "ee"), 2), "te"))
  stop_now <- callback_lambda(on_epoch_end = function(epoch, logs, state) state$stop_training <- TRUE)
  h <- fit(cb_model(), d$x, d$y, loss = "ce", epochs = 5, verbose = 0, callbacks = list(stop_now))
  expect_identical(nrow(h$metrics), 1L)
  expect_error(callback_lambda(on_epoch_end = 1), class = "symnet_value_error")
  expect_error(fit(cb_model(), d$x, d$y, loss = "ce", callbacks = list(1), verbose = 0),
               class = "symnet_value_error")
})
