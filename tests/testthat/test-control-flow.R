test_that("sym_cond computes the taken branch, with its gradient", {
  x <- sym_var("x", 3)
  p <- sym_var("p", integer(), dtype = "bool")
  y <- sym_cond(p, function() x * x * 2, function() sin(x))
  f <- sym_compile(list(y = y, dy = sym_grad(sym_sum(y), x)))
  xv <- c(-1, 0.5, 2)
  r <- f(x = xv, p = TRUE)
  expect_equal(r$y, 2 * xv^2, tolerance = 1e-6)
  expect_equal(r$dy, 4 * xv, tolerance = 1e-6)
  r <- f(x = xv, p = FALSE)
  expect_equal(r$y, sin(xv), tolerance = 1e-6)
  expect_equal(r$dy, cos(xv), tolerance = 1e-6)
})

test_that("a numeric predicate is compared with 0; R TRUE/FALSE choose at once", {
  x <- sym_var("x", 2)
  k <- sym_var("k", integer(), dtype = "int32")
  f <- sym_compile(sym_cond(k, function() x + 1, function() x - 1))
  expect_equal(f(x = c(1, 2), k = 5L), c(2, 3))
  expect_equal(f(x = c(1, 2), k = 0L), c(0, 1))
  called <- FALSE
  y <- sym_cond(TRUE, function() x * 3, function() { called <<- TRUE; x })
  expect_false(called)
  expect_equal(sym_compile(y)(x = c(1, 2)), c(3, 6))
})

test_that("only the taken branch runs", {
  x <- sym_var("x", 3)
  p <- sym_var("p", integer(), dtype = "bool")
  # The false branch gathers position 9 of 3: an index error when it runs.
  y <- sym_cond(p, function() x * 2, function() sym_gather(x, c(9L, 9L, 9L)))
  f <- sym_compile(y)
  expect_equal(f(x = 1:3, p = TRUE), c(2, 4, 6))
  expect_error(f(x = 1:3, p = FALSE), class = "symnet_index_error")
})

test_that("branches return lists with names; R numbers become constants", {
  x <- sym_var("x", 2)
  p <- sym_var("p", integer(), dtype = "bool")
  out <- sym_cond(p, function() list(a = x * 2, b = sym_sum(x)), function() list(a = x, b = 0))
  expect_named(out, c("a", "b"))
  f <- sym_compile(out)
  r <- f(x = c(1, 4), p = TRUE)
  expect_equal(r$a, c(2, 8))
  expect_equal(r$b, 5)
  r <- f(x = c(1, 4), p = FALSE)
  expect_equal(r$a, c(1, 4))
  expect_equal(r$b, 0)
})

test_that("mismatched branches and bad arguments are classed errors", {
  x <- sym_var("x", c(2, 3))
  p <- sym_var("p", integer(), dtype = "bool")
  expect_error(sym_cond(p, function() x, function() list(x, x)), class = "symnet_value_error")
  expect_error(sym_cond(p, function() x, function() sym_cast(x, "float64")), class = "symnet_dtype_error")
  expect_error(sym_cond(p, function() x, function() sym_sum(x, axis = 1)), class = "symnet_shape_error")
  expect_error(sym_cond(sym_var("p2", 2, dtype = "bool"), function() x, function() x),
               class = "symnet_shape_error")
  expect_error(sym_cond(p, x, function() x), class = "symnet_value_error")
  expect_error(sym_cond(p, function(z) z, function() x), "no arguments", class = "symnet_value_error")
  expect_error(sym_cond(p, function() "a", function() x), class = "symnet_value_error")
  expect_error(sym_cond(NA, function() x, function() x), class = "symnet_value_error")
})

test_that("a model with a branch per sign trains only the branch that ran, and saves", {
  set.seed(2)
  h <- sym_var("h", c(NA, 4))
  out <- sym_cond(sym_sum(h) > 0, function() layer_dense(h, 1, name = "pos"),
                  function() layer_dense(h, 1, name = "neg"))
  m <- sym_model(h, out)
  expect_setequal(names(get_weights(m)), c("pos/kernel", "pos/bias", "neg/kernel", "neg/bias"))
  w0 <- get_weights(m)
  X <- matrix(runif(32 * 4), 32, 4)  # every batch sums > 0: the "pos" branch
  fit(m, X, rowSums(X), loss = "mse", optimizer = optimizer_sgd(0.05), epochs = 2, batch_size = 8,
      verbose = 0, seed = 1)
  w1 <- get_weights(m)
  expect_false(identical(w1[["pos/kernel"]], w0[["pos/kernel"]]))
  expect_identical(w1[["neg/kernel"]], w0[["neg/kernel"]])
  expect_identical(w1[["neg/bias"]], w0[["neg/bias"]])
  path <- withr::local_tempfile(fileext = ".symnet")
  save_model(m, path)
  m2 <- load_model(path)
  expect_equal(predict(m2, -X[1:3, ]), predict(m, -X[1:3, ]))
  expect_equal(predict(m2, X[1:3, ]), predict(m, X[1:3, ]))
})

test_that("state-updating layers in a branch are refused with a hint", {
  h <- sym_var("h", c(NA, 4))
  expect_error(sym_cond(sym_sum(h) > 0, function() layer_batch_norm(h), function() h),
               class = "symnet_unsupported_error")
})
