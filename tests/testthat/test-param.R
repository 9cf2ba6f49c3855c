test_that("initializers give values of the right shape and scale", {
  set.seed(1)
  w <- sym_param("tp_init/glorot", c(30, 20))
  v <- sym_value(w)
  expect_equal(dim(v), c(30, 20))
  lim <- sqrt(6 / 50)
  expect_true(all(abs(v) <= lim))
  expect_gt(max(abs(v)), 0.8 * lim)

  hn <- sym_value(sym_param("tp_init/he", c(200, 100), init = "he_normal"))
  sd <- sqrt(2 / 200) / 0.87962566103423978
  expect_true(all(abs(hn) <= 2 * sd + 1e-6))
  expect_equal(stats::sd(as.vector(hn)), sqrt(2 / 200), tolerance = 0.05)

  gn <- sym_value(sym_param("tp_init/gn", c(100, 100), init = initializer_glorot_normal()))
  expect_equal(stats::sd(as.vector(gn)), sqrt(2 / 200), tolerance = 0.05)

  hu <- sym_value(sym_param("tp_init/hu", c(50, 10), init = "he_uniform"))
  expect_true(all(abs(hu) <= sqrt(6 / 50)))

  expect_equal(as.vector(sym_value(sym_param("tp_init/z", 3, init = "zeros"))), c(0, 0, 0))
  expect_equal(as.vector(sym_value(sym_param("tp_init/o", 3, init = "ones"))), c(1, 1, 1))
  expect_equal(as.vector(sym_value(sym_param("tp_init/c", 2, init = initializer_constant(0.5)))),
               c(0.5, 0.5))
  expect_equal(as.vector(sym_value(sym_param("tp_init/c2", 2, init = 3))), c(3, 3))
  rn <- sym_value(sym_param("tp_init/rn", 2000, init = initializer_random_normal(1, 0.5)))
  expect_equal(mean(rn), 1, tolerance = 0.05)
  ru <- sym_value(sym_param("tp_init/ru", 100, init = initializer_random_uniform(2, 3)))
  expect_true(all(ru >= 2 & ru <= 3))
})

test_that("conv weights use conv fans", {
  set.seed(2)
  v <- sym_value(sym_param("tp_fans/k", c(8, 4, 3, 3)))
  expect_equal(dim(v), c(8, 4, 3, 3))
  expect_true(all(abs(v) <= sqrt(6 / (4 * 9 + 8 * 9))))
  expect_equal(symnet:::.fans(c(8, 4, 3, 3)), c(36, 72))
  expect_equal(symnet:::.fans(c(5, 7)), c(5, 7))
})

test_that("seeds: set.seed() reproduces; seed = leaves the RNG state alone", {
  set.seed(10)
  a <- sym_value(sym_param("tp_seed/a", c(3, 3)))
  set.seed(10)
  b <- sym_value(sym_param("tp_seed/b", c(3, 3)))
  expect_identical(a, b)

  set.seed(5)
  before <- .Random.seed
  c1 <- sym_value(sym_param("tp_seed/c1", c(4, 2), seed = 99))
  expect_identical(.Random.seed, before)
  c2 <- sym_value(sym_param("tp_seed/c2", c(4, 2), seed = 99))
  expect_identical(c1, c2)
  d1 <- sym_value(sym_param("tp_seed/d1", c(4, 2), init = initializer_he_normal(seed = 3)))
  d2 <- sym_value(sym_param("tp_seed/d2", c(4, 2), init = initializer_he_normal(seed = 3)))
  expect_identical(d1, d2)
  expect_false(identical(c1, d1))
})

test_that("sym_param options and inits from functions and arrays", {
  p <- sym_param("tp_opt/w", c(2, 3), init = function(shape) seq_len(prod(shape)), dtype = "float64",
                 trainable = FALSE)
  expect_s3_class(p, "symnet_shared")
  expect_true(is_symbol(p))
  expect_false(p$trainable)
  expect_equal(p$dtype, "float64")
  expect_equal(sym_value(p), array(1:6, c(2, 3)))
  arr <- matrix(c(1, 2, 3, 4), 2)
  q <- sym_param("tp_opt/arr", c(2, 2), init = arr)
  expect_equal(sym_value(q), arr)
  s <- sym_param("tp_opt/scalar", integer(), init = 2)
  expect_equal(as.vector(sym_value(s)), 2)
  expect_output(print(initializer_he_normal(seed = 1)), "he_normal")
})

test_that("sym_param errors are classed", {
  expect_error(sym_param("tp_err/a", c(NA, 3)), class = "symnet_value_error")
  expect_error(sym_param("", 3), class = "symnet_value_error")
  expect_error(sym_param("tp_err/b", 3, init = "nope"), class = "symnet_value_error")
  expect_error(sym_param("tp_err/c", 3, init = list()), class = "symnet_value_error")
  expect_error(sym_param("tp_err/d", c(2, 2), init = matrix(0, 3, 3)), class = "symnet_shape_error")
  expect_error(sym_param("tp_err/e", 3, init = function(shape) 1:2), class = "symnet_value_error")
  expect_error(sym_param("tp_err/f", 3, dtype = "complex"), class = "symnet_dtype_error")
  expect_error(sym_param("tp_err/g", 3, seed = -1), class = "symnet_value_error")
  expect_error(initializer_random_uniform(1, 0), class = "symnet_value_error")
  expect_error(initializer_random_normal(stddev = -1), class = "symnet_value_error")
})

test_that("sym_layer_name gives unique names and respects explicit ones", {
  a <- sym_layer_name("tpname")
  b <- sym_layer_name("tpname")
  expect_match(a, "^tpname_[0-9]+$")
  expect_false(identical(a, b))
  n <- as.integer(sub(".*_", "", b))
  sym_layer_name("tpname", name = paste0("tpname_", n + 1))
  c <- sym_layer_name("tpname")
  expect_equal(c, paste0("tpname_", n + 2))
  expect_equal(sym_layer_name("tpname", name = "given"), "given")
  expect_error(sym_layer_name("bad prefix"), class = "symnet_value_error")
  expect_error(sym_layer_name("ok", name = "a/b"), class = "symnet_value_error")
})

# A gated linear unit written by a user with sym_param(): trains like a layer.
layer_glu_test <- function(x, units, name = NULL) {
  name <- sym_layer_name("glu", name)
  d <- dim(x)[length(dim(x))]
  w <- sym_param(paste0(name, "/w"), c(d, units), dtype = x$dtype)
  b <- sym_param(paste0(name, "/b"), units, init = "zeros", dtype = x$dtype)
  v <- sym_param(paste0(name, "/v"), c(d, units), dtype = x$dtype)
  c <- sym_param(paste0(name, "/c"), units, init = "zeros", dtype = x$dtype)
  (x %*% w + b) * sym_sigmoid(x %*% v + c)
}

test_that("a user-written GLU layer has parameters and gradients", {
  set.seed(3)
  x <- sym_var("x", c(NA, 3), dtype = "float64")
  y <- layer_glu_test(x, 2, name = "glu_t")
  m <- sym_model(x, y)
  expect_setequal(names(m$params), c("glu_t/w", "glu_t/b", "glu_t/v", "glu_t/c"))
  tab <- model_layers(m)
  expect_true("glu_t" %in% tab$name)
  expect_equal(tab$type[tab$name == "glu_t"], "Glu")
  expect_equal(tab$params[tab$name == "glu_t"], 3 * 2 * 2 + 2 * 2)
  # the ops written inline in the layer function join the layer's row
  expect_equal(tab$name, c("x", "glu_t"))
  expect_equal(tab$output_shape[2], "[?, 2]")

  w <- get_weights(m)
  w[["glu_t/b"]] <- c(0.1, -0.2)
  w[["glu_t/c"]] <- c(0.3, 0.05)
  set_weights(m, w)
  xv <- matrix(rnorm(12), 4, 3)
  ref <- function(W) {
    a <- xv %*% W[["glu_t/w"]] + matrix(W[["glu_t/b"]], 4, 2, byrow = TRUE)
    g <- xv %*% W[["glu_t/v"]] + matrix(W[["glu_t/c"]], 4, 2, byrow = TRUE)
    a / (1 + exp(-g))
  }
  expect_close(sym_compile(y)(x = xv), ref(w), tolerance = 1e-10)

  loss <- sum(y^2)
  g <- sym_grad(loss, m$params)
  got <- sym_compile(g)(x = xv)
  for (nm in names(m$params)) {
    fd <- fd_grad(function(p) {
      W <- w
      W[[nm]] <- p
      sum(ref(W)^2)
    }, w[[nm]])
    expect_close(got[[nm]], fd, tolerance = 1e-6)
    expect_gt(max(abs(got[[nm]])), 0)
  }
})

test_that("sym_aux_update still works, with a classed deprecation warning", {
  x <- sym_var("x", c(NA, 2))
  m_var <- sym_param("tp_aux/mean", 2, init = "zeros", trainable = FALSE)
  expect_warning(sym_aux_update(m_var, 0.9 * m_var + 0.1 * sym_mean(x, axis = 1)),
                 class = "symnet_deprecated_warning")
  model <- sym_model(x, x * 1 + m_var)
  expect_length(model$aux_updates, 1)
  expect_equal(model$aux_updates[[1]]$name, "tp_aux/mean")
  expect_s3_class(model$aux_updates[[1]]$var, "symnet_shared")
  expect_true(is_symbol(model$aux_updates[[1]]$value))
  expect_length(model$params, 0)
  expect_error(sym_aux_update(m_var, sym_mean(x)), class = "symnet_shape_error")
  expect_error(sym_aux_update(x, x), class = "symnet_value_error")
})

test_that("sym_with_update: the update travels with the symbols and trains", {
  x <- sym_var("x", c(NA, 2))
  m <- sym_param("tp_wu/mean", 2, init = "zeros", trainable = FALSE)
  y <- sym_with_update(x, m, 0.9 * m + 0.1 * sym_mean(x, axis = 1))
  expect_length(x$updates, 0)          # the input itself is unchanged
  expect_length(y$updates, 1)
  # carried through ops, once even when two inputs carry the same update
  z <- y |> layer_dense(3, name = "tp_wu_d")
  expect_length((z + sym_sin(z))$updates, 1)
  model <- sym_model(x, z + sym_sin(z))
  expect_equal(vapply(model$aux_updates, function(u) u$name, ""), "tp_wu/mean")
  # the forward graph never reads the state; it is a variable of the model all the same
  expect_true("tp_wu/mean" %in% names(model$variables))
  expect_false("tp_wu/mean" %in% names(model$params))
  expect_equal(sum(model_layers(model)$params), 2 * 3 + 3 + 2)
  xv <- rbind(c(1, 2), c(3, 8))
  fit(model, xv, matrix(0, 2, 3), loss = "mse", optimizer = optimizer_sgd(1e-9), epochs = 1,
      batch_size = 2, verbose = 0)
  expect_close(get_weights(model)[["tp_wu/mean"]], 0.1 * colMeans(xv), tolerance = 1e-6)
  fit(model, xv, matrix(0, 2, 3), loss = "mse", optimizer = optimizer_sgd(1e-9), epochs = 1,
      batch_size = 2, verbose = 0)
  expect_close(get_weights(model)[["tp_wu/mean"]], 0.19 * colMeans(xv), tolerance = 1e-6)
  # a model built on this model's outputs applies the update too
  outer <- sym_model(model$inputs$x, model$outputs[[1]] |> layer_dense(1, name = "tp_wu_o"))
  expect_equal(vapply(outer$aux_updates, function(u) u$name, ""), "tp_wu/mean")
})

test_that("sym_with_update: models save and load with the update; errors are classed", {
  x <- sym_var("x", c(NA, 2))
  m <- sym_param("tp_ws/mean", 2, init = "zeros", trainable = FALSE)
  y <- sym_with_update(x, m, 0.5 * m + 0.5 * sym_mean(x, axis = 1)) |> layer_dense(1, name = "tp_ws_d")
  model <- sym_model(x, y)
  path <- withr::local_tempfile(fileext = ".safetensors")
  save_model(model, path)
  m2 <- load_model(path)
  expect_equal(vapply(m2$aux_updates, function(u) u$name, ""), "tp_ws/mean")
  expect_equal(names(m2$variables), names(model$variables))
  fit(m2, rbind(c(2, 4), c(4, 8)), c(0, 0), loss = "mse", optimizer = optimizer_sgd(1e-9), epochs = 1,
      batch_size = 2, verbose = 0)
  expect_close(get_weights(m2)[["tp_ws/mean"]], c(1.5, 3), tolerance = 1e-6)
  expect_close(get_weights(model)[["tp_ws/mean"]], c(0, 0))
  m3 <- readRDS({ f <- withr::local_tempfile(fileext = ".rds"); saveRDS(m2, f); f })
  expect_equal(vapply(m3$aux_updates, function(u) u$name, ""), "tp_ws/mean")

  expect_error(sym_with_update(x, m, sym_mean(x)), class = "symnet_shape_error")
  expect_error(sym_with_update(x, x, x), class = "symnet_value_error")
  expect_error(sym_with_update(1, m, m), class = "symnet_value_error")
  expect_error(sym_with_update(x, m, 1), class = "symnet_value_error")
  # two different updates of one variable
  a <- sym_with_update(x, m, m + 1)
  b <- sym_with_update(x, m, m * 2)
  expect_error(sym_model(x, a + b), class = "symnet_value_error", regexp = "two different")
  # an update needing an input the model does not take
  u <- sym_var("u", c(NA, 2))
  expect_error(sym_model(x, sym_with_update(x, m, sym_mean(u, axis = 1))), class = "symnet_error",
               regexp = "state updates")
  # batch-norm statistics are updated by their node
  h <- layer_batch_norm(x, name = "tp_ws_bn")
  bn <- sym_model(x, h)
  mm <- bn$variables[["tp_ws_bn/moving_mean"]]
  expect_error(sym_model(x, sym_with_update(h, mm, mm * 0)), class = "symnet_value_error",
               regexp = "batch-norm")
})

test_that("an attached update is kept by nothing once its symbols and models are gone", {
  freed <- new.env()
  make <- function() {
    x <- sym_var("x", c(NA, 2))
    m <- sym_param("tp_wf/mean", 2, init = "zeros", trainable = FALSE)
    v <- 0.9 * m + 0.1 * sym_mean(x, axis = 1)
    reg.finalizer(v$ptr, function(e) freed$update <- TRUE)
    model <- sym_model(x, sym_with_update(x, m, v) |> layer_dense(1, name = "tp_wf_d"))
    reg.finalizer(model$variables[["tp_wf_d/kernel"]]$ptr, function(e) freed$model <- TRUE)
    NULL
  }
  make()
  for (i in 1:3) gc(full = TRUE)
  expect_true(isTRUE(freed$update))
  expect_true(isTRUE(freed$model))
})
