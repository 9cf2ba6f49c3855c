lenet <- function(name = "lenet_t") {
  x <- sym_var("x", c(NA, 1, 28, 28))
  y <- x |>
    layer_conv2d(20, 5, activation = "tanh", name = "c1") |>
    layer_max_pool2d(2, name = "p1") |>
    layer_conv2d(50, 5, activation = "tanh", name = "c2") |>
    layer_max_pool2d(2, name = "p2") |>
    layer_flatten(name = "fl") |>
    layer_dense(500, activation = "tanh", name = "d1") |>
    layer_dense(10, name = "d2")
  sym_model(x, y, name = name)
}

small_model <- function() {
  x <- sym_var("x", c(NA, 3))
  h <- x |> layer_dense(4, activation = "relu", name = "sm_d1") |> layer_batch_norm(name = "sm_bn")
  sym_model(x, list(out = layer_dense(h, 2, name = "sm_d2")), name = "small")
}

test_that("sym_model collects inputs, outputs and parameters", {
  set.seed(1)
  m <- small_model()
  expect_s3_class(m, "symnet_model")
  expect_equal(m$name, "small")
  expect_equal(names(m$inputs), "x")
  expect_equal(names(m$outputs), "out")
  expect_equal(names(m$variables), c("sm_d1/kernel", "sm_d1/bias", "sm_bn/gamma", "sm_bn/beta",
                                     "sm_bn/moving_mean", "sm_bn/moving_variance", "sm_d2/kernel",
                                     "sm_d2/bias"))
  expect_equal(names(m$params), setdiff(names(m$variables), c("sm_bn/moving_mean", "sm_bn/moving_variance")))
  expect_true(all(vapply(m$params, is_shared, logical(1))))
  expect_length(m$aux_updates, 2)
  expect_true(is.character(m$.meta$graph))
  expect_true(is.environment(m$cache))
  # parameters are the graph's own nodes: gradients are not zero
  loss <- sum(m$outputs$out^2)
  g <- sym_compile(sym_grad(loss, m$params))(x = matrix(rnorm(6), 2, 3))
  expect_gt(sum(abs(g[["sm_d2/kernel"]])), 0)
  # single unnamed output
  x <- sym_var("x", c(NA, 2))
  expect_equal(names(sym_model(x, x * 2)$outputs), "output")
  expect_equal(names(sym_model(x, list(x * 2, x + 1))$outputs), c("output1", "output2"))
  expect_match(sym_model(x, x * 2)$name, "^model_[0-9]+$")
})

test_that("print(model) shows a keras-style table", {
  set.seed(1)
  m <- lenet()
  out <- capture.output(print(m))
  expect_match(out[1], "Model: \"lenet_t\"", fixed = TRUE)
  expect_true(any(grepl("Layer (type)", out, fixed = TRUE)))
  txt <- paste(out, collapse = "\n")
  expect_match(txt, "x (Input)", fixed = TRUE)
  expect_match(txt, "c1 \\(Conv2D\\) +\\[\\?, 20, 24, 24\\] +520")
  expect_match(txt, "p1 \\(MaxPool2D\\) +\\[\\?, 20, 12, 12\\] +0")
  expect_match(txt, "c2 \\(Conv2D\\) +\\[\\?, 50, 8, 8\\] +25,050")
  expect_match(txt, "fl \\(Flatten\\) +\\[\\?, 800\\]")
  expect_match(txt, "d1 \\(Dense\\) +\\[\\?, 500\\] +400,500")
  expect_match(txt, "d2 \\(Dense\\) +\\[\\?, 10\\] +5,010")
  expect_match(txt, "Total params: 431,080", fixed = TRUE)
  expect_match(txt, "Trainable params: 431,080", fixed = TRUE)
  expect_match(txt, "Non-trainable params: 0", fixed = TRUE)
  expect_identical(capture.output(print(summary(m))), out)
  expect_equal(summary(m)$total_params, 431080)

  tab <- model_layers(m)
  expect_s3_class(tab, "data.frame")
  expect_equal(tab$name, c("x", "c1", "p1", "c2", "p2", "fl", "d1", "d2"))
  expect_equal(tab$type, c("Input", "Conv2D", "MaxPool2D", "Conv2D", "MaxPool2D", "Flatten", "Dense", "Dense"))
  expect_equal(tab$output_shape[1], "[?, 1, 28, 28]")
  expect_equal(tab$params, c(0, 520, 0, 25050, 0, 0, 400500, 5010))

  bn <- capture.output(print(small_model()))
  expect_match(paste(bn, collapse = "\n"), "Non-trainable params: 8", fixed = TRUE)
})

test_that("ops outside layers get their own rows", {
  x <- sym_var("x", c(NA, 2))
  w <- sym_shared(matrix(1, 2, 2), name = "w_free")
  m <- sym_model(x, sym_relu(x %*% w) + 1)
  tab <- model_layers(m)
  expect_true("w_free" %in% tab$name)
  expect_equal(tab$type[tab$name == "w_free"], "Variable")
  expect_true(any(tab$type == "relu"))
  expect_equal(sum(tab$params), 4)
})

test_that("get_weights / set_weights round trip and validation", {
  set.seed(2)
  m <- small_model()
  w <- get_weights(m)
  expect_named(w, names(m$variables))
  expect_equal(dim(w[["sm_d1/kernel"]]), c(3, 4))
  expect_named(get_weights(m, trainable_only = TRUE), names(m$params))
  xv <- matrix(rnorm(6), 2, 3)
  f <- sym_compile(m$outputs$out)
  before <- f(x = xv)
  w2 <- lapply(w, function(a) a * 0 + 0.25)
  set_weights(m, w2)
  expect_equal(get_weights(m), w2)
  expect_equal(get_weights(unserialize(serialize(m, NULL))), w2)
  # an already compiled function sees the new weights
  expect_false(isTRUE(all.equal(f(x = xv), before)))
  set_weights(m, unname(w))
  expect_equal(get_weights(m), w)
  expect_equal(f(x = xv), before)
  # partial, by name
  set_weights(m, list(`sm_d2/bias` = c(1, 2)))
  expect_equal(as.vector(get_weights(m)[["sm_d2/bias"]]), c(1, 2))

  expect_error(set_weights(m, list(nope = 1)), class = "symnet_value_error")
  expect_error(set_weights(m, list(`sm_d2/bias` = c(1, 2, 3))), class = "symnet_shape_error")
  expect_error(set_weights(m, list(`sm_d1/kernel` = matrix(0, 4, 3))), class = "symnet_shape_error")
  expect_error(set_weights(m, list(`sm_d2/bias` = c("a", "b"))), class = "symnet_dtype_error")
  expect_error(set_weights(m, list(1, 2)), class = "symnet_value_error")
  expect_error(set_weights(m, 1:3), class = "symnet_value_error")
  # nothing changed by the failed calls
  expect_equal(as.vector(get_weights(m)[["sm_d2/bias"]]), c(1, 2))
  expect_error(get_weights(list()), class = "symnet_value_error")
})

test_that("sym_model validates its inputs and outputs", {
  x <- sym_var("x", c(NA, 2))
  z <- sym_var("z", c(NA, 2))
  expect_error(sym_model(x, x + z), class = "symnet_value_error")
  expect_error(sym_model(list(x, z), x * 2), class = "symnet_value_error")
  expect_error(sym_model(x * 2, x), class = "symnet_value_error")
  expect_error(sym_model(list(x, sym_var("x", 2)), x), class = "symnet_value_error")
  expect_error(sym_model(x, list()), class = "symnet_value_error")
  expect_error(sym_model(x, list(a = x, a = x + 1)), class = "symnet_value_error")
  expect_error(sym_model("x", x), class = "symnet_value_error")
  # two layers with one explicit name -> duplicate variable names
  y <- x |> layer_dense(2, name = "tm_dup") |> layer_dense(2, name = "tm_dup")
  expect_error(sym_model(x, y), class = "symnet_value_error")
  # several inputs
  m2 <- sym_model(list(x, z), list(s = layer_add(x, z)))
  expect_equal(names(m2$inputs), c("x", "z"))
})

predict_with <- function(m, xv) sym_compile(m$outputs[[1]])(x = xv)

test_that("saveRDS / readRDS round trip gives identical predictions", {
  set.seed(3)
  m <- small_model()
  set_weights(m, list(`sm_bn/moving_mean` = c(0.1, 0.2, 0.3, 0.4)))
  xv <- matrix(rnorm(9), 3, 3)
  before <- predict_with(m, xv)
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(m, path)
  m2 <- readRDS(path)
  expect_s3_class(m2, "symnet_model")
  expect_equal(predict_with(m2, xv), before)
  expect_equal(get_weights(m2), get_weights(m))
  expect_equal(names(m2$params), names(m$params))
  expect_length(m2$aux_updates, 2)
  expect_identical(capture.output(print(m2)), capture.output(print(m)))
  # the restored model is independent of the original
  set_weights(m2, list(`sm_d2/bias` = c(5, 5)))
  expect_equal(predict_with(m, xv), before)
  # a raw serialize() round trip (what parallel workers get) works too
  m4 <- readRDS(path)
  expect_output(print(m4), "Model: \"small\"", fixed = TRUE)
  expect_equal(names(m4[["outputs"]]), "out")
  m3 <- unserialize(serialize(m, NULL))
  expect_equal(get_weights(m3)[["sm_d1/kernel"]], get_weights(m)[["sm_d1/kernel"]])
})

test_that("serialize() carries weights however they were changed", {
  set.seed(4)
  m <- small_model()
  v <- m$variables[["sm_d2/bias"]]
  sym_value(v) <- c(7, 8)          # bypasses set_weights()
  m2 <- unserialize(serialize(m, NULL))
  expect_equal(as.vector(get_weights(m2)[["sm_d2/bias"]]), c(7, 8))
  # updates of a compiled function (the engine writes the variables, R never sees them)
  k <- m$params[["sm_d2/kernel"]]
  bump <- sym_compile(sym_sum(k), updates = list(list(k, k + 1)))
  k0 <- sym_value(k)
  for (i in 1:3) bump()
  m3 <- unserialize(serialize(m, NULL))
  expect_equal(get_weights(m3)[["sm_d2/kernel"]], k0 + 3, tolerance = 1e-6)
  # a copy made before the change keeps the old values: copies are independent
  sym_value(v) <- c(1, 1)
  expect_equal(as.vector(get_weights(m2)[["sm_d2/bias"]]), c(7, 8))
  expect_equal(as.vector(get_weights(m3)[["sm_d2/bias"]]), c(7, 8))
})

test_that("a model without its engine state says so", {
  set.seed(4)
  m <- small_model()
  # serialize version 2 cannot carry ALTREP state: pointers come back empty
  m2 <- unserialize(serialize(m, NULL, version = 2))
  expect_error(m2$outputs, class = "symnet_error")
  expect_error(get_weights(m2), "engine state")
})

test_that("a model can be sent to a parallel worker", {
  skip_on_cran()
  skip_if_not_installed("parallel")
  cl <- tryCatch(parallel::makeCluster(1, timeout = 60), error = function(e) NULL)
  if (is.null(cl)) skip("could not start a PSOCK worker in this environment")
  on.exit(parallel::stopCluster(cl), add = TRUE)
  set.seed(5)
  m <- small_model()
  xv <- matrix(rnorm(6), 2, 3)
  before <- predict_with(m, xv)
  libs <- .libPaths()
  ok <- tryCatch(parallel::clusterCall(cl, function(libs) {
    .libPaths(libs)
    suppressPackageStartupMessages(requireNamespace("symnet", quietly = TRUE))
  }, libs)[[1]], error = function(e) FALSE)
  if (!isTRUE(ok)) skip("symnet cannot be loaded on the worker")
  res <- parallel::clusterCall(cl, function(model, xv) {
    suppressPackageStartupMessages(library(symnet))
    list(pred = sym_compile(model$outputs[[1]])(x = xv), w = get_weights(model))
  }, m, xv)
  expect_equal(res[[1]]$pred, before)
  expect_equal(res[[1]]$w, get_weights(m))
})

test_that("building, training and printing models keeps no per-model state in the session", {
  # R never frees a symbol: an environment keyed by node ids or layer names (each lookup
  # or assignment interns the key) would grow the session with every model built
  set.seed(5)
  xv <- matrix(rnorm(16), 8, 2)
  yv <- rnorm(8)
  build <- function() {
    x <- sym_var("x", c(NA, 2))
    m <- sym_model(x, x |> layer_dense(3) |> layer_batch_norm() |> layer_dense(1))
    fit(m, xv, yv, loss = "mse", epochs = 1, batch_size = 4, verbose = 0)
    predict(m, xv)
    format(m)
    invisible(NULL)
  }
  build()
  gc()
  s0 <- memory.profile()[["symbol"]]
  for (i in 1:20) build()
  gc()
  # 20 models of ~30 nodes and 4 auto-named layers each
  expect_lt(memory.profile()[["symbol"]] - s0, 10)
  # auto names are not recorded one by one, yet the table still knows their types, and a
  # prefix whose type changes keeps the type each layer was made with
  x <- sym_var("x", c(NA, 2))
  m <- sym_model(x, x |> layer_dense(3) |> layer_batch_norm() |> layer_dense(1))
  expect_equal(model_layers(m)$type, c("Input", "Dense", "BatchNorm", "Dense"))
  expect_match(model_layers(m)$name[2], "^dense_[0-9]+$")
  a <- sym_layer_name("tm_gate", type = "GateA")
  b <- sym_layer_name("tm_gate", type = "GateB")
  gate <- function(h, nm) h * sym_param(paste0(nm, "/w"), 2, init = "ones")
  m2 <- sym_model(x, gate(gate(x, a), b))
  expect_equal(model_layers(m2)$type[1:3], c("Input", "GateA", "GateB"))
  # an auto name given explicitly is not handed out again
  nxt <- sym_layer_name("tm_gate", name = paste0("tm_gate_", as.integer(sub(".*_", "", b)) + 1L))
  expect_false(identical(sym_layer_name("tm_gate"), nxt))
})

test_that("parameters used only inside a call's body are the model's, get gradients and train", {
  set.seed(7)
  wv <- matrix(c(1, 2, 3, 4, 5, 6), 3, 2)
  w <- sym_shared(wv, name = "body_w")
  b <- sym_shared(c(0.5, -0.5), name = "outer_b")
  p <- sym_var("p", c(NA, 3))
  x <- sym_var("x", c(NA, 3))
  y <- symnet:::.sym_call(p, tanh(p %*% w), x, name = "blk")[[1]] + b

  nodes <- symnet:::.graph_walk(list(y$ptr))
  ops <- vapply(nodes, function(r) r$op, character(1))
  in_body <- vapply(nodes, function(r) r$in_body, logical(1))
  expect_true("call" %in% ops[!in_body])
  expect_true(all(c("matmul", "tanh") %in% ops[in_body]))
  expect_equal(sum(ops == "variable" & in_body), 1)
  expect_false("p" %in% vapply(nodes, function(r) r$name, character(1)))  # the body's own input

  m <- sym_model(x, y)
  expect_equal(names(m$inputs), "x")
  expect_setequal(names(m$params), c("body_w", "outer_b"))
  expect_equal(sum(m$layers$params), 3 * 2 + 2)

  xv <- matrix(rnorm(12), 4, 3)
  g <- sym_compile(sym_grad(sum(m$outputs$output), m$params))(x = xv)
  d <- 1 - tanh(xv %*% wv)^2   # d tanh
  expect_equal(g[["body_w"]], t(xv) %*% d, tolerance = 1e-5)
  expect_equal(g[["outer_b"]], c(4, 4), tolerance = 1e-6)

  fit(m, xv, matrix(0, 4, 2), loss = "mse", epochs = 2, batch_size = 4, verbose = 0)
  expect_gt(max(abs(sym_value(w) - wv)), 0)
})
