small_model <- function() {
  set.seed(1)
  x <- sym_var("x", c(NA, 4))
  h <- layer_dense(x, 8, activation = "relu", name = "base")
  h <- layer_batch_norm(h, name = "bn")
  sym_model(x, layer_dense(h, 2, name = "head"))
}

data_xy <- function() {
  set.seed(2)
  list(x = matrix(rnorm(200), 50, 4), y = matrix(rnorm(100), 50, 2))
}

changed <- function(a, b) vapply(names(a), function(n) max(abs(a[[n]] - b[[n]])) > 0, logical(1))

test_that("frozen layers keep their weights and batch-norm statistics while the rest trains", {
  m <- small_model()
  d <- data_xy()
  expect_invisible(freeze_weights(m, to = "bn"))
  tab <- model_layers(m)
  expect_equal(tab$trainable_params, c(0, 0, 0, 18))
  expect_output(print(m), "Trainable params: 18")
  w0 <- get_weights(m)
  fit(m, d$x, d$y, loss = "mse", optimizer = optimizer_sgd(0.1), epochs = 2, verbose = 0)
  ch <- changed(w0, get_weights(m))
  expect_false(any(ch[c("base/kernel", "base/bias", "bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_variance")]))
  expect_true(all(ch[c("head/kernel", "head/bias")]))
})

test_that("a frozen batch norm normalizes with its running statistics while fitting", {
  m <- small_model()
  d <- data_xy()
  freeze_weights(m, which = c("base", "bn"))
  # the loss fit() reports equals the inference-mode loss when the head cannot move
  set_lr_mult(m, 0, which = "head")
  h <- fit(m, d$x, d$y, loss = "mse", optimizer = optimizer_sgd(0.1), epochs = 1, batch_size = 50, verbose = 0)
  p <- predict(m, d$x)
  expect_equal(h$metrics$loss[1], mean((p - d$y)^2), tolerance = 1e-5)
})

test_that("unfreezing trains everything again; lr_mult scales the step", {
  m <- small_model()
  d <- data_xy()
  freeze_weights(m)
  expect_error(fit(m, d$x, d$y, loss = "mse", optimizer = optimizer_sgd(0.1), verbose = 0),
               "frozen", class = "symnet_error")
  unfreeze_weights(m)
  w0 <- get_weights(m)
  fit(m, d$x, d$y, loss = "mse", optimizer = optimizer_sgd(0.1), epochs = 1, batch_size = 50, verbose = 0)
  expect_true(all(changed(w0, get_weights(m))))
  # plain SGD: a multiplier of 0.5 on the head halves its step
  m1 <- small_model()
  m2 <- small_model()
  set_lr_mult(m2, 0.5, which = "head")
  a0 <- get_weights(m1)[["head/kernel"]]
  for (mm in list(m1, m2)) {
    freeze_weights(mm, to = "bn")
    fit(mm, d$x, d$y, loss = "mse", optimizer = optimizer_sgd(0.1), epochs = 1, batch_size = 50, shuffle = FALSE,
        verbose = 0)
  }
  step1 <- get_weights(m1)[["head/kernel"]] - a0
  step2 <- get_weights(m2)[["head/kernel"]] - a0
  expect_equal(step2, step1 / 2, tolerance = 1e-5)
})

test_that("a frozen base needs no gradient memory in the training step", {
  d <- data_xy()
  step_bytes <- function(freeze) {
    set.seed(1)
    x <- sym_var("x", c(NA, 64))
    h <- x
    for (k in 1:4) h <- layer_dense(h, 256, activation = "relu", name = paste0("base", k))
    m <- sym_model(x, layer_dense(h, 2, name = "head"))
    if (freeze) freeze_weights(m, to = "base4")
    xs <- matrix(rnorm(64 * 64), 64, 64)
    fit(m, xs, matrix(rnorm(128), 64, 2), loss = "mse", optimizer = optimizer_sgd(0.01), epochs = 1,
        batch_size = 64, verbose = 0)
    summary(m$cache$train$fn)$arena_bytes
  }
  expect_lt(step_bytes(TRUE), step_bytes(FALSE))
})

test_that("layers are found by name or row, and a model can be cut at one", {
  m <- small_model()
  l <- get_layer(m, "base")
  expect_equal(l$name, "base")
  expect_equal(l$type, "Dense")
  expect_setequal(names(l$weights), c("base/kernel", "base/bias"))
  expect_equal(get_layer(m, 2)$name, "base")
  f <- get_layer_output(m, "bn")
  expect_s3_class(f, "symnet_symbol")
  m2 <- sym_model(m$inputs, layer_dense(f, 3, name = "new_head"))
  expect_equal(dim(predict(m2, matrix(0, 5, 4))), c(5, 3))
  expect_error(get_layer(m, "nope"), "no layer", class = "symnet_value_error")
  expect_error(get_layer(m, 99), "out of range", class = "symnet_index_error")
  expect_error(get_layer(m, list()), class = "symnet_value_error")
  expect_error(freeze_weights(m, from = "head", to = "base"), "comes after", class = "symnet_value_error")
  expect_error(freeze_weights(m, which = "base", to = "bn"), "not both", class = "symnet_value_error")
  expect_error(set_lr_mult(m, -1), ">= 0", class = "symnet_value_error")
})

test_that("frozen state and multipliers survive save_model() and saveRDS()", {
  m <- small_model()
  freeze_weights(m, which = "base")
  set_lr_mult(m, 0.25, which = "head")
  f <- tempfile(fileext = ".symnet")
  on.exit(unlink(f))
  save_model(m, f)
  for (m2 in list(load_model(f), unserialize(serialize(m, NULL)))) {
    expect_equal(model_layers(m2)$trainable_params, model_layers(m)$trainable_params)
    expect_equal(cpp_shared_info(m2$variables[["head/kernel"]]$var)$lr_mult, 0.25)
  }
})

test_that("an imported ONNX model is cut at a tensor and fine-tuned with its base frozen", {
  skip_if_not(onnx_available())
  m <- import_onnx(test_path("fixtures", "onnx", "small_cnn.onnx"))
  feat <- get_layer_output(m, "/Concat_1_output_0")
  new <- sym_model(m$inputs, layer_dense(feat, 3, name = "new_head"))
  rows <- model_layers(new)$name
  freeze_weights(new, which = setdiff(rows, "new_head"))
  before <- get_weights(new)
  set.seed(4)
  xs <- array(rnorm(32 * 3 * 16 * 16), c(32, 3, 16, 16))
  ys <- factor(sample(0:2, 32, TRUE))
  h <- fit(new, xs, ys, loss = "softmax_cross_entropy", optimizer = optimizer_adam(0.01), epochs = 3,
           batch_size = 16, verbose = 0)
  after <- get_weights(new)
  ch <- changed(before, after)
  expect_false(any(ch[c("conv1.weight", "bn1.running_mean", "depthwise.weight")]))
  expect_true(all(ch[c("new_head/kernel", "new_head/bias")]))
  expect_lt(h$metrics$loss[3], h$metrics$loss[1])
})
