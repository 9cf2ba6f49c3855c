test_that("sym_scan carries state, stacks outputs and differentiates", {
  x <- sym_var("x", c(4, 3))
  res <- sym_scan(function(x_t, total) {
    total <- total * 0.5 + x_t^2
    list(total, sym_sum(total))
  }, sequences = x, init = sym_zeros(3))
  loss <- sym_sum(res$state) + sym_sum(res$outputs[[1]] * c(1, 2, 3, 4))
  f <- sym_compile(list(state = res$state, out = res$outputs[[1]], loss = loss, dx = sym_grad(loss, x)))
  xv <- matrix(seq(-1, 1.2, length.out = 12), 4, 3)
  r_scan <- function(xv) {
    total <- rep(0, 3)
    out <- numeric(4)
    for (t in 1:4) {
      total <- total * 0.5 + xv[t, ]^2
      out[t] <- sum(total)
    }
    list(state = total, out = out, loss = sum(total) + sum(out * 1:4))
  }
  r <- f(x = xv)
  want <- r_scan(xv)
  expect_close(r$state, want$state)
  expect_close(r$out, want$out)
  expect_close(r$dx, fd_grad(function(v) r_scan(v)$loss, xv), tolerance = 1e-4)
})

test_that("a scan step can use captured symbols and parameters; gradients reach them", {
  set.seed(1)
  x <- sym_var("x", c(5, 2))
  w <- sym_var("w", c(2, 2))
  u <- sym_shared(matrix(rnorm(4, sd = 0.5), 2, 2), name = "u")
  res <- sym_scan(function(x_t, h) {
    tanh(sym_matmul(sym_reshape(x_t, c(1, 2)), w) + sym_matmul(h, u))
  }, sequences = x, init = sym_zeros(c(1, 2)))
  loss <- sym_sum(res$state * c(1, -2))
  f <- sym_compile(c(list(loss = loss), sym_grad(loss, list(w = w, u = u, x = x))))
  xv <- matrix(rnorm(10), 5, 2)
  wv <- matrix(rnorm(4), 2, 2)
  uv <- sym_value(u)
  r_loss <- function(xv, wv, uv) {
    h <- matrix(0, 1, 2)
    for (t in 1:5) h <- tanh(matrix(xv[t, ], 1) %*% wv + h %*% uv)
    sum(h * c(1, -2))
  }
  r <- f(x = xv, w = wv)
  expect_close(r$loss, r_loss(xv, wv, uv))
  expect_close(r$w, fd_grad(function(v) r_loss(xv, v, uv), wv), tolerance = 1e-4)
  expect_close(r$u, fd_grad(function(v) r_loss(xv, wv, v), uv), tolerance = 1e-4)
  expect_close(r$x, fd_grad(function(v) r_loss(v, wv, uv), xv), tolerance = 1e-4)
})

test_that("reverse walks from the end; outputs stay in position order", {
  x <- sym_var("x", 4)
  res <- sym_scan(function(x_t, acc) {
    acc <- acc * 10 + x_t
    list(acc, acc)
  }, sequences = x, init = 0, reverse = TRUE)
  f <- sym_compile(list(state = res$state, seen = res$outputs[[1]]))
  r <- f(x = c(1, 2, 3, 4))
  expect_equal(r$state, 4321)
  # output t comes from the step that read position t: the step at 1 saw all four
  expect_equal(as.vector(r$seen), c(4321, 432, 43, 4))
})

test_that("n_steps loops without sequences; non_sequences reach every step; zero steps", {
  a <- sym_var("a", integer())
  res <- sym_scan(function(x, a) {
    nx <- x - (x * x - a) / (2 * x)  # Newton's method for sqrt(a)
    list(nx, nx)
  }, init = 1, non_sequences = list(a), n_steps = 20)
  f <- sym_compile(list(root = res$state, da = sym_grad(res$state, a)))
  r <- f(a = 2)
  expect_equal(r$root, sqrt(2), tolerance = 1e-6)
  expect_equal(r$da, 1 / (2 * sqrt(2)), tolerance = 1e-4)
  expect_length(sym_compile(res$outputs[[1]])(a = 2), 20)

  x <- sym_var("x", c(NA, 2))
  res0 <- sym_scan(function(x_t, s) list(s + x_t, x_t * 2), sequences = x, init = c(1, 1))
  g <- sym_compile(list(s = res0$state, o = res0$outputs[[1]], ds = sym_grad(sym_sum(res0$state), x)))
  r0 <- g(x = matrix(0, 0, 2))
  expect_equal(as.vector(r0$s), c(1, 1))
  expect_equal(dim(r0$o), c(0L, 2L))
  r3 <- g(x = matrix(1:6, 3, 2))
  expect_equal(as.vector(r3$s), c(7, 16))
  expect_equal(r3$ds, matrix(1, 3, 2))
})

test_that("named states and outputs keep their names", {
  x <- sym_var("x", c(3, 2))
  res <- sym_scan(function(x_t, lo, hi) list(lo = sym_minimum(lo, x_t), hi = sym_maximum(hi, x_t), mid = x_t / 2),
                  sequences = x, init = list(lo = c(9, 9), hi = c(-9, -9)))
  expect_named(res$state, c("lo", "hi"))
  expect_named(res$outputs, "mid")
  r <- sym_compile(c(res$state, res$outputs))(x = matrix(c(3, 1, 2, 5, 4, 6), 3, 2))
  expect_equal(as.vector(r$lo), c(1, 4))
  expect_equal(as.vector(r$hi), c(3, 6))
  expect_equal(r$mid, matrix(c(3, 1, 2, 5, 4, 6), 3, 2) / 2)
})

test_that("bad steps and arguments are classed errors naming the step", {
  x <- sym_var("x", c(4, 3))
  expect_error(sym_scan(function(x_t, h, g) x_t, x, init = list(0, 0)), "carries 2 states",
               class = "symnet_value_error")
  expect_error(sym_scan(function(x_t, h) x_t, x, init = list(0, 0)), "1 sequence slice, 2 states",
               class = "symnet_value_error")
  expect_error(sym_scan(function(x_t, h) sym_sum(x_t), x, init = sym_zeros(3)), class = "symnet_shape_error")
  expect_error(sym_scan(function(x_t, h) sym_cast(h, "float64"), x, init = sym_zeros(3)),
               class = "symnet_dtype_error")
  err <- expect_error(sym_scan(function(x_t, h) sym_matmul(x_t, h), x, init = sym_zeros(c(2, 2))),
                      class = "symnet_shape_error")
  expect_match(conditionMessage(err), "float32[3]", fixed = TRUE)
  expect_error(sym_scan(function(x_t, y_t) x_t + y_t, list(x, sym_var("y", c(5, 3)))), class = "symnet_shape_error")
  expect_error(sym_scan(function(x_t) x_t, x, n_steps = 3), class = "symnet_shape_error")
  expect_error(sym_scan(function(s) s + 1, init = 0), "n_steps", class = "symnet_value_error")
  expect_error(sym_scan("f", x), class = "symnet_value_error")
  expect_error(sym_scan(function(x_t) x_t, x, n_steps = -1), class = "symnet_value_error")
  expect_error(sym_scan(function(x_t) x_t, x, reverse = NA), class = "symnet_value_error")
  expect_error(sym_scan(function(x_t) x_t, sym_var("s", integer())), "scalar", class = "symnet_shape_error")
  expect_error(sym_scan(function(x_t) x_t, list("a")), class = "symnet_value_error")
  expect_error(sym_scan(function(x_t, h) layer_batch_norm(h), sym_var("z", c(4, 2, 3)), init = sym_zeros(c(2, 3))),
               class = "symnet_unsupported_error")
})

test_that("sym_fori_loop runs lower..upper inclusive, none when upper < lower", {
  a <- sym_var("a", c(3, 3))
  v <- sym_fori_loop(1, 60, function(i, v) {
    w <- sym_matmul(a, v)
    w / sqrt(sym_sum(w * w))
  }, init = matrix(1, 3, 1))
  r <- sym_compile(v)(a = diag(c(1, 5, 2)))
  expect_equal(abs(as.vector(r)), c(0, 1, 0), tolerance = 1e-6)
  s <- sym_fori_loop(3, 7, function(i, s) s + sym_cast(i, "float32"), init = 0)
  expect_equal(sym_compile(s)(), sum(3:7))
  # one step: the index sequence stays a sequence of length 1
  s1 <- sym_fori_loop(4, 4, function(i, s) s + sym_cast(i, "float32"), init = 1)
  expect_equal(sym_compile(s1)(), 5)
  s0 <- sym_fori_loop(3, 2, function(i, s) s + sym_cast(i, "float32"), init = 0)
  expect_equal(sym_compile(s0)(), 0)
  two <- sym_fori_loop(1, 5, function(i, a, b) list(b, a + b), init = list(a = 0, b = 1))
  expect_equal(sym_compile(two)(), list(a = 5, b = 8))
  expect_error(sym_fori_loop(1.5, 3, function(i, s) s, init = 0), class = "symnet_value_error")
  expect_error(sym_fori_loop(1, 3, function(i, s) s), "init", class = "symnet_value_error")
})

test_that("a recurrent model built on sym_scan trains with fit() and survives saving", {
  set.seed(3)
  n <- 64
  steps <- 6
  X <- array(rnorm(n * steps * 2), c(n, steps, 2))
  y <- apply(X[, , 1], 1, sum) - apply(X[, , 2], 1, max)
  inp <- sym_var("x", c(NA, steps, 2))
  seqs <- sym_transpose(inp, c(2, 1, 3))  # [steps, batch, 2]
  res <- sym_scan(function(x_t, h) {
    layer_dense(sym_concat(list(x_t, h), axis = 2), 8, activation = "tanh", name = "cell")
  }, sequences = seqs, init = sym_zeros_like(sym_concat(list(inp[, 1, ], inp[, 1, ], inp[, 1, ], inp[, 1, ]), axis = 2)))
  out <- layer_dense(res$state, 1, name = "head")
  m <- sym_model(inp, out)
  expect_setequal(names(get_weights(m)), c("cell/kernel", "cell/bias", "head/kernel", "head/bias"))
  before <- evaluate(m, X, y, loss = "mse")
  fit(m, X, y, loss = "mse", optimizer = optimizer_adam(0.01), epochs = 20, batch_size = 16, verbose = 0, seed = 1)
  after <- evaluate(m, X, y, loss = "mse")
  expect_lt(after[["loss"]], before[["loss"]] * 0.7)
  path <- withr::local_tempfile(fileext = ".symnet")
  save_model(m, path)
  m2 <- load_model(path)
  expect_equal(predict(m2, X[1:5, , ]), predict(m, X[1:5, , ]))
})

test_that("summary() reports loops; the forward loop is shared with its gradient's recording", {
  x <- sym_var("x", c(6, 4))
  res <- sym_scan(function(x_t, h) list(tanh(h + x_t), h * 2), sequences = x, init = sym_zeros(4))
  loss <- sym_sum(res$state) + sym_sum(res$outputs[[1]])
  f <- sym_compile(list(loss = loss, dx = sym_grad(loss, x)))
  f(x = matrix(0.1, 6, 4))
  s <- summary(f)
  # forward (recording the states for the gradient) and backward: two loops, not three
  expect_equal(s$loops$count, 2)
  # stacked per-step values: the outputs [6, 4], the saved states [6, 4] and the
  # backward loop's input gradients [6, 4], float32
  expect_equal(s$loops$stacked_bytes, 3 * 6 * 4 * 4)
  expect_output(print(s), "loops: 2")
  g <- sym_compile(loss)
  g(x = matrix(0.1, 6, 4))
  expect_equal(summary(g)$loops$count, 1)
})

test_that("sym_while_loop decides its trip count when it runs, with gradients", {
  x <- sym_var("x", integer())
  res <- sym_while_loop(function(v, n) v >= 1, function(v, n) list(v / 2, n + 1), list(v = x, n = 0),
                        max_iterations = 100)
  expect_named(res, c("v", "n"))
  f <- sym_compile(list(v = res$v, n = res$n, dv = sym_grad(res$v, x)))
  r <- f(x = 37)
  expect_equal(r$n, 6)
  expect_equal(r$v, 37 / 64)
  expect_equal(r$dv, 1 / 64)
  r0 <- f(x = 0.5)  # zero iterations
  expect_equal(c(r0$v, r0$n, r0$dv), c(0.5, 0, 1))

  # a loop whose body uses a captured symbol and a parameter; gradients reach both
  a <- sym_var("a", integer())
  w <- sym_shared(0.7, name = "w_loop")
  y <- sym_while_loop(function(v, k) k < 4, function(v, k) list(sin(v) * a + w * v, k + 1), list(x, 0),
                      max_iterations = 10)[[1]]
  g <- sym_compile(c(list(y = y), sym_grad(y, list(x = x, a = a, w = w))))
  r_loop <- function(x, a, w) {
    for (k in 1:4) x <- sin(x) * a + w * x
    x
  }
  r <- g(x = 0.3, a = 1.2)
  expect_equal(r$y, r_loop(0.3, 1.2, 0.7), tolerance = 1e-6)
  expect_equal(r$x, fd_grad(function(v) r_loop(v, 1.2, 0.7), 0.3), tolerance = 1e-4)
  expect_equal(r$a, fd_grad(function(v) r_loop(0.3, v, 0.7), 1.2), tolerance = 1e-4)
  expect_equal(r$w, fd_grad(function(v) r_loop(0.3, 1.2, v), 0.7), tolerance = 1e-4)
})

test_that("max_iterations stops the loop, or fails it with on_max = 'error'", {
  x <- sym_var("x", integer())
  stop_at <- sym_compile(sym_while_loop(function(v) v < 1000, function(v) v * 2, x, max_iterations = 3))
  expect_equal(stop_at(x = 1), 8)
  fail_at <- sym_compile(sym_while_loop(function(v) v < 1000, function(v) v * 2, x, max_iterations = 3,
                                        on_max = "error"))
  expect_equal(fail_at(x = 200), 1600)
  expect_error(fail_at(x = 1), "max_iterations", class = "symnet_value_error")
  expect_equal(fail_at(x = 300), 1200)  # the function still works after the error
  unbounded <- sym_while_loop(function(v) v < 10, function(v) v * 2, x)
  expect_equal(sym_compile(unbounded)(x = 3), 12)
  expect_error(sym_grad(unbounded, x), "max_iterations", class = "symnet_unsupported_error")
})

test_that("sym_fori_loop with symbolic bounds runs a while loop", {
  lo <- sym_var("lo", integer(), dtype = "int32")
  hi <- sym_var("hi", integer(), dtype = "int32")
  x <- sym_var("x", integer())
  s <- sym_fori_loop(lo, hi, function(i, s) s + sym_cast(i, "float32") * x, init = 0, max_iterations = 100)
  f <- sym_compile(list(s = s, ds = sym_grad(s, x)))
  expect_equal(f(lo = 3L, hi = 7L, x = 2), list(s = 2 * sum(3:7), ds = sum(3:7)))
  expect_equal(f(lo = 5L, hi = 4L, x = 2), list(s = 0, ds = 0))
  expect_error(sym_fori_loop(sym_var("v", 2), 3, function(i, s) s, init = 0), class = "symnet_shape_error")
})

test_that("bad while loops are classed errors", {
  x <- sym_var("x", 3)
  expect_error(sym_while_loop(function(v) v < 1, function(v) v, x), class = "symnet_shape_error")  # not a scalar
  expect_error(sym_while_loop(function(v) sym_sum(v) < 1, function(v) sym_sum(v), x), class = "symnet_shape_error")
  expect_error(sym_while_loop(function(v) sym_sum(v) < 1, function(v) list(v, v), x), "1 variable",
               class = "symnet_value_error")
  expect_error(sym_while_loop(function(v, w) TRUE, function(v) v, x), "takes 2", class = "symnet_value_error")
  expect_error(sym_while_loop(function(v) sym_sum(v) < 1, function(v) v, list()), class = "symnet_value_error")
  expect_error(sym_while_loop(function(v) sym_sum(v) < 1, function(v) v, x, max_iterations = -2),
               class = "symnet_value_error")
  expect_error(sym_while_loop(function(v) sym_sum(v) < 1, function(v) v, x, on_max = "never"),
               class = "symnet_value_error")
  expect_error(sym_while_loop(function(v) sym_sum(v) < 1, "body", x), class = "symnet_value_error")
})

test_that("random ops in a step draw new numbers each step, reproducibly, and again in the gradient", {
  x <- sym_var("x", c(5, 3))
  res <- sym_scan(function(x_t, s) {
    keep <- sym_random_bernoulli(sym_fill(3, 0.5), dtype = "float32", seed = 7)
    new <- s + x_t * keep
    list(new, keep)
  }, sequences = x, init = sym_zeros(3))
  f <- sym_compile(list(state = res$state, keep = res$outputs[[1]], dx = sym_grad(sym_sum(res$state), x)))
  r <- f(x = matrix(1, 5, 3))
  expect_gt(nrow(unique(r$keep)), 1)                 # steps differ
  f2 <- sym_compile(list(state = res$state, keep = res$outputs[[1]], dx = sym_grad(sym_sum(res$state), x)))
  expect_equal(f2(x = matrix(1, 5, 3))$keep, r$keep)  # a fixed seed repeats in a new function
  expect_equal(r$dx, r$keep)                         # the gradient saw the same draws
  expect_equal(as.vector(r$state), colSums(r$keep))
})
