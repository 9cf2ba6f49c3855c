# Three Gaussian blobs in 4 dimensions: an easy 3-class problem.
make_blobs <- function(n = 150, seed = 1) {
  set.seed(seed)
  y <- rep(0:2, length.out = n)
  centers <- rbind(c(2, 0, 0, 0), c(0, 2, 0, 0), c(0, 0, 2, 0))
  x <- centers[y + 1, ] + matrix(rnorm(n * 4, sd = 0.5), n, 4)
  list(x = x, y = y)
}

make_mlp <- function(seed = 1, hidden = 16) {
  set.seed(seed)
  x <- sym_var("x", c(NA, 4))
  out <- x |> layer_dense(hidden, activation = "relu") |> layer_dense(3)
  sym_model(x, out)
}

test_that("fit trains, returns a history, and evaluate/predict agree", {
  d <- make_blobs()
  m <- make_mlp()
  h <- fit(m, d$x, d$y, loss = loss_softmax_cross_entropy(), optimizer = optimizer_adam(0.05),
           epochs = 8, batch_size = 32, metrics = "accuracy", verbose = 0, seed = 1)
  expect_s3_class(h, "symnet_history")
  expect_named(h$metrics, c("epoch", "loss", "accuracy", "lr"))
  expect_identical(h$metrics$epoch, 1:8)
  expect_lt(h$metrics$loss[8], h$metrics$loss[1])
  expect_gt(h$metrics$accuracy[8], 0.9)
  expect_identical(h$params$steps, 5L)          # 150 examples in batches of 32: last one has 22
  expect_identical(h$params$samples, 150L)
  e <- evaluate(m, d$x, d$y)
  expect_named(e, c("loss", "accuracy"))
  p <- predict(m, d$x)
  expect_identical(dim(p), c(150L, 3L))
  expect_equal(unname(e[["accuracy"]]), mean(max.col(p) - 1 == d$y), tolerance = 1e-6)
  # batched prediction does not depend on the batch size
  expect_equal(predict(m, d$x, batch_size = 7), p, tolerance = 1e-6)
  # a serialized copy holds the trained weights
  expect_identical(get_weights(unserialize(serialize(m, NULL))), get_weights(m))
})

test_that("integer pixels are kept as bytes and train exactly like their values", {
  conv <- function(v) symnet:::cpp_tensor_info(symnet:::.as_tensors(list(x = v), "float32", compact = TRUE)$x)$dtype
  expect_identical(conv(array(c(0L, 255L, 7L, 9L), c(2, 2))), "uint8")
  expect_identical(conv(array(c(0L, 256L, 7L, 9L), c(2, 2))), "float32")   # out of byte range
  expect_identical(conv(array(c(-1L, 2L, 7L, 9L), c(2, 2))), "float32")
  expect_identical(conv(array(c(0, 255, 7, 9), c(2, 2))), "float32")       # doubles stay float
  set.seed(3)
  xi <- array(sample(0:255, 60 * 6, replace = TRUE), c(60, 6))
  y <- sample(0:2, 60, replace = TRUE)
  train <- function(xv) {
    x <- sym_var("x", c(NA, 6))
    m <- sym_model(x, x |> layer_rescaling(1 / 255) |> layer_dense(3, name = "out"))
    set_weights(m, list(`out/kernel` = matrix(seq(-0.4, 0.45, length.out = 18), 6),
                        `out/bias` = c(0.1, 0, -0.1)))
    fit(m, xv, y, loss = loss_softmax_cross_entropy(), optimizer = optimizer_sgd(0.1),
        epochs = 2, batch_size = 16, verbose = 0, seed = 5)
    list(p = predict(m, xv), e = evaluate(m, xv, y))
  }
  a <- train(xi)
  b <- train(xi + 0)  # the same values as doubles: converted to float32 as before
  expect_equal(a$p, b$p, tolerance = 1e-6)
  expect_equal(a$e, b$e, tolerance = 1e-6)
})

test_that("a training step is one call into the engine", {
  d <- make_blobs(64)
  m <- make_mlp()
  counter <- new.env()
  counter$n <- 0L
  suppressMessages(trace("cpp_function_run", tracer = bquote(assign("n", .(counter)$n + 1L, envir = .(counter))),
                         print = FALSE, where = asNamespace("symnet")))
  on.exit(suppressMessages(untrace("cpp_function_run", where = asNamespace("symnet"))))
  fit(m, d$x, d$y, loss = "softmax_cross_entropy", optimizer = "sgd", epochs = 2, batch_size = 16,
      verbose = 0)
  expect_identical(counter$n, 8L)                   # 2 epochs x 4 steps, nothing else
  entry <- m$cache$train
  ups <- entry$fn$updates
  expect_true(all(names(m$params) %in% ups))    # every parameter updated in the graph
  expect_true("sgd/step" %in% ups)
})

test_that("labels may be integers, a factor or one-hot rows", {
  d <- make_blobs(60)
  run <- function(y) {
    m <- make_mlp(seed = 3)
    fit(m, d$x, y, loss = loss_softmax_cross_entropy(), optimizer = optimizer_sgd(0.1),
        epochs = 2, batch_size = 20, verbose = 0, seed = 7)$metrics$loss
  }
  base <- run(d$y)
  expect_equal(run(factor(c("a", "b", "c")[d$y + 1])), base, tolerance = 1e-6)
  expect_equal(run(diag(3)[d$y + 1, ]), base, tolerance = 1e-5)
  expect_equal(run(as.double(d$y)), base, tolerance = 1e-6)
})

test_that("a seed makes training reproducible without touching R's RNG", {
  d <- make_blobs(60)
  m1 <- make_mlp(seed = 5)
  m2 <- make_mlp(seed = 5)
  set.seed(99)
  before <- runif(1)
  set.seed(99)
  h1 <- fit(m1, d$x, d$y, loss = "ce", optimizer = optimizer_sgd(0.1), epochs = 3, batch_size = 8,
            verbose = 0, seed = 42)
  expect_identical(runif(1), before)
  h2 <- fit(m2, d$x, d$y, loss = "ce", optimizer = optimizer_sgd(0.1), epochs = 3, batch_size = 8,
            verbose = 0, seed = 42)
  expect_identical(h1$metrics$loss, h2$metrics$loss)
  expect_identical(unname(get_weights(m1)), unname(get_weights(m2)))
})

test_that("bad inputs are classed errors raised before training", {
  d <- make_blobs(30)
  m <- make_mlp()
  w0 <- get_weights(m)
  f <- function(x = d$x, y = d$y, ...) {
    fit(m, x, y, loss = loss_softmax_cross_entropy(), epochs = 1, verbose = 0, ...)
  }
  expect_error(f(y = d$y[-1]), "same number", class = "symnet_value_error")
  expect_error(f(y = d$y + 1L), "out of range", class = "symnet_value_error")
  expect_error(f(y = replace(d$y, 2, 5L)), class = "symnet_value_error")
  expect_error(f(x = replace(d$x, 7, NA)), "NA", class = "symnet_value_error")
  expect_error(f(y = replace(d$y, 3, NA)), "NA", class = "symnet_value_error")
  expect_error(f(x = d$x[0, ], y = integer()), class = "symnet_value_error")
  expect_error(f(x = d$x[, 1]), class = "symnet_shape_error")
  expect_error(f(x = array(d$x, c(30, 2, 2))), class = "symnet_shape_error")
  expect_error(f(x = d$x[, 1:3]), class = "symnet_shape_error")
  expect_error(f(x = matrix("a", 30, 4)), class = "symnet_dtype_error")
  expect_error(f(validation_data = list(d$x, d$y[-1])), class = "symnet_value_error")
  expect_error(f(validation_split = 1), class = "symnet_value_error")
  expect_error(f(device = "cuda"), class = "symnet_unsupported_error")
  expect_error(fit(m, d$x, d$y, epochs = 1, verbose = 0), "loss", class = "symnet_value_error")
  expect_error(fit(m, d$x, d$y, loss = "ce", epochs = 0, verbose = 0), class = "symnet_value_error")
  expect_identical(get_weights(m), w0)
  # evaluate and predict check their data too
  expect_error(evaluate(m, d$x, d$y + 5L, loss = "ce"), class = "symnet_value_error")
  expect_error(predict(m, d$x[, 1:2]), class = "symnet_shape_error")
  expect_error(predict(m, replace(d$x, 1, NA)), class = "symnet_value_error")
})

test_that("validation data and split add val_ figures", {
  d <- make_blobs(90)
  m <- make_mlp()
  h <- fit(m, d$x, d$y, loss = "ce", optimizer = optimizer_adam(0.05), epochs = 2, metrics = "accuracy",
           validation_split = 0.2, verbose = 0)
  expect_named(h$metrics, c("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"))
  expect_identical(h$params$samples, 72L)
  expect_identical(h$params$validation_samples, 18L)
  h2 <- fit(m, d$x[1:60, ], d$y[1:60], validation_data = list(x = d$x[61:90, ], y = d$y[61:90]),
            epochs = 1, verbose = 0)
  v <- evaluate(m, d$x[61:90, ], d$y[61:90])
  expect_equal(h2$metrics$val_loss, unname(v[["loss"]]), tolerance = 1e-5)
})

test_that("fit again continues with the same loss, optimiser state and metrics", {
  d <- make_blobs(40)
  m <- make_mlp()
  opt <- optimizer_adam(0.01)
  fit(m, d$x, d$y, loss = "ce", optimizer = opt, metrics = "acc", epochs = 1, batch_size = 10, verbose = 0)
  h <- fit(m, d$x, d$y, epochs = 1, batch_size = 10, verbose = 0)
  expect_named(h$metrics, c("epoch", "loss", "accuracy", "lr"))
  expect_equal(sym_value(opt$step_var), 8)
})

test_that("engine copies of the data are freed when fit/evaluate/predict return", {
  t <- symnet:::cpp_tensor_new(matrix(1, 2, 2), "float32")
  symnet:::cpp_tensor_release(t)
  expect_error(symnet:::cpp_tensor_info(t), "released", class = "symnet_value_error")
  d <- make_blobs(40)
  m <- make_mlp()
  # an iterator keeps its engine copy across calls (it is freed with the iterator)
  it <- data_iterator(d$x, d$y, batch_size = 10, seed = 1)
  fit(m, it, loss = "ce", optimizer = optimizer_sgd(0.1), epochs = 1, verbose = 0)
  cached <- it$tensors
  expect_true(length(cached) > 0)
  fit(m, it, epochs = 1, verbose = 0)
  expect_identical(it$tensors, cached)
  expect_silent(symnet:::cpp_tensor_info(cached[[1]]))
  expect_named(evaluate(m, it), "loss")
})

test_that("schedules set the learning rate every epoch", {
  d <- make_blobs(30)
  m <- make_mlp()
  h <- fit(m, d$x, d$y, loss = "ce", optimizer = optimizer_sgd(lr = schedule_step(0.1, 1, 0.5)),
           epochs = 3, verbose = 0)
  expect_equal(h$metrics$lr, c(0.1, 0.05, 0.025), tolerance = 1e-6)
})

test_that("data iterators and batch functions feed fit", {
  d <- make_blobs(50)
  m <- make_mlp()
  it <- data_iterator(d$x, d$y, batch_size = 16, seed = 1)
  expect_length(it, 4)
  expect_output(print(it), "50 examples in 4 batches of 16")
  h <- fit(m, it, loss = "ce", optimizer = optimizer_adam(0.05), epochs = 3, verbose = 0)
  expect_identical(h$params$batch_size, 16L)
  expect_identical(h$params$steps, 4L)
  expect_error(fit(m, it, d$y, epochs = 1, verbose = 0), class = "symnet_value_error")
  batches <- function() {
    i <- 0
    function() {
      i <<- i + 1
      if (i > 5) {
        i <<- 0
        return(NULL)
      }
      rows <- ((i - 1) * 10 + 1):(i * 10)
      list(x = d$x[rows, ], y = d$y[rows])
    }
  }
  h2 <- fit(m, batches(), epochs = 2, verbose = 0,
            validation_data = data_iterator(d$x, d$y, batch_size = 25, shuffle = FALSE))
  expect_identical(nrow(h2$metrics), 2L)
  expect_true(all(is.finite(h2$metrics$val_loss)))
  v <- evaluate(m, batches())
  expect_equal(v[["loss"]], evaluate(m, d$x, d$y)[["loss"]], tolerance = 1e-5)
  bad <- function() list(x = d$x[1:5, ], y = d$y[1:4])
  expect_error(fit(m, bad, epochs = 1, verbose = 0), class = "symnet_value_error")
})

test_that("models with several inputs and outputs take named lists", {
  set.seed(2)
  a <- sym_var("a", c(NA, 2))
  b <- sym_var("b", c(NA, 3))
  h <- layer_concatenate(a, b) |> layer_dense(8, activation = "tanh")
  m <- sym_model(list(a, b), list(cls = layer_dense(h, 2), reg = layer_dense(h, 1)))
  n <- 40
  xa <- matrix(rnorm(2 * n), n)
  xb <- matrix(rnorm(3 * n), n)
  ycls <- as.integer(xa[, 1] > 0)
  yreg <- xb[, 1] + xa[, 2]
  hist <- fit(m, list(a = xa, b = xb), list(cls = ycls, reg = yreg),
              loss = list(cls = loss_softmax_cross_entropy(), reg = loss_mse()),
              metrics = "accuracy", optimizer = optimizer_adam(0.02), epochs = 3, batch_size = 10, verbose = 0)
  expect_true(all(c("loss", "cls_loss", "reg_loss", "cls_accuracy") %in% names(hist$metrics)))
  expect_equal(hist$metrics$loss, hist$metrics$cls_loss + hist$metrics$reg_loss, tolerance = 1e-5)
  p <- predict(m, list(b = xb, a = xa))
  expect_named(p, c("cls", "reg"))
  expect_identical(dim(p$reg), c(40L, 1L))
  expect_error(fit(m, xa, ycls, epochs = 1, verbose = 0), class = "symnet_value_error")
  expect_error(fit(m, list(a = xa, c = xb), list(cls = ycls, reg = yreg), epochs = 1, verbose = 0),
               class = "symnet_value_error")
})

test_that("R-function metrics run on each batch; regression fits work", {
  set.seed(3)
  X <- matrix(rnorm(200), 100, 2)
  y <- X %*% c(1, -2) + 0.5
  x <- sym_var("x", c(NA, 2))
  m <- sym_model(x, layer_dense(x, 1))
  h <- fit(m, X, y, loss = loss_mse(), optimizer = optimizer_sgd(0.1), epochs = 20, batch_size = 20,
           metrics = list(med = function(y_true, y_pred) median(abs(y_true - y_pred)),
                          rmse = function(y_true, y_pred) sqrt(mean((y_true - y_pred)^2)),
                          mae = function(y_true, y_pred) mean(abs(y_true - y_pred))),
           verbose = 0)
  expect_lt(h$metrics$loss[20], 1e-3)
  expect_named(m$cache$train$rmetrics, "med")               # only median needs R
  expect_true(all(h$metrics$rmse >= h$metrics$mae - 1e-6))
  expect_true(all(is.finite(h$metrics$med)))
  e <- evaluate(m, X, as.vector(y))
  expect_named(e, c("loss", "rmse", "mae", "med"))
  expect_equal(e[["rmse"]]^2, e[["loss"]], tolerance = 1e-4)
  w <- get_weights(m)
  expect_equal(as.vector(w[[1]]), c(1, -2), tolerance = 1e-2)
})

test_that("verbose = 2 prints one line per epoch, verbose = 1 a progress bar and the lines", {
  d <- make_blobs(30)
  m <- make_mlp()
  msgs <- capture_messages(fit(m, d$x, d$y, loss = "ce", metrics = "accuracy", epochs = 2, verbose = 2))
  expect_length(msgs, 2)
  expect_match(msgs[2], "Epoch 2/2 - .* samples/s - loss: [0-9.]+ - accuracy: ")
  msgs <- capture_messages(fit(m, d$x, d$y, epochs = 1, verbose = 1))
  expect_match(msgs[length(msgs)], "Epoch 1/1")
  expect_silent(fit(m, d$x, d$y, epochs = 1, verbose = 0))
})

test_that("interrupting fit returns the history so far and keeps the weights", {
  d <- make_blobs(60)
  for (how in c("interrupt", "engine")) {
    m <- make_mlp()
    w0 <- get_weights(m)
    stopper <- callback_lambda(on_batch_end = function(batch, logs, state) {
      if (state$epoch == 2 && batch == 2) {
        if (how == "interrupt") {
          signalCondition(structure(class = c("interrupt", "condition"), list(message = "", call = NULL)))
        } else {
          symnet:::sym_abort("interrupted by the user", kind = "interrupt", call = NULL)
        }
      }
    })
    expect_message(h <- fit(m, d$x, d$y, loss = "ce", optimizer = optimizer_sgd(0.1), epochs = 5,
                            batch_size = 10, callbacks = list(stopper), verbose = 0),
                   "interrupted during epoch 2")
    expect_s3_class(h, "symnet_history")
    expect_true(h$interrupted)
    expect_identical(nrow(h$metrics), 1L)
    expect_false(identical(get_weights(m), w0))
    expect_identical(get_weights(unserialize(serialize(m, NULL))), get_weights(m))
    expect_identical(dim(predict(m, d$x)), c(60L, 3L))
  }
})

test_that("a network reaches > 70% test accuracy on 2000 Fashion-MNIST images", {
  skip_if_not(dir.exists("/usr/share/datasets/fashion-mnist"),
              "Fashion-MNIST not installed (Debian package dataset-fashion-mnist)")
  ds <- dataset_fashion_mnist(download = FALSE)
  idx <- 1:2000
  xtr <- ds$train$x[idx, , ] / 255
  dim(xtr) <- c(2000, 784)
  xte <- ds$test$x[1:1000, , ] / 255
  dim(xte) <- c(1000, 784)
  set.seed(1)
  x <- sym_var("x", c(NA, 784))
  m <- sym_model(x, x |> layer_dense(128, activation = "relu") |> layer_dense(10))
  t0 <- proc.time()[[3]]
  h <- fit(m, xtr, ds$train$y[idx], loss = loss_softmax_cross_entropy(), optimizer = optimizer_adam(0.002),
           epochs = 8, batch_size = 64, metrics = "accuracy", verbose = 0, seed = 1)
  secs <- proc.time()[[3]] - t0
  acc <- evaluate(m, xte, ds$test$y[1:1000])[["accuracy"]]
  expect_gt(acc, 0.70)
  expect_lt(secs, 60)
})

test_that("training gradients are taken in training mode (dropout masks and scales them)", {
  x <- sym_var("x", c(NA, 100))
  w <- sym_param("w_dropout_grad", 100, init = "ones")
  y <- layer_dropout(x * w, rate = 0.5)
  tv <- symnet:::.training_view(list(y = sum(y)))
  f <- sym_compile(sym_grad(tv$y, w))
  g <- f(x = matrix(1, 1, 100))
  expect_true(all(g %in% c(0, 2)))
  expect_true(any(g == 0) && any(g == 2))
})

test_that("unknown arguments to fit/evaluate/predict are errors naming them, with a suggestion", {
  d <- make_blobs(30)
  m <- make_mlp()
  e <- expect_error(fit(m, d$x, d$y, loss = "ce", verbose = 0, validation_splt = 0.2),
                    class = "symnet_unknown_argument_error")
  expect_s3_class(e, "symnet_error")
  expect_identical(e$argument, "validation_splt")
  expect_identical(e$suggestion, "validation_split")
  expect_match(conditionMessage(e), "validation_split")
  e <- expect_error(fit(m, d$x, d$y, loss = "ce", verbose = 0, batchsize = 8),
                    class = "symnet_unknown_argument_error")
  expect_identical(e$suggestion, "batch_size")
  e <- expect_error(fit(m, d$x, d$y, loss = "ce", verbose = 0, frobnicate = TRUE),
                    class = "symnet_unknown_argument_error")
  expect_null(e$suggestion)
  expect_error(fit(m, d$x, d$y, "ce", NULL, 1, 32, NULL, 0, NULL, NULL, TRUE, NULL, 0, "cpu",
                   NULL, NULL, 0, NULL, TRUE, "stop", NULL, "extra"),
               class = "symnet_unknown_argument_error")
  fit(m, d$x, d$y, loss = "ce", verbose = 0)
  e <- expect_error(evaluate(m, d$x, d$y, batch_sise = 10), class = "symnet_unknown_argument_error")
  expect_identical(e$suggestion, "batch_size")
  e <- expect_error(predict(m, d$x, verbose = 0), class = "symnet_unknown_argument_error")
  expect_identical(e$argument, "verbose")
  # nothing trained or changed on the way
  w <- get_weights(m)
  expect_error(fit(m, d$x, d$y, epochs = 3, verbose = 0, steps_per_epch = 2),
               class = "symnet_unknown_argument_error")
  expect_identical(get_weights(m), w)
})

test_that("sample_weight weights each example's loss: the keras weighted mean", {
  d <- make_blobs(40)
  m <- make_mlp()
  w <- seq(0.5, 2, length.out = 40)
  p <- predict(m, d$x)
  ce <- -log(softmax_rows(p)[cbind(seq_len(40), d$y + 1)])
  # weighted loss = mean over the examples of w * loss (batches weighted by their size)
  expect_equal(unname(evaluate(m, d$x, d$y, loss = "ce", sample_weight = w)[["loss"]]), mean(w * ce),
               tolerance = 1e-5)
  expect_equal(unname(evaluate(m, d$x, d$y, loss = "ce")[["loss"]]), mean(ce), tolerance = 1e-5)
  # training on the weighted loss: one full-batch SGD step equals the gradient of mean(w * ce)
  m1 <- make_mlp(seed = 3)
  m2 <- make_mlp(seed = 3)
  # duplicating examples is the same as weight 2 on them (full batch, loss is a mean over rows)
  dup <- c(1:40, 1:10)
  h1 <- fit(m1, d$x, d$y, loss = "ce", optimizer = optimizer_sgd(0.1), batch_size = 40, epochs = 3,
            shuffle = FALSE, verbose = 0, sample_weight = c(rep(2, 10), rep(1, 30)) * 40 / 50)
  h2 <- fit(m2, d$x[dup, ], d$y[dup], loss = "ce", optimizer = optimizer_sgd(0.1), batch_size = 50,
            epochs = 3, shuffle = FALSE, verbose = 0)
  expect_equal(unname(get_weights(m1)), unname(get_weights(m2)), tolerance = 1e-5)
  expect_equal(h1$metrics$loss, h2$metrics$loss, tolerance = 1e-5)
  # zero weights: those examples do not move the weights at all
  m3 <- make_mlp(seed = 4)
  w0 <- get_weights(m3)
  fit(m3, d$x, d$y, loss = "ce", optimizer = optimizer_sgd(0.5), verbose = 0, sample_weight = rep(0, 40))
  expect_equal(get_weights(m3), w0)
  # bad weights are classed errors before training
  expect_error(fit(m3, d$x, d$y, verbose = 0, sample_weight = rep(1, 39)), class = "symnet_value_error")
  expect_error(fit(m3, d$x, d$y, verbose = 0, sample_weight = c(-1, rep(1, 39))), class = "symnet_value_error")
  expect_error(fit(m3, d$x, d$y, verbose = 0, sample_weight = c(NA, rep(1, 39))), class = "symnet_value_error")
  expect_error(fit(m3, d$x, d$y, verbose = 0, sample_weight = letters[1:40]), class = "symnet_dtype_error")
  expect_equal(get_weights(m3), w0)
})

test_that("class_weight multiplies the loss of each class's examples", {
  d <- make_blobs(60)
  m1 <- make_mlp(seed = 5)
  m2 <- make_mlp(seed = 5)
  cw <- c("0" = 1, "1" = 3, "2" = 0.5)
  h1 <- fit(m1, d$x, d$y, loss = "ce", optimizer = optimizer_sgd(0.1), epochs = 2, verbose = 0, seed = 1,
            class_weight = cw)
  h2 <- fit(m2, d$x, d$y, loss = "ce", optimizer = optimizer_sgd(0.1), epochs = 2, verbose = 0, seed = 1,
            sample_weight = unname(cw[as.character(d$y)]))
  expect_equal(unname(get_weights(m1)), unname(get_weights(m2)), tolerance = 1e-6)
  expect_equal(h1$metrics$loss, h2$metrics$loss, tolerance = 1e-6)
  # the same as a list, by factor level, unnamed, or with classes left out (weight 1)
  f <- factor(c("a", "b", "c")[d$y + 1])
  for (cw2 in list(list("0" = 1, "1" = 3, "2" = 0.5), c(a = 1, b = 3, c = 0.5), c(1, 3, 0.5),
                   c("1" = 3, "2" = 0.5))) {
    m3 <- make_mlp(seed = 5)
    lab <- if (identical(names(cw2), c("a", "b", "c"))) f else d$y
    fit(m3, d$x, lab, loss = "ce", optimizer = optimizer_sgd(0.1), epochs = 2, verbose = 0, seed = 1,
        class_weight = cw2)
    expect_equal(unname(get_weights(m3)), unname(get_weights(m1)), tolerance = 1e-6)
  }
  # one-hot labels: the class is the arg-max
  m4 <- make_mlp(seed = 5)
  fit(m4, d$x, diag(3)[d$y + 1, ], loss = "ce", optimizer = optimizer_sgd(0.1), epochs = 2, verbose = 0,
      seed = 1, class_weight = cw)
  expect_equal(unname(get_weights(m4)), unname(get_weights(m1)), tolerance = 1e-6)
  # errors: unknown class, out of range, regression, wrong length
  expect_error(fit(m4, d$x, d$y, verbose = 0, class_weight = c("0" = 1, "7" = 2)), class = "symnet_value_error")
  expect_error(fit(m4, d$x, d$y, verbose = 0, class_weight = c(zero = 1)), class = "symnet_value_error")
  expect_error(fit(m4, d$x, d$y, verbose = 0, class_weight = c(1, 2)), class = "symnet_value_error")
  expect_error(fit(m4, d$x, d$y, verbose = 0, class_weight = c("0" = -1)), class = "symnet_value_error")
  expect_error(fit(m4, d$x, d$x[, 1:3], loss = "mse", verbose = 0, class_weight = c("0" = 1)),
               class = "symnet_value_error")
})

test_that("class weights balance an imbalanced binary problem", {
  set.seed(2)
  n <- 400
  X <- matrix(rnorm(2 * n), n, 2)
  y <- as.integer(X[, 1] + 0.5 * rnorm(n) > 1.2)     # about 12% positives
  x <- sym_var("x", c(NA, 2))
  m0 <- sym_model(x, layer_dense(x, 1))
  m1 <- sym_model(x, layer_dense(x, 1))
  set_weights(m1, stats::setNames(get_weights(m0), names(get_weights(m1))))
  fit(m0, X, y, loss = "binary_cross_entropy", optimizer = optimizer_adam(0.05), epochs = 30, verbose = 0, seed = 1)
  fit(m1, X, y, loss = "binary_cross_entropy", optimizer = optimizer_adam(0.05), epochs = 30, verbose = 0, seed = 1,
      class_weight = c("0" = 1, "1" = sum(y == 0) / sum(y == 1)))
  recall <- function(m) mean(predict(m, X)[y == 1] > 0)
  expect_gt(recall(m1), recall(m0) + 0.1)
})

test_that("batch functions carry their own sample weights", {
  d <- make_blobs(40)
  w <- seq(0.5, 2, length.out = 40)
  k <- 0L
  batches <- function() {
    k <<- k + 1L
    if (k > 2L) { k <<- 0L; return(NULL) }
    i <- (k - 1L) * 20L + 1:20
    list(x = d$x[i, ], y = d$y[i], sample_weight = w[i])
  }
  m1 <- make_mlp(seed = 6)
  m2 <- make_mlp(seed = 6)
  fit(m1, batches, loss = "ce", optimizer = optimizer_sgd(0.1), epochs = 2, verbose = 0)
  fit(m2, d$x, d$y, loss = "ce", optimizer = optimizer_sgd(0.1), epochs = 2, batch_size = 20, shuffle = FALSE,
      verbose = 0, sample_weight = w)
  expect_equal(unname(get_weights(m1)), unname(get_weights(m2)), tolerance = 1e-6)
  expect_error(fit(m1, batches, verbose = 0, sample_weight = w), class = "symnet_value_error")
  # class weights apply to the labels of each batch (times the batch's own weights)
  cw <- c("0" = 2, "1" = 1, "2" = 0.5)
  expect_identical(k, 0L)                   # the refused fit() did not take a batch
  m3 <- make_mlp(seed = 6)
  m4 <- make_mlp(seed = 6)
  fit(m3, batches, loss = "ce", optimizer = optimizer_sgd(0.1), epochs = 2, verbose = 0, class_weight = cw)
  fit(m4, d$x, d$y, loss = "ce", optimizer = optimizer_sgd(0.1), epochs = 2, batch_size = 20, shuffle = FALSE,
      verbose = 0, sample_weight = w * cw[as.character(d$y)])
  expect_equal(unname(get_weights(m3)), unname(get_weights(m4)), tolerance = 1e-6)
})

test_that("initial_epoch resumes epoch numbering, schedules and the history", {
  d <- make_blobs(40)
  sched <- schedule_step(0.1, step_size = 1, gamma = 0.5)
  m1 <- make_mlp(seed = 7)
  h_all <- fit(m1, d$x, d$y, loss = "ce", optimizer = optimizer_sgd(sched), epochs = 4, verbose = 0, seed = 1,
               shuffle = FALSE)
  m2 <- make_mlp(seed = 7)
  opt <- optimizer_sgd(sched)
  h_a <- fit(m2, d$x, d$y, loss = "ce", optimizer = opt, epochs = 2, verbose = 0, seed = 1, shuffle = FALSE)
  seen <- integer()
  h_b <- fit(m2, d$x, d$y, epochs = 4, initial_epoch = 2, verbose = 0, shuffle = FALSE,
             callbacks = list(callback_lambda(on_epoch_begin = function(epoch, logs) seen <<- c(seen, epoch))))
  expect_identical(h_b$metrics$epoch, 3:4)
  expect_identical(seen, 3:4)
  expect_equal(h_b$metrics$lr, sched(3:4))
  expect_equal(unname(get_weights(m2)), unname(get_weights(m1)), tolerance = 1e-6)
  expect_equal(c(h_a$metrics$loss, h_b$metrics$loss), h_all$metrics$loss, tolerance = 1e-6)
  expect_identical(h_b$params$initial_epoch, 2L)
  expect_false(h_b$stopped_early)
  expect_output(print(h_b), "2 of 2 epochs \\(from epoch 3\\)")
  msgs <- capture_messages(fit(m2, d$x, d$y, epochs = 6, initial_epoch = 5, verbose = 2))
  expect_match(msgs[1], "Epoch 6/6")
  e <- expect_error(fit(m2, d$x, d$y, epochs = 3, initial_epoch = 3, verbose = 0), class = "symnet_value_error")
  expect_match(conditionMessage(e), "initial_epoch = 3, epochs = 8", fixed = TRUE)
  expect_error(fit(m2, d$x, d$y, epochs = 3, initial_epoch = -1, verbose = 0), class = "symnet_value_error")
})

test_that("a seeded fit resumed at initial_epoch shuffles its epochs as the uninterrupted run", {
  d <- make_blobs(40)
  m1 <- make_mlp(seed = 7)
  fit(m1, d$x, d$y, loss = "ce", optimizer = optimizer_sgd(0.1), epochs = 4, batch_size = 8, verbose = 0, seed = 3)
  m2 <- make_mlp(seed = 7)
  fit(m2, d$x, d$y, loss = "ce", optimizer = optimizer_sgd(0.1), epochs = 2, batch_size = 8, verbose = 0, seed = 3)
  path <- tempfile(fileext = ".safetensors")
  save_model(m2, path)
  m3 <- load_model(path)
  fit(m3, d$x, d$y, optimizer = optimizer_sgd(0.1), epochs = 4, initial_epoch = 2, batch_size = 8, verbose = 0,
      seed = 3)
  expect_equal(unname(get_weights(m3)), unname(get_weights(m1)), tolerance = 1e-6)
  # a batch order other than the uninterrupted run's gives other weights
  m4 <- load_model(path)
  fit(m4, d$x, d$y, optimizer = optimizer_sgd(0.1), epochs = 2, batch_size = 8, verbose = 0, seed = 3)
  expect_false(isTRUE(all.equal(unname(get_weights(m4)), unname(get_weights(m1)), tolerance = 1e-6)))
})

test_that("steps_per_epoch sets the batches per epoch from a stream over the data", {
  d <- make_blobs(40)
  m <- make_mlp()
  rows <- list()
  spy <- callback_lambda(on_batch_end = function(batch, logs) rows[[length(rows) + 1L]] <<- logs$size)
  h <- fit(m, d$x, d$y, loss = "ce", epochs = 3, batch_size = 16, steps_per_epoch = 2, verbose = 0,
           callbacks = list(spy))
  expect_identical(h$params$steps, 2L)
  # 40 examples in batches of 16, 16, 8 per pass; 6 batches = 2 passes, not 3 truncated passes
  expect_identical(unlist(rows), c(16L, 16L, 8L, 16L, 16L, 8L))
  rows <- list()
  fit(m, d$x, d$y, epochs = 1, batch_size = 16, steps_per_epoch = 7, verbose = 0, callbacks = list(spy))
  expect_identical(unlist(rows), c(16L, 16L, 8L, 16L, 16L, 8L, 16L))
  # without shuffling, the stream visits the rows in order across epochs (same as one long epoch)
  m1 <- make_mlp(seed = 8)
  m2 <- make_mlp(seed = 8)
  fit(m1, d$x, d$y, loss = "ce", optimizer = optimizer_sgd(0.1), epochs = 3, batch_size = 10, steps_per_epoch = 2,
      shuffle = FALSE, verbose = 0)
  idx <- c(1:40, 1:20)
  fit(m2, d$x[idx, ], d$y[idx], loss = "ce", optimizer = optimizer_sgd(0.1), epochs = 1, batch_size = 10,
      shuffle = FALSE, verbose = 0)
  expect_equal(unname(get_weights(m1)), unname(get_weights(m2)), tolerance = 1e-6)
  # batch functions: the end of a pass starts the next one
  k <- 0L
  batches <- function() {
    k <<- k + 1L
    if (k > 3L) { k <<- 0L; return(NULL) }
    list(x = d$x[1:10, ], y = d$y[1:10])
  }
  rows <- list()
  h <- fit(m, batches, epochs = 2, steps_per_epoch = 5, verbose = 0, callbacks = list(spy))
  expect_length(rows, 10L)
  expect_error(fit(m, d$x, d$y, steps_per_epoch = 0, verbose = 0), class = "symnet_value_error")
})

test_that("Inf in the inputs is refused before training unless check_finite = FALSE", {
  d <- make_blobs(30)
  m <- make_mlp()
  w0 <- get_weights(m)
  x <- d$x
  x[7, 2] <- Inf
  e <- expect_error(fit(m, x, d$y, loss = "ce", verbose = 0), class = "symnet_value_error")
  expect_match(conditionMessage(e), "[7, 2]", fixed = TRUE)
  x[7, 2] <- 1e39                       # beyond float32: would become Inf in the engine
  expect_error(fit(m, x, d$y, loss = "ce", verbose = 0), class = "symnet_value_error")
  x[7, 2] <- -Inf
  expect_error(fit(m, d$x, d$y, loss = "ce", verbose = 0, validation_data = list(x, d$y)),
               class = "symnet_value_error")
  expect_error(evaluate(m, x, d$y, loss = "ce"), class = "symnet_value_error")
  expect_identical(get_weights(m), w0)
  bad <- function() list(x = x, y = d$y)
  expect_error(fit(m, bad, loss = "ce", verbose = 0), class = "symnet_value_error")
  # turned off: training runs into the non-finite loss, which stops it (no step applied)
  e <- expect_error(fit(m, x, d$y, loss = "ce", verbose = 0, check_finite = FALSE),
                    class = "symnet_nonfinite_error")
  expect_identical(get_weights(m), w0)
})

test_that("a non-finite loss stops training at every verbosity and keeps the last finite weights", {
  d <- make_blobs(60)
  for (v in 0:2) {
    m <- make_mlp()
    # a huge learning rate: the loss goes to Inf/NaN within a few steps
    cond <- tryCatch(
      suppressMessages(fit(m, d$x * 1e3, d$y, loss = "ce", optimizer = optimizer_sgd(1e6), epochs = 20,
                           batch_size = 10, verbose = v)),
      symnet_nonfinite_error = function(e) e)
    expect_s3_class(cond, "symnet_nonfinite_error")
    expect_s3_class(cond, "symnet_error")
    expect_match(conditionMessage(cond), "not finite")
    expect_s3_class(cond$history, "symnet_history")
    w <- unlist(get_weights(m))
    expect_true(all(is.finite(w)))
  }
  # the step before the failure is kept exactly: replay the same steps one at a time
  m1 <- make_mlp(seed = 2)
  cond <- tryCatch(fit(m1, d$x * 1e3, d$y, loss = "ce", optimizer = optimizer_sgd(1e6), epochs = 20,
                       batch_size = 60, verbose = 0), symnet_nonfinite_error = function(e) e)
  nsteps <- (cond$epoch - 1L)
  m2 <- make_mlp(seed = 2)
  if (nsteps > 0) {
    fit(m2, d$x * 1e3, d$y, loss = "ce", optimizer = optimizer_sgd(1e6), epochs = nsteps, batch_size = 60,
        verbose = 0)
  }
  expect_identical(unname(get_weights(m1)), unname(get_weights(m2)))
  # "skip" skips such steps and warns once; "ignore" applies them
  m3 <- make_mlp()
  expect_warning(h <- fit(m3, d$x * 1e3, d$y, loss = "ce", optimizer = optimizer_sgd(1e6), epochs = 3,
                          batch_size = 10, verbose = 0, on_nonfinite = "skip"),
                 class = "symnet_nonfinite_warning")
  expect_true(all(is.finite(unlist(get_weights(m3)))))
  m4 <- make_mlp()
  h <- fit(m4, d$x * 1e3, d$y, loss = "ce", optimizer = optimizer_sgd(1e6), epochs = 3, batch_size = 10,
           verbose = 0, on_nonfinite = "ignore")
  expect_false(all(is.finite(unlist(get_weights(m4)))))
  expect_error(fit(m4, d$x, d$y, verbose = 0, on_nonfinite = "continue"), class = "symnet_value_error")
})

test_that("a softmax output with a from-logits cross-entropy is not softmaxed twice", {
  set.seed(3)
  n <- 300
  X <- matrix(rnorm(2 * n), n, 2)
  y <- as.integer(X[, 1] * X[, 2] > 0) + as.integer(X[, 1] > 1)
  mk <- function(act) {
    set.seed(4)
    x <- sym_var("x", c(NA, 2))
    sym_model(x, x |> layer_dense(16, activation = "relu") |> layer_dense(3, activation = act))
  }
  m_logit <- mk(NULL)
  m_soft <- mk("softmax")
  m_prob <- mk("softmax")
  h1 <- fit(m_logit, X, y, loss = loss_softmax_cross_entropy(), optimizer = optimizer_adam(0.02), epochs = 5,
            metrics = "accuracy", verbose = 0, seed = 1)
  expect_message(h2 <- fit(m_soft, X, y, loss = loss_softmax_cross_entropy(), optimizer = optimizer_adam(0.02),
                           epochs = 5, metrics = "accuracy", verbose = 0, seed = 1),
                 class = "symnet_from_logits_message")
  expect_silent(h3 <- fit(m_prob, X, y, loss = loss_softmax_cross_entropy(from_logits = FALSE),
                          optimizer = optimizer_adam(0.02), epochs = 5, metrics = "accuracy", verbose = 0, seed = 1))
  # the same training as the logits model; predict() gives the softmax of its logits
  expect_equal(h2$metrics$loss, h1$metrics$loss, tolerance = 1e-5)
  expect_equal(h3$metrics$loss, h1$metrics$loss, tolerance = 1e-5)
  expect_equal(predict(m_soft, X), softmax_rows(predict(m_logit, X)), tolerance = 1e-5)
  expect_equal(evaluate(m_soft, X, y), evaluate(m_logit, X, y), tolerance = 1e-5)
  # the message comes once per model
  expect_silent(fit(m_soft, X, y, epochs = 1, verbose = 0, class_weight = c(1, 2, 1)))
  # sigmoid output + binary cross-entropy from logits: same as the logits model, accuracy at 0.5
  yb <- as.integer(X[, 1] > 0)
  mb <- function(act) {
    set.seed(5)
    x <- sym_var("x", c(NA, 2))
    sym_model(x, layer_dense(x, 1, activation = act))
  }
  b1 <- mb(NULL)
  b2 <- mb("sigmoid")
  g1 <- fit(b1, X, yb, loss = "binary_cross_entropy", optimizer = optimizer_adam(0.05), epochs = 5,
            metrics = "accuracy", verbose = 0, seed = 1)
  expect_message(g2 <- fit(b2, X, yb, loss = "binary_cross_entropy", optimizer = optimizer_adam(0.05), epochs = 5,
                           metrics = "accuracy", verbose = 0, seed = 1),
                 class = "symnet_from_logits_message")
  expect_equal(g2$metrics$loss, g1$metrics$loss, tolerance = 1e-5)
  expect_equal(g2$metrics$accuracy, g1$metrics$accuracy, tolerance = 1e-6)
  expect_gt(g2$metrics$accuracy[5], 0.9)
})

test_that("the progress line says img/s for image batches and samples/s otherwise", {
  d <- make_blobs(30)
  m <- make_mlp()
  msgs <- capture_messages(fit(m, d$x, d$y, loss = "ce", epochs = 1, verbose = 2))
  expect_match(msgs[1], "samples/s")
  expect_no_match(msgs[1], "img/s")
  set.seed(1)
  img <- sym_var("img", c(NA, 1, 4, 4))
  mi <- sym_model(img, img |> layer_conv2d(2, 3) |> layer_flatten() |> layer_dense(2))
  X <- array(runif(10 * 16), c(10, 1, 4, 4))
  msgs <- capture_messages(fit(mi, X, rep(0:1, 5), loss = "ce", epochs = 1, verbose = 2))
  expect_match(msgs[1], "img/s")
})

test_that("a non-finite step leaves weights, optimiser state and batch-norm statistics untouched", {
  d <- make_blobs(60)
  mk <- function() {
    set.seed(9)
    x <- sym_var("x", c(NA, 4))
    sym_model(x, x |> layer_dense(8) |> layer_batch_norm() |> layer_dense(3))
  }
  # batches 1, 2 are fine; batch 3 holds an Inf (let through with check_finite = FALSE)
  bad <- d$x[21:30, ]
  bad[1, 1] <- Inf
  make_batches <- function(with_bad) {
    k <- 0L
    function() {
      k <<- k + 1L
      if (k == 1L) return(list(x = d$x[1:10, ], y = d$y[1:10]))
      if (k == 2L) return(list(x = d$x[11:20, ], y = d$y[11:20]))
      if (k == 3L && with_bad) return(list(x = bad, y = d$y[21:30]))
      k <<- 0L
      NULL
    }
  }
  opt1 <- optimizer_adam(0.05)
  opt2 <- optimizer_adam(0.05)
  m1 <- mk()
  m2 <- mk()
  e <- expect_error(fit(m1, make_batches(TRUE), loss = "ce", optimizer = opt1, verbose = 0, check_finite = FALSE),
                    class = "symnet_nonfinite_error")
  expect_identical(e$epoch, 1L)
  expect_identical(e$batch, 3L)
  fit(m2, make_batches(FALSE), loss = "ce", optimizer = opt2, verbose = 0)
  # all variables (weights and batch-norm running statistics) as after the 2 finite steps
  expect_identical(unname(get_weights(m1)), unname(get_weights(m2)))
  # the optimiser's moments and step count too: one more identical step keeps them identical
  fit(m1, d$x[31:40, ], d$y[31:40], verbose = 0, shuffle = FALSE)
  fit(m2, d$x[31:40, ], d$y[31:40], verbose = 0, shuffle = FALSE)
  expect_identical(unname(get_weights(m1)), unname(get_weights(m2)))
  # "skip" goes on past the bad batch with the same state
  m3 <- mk()
  expect_warning(fit(m3, make_batches(TRUE), loss = "ce", optimizer = optimizer_adam(0.05), verbose = 0,
                     check_finite = FALSE, on_nonfinite = "skip"),
                 class = "symnet_nonfinite_warning")
  m4 <- mk()
  fit(m4, make_batches(FALSE), loss = "ce", optimizer = optimizer_adam(0.05), verbose = 0)
  expect_identical(unname(get_weights(m3)), unname(get_weights(m4)))
})

test_that("evaluate() of something that is not a model is a classed error", {
  expect_error(evaluate(NULL), class = "symnet_error")
  expect_error(evaluate("abc"), class = "symnet_error")
})

test_that("a LeNet trains on the simulated device exactly as on the CPU", {
  # The simulated device's memory is reached only through uploads and downloads, so this
  # checks that the executor moves every feed, constant, variable, output and update.
  withr::local_options(symnet.developer.sim_device = TRUE)
  old <- symnet_threads(1)  # one thread: the CPU's summation order is then fixed
  withr::defer(symnet_threads(old))
  set.seed(11)
  x <- sym_var("x", c(NA, 1, 28, 28))
  y <- x |>
    layer_conv2d(6, 5, activation = "tanh") |>
    layer_max_pool2d(2) |>
    layer_conv2d(8, 5, activation = "tanh") |>
    layer_max_pool2d(2) |>
    layer_flatten() |>
    layer_dense(32, activation = "tanh") |>
    layer_dense(10)
  m <- sym_model(x, y)
  X <- array(runif(48 * 28 * 28), c(48, 1, 28, 28))
  lab <- sample(0:9, 48, replace = TRUE)
  w0 <- get_weights(m)
  train <- function(device) {
    set_weights(m, w0)
    h <- fit(m, X, lab, loss = "softmax_cross_entropy", optimizer = optimizer_adam(0.01), epochs = 2,
             batch_size = 16, seed = 3, verbose = 0, device = device)
    list(weights = get_weights(m), history = h$metrics$loss,
         pred = predict(m, X[1:5, , , , drop = FALSE], device = device),
         eval = evaluate(m, X, lab, device = device))
  }
  on_cpu <- train("cpu")
  on_sim <- train("sim")
  expect_identical(on_sim$weights, on_cpu$weights)
  expect_identical(on_sim$history, on_cpu$history)
  expect_identical(on_sim$pred, on_cpu$pred)
  expect_identical(on_sim$eval, on_cpu$eval)
  expect_false(identical(on_cpu$weights, w0))  # it did train
  # Mixed placement: the convolutions fall back to the CPU, the rest runs on the device.
  on_mixed <- train("sim_partial")
  expect_identical(on_mixed$weights, on_cpu$weights)
  expect_identical(on_mixed$history, on_cpu$history)
  expect_identical(on_mixed$pred, on_cpu$pred)
  # Weights stay on the device between calls; a write from R reaches it before the next run.
  set_weights(m, w0)
  expect_identical(predict(m, X[1:5, , , , drop = FALSE], device = "sim"),
                   predict(m, X[1:5, , , , drop = FALSE], device = "cpu"))
})

test_that("summary() of a compiled function reports where its steps run", {
  withr::local_options(symnet.developer.sim_device = TRUE)
  x <- sym_var("x", c(2, 1, 6, 6))
  y <- sym_mean(layer_conv2d(x, 3, 3, padding = "same", activation = "relu") * 2)
  f <- sym_compile(list(y = y), device = "sim_partial")
  s <- summary(f)
  expect_equal(s$device, "sim_partial")
  expect_setequal(s$placement$backend, c("cpu", "sim_partial"))
  expect_equal(sum(s$placement$steps), s$steps)
  expect_true(any(grepl("conv", s$fallback_nodes)))
  expect_gte(s$transfers, 1)
  expect_gt(s$transfer_bytes, 0)
  expect_setequal(s$arenas$memory, c("host", "sim"))
  out <- capture.output(print(s))
  expect_true(any(grepl("steps? on sim_partial", out)))
  expect_true(any(grepl("no kernel on sim_partial", out)))
  expect_true(any(grepl("transfers per run", out)))
  on_cpu <- summary(sym_compile(list(y = y)))
  expect_equal(on_cpu$placement$backend, "cpu")
  expect_equal(on_cpu$transfers, 0)
  expect_length(on_cpu$fallback_nodes, 0)
})

test_that("devices are checked: the simulated one only under its developer option", {
  withr::local_options(symnet.developer.sim_device = NULL)
  x <- sym_var("x", c(NA, 2))
  m <- sym_model(x, layer_dense(x, 1))
  expect_error(predict(m, matrix(1, 1, 2), device = "sim"), class = "symnet_unsupported_error")
  expect_error(predict(m, matrix(1, 1, 2), device = "gpu0"), "Available", class = "symnet_unsupported_error")
  expect_error(sym_compile(x * 2, device = "tpu"), class = "symnet_unsupported_error")
  expect_equal(dim(predict(m, matrix(1, 3, 2), device = "CPU")), c(3L, 1L))
})
