test_that("fill, zeros, ones and eye", {
  r <- sym_compile(list(f = sym_fill(c(2, 3), 7), z = sym_zeros(4), o = sym_ones(c(2, 2), "int32"),
                        e = sym_eye(3), e2 = sym_eye(2, 3, k = 1), b = sym_fill(2, 1, "bool")))()
  expect_close(r$f, matrix(7, 2, 3))
  expect_close(r$z, rep(0, 4))
  expect_identical(r$o, matrix(1L, 2, 2))
  expect_close(r$e, diag(3))
  expect_close(r$e2, matrix(c(0, 0, 1, 0, 0, 1), 2, 3))
  expect_identical(r$b, c(TRUE, TRUE))
  expect_error(sym_fill(c(2, NA), 1), class = "symnet_value_error")
  expect_error(sym_eye(-1), class = "symnet_value_error")
})

test_that("*_like ops take the run-time shape", {
  x <- sym_var("x", c(NA, 2))
  r <- sym_compile(list(z = sym_zeros_like(x), o = sym_ones_like(x), f = sym_fill_like(x, 3)))(
    x = matrix(9, 3, 2))
  expect_close(r$z, matrix(0, 3, 2))
  expect_close(r$o, matrix(1, 3, 2))
  expect_close(r$f, matrix(3, 3, 2))
})

test_that("range is inclusive like seq()", {
  r <- sym_compile(list(a = sym_range(1, 10), b = sym_range(1, 10, by = 3),
                        c = sym_range(0, 1, by = 0.25), d = sym_range(5, 1, by = -2),
                        e = sym_range(0, 0.9, by = 0.3, dtype = "float64")))()
  expect_identical(r$a, 1:10)
  expect_identical(r$b, seq(1L, 10L, by = 3L))
  expect_equal(r$c, seq(0, 1, by = 0.25))
  expect_identical(r$d, c(5L, 3L, 1L))
  expect_equal(r$e, seq(0, 0.9, by = 0.3))
  expect_error(sym_range(1, 5, by = -1), class = "symnet_value_error")
  expect_error(sym_range(1, 5, by = 0), class = "symnet_value_error")
})

test_that("shapes that cannot exist are classed errors at once; large ones stay symbolic", {
  big <- .Machine$integer.max
  expect_error(sym_zeros(rep(1, 33)), class = "symnet_shape_error")
  expect_error(sym_zeros(c(big, big, big)), class = "symnet_shape_error")
  expect_error(sym_random_normal(c(big, big)), class = "symnet_shape_error")
  expect_error(sym_reshape(sym_var("x", 4), c(big, big, -1)), class = "symnet_shape_error")
  expect_error(sym_reshape(sym_var("x", 4), rep(1, 33)), class = "symnet_shape_error")
  # a large shape costs nothing until compiled
  z <- sym_zeros(c(big, 4))
  expect_identical(dim(z), c(big, 4L))
})

test_that("compiling a plan larger than the machine's memory names the bytes", {
  big <- .Machine$integer.max
  f <- sym_compile(sym_zeros(c(big, 2^27)) + 1)  # 1 EiB of float32: more than any machine
  e <- expect_error(f(), class = "symnet_error")
  expect_match(conditionMessage(e), paste(format(big * 2^27 * 4, scientific = FALSE), "bytes"), fixed = TRUE)
})
