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

test_that("sym_aux_update registers updates collected by sym_model", {
  x <- sym_var("x", c(NA, 2))
  m_var <- sym_param("tp_aux/mean", 2, init = "zeros", trainable = FALSE)
  sym_aux_update(m_var, 0.9 * m_var + 0.1 * sym_mean(x, axis = 1))
  model <- sym_model(x, x * 1 + m_var)
  expect_length(model$aux_updates, 1)
  expect_equal(model$aux_updates[[1]]$name, "tp_aux/mean")
  expect_s3_class(model$aux_updates[[1]]$var, "symnet_shared")
  expect_true(is_symbol(model$aux_updates[[1]]$value))
  expect_length(model$params, 0)
  expect_error(sym_aux_update(m_var, sym_mean(x)), class = "symnet_shape_error")
  expect_error(sym_aux_update(x, x), class = "symnet_value_error")
})
