test_that(".raise_engine_error raises classed conditions naming op and node", {
  for (kind in c("shape", "dtype", "attr", "feed", "value", "unsupported", "interrupt", "internal")) {
    err <- tryCatch(symnet:::.raise_engine_error(kind, "boom", "add", "add_3"), error = identity)
    expect_s3_class(err, paste0("symnet_", kind, "_error"))
    expect_s3_class(err, "symnet_error")
    expect_identical(err$op, "add")
    expect_identical(err$node, "add_3")
    expect_match(conditionMessage(err), "add_3")
  }
  err <- tryCatch(symnet:::.raise_engine_error("weird", "x", "", ""), error = identity)
  expect_s3_class(err, "symnet_internal_error")
})

test_that("device errors are classed, out of device memory also as a device error", {
  err <- tryCatch(symnet:::.raise_engine_error("device", "cudaMemcpyAsync: an illegal memory access", "", ""),
                  error = identity)
  expect_s3_class(err, "symnet_device_error")
  expect_s3_class(err, "symnet_error")
  expect_false(inherits(err, "symnet_device_memory_error"))
  err <- tryCatch(symnet:::.raise_engine_error("device_memory", "out of memory on cuda:0", "matmul", "mm_1"),
                  error = identity)
  expect_identical(class(err)[1:3], c("symnet_device_memory_error", "symnet_device_error", "symnet_error"))
  expect_identical(err$kind, "device_memory")
  expect_identical(err$op, "matmul")
})

test_that("engine messages with braces survive", {
  err <- tryCatch(symnet:::.raise_engine_error("shape", "shapes {2, 3} and {4}", "add", "n"),
                  error = identity)
  expect_match(conditionMessage(err), "{2, 3} and {4}", fixed = TRUE)
})

test_that("shape mismatches name the op and the shapes", {
  a <- sym_var("a", c(2, 3))
  b <- sym_var("b", c(4, 5))
  err <- expect_error(a + b, class = "symnet_shape_error")
  expect_match(conditionMessage(err), "add")
  expect_match(conditionMessage(err), "3")
  expect_error(sym_matmul(a, a), class = "symnet_shape_error")
  expect_error(sym_reshape(a, c(4, 2)), class = "symnet_shape_error")
  expect_error(sym_concat(a, b, axis = 1), class = "symnet_shape_error")
})

test_that("bad attributes raise attribute or value errors", {
  x <- sym_var("x", c(2, 3))
  expect_error(sym_apply("transpose", x, attrs = list(perm = I(c(0L, 0L)))), class = "symnet_attr_error")
  expect_error(sym_apply("gelu", x, attrs = list(approximate = "nope")), class = "symnet_attr_error")
  expect_error(sym_gelu(x, approximate = "nope"), class = "symnet_value_error")
  expect_error(sym_sum(x, axis = 3), class = "symnet_value_error")
  expect_error(sym_sum(x, axis = 0), class = "symnet_value_error")
  expect_error(sym_sum(x, axis = 1.5), class = "symnet_value_error")
  expect_error(sym_sum(x, keepdims = NA), class = "symnet_value_error")
  expect_error(sym_transpose(x, c(1, 1)), class = "symnet_value_error")
  expect_error(sym_clip(x, 2, 1), class = "symnet_value_error")
  expect_error(sym_slice(x, 0, 1), class = "symnet_value_error")
})

test_that("wrong dtypes raise dtype errors", {
  f <- sym_var("f", 3)
  i <- sym_var("i", 3, dtype = "int32")
  expect_error(sym_add(f, i), class = "symnet_dtype_error")
  expect_error(sym_exp(i), class = "symnet_dtype_error")
  expect_error(sym_logical_and(f, f), class = "symnet_dtype_error")
  expect_error(sym_gather(f, f), class = "symnet_dtype_error")
  fn <- sym_compile(f * 2)
  expect_error(fn(f = c("a", "b", "c")), class = "symnet_dtype_error")
  expect_error(fn(f = factor(1:3)), class = "symnet_dtype_error")
})

test_that("feeds are checked: missing, unexpected, wrong shape, NA for ints", {
  x <- sym_var("x", c(NA, 2))
  k <- sym_var("k", 2, dtype = "int32")
  f <- sym_compile(x * sym_cast(k, "float32"))
  expect_error(f(x = matrix(1, 2, 2)), class = "symnet_feed_error")
  err <- expect_error(f(x = matrix(1, 2, 2)), class = "symnet_feed_error")
  expect_match(conditionMessage(err), "k")
  expect_error(f(x = matrix(1, 2, 2), k = 1:2, z = 1), class = "symnet_feed_error")
  expect_error(f(x = matrix(1, 2, 3), k = 1:2), class = "symnet_shape_error")
  expect_error(f(x = 1:4, k = 1:2), class = "symnet_shape_error")
  expect_error(f(x = matrix(1, 2, 2), k = c(1L, NA)), class = "symnet_value_error")
  expect_error(f(x = matrix(1, 2, 2), x = matrix(1, 2, 2), k = 1:2), class = "symnet_feed_error")
  expect_error(f(matrix(1, 2, 2), 1:2, 3), class = "symnet_feed_error")
})

test_that("unknown dimensions that must be known are reported", {
  x <- sym_var("x", c(NA, 1))
  err <- expect_error(sym_squeeze(x), class = "symnet_shape_error")
  expect_match(conditionMessage(err), "squeeze")
  expect_error(sym_grad(sum(x) * x, x), class = "symnet_shape_error")
  expect_error(sym_fill(c(NA, 2), 1), class = "symnet_value_error")
})

test_that("symbols are immutable and dim<- is refused", {
  x <- sym_var("x", c(2, 3))
  expect_error(dim(x) <- c(3, 2), class = "symnet_unsupported_error")
  expect_error(x[1, 1] <- 2, class = "symnet_unsupported_error")
  expect_error(cumprod(x), class = "symnet_unsupported_error")
})
