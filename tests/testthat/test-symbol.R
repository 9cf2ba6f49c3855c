test_that("sym_var declares inputs with shape and dtype", {
  x <- sym_var("x", c(NA, 3))
  expect_true(is_symbol(x))
  expect_identical(dim(x), c(NA, 3L))
  expect_identical(sym_info(x)$dtype, "float32")
  expect_identical(sym_info(x)$op, "input")
  expect_identical(sym_info(x)$name, "x")

  s <- sym_var("s")
  expect_identical(dim(s), integer(0))

  i <- sym_var("i", 4, dtype = "integer")
  expect_identical(sym_info(i)$dtype, "int32")
  expect_identical(sym_info(sym_var("b", 2, "logical"))$dtype, "bool")
  expect_identical(sym_info(sym_var("d", 2, "double"))$dtype, "float64")
})

test_that("sym_var validates its arguments", {
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
