test_that("softmax and log_softmax", {
  z <- sym_var("z", c(NA, 3), dtype = "float64")
  m <- rbind(c(1, 2, 3), c(0, 0, 0), c(-1, 5, 2))
  r <- sym_compile(list(s = sym_softmax(z), ls = sym_log_softmax(z), s1 = sym_softmax(z, axis = 1)))(z = m)
  expect_equal(r$s, softmax_rows(m))
  expect_equal(r$ls, log(softmax_rows(m)))
  expect_equal(r$s1, t(softmax_rows(t(m))))
  expect_equal(rowSums(r$s), rep(1, 3))
})

test_that("softmax cross-entropy with labels and probabilities", {
  z <- sym_var("z", c(NA, 3), dtype = "float64")
  y <- sym_var("y", NA, dtype = "int32")
  p <- sym_var("p", c(NA, 3), dtype = "float64")
  m <- rbind(c(2, 0, 0), c(0, 0, 2), c(1, 1, 1))
  labels <- c(1L, 2L, 3L)
  probs <- rbind(c(0.5, 0.5, 0), c(0, 0, 1), c(0.2, 0.3, 0.5))
  ls <- log(softmax_rows(m))
  per <- -ls[cbind(1:3, labels)]
  r <- sym_compile(list(
    mean = sym_softmax_cross_entropy(z, y), sum = sym_softmax_cross_entropy(z, y, "sum"),
    none = sym_softmax_cross_entropy(z, y, "none"),
    zero = sym_softmax_cross_entropy(z, y - 1L, "none", index_base = 0),
    ign = sym_softmax_cross_entropy(z, y, "none", ignore_index = 2),
    prob = sym_softmax_cross_entropy(z, p, "none"),
    rconst = sym_softmax_cross_entropy(z, c(1, 2, 3), "none"),
    onehot = sym_softmax_cross_entropy(z, diag(3), "none")))(z = m, y = labels, p = probs)
  expect_equal(r$mean, mean(per))
  expect_equal(r$sum, sum(per))
  expect_equal(r$none, per)
  expect_equal(r$zero, per)
  expect_equal(r$ign, ifelse(labels == 2, 0, per))
  expect_equal(r$prob, -rowSums(probs * ls))
  expect_equal(r$rconst, per)
  expect_equal(r$onehot, per)
  expect_error(sym_softmax_cross_entropy(z, sym_var("bad", c(NA, 2), dtype = "int32")),
               class = "symnet_shape_error")
})

test_that("binary cross-entropies", {
  x <- sym_var("x", 4, dtype = "float64")
  t <- sym_var("t", 4, dtype = "float64")
  v <- c(-2, -0.5, 0.5, 3)
  tv <- c(0, 1, 0.3, 1)
  s <- 1 / (1 + exp(-v))
  ref <- -(tv * log(s) + (1 - tv) * log(1 - s))
  r <- sym_compile(list(sig = sym_sigmoid_cross_entropy(x, t, "none"),
                        sigm = sym_sigmoid_cross_entropy(x, t),
                        bce = sym_binary_cross_entropy(sym_sigmoid(x), t, "sum")))(x = v, t = tv)
  expect_equal(r$sig, ref)
  expect_equal(r$sigm, mean(ref))
  expect_equal(r$bce, sum(ref), tolerance = 1e-6)
})

test_that("loss gradients match finite differences", {
  z <- sym_var("z", c(3, 4), dtype = "float64")
  set.seed(4)
  m <- matrix(rnorm(12), 3, 4)
  labels <- c(2L, 4L, 1L)
  probs <- softmax_rows(matrix(rnorm(12), 3, 4))
  ce <- function(zz) mean(-log(softmax_rows(zz))[cbind(1:3, labels)])
  g <- run_sym(sym_grad(sym_softmax_cross_entropy(z, labels), z), z = m)
  expect_equal(g, fd_grad(ce, m), tolerance = 1e-6)
  cep <- function(zz) sum(-rowSums(probs * log(softmax_rows(zz))))
  g2 <- run_sym(sym_grad(sym_softmax_cross_entropy(z, probs, "sum"), z), z = m)
  expect_equal(g2, fd_grad(cep, m), tolerance = 1e-6)
  w <- matrix(1:12, 3, 4)
  gs <- run_sym(sym_grad(sum(sym_log_softmax(z) * w), z), z = m)
  expect_equal(gs, fd_grad(function(zz) sum(log(softmax_rows(zz)) * w), m), tolerance = 1e-6)
  # second derivative of the fused loss along a direction
  d <- matrix(0.1, 3, 4)
  gz <- sym_grad(sym_softmax_cross_entropy(z, labels), z)
  hv <- run_sym(sym_grad(sum(gz * d), z), z = m)
  num <- fd_grad(function(zz) sum(matrix(fd_grad(ce, zz), 3, 4) * d), m, eps = 1e-4)
  expect_equal(hv, num, tolerance = 1e-4)
})
