test_that("uniform and normal draws have the right shape and moments", {
  u <- sym_random_uniform(c(200, 50), low = -1, high = 3, seed = 1)
  n <- sym_random_normal(c(10000), mean = 2, sd = 0.5, seed = 2)
  r <- sym_compile(list(u = u, n = n))()
  expect_identical(dim(r$u), c(200L, 50L))
  expect_true(all(r$u >= -1 & r$u < 3))
  expect_equal(mean(r$u), 1, tolerance = 0.02)
  expect_equal(mean(r$n), 2, tolerance = 0.01)
  expect_equal(sd(r$n), 0.5, tolerance = 0.02)
})

test_that("seeds reproduce and each call draws fresh numbers", {
  u <- sym_random_uniform(5, seed = 42)
  f1 <- sym_compile(u)
  f2 <- sym_compile(u)
  a <- f1()
  b <- f1()
  expect_false(isTRUE(all.equal(a, b)))
  expect_equal(f2(), a)
})

test_that("results do not depend on the thread count", {
  n <- sym_random_normal(c(300, 300), seed = 7)
  f <- sym_compile(n)
  g <- sym_compile(n)
  old <- symnet_threads(1)
  on.exit(symnet_threads(old))
  a <- f()
  symnet_threads(2)
  b <- g()
  expect_identical(a, b)
})

test_that("*_like draws and bernoulli masks follow run-time shapes", {
  x <- sym_var("x", c(NA, 100))
  p <- sym_var("p", c(NA, 100))
  r <- sym_compile(list(u = sym_random_uniform(x, seed = 3), n = sym_random_normal(x, seed = 4),
                        b = sym_random_bernoulli(p, seed = 5)))(x = matrix(0, 20, 100),
                                                                p = matrix(0.3, 20, 100))
  expect_identical(dim(r$u), c(20L, 100L))
  expect_identical(dim(r$n), c(20L, 100L))
  expect_true(all(r$b %in% c(0, 1)))
  expect_equal(mean(r$b), 0.3, tolerance = 0.1)
})

test_that("random ops validate their arguments", {
  expect_error(sym_random_uniform(c(2, NA)), class = "symnet_value_error")
  expect_error(sym_random_uniform(2, low = 1, high = 0), class = "symnet_value_error")
  expect_error(sym_random_normal(2, sd = -1), class = "symnet_value_error")
  expect_error(sym_random_uniform(2, dtype = "int32"), class = "symnet_dtype_error")
  expect_error(sym_random_uniform(2, seed = -1), class = "symnet_value_error")
})
