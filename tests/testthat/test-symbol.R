test_that("sym_var declares inputs with shape and dtype", {
  x <- sym_var("x", c(NA, 3))
  expect_true(is_symbol(x))
  expect_identical(dim(x), c(NA, 3L))
  expect_identical(sym_info(x)$dtype, "float32")
  expect_identical(sym_info(x)$op, "input")
  expect_identical(sym_info(x)$name, "x")

  s <- sym_var("s", integer())
  expect_identical(dim(s), integer(0))
  expect_null(dim(sym_var("any")))

  i <- sym_var("i", 4, dtype = "integer")
  expect_identical(sym_info(i)$dtype, "int32")
  expect_identical(sym_info(sym_var("b", 2, "logical"))$dtype, "bool")
  expect_identical(sym_info(sym_var("d", 2, "double"))$dtype, "float64")
})

test_that("sym_var validates its arguments", {
  expect_error(sym_var("x", rep(1, 33)), class = "symnet_shape_error")
  expect_error(sym_var("x", c(2^31 - 1, 2^31 - 1, 2^31 - 1)), class = "symnet_shape_error")
  expect_identical(dim(sym_var("x", rep(NA, 32))), rep(NA_integer_, 32))
  expect_error(sym_var("x", c(2, -3)), class = "symnet_value_error")
  expect_error(sym_var("x", c(2.5)), class = "symnet_value_error")
  expect_error(sym_var("x", "a"), class = "symnet_value_error")
  expect_error(sym_var("", 2), class = "symnet_value_error")
  expect_error(sym_var(1, 2), class = "symnet_value_error")
  expect_error(sym_var("x", 2, dtype = "complex"), class = "symnet_dtype_error")
  expect_error(sym_var("x", 2, dtype = "complex"), class = "symnet_error")
})

test_that("sym_const keeps values, shapes and picks dtypes", {
  k <- sym_const(matrix(1:6, 2, 3))
  expect_identical(dim(k), c(2L, 3L))
  expect_identical(sym_info(k)$dtype, "int32")
  expect_identical(sym_info(sym_const(2.5))$dtype, "float32")
  expect_identical(dim(sym_const(2.5)), integer(0))
  expect_identical(dim(sym_const(c(1, 2, 3))), 3L)
  expect_identical(sym_info(sym_const(TRUE))$dtype, "bool")
  expect_identical(sym_info(sym_const(1, dtype = "float64"))$dtype, "float64")
  m <- matrix(c(1.5, 2, 3, 4), 2)
  expect_equal(run_sym(sym_const(m)), m)
  a <- array(1:24, c(2, 3, 4))
  expect_equal(run_sym(sym_const(a)), a)
})

test_that("sym_const rejects values it cannot hold", {
  expect_error(sym_const("a"), class = "symnet_value_error")
  expect_error(sym_const(factor("a")), class = "symnet_value_error")
  expect_error(sym_const(list(1)), class = "symnet_value_error")
  expect_error(sym_const(c(1L, NA), dtype = "int32"), class = "symnet_error")
})

test_that("as_symbol converts values and casts symbols", {
  x <- sym_var("x", 2)
  expect_identical(as_symbol(x), x)
  expect_identical(sym_info(as_symbol(x, "float64"))$dtype, "float64")
  expect_identical(sym_info(as_symbol(3L))$dtype, "int32")
})

test_that("symbols print their op, inputs and type", {
  x <- sym_var("x", c(NA, 3))
  expect_output(print(x), "<symbol x \\(input\\) float32\\[\\?, 3\\]>")
  y <- sym_add(x, 1, name = "plus_one")
  expect_match(format(y), "plus_one = add\\(x, .*\\) float32\\[\\?, 3\\]")
  expect_output(str(y), "plus_one")
  expect_match(format(sym_const(1)), "constant")
  parts <- sym_split(sym_var("v", 4), n = 2)
  expect_match(format(parts[[2]]), ":2")
})

test_that("sym_info and sym_inputs describe the graph", {
  x <- sym_var("x", c(2, 3))
  y <- sym_sum(x, axis = 2, keepdims = TRUE)
  info <- sym_info(y)
  expect_identical(info$op, "reduce_sum")
  expect_identical(info$shape, c(2L, 1L))
  expect_true(all(c("axes", "keepdims") %in% names(info$attrs)))
  ins <- sym_inputs(y)
  expect_length(ins, 1)
  expect_identical(sym_info(ins[[1]])$name, "x")
})

test_that("sym_apply reaches any registered op", {
  ops <- sym_ops()
  expect_true(all(c("add", "matmul", "reduce_sum", "softmax", "slice") %in% ops))
  x <- sym_var("x", c(2, 3))
  s <- sym_apply("reduce_sum", x, attrs = list(axes = I(1L), keepdims = 0L))
  expect_identical(dim(s), 2L)
  expect_equal(run_sym(s, x = matrix(1:6, 2)), c(9, 12))
  expect_error(sym_apply("no_such_op", x), class = "symnet_unsupported_error")
  expect_error(sym_apply("add", x, attrs = list(1)), class = "symnet_value_error")
})

test_that("symbols saved without their engine state fail cleanly", {
  x <- sym_var("x", 2)
  y <- unserialize(serialize(x, NULL, version = 2))
  expect_error(sym_compile(y + 1), class = "symnet_error")
})

test_that("symbols survive saveRDS() as the same graph", {
  x <- sym_var("x", c(NA, 2))
  y <- sym_relu(x) * 2
  z <- y + 1
  obj <- unserialize(serialize(list(x = x, y = y, z = z), NULL))
  expect_equal(format(obj$z), format(z))
  f <- sym_compile(list(y = obj$y, z = obj$z))
  out <- f(x = matrix(c(-1, 2, 3, -4), 2))
  expect_equal(out$z, out$y + 1)
  # one input node, not one per restored symbol: gradients w.r.t. x reach z
  g <- sym_compile(sym_grad(sum(obj$z), obj$x))(x = matrix(c(-1, 2, 3, -4), 2))
  expect_equal(g, matrix(c(0, 2, 2, 0), 2))
})

test_that("shapes and dtypes are validated, not coerced", {
  expect_error(sym_var("a", c(3e9, 2)), class = "symnet_value_error")
  expect_no_warning(try(sym_var("a", c(3e9, 2)), silent = TRUE))
  expect_error(sym_var("a", 2, dtype = "float16"), class = "symnet_dtype_error")
  expect_error(sym_var("a", 2, dtype = "bfloat16"), "not supported yet")
  expect_false("float16" %in% sym_dtypes())
})

# ---- inputs declared without a shape: any shape, known when fed ----------------------------

test_that("a shapeless input takes any rank; algebra and axes resolve when fed", {
  x <- sym_var("x")
  expect_null(dim(x))
  expect_match(format(x), "float32[...]", fixed = TRUE)
  y <- x * 2 + 1
  expect_null(dim(y))
  expect_match(format(y), "[...]", fixed = TRUE)
  # a full reduction is a scalar whatever the rank
  expect_identical(dim(sum(x)), integer(0))
  f <- sym_compile(list(y = y, last = sym_sum(x, axis = -1), first = sym_sum(x, axis = 1),
                        all = sum(x), p = sym_softmax(x, axis = -1), mx = sym_max(x, axis = -1, keepdims = TRUE)))
  v <- c(1, 2, 3)
  r1 <- f(x = v)
  expect_equal(r1$y, v * 2 + 1)
  expect_equal(r1$last, 6)
  expect_equal(r1$first, 6)
  expect_equal(r1$p, exp(v) / sum(exp(v)), tolerance = 1e-6)
  m <- matrix(c(1, 5, 2, 4, 3, 6), 2)
  r2 <- f(x = m)
  expect_equal(r2$y, m * 2 + 1)
  expect_equal(r2$last, rowSums(m))
  expect_equal(r2$first, colSums(m))
  expect_equal(r2$all, sum(m))
  expect_equal(r2$p, exp(m) / rowSums(exp(m)), tolerance = 1e-6)
  expect_equal(r2$mx, matrix(apply(m, 1, max), 2, 1))
  a <- array(seq_len(24), c(2, 3, 4))
  r3 <- f(x = a)
  expect_equal(r3$last, apply(a, c(1, 2), sum))
  expect_equal(r3$first, apply(a, c(2, 3), sum))
  expect_identical(dim(r3$y), dim(a))
  # a single number is a scalar: it has no last axis
  expect_error(f(x = 5), class = "symnet_error")
  # a positive axis beyond the fed rank is an error when fed, never a wrapped axis
  g <- sym_compile(sym_sum(x, axis = 3))
  expect_equal(g(x = a), apply(a, c(1, 2), sum))
  expect_error(g(x = m), class = "symnet_error")
})

test_that("shapeless inputs mix with shaped ones and explicit scalars", {
  x <- sym_var("x")
  w <- sym_var("w", c(3, 2))
  s <- sym_var("s", integer())
  f <- sym_compile((x %*% w) * s)
  X <- matrix(1:6, 2)
  W <- matrix(c(1, 0, 0, 1, 1, 1), 3)
  expect_equal(f(x = X, w = W, s = 2), (X %*% W) * 2)
  expect_error(f(x = X, w = W, s = c(1, 2)), class = "symnet_shape_error")
  # an update computed from a shapeless input is checked against the variable when fed
  v <- sym_shared(c(1, 2), "v_shapeless")
  lr <- sym_var("lr")
  step <- sym_compile(v, updates = list(list(v, v - lr)))
  step(lr = 0.5)
  expect_equal(sym_value(v), c(0.5, 1.5))
  expect_error(step(lr = c(1, 2, 3)), class = "symnet_error")
})

test_that("what needs a rank before feeding says which shape to declare", {
  x <- sym_var("x")
  e <- expect_error(x[1, ], class = "symnet_shape_error")
  expect_match(conditionMessage(e), 'sym_var("x"', fixed = TRUE)
  expect_error(t(x), class = "symnet_shape_error")
  expect_error(sym_pad(x, c(1, 1)), class = "symnet_shape_error")
  w <- sym_var("w", 3)
  e <- expect_error(sym_grad(sum(x * w), w), class = "symnet_shape_error")
  expect_match(conditionMessage(e), "'x'", fixed = TRUE)
  # a gradient that does not pass through the shapeless input is unaffected
  g <- sym_grad(sum(w * w) + sum(x), w)
  expect_equal(sym_compile(g)(w = 1:3, x = matrix(1, 2, 2)), c(2, 4, 6))
  # negative axes pass through unchanged; other axis errors stay R errors
  expect_error(sym_sum(x, axis = 0), class = "symnet_value_error")
  expect_error(sym_sum(x, axis = c(1, 1)), class = "symnet_value_error")
  expect_error(sym_sum(x, axis = 40), class = "symnet_value_error")
  # 1 and -3 name one axis of a rank-3 input: an error when fed, never one reduction
  f <- sym_compile(sym_sum(x, axis = c(1, -3)))
  expect_error(f(x = array(1, c(2, 2, 2))), class = "symnet_error")
  expect_equal(f(x = array(1, c(2, 2, 2, 2))), matrix(4, 2, 2))
})

test_that("graphs with shapeless inputs round-trip through JSON, saveRDS and save_model", {
  x <- sym_var("x")
  s <- sym_var("s", integer())
  y <- sym_sum(x * s, axis = -1)
  js <- sym_json(list(y = y))
  parsed <- jsonlite::fromJSON(js, simplifyVector = FALSE)
  inputs <- Filter(function(n) identical(n$op, "input"), parsed$nodes)
  expect_length(inputs, 2)
  f <- tempfile(fileext = ".rds")
  saveRDS(y, f)
  y2 <- readRDS(f)
  expect_null(dim(y2))
  h <- sym_compile(y2)
  expect_equal(h(x = c(1, 2), s = 3), 9)
  expect_equal(h(x = matrix(1:4, 2), s = 1), c(4, 6))

  ids <- sym_var("ids", dtype = "int32")
  m <- sym_model(ids, layer_embedding(ids, 5, 2, name = "emb"))
  path <- tempfile(fileext = ".symnet")
  save_model(m, path)
  m2 <- load_model(path)
  expect_null(dim(m2$inputs[[1]]))
  tab <- get_weights(m)[[1]]
  expect_equal(unname(predict(m2, c(0L, 4L))), tab[c(1, 5), ], tolerance = 1e-6)
  rds <- tempfile(fileext = ".rds")
  saveRDS(m, rds)
  m3 <- readRDS(rds)
  expect_equal(unname(predict(m3, matrix(c(1L, 2L, 3L, 4L), 2))), unname(predict(m, matrix(c(1L, 2L, 3L, 4L), 2))))
})
