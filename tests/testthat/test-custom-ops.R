# Custom operations (R/custom-ops.R): sym_function(), sym_custom_gradient(), sym_custom_op().

# ---- sym_function ---------------------------------------------------------------------------

test_that("sym_function() makes a named call with the body's values and gradients", {
  traced <- 0
  swish_fn <- function(x) {
    traced <<- traced + 1
    x * sym_sigmoid(x)
  }
  swish <- sym_function(swish_fn, name = "swish")
  expect_output(print(sym_function(swish_fn)), "<symnet operation swish_fn>")  # named after the argument
  x <- sym_var("x", 4, dtype = "float64")
  y <- swish(x)
  expect_match(format(y), "<symbol swish_[0-9]+ = swish\\(x\\)")
  expect_match(format(swish(x, name = "my_node")), "<symbol my_node = swish(x)", fixed = TRUE)
  expect_equal(cpp_sym_info(y$ptr)$op, "call")
  f <- sym_compile(list(y = y, dy = sym_grad(sym_sum(y), x)))
  xv <- c(-2, -0.5, 0.5, 2)
  r <- f(x = xv)
  expect_equal(r$y, xv / (1 + exp(-xv)), tolerance = 1e-12)
  expect_equal(r$dy, fd_grad(function(v) sum(v / (1 + exp(-v))), xv), tolerance = 1e-8)
  # Recorded once per argument types, then reused.
  y2 <- swish(x * 2)
  expect_equal(traced, 1)
  swish(sym_var("z", c(2, 3)))
  expect_equal(traced, 2)
  expect_equal(sym_compile(y2)(x = xv), 2 * xv / (1 + exp(-2 * xv)), tolerance = 1e-12)
  expect_output(print(swish), "<symnet operation swish>")
})

test_that("sym_function() captures outer symbols and parameters; gradients reach them", {
  x <- sym_var("x", c(NA, 3), dtype = "float64")
  s <- sym_var("s", integer(), dtype = "float64")
  w <- sym_shared(c(0.5, -1, 2), name = "w_fn", dtype = "float64")
  scaled <- sym_function(function(a) list(out = a * w * s, total = sym_sum(a)), name = "scaled")
  res <- scaled(x)
  expect_named(res, c("out", "total"))
  loss <- sym_sum(res$out) + res$total
  f <- sym_compile(list(out = res$out, dw = sym_grad(loss, w), dx = sym_grad(loss, x)))
  xv <- matrix(1:6, 2, 3)
  r <- f(x = xv, s = 3)
  expect_equal(r$out, sweep(xv, 2, c(0.5, -1, 2), `*`) * 3)
  expect_equal(r$dw, colSums(xv) * 3)
  expect_equal(r$dx, matrix(c(0.5, -1, 2) * 3 + 1, 2, 3, byrow = TRUE))
})

test_that("sym_function() names its node in DOT and in a model's summary, and survives saving", {
  set.seed(2)
  block <- sym_function(function(h) sym_relu(h) + h / 10, name = "leaky_block")
  x <- sym_var("x", c(NA, 3))
  out <- layer_dense(block(layer_dense(x, 4, name = "d1")), 1, name = "d2")
  m <- sym_model(x, out)
  expect_match(sym_dot(out), "leaky_block (call)", fixed = TRUE)
  expect_true("leaky_block" %in% summary(m)$layers$type)
  X <- matrix(rnorm(12), 4, 3)
  path <- withr::local_tempfile(fileext = ".safetensors")
  save_model(m, path)
  m2 <- load_model(path)
  expect_equal(predict(m2, X), predict(m, X))
  expect_match(sym_dot(m2), "leaky_block (call)", fixed = TRUE)
  rds <- withr::local_tempfile(fileext = ".rds")
  saveRDS(m, rds)
  expect_equal(predict(readRDS(rds), X), predict(m, X))
})

test_that("state updates attached before an operation travel on through it", {
  x <- sym_var("x", c(NA, 2))
  m <- sym_param("fn_track/mean", 2, init = "zeros", trainable = FALSE)
  h <- sym_with_update(x, m, 0.5 * m + 0.5 * sym_mean(x, axis = 1))
  y <- sym_function(function(a) a * 2, name = "double")(h)
  expect_gt(length(y$updates), 0)
  expect_identical(y$updates, h$updates)
  model <- sym_model(x, y)
  expect_equal(vapply(model$aux_updates, function(u) u$name, ""), "fn_track/mean")
})

test_that("sym_function() errors are classed and say what was recorded", {
  expect_error(sym_function(1), class = "symnet_value_error")
  two <- sym_function(function(a, b) a + b)
  expect_error(two(sym_var("x", 2)), "takes 2 arguments", class = "symnet_value_error")
  bad <- sym_function(function(a) sym_matmul(a, a), name = "bad_fn")
  err <- expect_error(bad(sym_var("x", c(2, 3))), "Recording", class = "symnet_shape_error")
  expect_s3_class(err$parent, "symnet_shape_error")
  expect_error(two(), class = "symnet_value_error")
})

# ---- sym_custom_gradient --------------------------------------------------------------------

test_that("a hand-derived gradient matches finite differences, and differentiates again", {
  # softplus with the stable gradient dy * sigmoid(x), in float64
  sp <- sym_custom_gradient(function(x) sym_log1p(sym_exp(x)),
                            function(x, y, dy) dy * sym_sigmoid(x), name = "stable_softplus")
  x <- sym_var("x", 5, dtype = "float64")
  y <- sp(x)
  g <- sym_grad(sym_sum(y * y), x)
  gg <- sym_grad(sym_sum(g), x)
  f <- sym_compile(list(y = y, g = g, gg = gg))
  xv <- c(-3, -0.7, 0, 0.4, 2.5)
  r <- f(x = xv)
  softplus <- function(v) log1p(exp(v))
  expect_equal(r$y, softplus(xv), tolerance = 1e-12)
  expect_equal(r$g, fd_grad(function(v) sum(softplus(v)^2), xv), tolerance = 1e-7)
  # the second derivative differentiates grad_fn: d/dx sum(2 y sigmoid(x))
  expect_equal(r$gg, fd_grad(function(v) sum(2 * softplus(v) / (1 + exp(-v))), xv), tolerance = 1e-7)
  expect_match(sym_dot(y), "stable_softplus (call, custom gradient)", fixed = TRUE)
  expect_output(print(sp), "custom gradient")
})

test_that("a straight-through estimator and gradient clipping", {
  ste <- sym_custom_gradient(function(x) sym_round(x), function(x, y, dy) dy)
  clip <- sym_custom_gradient(function(x) x, function(x, y, dy) sym_clip(dy, -1, 1))
  x <- sym_var("x", 4)
  y <- ste(x)
  z <- clip(x) * 5
  f <- sym_compile(list(y = y, dy = sym_grad(sym_sum(y * 3), x), dz = sym_grad(sym_sum(z), x)))
  r <- f(x = c(0.2, 1.6, -2.7, 3))
  expect_equal(r$y, c(0, 2, -3, 3))
  expect_equal(r$dy, rep(3, 4))       # round's own gradient is 0
  expect_equal(r$dz, rep(1, 4))       # 5 clipped to 1
})

test_that("custom gradients with several arguments and outputs; NULL means zero", {
  f2 <- sym_custom_gradient(function(a, b) list(s = a + b, p = a * b),
                            function(a, b, y, dy) list(dy$s + dy$p * b, NULL))
  a <- sym_var("a", 3, dtype = "float64")
  b <- sym_var("b", 3, dtype = "float64")
  res <- f2(a, b)
  expect_named(res, c("s", "p"))
  loss <- sym_sum(res$s) + sym_sum(res$p * 2)
  f <- sym_compile(list(da = sym_grad(loss, a), db = sym_grad(loss, b)))
  r <- f(a = c(1, 2, 3), b = c(4, 5, 6))
  expect_equal(r$da, 1 + 2 * c(4, 5, 6))
  expect_equal(r$db, c(0, 0, 0))
})

test_that("custom gradient errors: wrong gradient type, captured parameters, wrong count", {
  x <- sym_var("x", 3)
  wrong_shape <- sym_custom_gradient(function(x) x * 2, function(x, y, dy) sym_sum(dy))
  expect_error(wrong_shape(x), "gradient for argument 1", class = "symnet_shape_error")
  wrong_dtype <- sym_custom_gradient(function(x) x * 2, function(x, y, dy) sym_cast(dy, "float64"))
  expect_error(wrong_dtype(x), class = "symnet_dtype_error")
  w <- sym_shared(c(1, 2, 3), name = "w_cg")
  uses_w <- sym_custom_gradient(function(x) x * w, function(x, y, dy) dy * w)
  expect_error(uses_w(x), "pass it as an argument", class = "symnet_unsupported_error")
  # passed as an argument, the gradient decides its gradient
  with_w <- sym_custom_gradient(function(x, w) x * w, function(x, w, y, dy) list(dy * w, dy * x))
  f <- sym_compile(sym_grad(sym_sum(with_w(x, w)), w))
  expect_equal(f(x = c(4, 5, 6)), c(4, 5, 6))
  too_many <- sym_custom_gradient(function(x) x, function(x, y, dy) list(dy, dy))
  expect_error(too_many(x), "one gradient per argument", class = "symnet_value_error")
  short <- sym_custom_gradient(function(x) x, function(x, dy) dy)
  expect_error(short(x), "grad_fn", class = "symnet_value_error")
})

# ---- sym_custom_op --------------------------------------------------------------------------

test_that("an R-coded op computes in a compiled graph; its backward gives the gradient", {
  cube <- sym_custom_op("test_r_cube", forward = function(x) x^3,
                        backward = function(inputs, outputs, grads) 3 * inputs[[1]]^2 * grads[[1]])
  x <- sym_var("x", c(2, 3), dtype = "float64")
  y <- cube(x)
  expect_match(format(y), "<symbol test_r_cube_[0-9]+ = test_r_cube\\(x\\)")
  expect_match(sym_dot(y), "test_r_cube (host callback)", fixed = TRUE)
  f <- sym_compile(list(y = y + 1, dx = sym_grad(sym_sum(sin(y)), x)))
  xv <- matrix(c(0.5, -1, 2, 0.1, 1.5, -0.3), 2, 3)
  r <- f(x = xv)
  expect_equal(r$y, xv^3 + 1)
  expect_equal(r$dx, fd_grad(function(v) sum(sin(v^3)), xv), tolerance = 1e-7)
  expect_output(print(cube), "test_r_cube \\(R code, with backward\\)")
})

test_that("infer declares several outputs of other shapes and dtypes", {
  stats_op <- sym_custom_op("test_r_stats",
    forward = function(x) list(colMeans(x), nrow(x) > 2),
    infer = function(shapes, dtypes) list(list(shape = shapes[[1]][2], dtype = dtypes[[1]]),
                                          list(shape = integer(), dtype = "bool")))
  x <- sym_var("x", c(NA, 2))
  res <- stats_op(x)
  expect_length(res, 2)
  expect_equal(res[[1]]$shape, 2L)
  expect_equal(res[[2]]$dtype, "bool")
  f <- sym_compile(list(m = res[[1]], big = res[[2]]))
  xv <- matrix(1:8, 4, 2)
  expect_equal(f(x = xv), list(m = colMeans(xv), big = TRUE))
  expect_equal(f(x = xv[1:2, ]), list(m = colMeans(xv[1:2, ]), big = FALSE))
  bad_infer <- sym_custom_op("test_r_bad_infer", forward = identity, infer = function(shapes, dtypes) "float32")
  expect_error(bad_infer(x), "infer", class = "symnet_value_error")
})

test_that("a sorting-based loss written in R trains inside fit()", {
  set.seed(4)
  # mean squared error between the sorted predictions and the sorted targets (a 1-D
  # Wasserstein-style loss): the gradient goes back through the sorting permutation.
  sorted_mse <- sym_custom_op("test_sorted_mse",
    forward = function(pred, target) mean((sort(pred) - sort(target))^2),
    backward = function(inputs, outputs, grads) {
      p <- inputs[[1]]
      d <- numeric(length(p))
      d[order(p)] <- 2 * (sort(p) - sort(inputs[[2]])) / length(p)
      list(array(d * grads[[1]], dim(p)), NULL)
    },
    infer = function(shapes, dtypes) list(shape = integer(), dtype = dtypes[[1]]))
  x <- sym_var("x", c(NA, 2))
  m <- sym_model(x, layer_dense(x, 1, name = "lin"))
  X <- matrix(rnorm(128), 64, 2)
  Y <- matrix(X %*% c(2, -1) + 0.5, 64, 1)
  loss_fn <- function(y_true, y_pred) sorted_mse(y_pred, y_true)
  before <- evaluate(m, X, Y, loss = loss_fn)[["loss"]]
  fit(m, X, Y, loss = loss_fn, optimizer = optimizer_adam(0.05), epochs = 30, batch_size = 16, verbose = 0,
      seed = 1)
  after <- evaluate(m, X, Y, loss = loss_fn)[["loss"]]
  expect_lt(after, before * 0.2)
})

test_that("wrong results from forward are classed errors; the compiled function stays usable", {
  mode <- "ok"
  flaky <- sym_custom_op("test_r_flaky", forward = function(x) {
    switch(mode,
           ok = x * 2,
           shape = c(x, 1),
           type = rep("a", length(x)),
           error = stop("the R code failed"),
           interrupt = rlang::interrupt())
  })
  x <- sym_var("x", 3)
  f <- sym_compile(flaky(x) + 1)
  expect_equal(f(x = 1:3), c(3, 5, 7))
  mode <- "shape"
  expect_error(f(x = 1:3), "output 1 has shape \\[4\\]", class = "symnet_shape_error")
  mode <- "type"
  expect_error(f(x = 1:3), "numeric or logical", class = "symnet_dtype_error")
  mode <- "error"
  err <- expect_error(f(x = 1:3), "the R code failed", class = "symnet_custom_op_error")
  expect_equal(err$custom_op, "test_r_flaky")
  expect_s3_class(err, "symnet_value_error")
  expect_match(conditionMessage(err$parent), "the R code failed")
  mode <- "interrupt"
  err <- expect_error(f(x = 1:3), "interrupted", class = "symnet_interrupt_error")
  expect_s3_class(err, "symnet_custom_op_error")
  mode <- "ok"
  expect_equal(f(x = 4:6), c(9, 11, 13))
  # an int32 output must hold whole numbers
  int_op <- sym_custom_op("test_r_int", forward = function(x) x / 2)
  i <- sym_var("i", 2, dtype = "int32")
  g <- sym_compile(int_op(i))
  expect_equal(g(i = c(4L, 8L)), c(2L, 4L))
  expect_error(g(i = c(3L, 8L)), "int32 cannot hold", class = "symnet_value_error")
})

test_that("without backward a gradient is a classed error; a device places the op on the CPU", {
  fwd_only <- sym_custom_op("test_r_fwd_only", forward = function(x) x + 1)
  x <- sym_var("x", 3)
  expect_error(sym_grad(sym_sum(fwd_only(x)), x), "no backward", class = "symnet_unsupported_error")
  withr::local_options(symnet.developer.sim_device = TRUE)
  f <- sym_compile(list(y = fwd_only(x * 2) * 3), device = "sim")
  expect_equal(f(x = 1:3), list(y = (2 * (1:3) + 1) * 3))
  s <- summary(f)
  expect_gte(s$transfers, 1)
  expect_true(any(grepl("host_callback", s$fallback_nodes)))
})

test_that("saving a model with an R-coded op says so; loading explains how to register it again", {
  set.seed(5)
  sq <- function(x) x^2
  sq_back <- function(inputs, outputs, grads) 2 * inputs[[1]] * grads[[1]]
  op <- sym_custom_op("test_r_square", forward = sq, backward = sq_back)
  x <- sym_var("x", c(NA, 2))
  m <- sym_model(x, layer_dense(op(x), 1, name = "out"))
  expect_true("test_r_square" %in% summary(m)$layers$type)
  # trained through the op's backward
  Xt <- matrix(rnorm(64), 32, 2)
  Yt <- matrix(Xt[, 1]^2 - 2 * Xt[, 2]^2 + 1, 32, 1)
  before <- evaluate(m, Xt, Yt, loss = "mse")[["loss"]]
  fit(m, Xt, Yt, loss = "mse", optimizer = optimizer_adam(0.05), epochs = 40, batch_size = 8, verbose = 0, seed = 1)
  expect_lt(evaluate(m, Xt, Yt, loss = "mse")[["loss"]], before * 0.1)
  X <- matrix(rnorm(6), 3, 2)
  want <- predict(m, X)
  path <- withr::local_tempfile(fileext = ".safetensors")
  expect_message(save_model(m, path), "test_r_square", class = "symnet_custom_op_message")
  # a new session: the op is not registered
  rm("test_r_square", envir = symnet:::.custom_ops)
  cpp_unregister_custom_op("test_r_square")
  expect_warning(m2 <- load_model(path), "sym_custom_op", class = "symnet_custom_op_warning")
  expect_error(predict(m2, X), "not registered", class = "symnet_unsupported_error")
  sym_custom_op("test_r_square", forward = sq, backward = sq_back)
  expect_equal(predict(m2, X), want)
  expect_no_warning(load_model(path))
  # the op function itself survives saveRDS() and registers the op again when called
  rds <- withr::local_tempfile(fileext = ".rds")
  saveRDS(op, rds)
  rm("test_r_square", envir = symnet:::.custom_ops)
  cpp_unregister_custom_op("test_r_square")
  op2 <- readRDS(rds)
  expect_equal(sym_compile(op2(sym_var("z", 2)))(z = c(3, 4)), c(9, 16))
  expect_equal(predict(m2, X), want)
})

test_that("a second derivative through an R-coded op is a classed error", {
  cube <- sym_custom_op("test_r_cube2", forward = function(x) x^3,
                        backward = function(inputs, outputs, grads) 3 * inputs[[1]]^2 * grads[[1]])
  x <- sym_var("x", 3)
  g <- sym_grad(sym_sum(cube(x)), x)
  expect_equal(sym_compile(g)(x = 1:3), 3 * (1:3)^2)
  expect_error(sym_grad(sym_sum(g), x), class = "symnet_unsupported_error")
})

test_that("the operations check their arguments: hostile values are classed errors", {
  ops <- list(sym_function(function(a) a * 2, name = "h_fn"),
              sym_custom_gradient(function(a) a * 2, function(a, y, dy) dy, name = "h_cg"),
              sym_custom_op("test_r_hostile", forward = function(x) x))
  hostile <- list(NULL, NA, "abc", list(), list(1, "a"), new.env(), function(x) x, 1i, character(0))
  for (op in ops) {
    for (h in hostile) {
      res <- tryCatch({ op(h); NULL }, error = function(e) e)
      if (!is.null(res)) expect_s3_class(res, "symnet_error")
    }
  }
  expect_error(sym_custom_op("a/b", forward = identity), "without", class = "symnet_value_error")
  expect_error(sym_custom_op("ok_name", forward = 1), class = "symnet_value_error")
  expect_error(sym_custom_op("ok_name", forward = identity, backward = 2), class = "symnet_value_error")
  expect_error(sym_custom_op("ok_name", forward = identity, infer = "x"), class = "symnet_value_error")
  expect_error(sym_custom_gradient(function(a) a, grad_fn = NULL), class = "symnet_value_error")
  expect_error(sym_function(function(a) a, name = ""), class = "symnet_value_error")
})

test_that("warnings and messages of the R code reach the caller's handlers", {
  chatty <- sym_custom_op("test_r_chatty", forward = function(x) {
    warning("careful with ", length(x))
    message("computing")
    x * 2
  })
  f <- sym_compile(chatty(sym_var("x", 2)))
  expect_warning(expect_message(r <- f(x = 1:2), "computing"), "careful with 2")
  expect_equal(r, c(2, 4))
  # an exiting handler leaves through the engine's frames; the function stays usable
  caught <- tryCatch(f(x = 1:2), warning = function(w) conditionMessage(w))
  expect_equal(caught, "careful with 2")
  expect_equal(suppressWarnings(suppressMessages(f(x = 3:4))), c(6, 8))
})
