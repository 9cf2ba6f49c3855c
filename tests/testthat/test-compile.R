test_that("compiled functions return one output bare and several as a named list", {
  x <- sym_var("x", 3)
  f <- sym_compile(x * 2)
  expect_s3_class(f, "symnet_function")
  expect_true(is.function(f))
  expect_equal(f(x = 1:3), c(2, 4, 6))
  g <- sym_compile(list(double = x * 2, total = sum(x), x + 1))
  r <- g(x = 1:3)
  expect_named(r, c("double", "total", "output3"))
  expect_equal(r$total, 6)
  one <- sym_compile(list(a = x))
  expect_named(one(x = 1:3), "a")
  expect_error(sym_compile(list(a = x, a = x)), class = "symnet_value_error")
  expect_error(sym_compile(1), class = "symnet_value_error")
})

test_that("unnamed arguments fill the inputs in order", {
  a <- sym_var("a", 2)
  b <- sym_var("b", 2)
  f <- sym_compile(a - b)
  expect_identical(f$inputs$name, c("a", "b"))
  expect_equal(f(c(5, 5), c(1, 2)), c(4, 3))
  expect_equal(f(b = c(1, 2), c(5, 5)), c(4, 3))
})

dtype_values <- list(
  float32 = function(n) seq_len(n) / 4 - 1,
  float64 = function(n) seq_len(n) / 3 - 1,
  int32 = function(n) seq_len(n) - 3L,
  int64 = function(n) seq_len(n) * 1e10,
  uint8 = function(n) (seq_len(n) * 37L) %% 256L,
  bool = function(n) seq_len(n) %% 3 == 0
)
expected_type <- c(float32 = "double", float64 = "double", int32 = "integer", int64 = "double",
                   uint8 = "integer", bool = "logical")

test_that("values round-trip through every dtype and ranks 0 to 4", {
  shapes <- list(integer(0), 5L, c(2L, 3L), c(2L, 3L, 2L), c(2L, 1L, 3L, 2L))
  for (dt in names(dtype_values)) {
    for (s in shapes) {
      n <- if (length(s)) prod(s) else 1L
      v <- dtype_values[[dt]](n)
      if (length(s) >= 2) dim(v) <- s
      x <- sym_var("x", s, dtype = dt)
      f <- sym_compile(list(same = sym_identity(x), const = sym_const(v, dtype = dt)))
      r <- f(x = v)
      info <- paste(dt, "rank", length(s))
      expect_type(r$same, expected_type[[dt]])
      expect_equal(r$same, if (dt == "bool") v else {
        w <- v
        storage.mode(w) <- expected_type[[dt]]
        w
      }, info = info)
      expect_equal(r$const, r$same, info = info)
      if (length(s) < 2) expect_null(dim(r$same))
    }
  }
})

test_that("R values convert to the declared dtype", {
  f32 <- sym_compile(sym_identity(sym_var("x", 3)))
  expect_equal(f32(x = 1:3), c(1, 2, 3))
  expect_equal(f32(x = c(TRUE, FALSE, TRUE)), c(1, 0, 1))
  i32 <- sym_compile(sym_identity(sym_var("x", 3, dtype = "int32")))
  expect_identical(i32(x = c(1, -2, 3)), c(1L, -2L, 3L))
  i64 <- sym_compile(sym_identity(sym_var("x", 2, dtype = "int64")))
  expect_equal(i64(x = c(2^40, -3)), c(2^40, -3))
  expect_equal(i64(x = c(-2^63, 2^62)), c(-2^63, 2^62))
  b <- sym_compile(sym_identity(sym_var("x", 3, dtype = "bool")))
  expect_identical(b(x = c(0, 2, -1)), c(FALSE, TRUE, TRUE))
  expect_identical(b(x = 0:2), c(FALSE, TRUE, TRUE))
  u8 <- sym_compile(sym_identity(sym_var("x", 2, dtype = "uint8")))
  expect_identical(u8(x = c(0L, 255L)), c(0L, 255L))
  expect_identical(u8(x = c(0, 255)), c(0L, 255L))
  df <- sym_compile(sym_identity(sym_var("x", c(NA, 2))))
  expect_equal(df(x = data.frame(a = 1:3, b = 4:6)), cbind(a = 1:3, b = 4:6), ignore_attr = TRUE)
})

test_that("a new input shape compiles once and is cached", {
  x <- sym_var("x", c(NA, 3))
  f <- sym_compile(sum(sym_relu(x) * 2))
  expect_true(is.na(summary(f)$nodes_before))
  expect_output(print(summary(f)), "not compiled yet")
  f(x = matrix(1, 2, 3))
  expect_equal(summary(f)$cached_shapes, 1)
  f(x = matrix(1, 5, 3))
  expect_equal(summary(f)$cached_shapes, 2)
  expect_equal(f(x = matrix(1, 2, 3)), 12)
  expect_equal(summary(f)$cached_shapes, 2)
  expect_equal(summary(f)$input_shapes[[1]], c(2L, 3L))
})

test_that("summary reports the optimisation figures", {
  x <- sym_var("x", c(16, 8))
  w <- sym_shared(matrix(0.1, 8, 4), name = "w_sum")
  y <- sym_mean(sym_relu(x %*% w) * 2 + 1)
  f <- sym_compile(list(y = y, g = sym_grad(y, w)))
  s <- summary(f)
  expect_s3_class(s, "summary.symnet_function")
  for (k in c("nodes_before", "nodes_after", "steps", "fused_groups", "fused_ops", "arena_bytes",
              "naive_bytes", "compile_ms", "cached_shapes")) {
    expect_true(is.numeric(s[[k]]) && length(s[[k]]) == 1 && !is.na(s[[k]]), info = k)
  }
  expect_lte(s$nodes_after, s$nodes_before)
  expect_lte(s$arena_bytes, s$naive_bytes)
  expect_s3_class(s$passes, "data.frame")
  expect_true(nrow(s$passes) > 0)
  expect_output(print(s), "nodes")
  expect_output(print(s), "arena")
  expect_output(print(s), "compile")
})

test_that("an MLP training graph plans well under the naive memory", {
  x <- sym_var("x", c(64, 32))
  y <- sym_var("y", 64, dtype = "int32")
  W1 <- sym_shared(matrix(0.01, 32, 64), name = "W1")
  b1 <- sym_shared(rep(0, 64), name = "b1")
  W2 <- sym_shared(matrix(0.01, 64, 10), name = "W2")
  b2 <- sym_shared(rep(0, 10), name = "b2")
  loss <- sym_softmax_cross_entropy(sym_relu(x %*% W1 + b1) %*% W2 + b2, y)
  g <- sym_grad(loss, list(W1 = W1, b1 = b1, W2 = W2, b2 = b2))
  f <- sym_compile(c(list(loss = loss), g))
  s <- summary(f)
  expect_lt(s$arena_ratio, 0.6)
})

test_that("printing shows inputs, outputs and updates", {
  x <- sym_var("x", c(NA, 2))
  v <- sym_shared(0, name = "count")
  f <- sym_compile(list(s = sum(x)), updates = list(count = v + 1))
  expect_output(print(f), "<symnet_function> on cpu")
  expect_output(print(f), "x float32\\[\\?, 2\\]")
  expect_output(print(f), "outputs: s")
  expect_output(print(f), "updates: count")
  expect_match(format(sym_compile(x * 1)), "returned bare", all = FALSE)
  expect_identical(f$outputs, "s")
  expect_identical(f$updates, "count")
  expect_identical(f$device, "cpu")
})

test_that("compile options are validated", {
  x <- sym_var("x", 2)
  expect_error(sym_compile(x, device = "tpu"), class = "symnet_unsupported_error")
  expect_error(sym_compile(x, optimize = "yes"), class = "symnet_value_error")
  expect_error(sym_compile(x, seed = -1), class = "symnet_value_error")
  f <- sym_compile(x * 2 + x * 2, optimize = FALSE)
  expect_equal(f(x = 1:2), c(4, 8))
})

test_that("optimisation never changes results", {
  x <- sym_var("x", c(3, 4))
  y <- sym_softmax(sym_tanh(x * 2 + 1) * (x * 2 + 1)) + sym_exp(x - x) - 1
  v <- matrix(seq(-1, 1, length.out = 12), 3, 4)
  expect_equal(sym_compile(y)(x = v), sym_compile(y, optimize = FALSE)(x = v), tolerance = 1e-6)
})

test_that("compiled functions saved without their engine state fail cleanly", {
  f <- sym_compile(sym_var("x", 2) + 1)
  f2 <- unserialize(serialize(f, NULL, version = 2))
  expect_error(f2(x = 1:2), class = "symnet_value_error")
})

test_that("sym_profile times every kernel launch", {
  x <- sym_var("x", c(NA, 8))
  f <- sym_compile(sum(tanh(x %*% matrix(0.1, 8, 4))))
  sym_profile(f, TRUE)
  for (i in 1:3) f(x = matrix(1, 5, 8))
  p <- sym_profile(f)
  expect_s3_class(p, "data.frame")
  expect_true(nrow(p) >= 2)
  expect_true(all(p$calls == 3))
  expect_true(all(p$ms >= 0))
  expect_equal(sum(p$share), 1, tolerance = 1e-9)
  expect_true("matmul" %in% p$op)
  sym_profile(f, FALSE)
  expect_error(sym_profile(function() 1), class = "symnet_value_error")
  expect_error(sym_profile(f, NA), class = "symnet_value_error")
})

test_that("sym_profile names the algorithm each convolution takes", {
  x <- sym_var("x", c(NA, 3, 8, 8))
  y <- sym_mean(layer_conv2d(x, 4, 3, padding = "same"))
  f <- sym_compile(y)
  sym_profile(f, TRUE)
  f(x = array(rnorm(2 * 3 * 8 * 8), c(2, 3, 8, 8)))
  p <- sym_profile(f)
  expect_true("algorithm" %in% names(p))
  conv <- p$algorithm[p$op == "conv"]
  expect_length(conv, 1)
  expect_true(conv %in% c("packed-1x1", "im2col-packed", "convgemm", "blas"))
  expect_true(all(p$algorithm[p$op != "conv"] == ""))
})

test_that("compiled functions survive saveRDS() and keep updating their variables", {
  w <- sym_shared(0, name = "w")
  x <- sym_var("x", NA)
  step <- sym_compile(sum(x) * w, updates = list(w = w + 1))
  step(x = 1:3)
  saved <- unserialize(serialize(list(step = step, w = w), NULL))
  expect_equal(sym_value(saved$w), 1)
  expect_equal(saved$step(x = 1:3), 6)
  expect_equal(sym_value(saved$w), 2)
  # the original and the copy are independent
  expect_equal(sym_value(w), 1)
  expect_equal(step(x = 1:3), 6)
})

test_that("large arrays convert in both directions on several threads, errors naming the first bad value", {
  old <- symnet_threads()
  on.exit(symnet_threads(old), add = TRUE)
  symnet_threads(2)
  f <- sym_compile(sym_var("x", c(NA, 37, 3, 131)) * 2)
  set.seed(3)
  x <- array(rnorm(301 * 37 * 3 * 131), c(301, 37, 3, 131))  # above the parallel threshold, odd sizes
  expect_equal(f(x = x), x * 2, tolerance = 1e-6)
  v <- sym_compile(sym_var("v", NA, dtype = "float64") + 1)
  expect_identical(v(v = as.double(1:300001)), as.double(2:300002))
  u8 <- sym_compile(sym_identity(sym_var("y", c(NA, 1000), dtype = "uint8")))
  y <- matrix(1, 500, 1000)
  y[c(7 + 500 * 900, 400 + 500 * 3, 250 + 500 * 600)] <- 300  # the first in R's order is position 1900
  expect_error(u8(y = y), "value 300 at position 1900")
  yi <- matrix(1L, 500, 1000)
  yi[c(20 + 500 * 999, 3 + 500 * 2)] <- NA
  expect_error(u8(y = yi), "contains NA \\(position 1003\\)")
})

test_that("integer inputs never wrap, truncate or overflow", {
  u8 <- sym_compile(sym_identity(sym_var("x", NA, dtype = "uint8")))
  for (bad in list(-1, 256, 300, 1.5, -1L, 256L, NaN, Inf)) {
    expect_error(u8(x = bad), class = "symnet_value_error")
  }
  expect_error(u8(x = c(1, 2, 300)), "value 300 at position 3")
  i32 <- sym_compile(sym_identity(sym_var("x", NA, dtype = "int32")))
  expect_error(i32(x = 2^31), class = "symnet_value_error")
  expect_error(i32(x = -2^31 - 1), class = "symnet_value_error")
  expect_error(i32(x = 1.9), "cannot hold")
  expect_identical(i32(x = c(-2^31 + 1, 2^31 - 1)), c(-2147483647L, 2147483647L))
  # -2^31 is R's NA_integer_: it could not come back as a number
  expect_error(i32(x = -2^31), class = "symnet_value_error")
  i64 <- sym_compile(sym_identity(sym_var("x", NA, dtype = "int64")))
  expect_error(i64(x = 2^63), class = "symnet_value_error")
  expect_error(i64(x = Inf), class = "symnet_value_error")
  f32 <- sym_compile(sym_identity(sym_var("x", NA)))
  expect_error(f32(x = 1e39), "float32")
  expect_equal(f32(x = c(Inf, -Inf, 3.5e38 / 2)), c(Inf, -Inf, 1.75e38), tolerance = 1e-6)
  # the position is R's (column-major) position in an array
  m <- sym_compile(sym_identity(sym_var("x", c(NA, 2), dtype = "uint8")))
  expect_error(m(x = matrix(c(1, 2, 3, 999), 2)), "position 4")
})

test_that("shape specialisations are bounded and evicted ones compile again", {
  x <- sym_var("x", c(NA, 2))
  f <- sym_compile(sum(x * 2))
  for (n in 1:24) expect_equal(f(x = matrix(1, n, 2)), 4 * n)
  expect_lte(summary(f)$cached_shapes, 16)
  expect_equal(f(x = matrix(1, 1, 2)), 4)   # evicted long ago: compiled again
  expect_lte(summary(f)$cached_shapes, 16)
})

test_that("named lists of (variable, value) pairs are updates, as Map() makes them", {
  a <- sym_shared(1, name = "a")
  b <- sym_shared(2, name = "b")
  ups <- Map(function(v, d) list(v, v + d), list(first = a, second = b), list(10, 20))
  step <- sym_compile(a + b, updates = ups)
  step()
  expect_equal(c(sym_value(a), sym_value(b)), c(11, 22))
})

test_that("inputs may have any name, even a prefix of the function's own state", {
  for (nm in c("s", "st", "state", "feeds")) {
    f <- sym_compile(sym_var(nm, 2) * 2)
    args <- stats::setNames(list(c(1, 2)), nm)
    expect_equal(do.call(f, args), c(2, 4))
  }
})
