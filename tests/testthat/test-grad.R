test_that("gradients of a 2-layer MLP with softmax cross-entropy match finite differences", {
  set.seed(10)
  n <- 5; d <- 4; h <- 6; k <- 3
  X <- matrix(rnorm(n * d), n, d)
  labels <- c(1L, 3L, 2L, 3L, 1L)
  W1v <- matrix(rnorm(d * h, sd = 0.5), d, h)
  b1v <- rnorm(h, sd = 0.1)
  W2v <- matrix(rnorm(h * k, sd = 0.5), h, k)
  b2v <- rnorm(k, sd = 0.1)

  x <- sym_var("x", c(NA, d), dtype = "float64")
  y <- sym_var("y", NA, dtype = "int32")
  W1 <- sym_var("W1", c(d, h), dtype = "float64")
  b1 <- sym_var("b1", h, dtype = "float64")
  W2 <- sym_var("W2", c(h, k), dtype = "float64")
  b2 <- sym_var("b2", k, dtype = "float64")
  hidden <- tanh(x %*% W1 + b1)
  loss <- sym_softmax_cross_entropy(hidden %*% W2 + b2, y)
  grads <- sym_grad(loss, list(W1 = W1, b1 = b1, W2 = W2, b2 = b2))
  expect_named(grads, c("W1", "b1", "W2", "b2"))
  f <- sym_compile(c(list(loss = loss), grads))
  r <- f(x = X, y = labels, W1 = W1v, b1 = b1v, W2 = W2v, b2 = b2v)

  loss_r <- function(W1v, b1v, W2v, b2v) {
    H <- tanh(sweep(X %*% W1v, 2, b1v, "+"))
    Z <- sweep(H %*% W2v, 2, b2v, "+")
    mean(-log(softmax_rows(Z))[cbind(1:n, labels)])
  }
  expect_equal(r$loss, loss_r(W1v, b1v, W2v, b2v))
  expect_equal(r$W1, fd_grad(function(p) loss_r(p, b1v, W2v, b2v), W1v), tolerance = 1e-6)
  expect_equal(r$b1, fd_grad(function(p) loss_r(W1v, p, W2v, b2v), b1v), tolerance = 1e-6)
  expect_equal(r$W2, fd_grad(function(p) loss_r(W1v, b1v, p, b2v), W2v), tolerance = 1e-6)
  expect_equal(r$b2, fd_grad(function(p) loss_r(W1v, b1v, W2v, p), b2v), tolerance = 1e-6)
})

test_that("grad of grad: derivatives of x^3", {
  x <- sym_var("x", integer(), dtype = "float64")
  y <- x^3
  d1 <- sym_grad(y, x)
  d2 <- sym_grad(d1, x)
  d3 <- sym_grad(d2, x)
  f <- sym_compile(list(d1 = d1, d2 = d2, d3 = d3))
  for (v in c(-1.5, 0.5, 2)) {
    r <- f(x = v)
    expect_equal(r$d1, 3 * v^2)
    expect_equal(r$d2, 6 * v)
    expect_equal(r$d3, 6)
  }
})

test_that("grad of grad through vectors (Hessian-vector product)", {
  x <- sym_var("x", 3, dtype = "float64")
  y <- sum(sym_exp(x) * x[1])
  g <- sym_grad(y, x)
  hv <- sym_grad(sum(g * c(1, 0, 0)), x)
  v <- c(0.2, -0.1, 0.4)
  r <- run_sym(hv, x = v)
  fy <- function(z) sum(exp(z) * z[1])
  fg <- function(z) fd_grad(fy, z, eps = 1e-4)[1]
  expect_equal(r, fd_grad(fg, v, eps = 1e-4), tolerance = 1e-4)
})

test_that("gradients w.r.t. intermediate values and unrelated symbols", {
  x <- sym_var("x", 2)
  u <- sym_var("u", 2)
  h <- x * 3
  y <- sum(h^2)
  g <- sym_compile(sym_grad(y, list(h, u, x)))(x = c(1, 2), u = c(5, 6))
  expect_equal(g[[1]], 2 * 3 * c(1, 2))
  expect_equal(g[[2]], c(0, 0))
  expect_equal(g[[3]], 18 * c(1, 2))
})

test_that("sym_grad validates y and wrt", {
  x <- sym_var("x", 3)
  expect_error(sym_grad(x, x), class = "symnet_shape_error")
  expect_error(sym_grad(sym_var("i", dtype = "int32"), x), class = "symnet_dtype_error")
  expect_error(sym_grad(sum(x), 1), class = "symnet_value_error")
  expect_error(sym_grad(sum(x), list()), class = "symnet_value_error")
  expect_identical(dim(sym_grad(sum(x), x)), 3L)
  one <- sym_reshape(sum(x), c(1, 1))
  expect_identical(dim(sym_grad(one, x)), 3L)
})

test_that("gradients flow into shared variables", {
  w <- sym_shared(c(1, 2, 3), name = "w_grad_test")
  x <- sym_var("x", 3)
  g <- sym_grad(sum(w * x), w)
  expect_equal(run_sym(g, x = c(4, 5, 6)), c(4, 5, 6))
})
