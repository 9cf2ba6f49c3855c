per_channel <- function(v, d) aperm(array(v, c(d[2], d[-2])), c(2, 1, seq_along(d)[-(1:2)]))

test_that("layer_batch_norm in inference uses the running statistics", {
  x <- sym_var("x", c(NA, 3, 2, 2))
  y <- layer_batch_norm(x, epsilon = 1e-3, name = "tbn_a")
  expect_equal(dim(y), c(NA, 3L, 2L, 2L))
  m <- sym_model(x, y)
  expect_equal(names(m$variables),
               c("tbn_a/gamma", "tbn_a/beta", "tbn_a/moving_mean", "tbn_a/moving_variance"))
  expect_equal(names(m$params), c("tbn_a/gamma", "tbn_a/beta"))
  tab <- model_layers(m)
  expect_equal(tab$type[tab$name == "tbn_a"], "BatchNorm")
  expect_equal(tab$params[tab$name == "tbn_a"], 12)
  expect_equal(tab$trainable_params[tab$name == "tbn_a"], 6)
  w <- list(`tbn_a/gamma` = c(1, 2, 0.5), `tbn_a/beta` = c(0, 1, -1),
            `tbn_a/moving_mean` = c(0.5, -1, 2), `tbn_a/moving_variance` = c(1, 4, 0.25))
  set_weights(m, w)
  set.seed(1)
  xv <- array(rnorm(2 * 3 * 2 * 2), c(2, 3, 2, 2))
  d <- dim(xv)
  ref <- (xv - per_channel(w[[3]], d)) / sqrt(per_channel(w[[4]], d) + 1e-3) * per_channel(w[[1]], d) +
    per_channel(w[[2]], d)
  expect_close(sym_compile(y)(x = xv), ref, tolerance = 1e-5)
})

test_that("layer_batch_norm registers running-statistics updates", {
  x <- sym_var("x", c(NA, 2))
  y <- layer_batch_norm(x, momentum = 0.9, name = "tbn_b")
  m <- sym_model(x, y)
  au <- m$aux_updates
  expect_length(au, 2)
  expect_equal(vapply(au, function(u) u$name, ""), c("tbn_b/moving_mean", "tbn_b/moving_variance"))
  for (u in au) {
    expect_s3_class(u$var, "symnet_shared")
    expect_false(u$var$trainable)
    expect_equal(dim(u$value), 2L)
  }
})

test_that("layer_batch_norm in training mode normalises by the batch and updates the statistics", {
  x <- sym_var("x", c(NA, 2))
  y <- layer_batch_norm(x, momentum = 0.9, epsilon = 0, name = "tbn_c")
  m <- sym_model(x, y)
  au <- m$aux_updates
  # set_training_mode() flips the 1-output inference node to the 5-output training node
  f <- symnet:::cpp_compile(list(y$ptr), "y", lapply(au, function(u) u$var$var),
                            lapply(au, function(u) u$value$ptr), list(training = TRUE))
  xv <- cbind(c(1, 2, 3, 6), c(0, 0, 2, 2))
  out <- symnet:::cpp_function_run(f, list(x = xv))[[1]]
  mu <- colMeans(xv)
  v_biased <- colMeans(sweep(xv, 2, mu)^2)
  expect_close(out, sweep(sweep(xv, 2, mu), 2, sqrt(v_biased), "/"), tolerance = 1e-5)
  wts <- get_weights(m)
  expect_close(wts[["tbn_c/moving_mean"]], 0.1 * mu, tolerance = 1e-6)
  expect_close(wts[["tbn_c/moving_variance"]], 0.9 + 0.1 * apply(xv, 2, var), tolerance = 1e-6)
  # the inference graph is unchanged by the training compile
  expect_close(sym_compile(y)(x = xv), sweep(sweep(xv, 2, 0.1 * mu), 2,
                                             sqrt(0.9 + 0.1 * apply(xv, 2, var)), "/"), tolerance = 1e-5)
})

test_that("batch-norm updates come from the graph: models built on other models' outputs keep them", {
  x <- sym_var("x", c(NA, 2))
  inner <- sym_model(x, x |> layer_batch_norm(momentum = 0.5, name = "tbn_g") |> layer_dense(2, name = "tbn_gd"))
  outer <- sym_model(x, inner$outputs[[1]] |> layer_batch_norm(momentum = 0.5, name = "tbn_h"))
  expect_equal(vapply(outer$aux_updates, function(u) u$name, ""),
               c("tbn_g/moving_mean", "tbn_g/moving_variance", "tbn_h/moving_mean", "tbn_h/moving_variance"))
  # the symbols the layer returns carry nothing: the update is the node's training mode
  expect_length(layer_batch_norm(x, name = "tbn_i")$updates, 0)
  xv <- cbind(c(1, 3), c(2, 6))
  fit(outer, xv, matrix(0, 2, 2), loss = "mse", optimizer = optimizer_sgd(1e-9), epochs = 1, batch_size = 2,
      verbose = 0)
  w <- get_weights(outer)
  expect_close(w[["tbn_g/moving_mean"]], 0.5 * colMeans(xv), tolerance = 1e-6)
  expect_close(w[["tbn_g/moving_variance"]], 0.5 + 0.5 * apply(xv, 2, var), tolerance = 1e-6)
  # a model loaded from a file of an earlier version lists the updates in its metadata;
  # the graph's own updates take their place (same values), nothing is counted twice
  path <- withr::local_tempfile(fileext = ".safetensors")
  save_model(outer, path)
  back <- load_model(path)
  expect_equal(vapply(back$aux_updates, function(u) u$name, ""), vapply(outer$aux_updates, function(u) u$name, ""))
})

test_that("layer_batch_norm without center/scale; errors", {
  x <- sym_var("x", c(NA, 3))
  m <- sym_model(x, layer_batch_norm(x, center = FALSE, scale = FALSE, name = "tbn_d"))
  expect_length(m$params, 0)
  expect_length(m$variables, 2)
  expect_error(layer_batch_norm(sym_var("u", c(NA, NA))), class = "symnet_shape_error")
  expect_error(layer_batch_norm(x, momentum = 2), class = "symnet_value_error")
  expect_error(layer_batch_norm(sym_var("i", c(NA, 3), dtype = "int32")), class = "symnet_dtype_error")
})

test_that("layer_layer_norm normalises the last axis (or from axis on)", {
  set.seed(2)
  x <- sym_var("x", c(NA, 2, 4))
  y <- layer_layer_norm(x, epsilon = 1e-5, name = "tln_a", gamma_initializer = "random_normal",
                        beta_initializer = "random_normal")
  m <- sym_model(x, y)
  w <- get_weights(m)
  expect_equal(lengths(w), c(`tln_a/gamma` = 4L, `tln_a/beta` = 4L))
  xv <- array(rnorm(16), c(2, 2, 4))
  out <- sym_compile(y)(x = xv)
  for (i in 1:2) for (j in 1:2) {
    v <- xv[i, j, ]
    ref <- (v - mean(v)) / sqrt(mean((v - mean(v))^2) + 1e-5) * w[[1]] + w[[2]]
    expect_close(out[i, j, ], ref, tolerance = 1e-5)
  }
  y2 <- layer_layer_norm(x, axis = 2, center = FALSE, name = "tln_b")
  m2 <- sym_model(x, y2)
  expect_equal(dim(get_weights(m2)[[1]]), c(2, 4))
  out2 <- sym_compile(y2)(x = xv)
  for (i in 1:2) {
    v <- xv[i, , ]
    expect_close(out2[i, , ], (v - mean(v)) / sqrt(mean((v - mean(v))^2) + 1e-3), tolerance = 1e-5)
  }
  expect_error(layer_layer_norm(sym_var("u", c(NA, NA))), class = "symnet_shape_error")
  expect_error(layer_layer_norm(x, axis = 4), class = "symnet_value_error")
})

test_that("batch norm on a shapeless input names the shape to declare", {
  e <- expect_error(layer_batch_norm(sym_var("x")), class = "symnet_shape_error")
  expect_match(conditionMessage(e), 'sym_var("x", c(NA, channels))', fixed = TRUE)
  expect_error(layer_batch_norm(sym_var("y", c(NA, NA))), class = "symnet_shape_error")
})

test_that("conv + batch norm + ReLU6 folded for inference follows new weights and statistics", {
  # Compiling folds the batch norm into the convolution (weights scaled per output channel,
  # and a bias) with the scaled weights computed from the variables at each call, so
  # set_weights() and training reach a compiled function; optimize = FALSE keeps the
  # batch norm as a node of its own.
  x <- sym_var("x", c(NA, 3, 6, 6))
  h <- layer_conv2d(x, 4, 3, padding = 1, use_bias = FALSE, name = "tfold_conv")
  y <- sym_clip(layer_batch_norm(h, epsilon = 1e-3, name = "tfold_bn"), 0, 6)
  m <- sym_model(x, y)
  folded <- sym_compile(y)
  plain <- sym_compile(y, optimize = FALSE)
  set.seed(2)
  xv <- array(rnorm(2 * 3 * 6 * 6, sd = 3), c(2, 3, 6, 6))
  for (round in 1:2) {
    set_weights(m, list(`tfold_conv/kernel` = array(rnorm(4 * 3 * 9), c(4, 3, 3, 3)),
                        `tfold_bn/gamma` = runif(4, 0.5, 2), `tfold_bn/beta` = rnorm(4),
                        `tfold_bn/moving_mean` = rnorm(4), `tfold_bn/moving_variance` = runif(4, 0.5, 2)))
    ref <- plain(x = xv)
    expect_true(any(ref > 0 & ref < 6) && any(ref == 0))
    expect_close(folded(x = xv), ref, tolerance = 1e-5)
  }
})
