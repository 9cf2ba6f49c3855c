test_that("matmul of matrices, vectors and batches", {
  a <- sym_var("a", c(2, 3))
  b <- sym_var("b", c(3, 4))
  v <- sym_var("v", 3)
  bt <- sym_var("bt", c(5, 2, 3))
  ma <- matrix(1:6, 2, 3)
  mb <- matrix(seq(0.5, 6, 0.5), 3, 4)
  arr <- array(seq_len(30) / 10, c(5, 2, 3))
  r <- sym_compile(list(mm = sym_matmul(a, b), mv = sym_matmul(a, v), vm = sym_matmul(v, b),
                        batched = sym_matmul(bt, b)))(a = ma, b = mb, v = c(1, 2, 3), bt = arr)
  expect_close(r$mm, ma %*% mb)
  expect_close(r$mv, as.vector(ma %*% c(1, 2, 3)))
  expect_close(r$vm, as.vector(c(1, 2, 3) %*% mb))
  ref <- array(0, c(5, 2, 4))
  for (i in 1:5) ref[i, , ] <- arr[i, , ] %*% mb
  expect_close(r$batched, ref)
  expect_error(sym_matmul(a, a), class = "symnet_shape_error")
})

test_that("gemm with transposes, scalars and a bias", {
  a <- sym_var("a", c(3, 2))
  b <- sym_var("b", c(4, 3))
  c0 <- sym_var("c", 4)
  ma <- matrix(1:6, 3, 2)
  mb <- matrix(seq(0.1, 1.2, 0.1), 4, 3)
  r <- sym_compile(list(g = sym_gemm(a, b, c0, alpha = 2, beta = 0.5, trans_a = TRUE, trans_b = TRUE),
                        p = sym_gemm(a, b, trans_a = TRUE, trans_b = TRUE)))(a = ma, b = mb, c = 1:4)
  expect_close(r$g, 2 * t(ma) %*% t(mb) + 0.5 * matrix(1:4, 2, 4, byrow = TRUE))
  expect_close(r$p, t(ma) %*% t(mb))
})

test_that("matmul gradients match finite differences", {
  a <- sym_var("a", c(2, 3), dtype = "float64")
  b <- sym_var("b", c(3, 2), dtype = "float64")
  ma <- matrix(c(0.1, -0.4, 0.3, 0.8, -0.2, 0.5), 2, 3)
  mb <- matrix(c(0.7, 0.2, -0.6, 0.1, 0.9, -0.3), 3, 2)
  y <- sum(tanh(a %*% b))
  g <- sym_compile(sym_grad(y, list(a = a, b = b)))(a = ma, b = mb)
  expect_equal(g$a, fd_grad(function(z) sum(tanh(z %*% mb)), ma), tolerance = 1e-6)
  expect_equal(g$b, fd_grad(function(z) sum(tanh(ma %*% z)), mb), tolerance = 1e-6)
  y2 <- sum(sym_gemm(a, b, 1, alpha = 3)^2)
  g2 <- sym_compile(sym_grad(y2, a))(a = ma, b = mb)
  expect_equal(g2, fd_grad(function(z) sum((3 * z %*% mb + 1)^2), ma), tolerance = 1e-6)
})
