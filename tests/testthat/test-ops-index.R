test_that("gather picks slices by 1-based position", {
  x <- sym_var("x", c(4, 3))
  m <- matrix(1:12, 4, 3)
  ids <- sym_var("ids", NA, dtype = "int32")
  r <- sym_compile(list(rows = sym_gather(x, c(3, 1, 3)), cols = sym_gather(x, c(2, 3), axis = 2),
                        zero = sym_gather(x, c(0, 3), index_base = 0),
                        sym = sym_gather(x, ids), mat = sym_gather(x, matrix(c(1, 2, 3, 4), 2))))(
    x = m, ids = c(4L, 2L))
  expect_close(r$rows, m[c(3, 1, 3), ])
  expect_close(r$cols, m[, c(2, 3)])
  expect_close(r$zero, m[c(1, 4), ])
  expect_close(r$sym, m[c(4, 2), ])
  idx <- matrix(c(1, 2, 3, 4), 2)
  ref <- array(0, c(2, 2, 3))
  for (i in 1:2) for (j in 1:2) ref[i, j, ] <- m[idx[i, j], ]
  expect_close(r$mat, ref)
  expect_identical(dim(sym_gather(x, matrix(1, 2, 2))), c(2L, 2L, 3L))
})

test_that("gather works as an embedding lookup with gradients", {
  emb <- sym_var("emb", c(5, 2), dtype = "float64")
  ids <- sym_var("ids", 3, dtype = "int64")
  tab <- matrix(seq(0.1, 1, 0.1), 5, 2)
  y <- sum(sym_gather(emb, ids)^2)
  g <- sym_compile(sym_grad(y, emb))(emb = tab, ids = c(2, 5, 2))
  ref <- matrix(0, 5, 2)
  for (i in c(2, 5, 2)) ref[i, ] <- ref[i, ] + 2 * tab[i, ]
  expect_equal(g, ref)
})

test_that("gather_elements and scatter_elements", {
  x <- sym_var("x", c(3, 2))
  m <- matrix(1:6, 3, 2)
  idx <- matrix(c(3, 1, 2, 2), 2, 2)
  r <- sym_compile(list(
    ge = sym_gather_elements(x, idx, axis = 1),
    ge2 = sym_gather_elements(x, matrix(c(2, 1, 1), 3, 1), axis = 2),
    sc = sym_scatter_elements(sym_zeros(c(2, 3)), matrix(c(3, 1), 2), matrix(c(5, 7), 2), axis = 2),
    add = sym_scatter_elements(sym_ones(c(3, 2)), idx, matrix(10, 2, 2), axis = 1,
                               reduction = "add")))(x = m)
  expect_close(r$ge, matrix(c(m[3, 1], m[1, 1], m[2, 2], m[2, 2]), 2, 2))
  expect_close(r$ge2, matrix(c(m[1, 2], m[2, 1], m[3, 1]), 3, 1))
  expect_close(r$sc, matrix(c(0, 7, 0, 0, 5, 0), 2, 3))
  expect_close(r$add, matrix(c(11, 1, 11, 1, 21, 1), 3, 2))
  expect_error(sym_scatter_elements(x, idx, idx, reduction = "max"), class = "symnet_value_error")
})

test_that("one_hot encodes 1-based labels by default", {
  y <- sym_var("y", NA, dtype = "int32")
  r <- sym_compile(list(a = sym_one_hot(y, 3), b = sym_one_hot(y - 1L, 3, index_base = 0),
                        c = sym_one_hot(y, 3, axis = 1, on_value = 5, off_value = -1),
                        d = sym_one_hot(y, 3, dtype = "int32")))(y = c(1L, 3L, 2L))
  expect_close(r$a, diag(3)[c(1, 3, 2), ])
  expect_close(r$b, diag(3)[c(1, 3, 2), ])
  expect_close(r$c, t(ifelse(diag(3)[c(1, 3, 2), ] == 1, 5, -1)))
  expect_identical(r$d, matrix(as.integer(diag(3)[c(1, 3, 2), ]), 3, 3))
  expect_close(run_sym(sym_one_hot(c(2, 1), 2)), matrix(c(0, 1, 1, 0), 2))
  expect_error(sym_one_hot(sym_var("f", 2), 3), class = "symnet_dtype_error")
  expect_error(sym_one_hot(y, 0), class = "symnet_value_error")
})

test_that("positions out of range are index errors, never wrapped", {
  x <- sym_var("x", c(3, 2))
  v <- matrix(1:6, 3, 2)
  i <- sym_var("i", NA, dtype = "int32")
  g <- sym_compile(sym_gather(x, i))
  expect_equal(g(x = v, i = c(3L, 1L)), v[c(3, 1), ])
  for (bad in list(0L, -1L, 4L)) expect_error(g(x = v, i = bad), class = "symnet_index_error")
  expect_error(g(x = v, i = 0L), class = "symnet_value_error")  # index errors are value errors too
  expect_error(g(x = v, i = c(1L, 0L)), "index 0 \\(element 2")
  expect_error(g(x = v, i = 0L), "index_base = 0")
  g0 <- sym_compile(sym_gather(x, i, index_base = 0))
  expect_equal(g0(x = v, i = c(2L, 0L)), v[c(3, 1), ])
  expect_error(g0(x = v, i = -1L), class = "symnet_index_error")
  expect_error(g0(x = v, i = 3L), "index_base = 1")
  # constant positions are checked too
  expect_error(sym_compile(sym_gather(x, c(1, -1)))(x = v), class = "symnet_index_error")
  expect_error(sym_compile(sym_gather_elements(x, matrix(c(1L, 3L, 1L), 3, 1), axis = 2))(x = v),
               class = "symnet_index_error")
  s <- sym_compile(sym_scatter_elements(x, matrix(c(1L, 0L), 1), matrix(c(9, 9), 1), axis = 2))
  expect_error(s(x = v), class = "symnet_index_error")
  oh <- sym_compile(sym_one_hot(i, 3))
  expect_equal(oh(i = c(1L, 3L)), rbind(c(1, 0, 0), c(0, 0, 1)))
  for (bad in list(0L, -1L, 4L)) expect_error(oh(i = bad), class = "symnet_index_error")
})

test_that("labels carry their index base", {
  y <- sym_index_base(sym_var("y", NA, dtype = "int32"), 0)
  expect_identical(sym_index_base(y), 0L)
  expect_null(sym_index_base(sym_var("z", NA, dtype = "int32")))
  f <- sym_compile(sym_one_hot(y, 3))
  expect_equal(f(y = c(0L, 2L)), rbind(c(1, 0, 0), c(0, 0, 1)))
  expect_error(f(y = 3L), class = "symnet_index_error")
  # a base given that contradicts the carried one is an error, not a silent shift
  expect_error(sym_one_hot(y, 3, index_base = 1), class = "symnet_error")
  expect_no_error(sym_one_hot(y, 3, index_base = 0))
  z <- sym_var("z", c(NA, 3))
  ce <- sym_compile(sym_softmax_cross_entropy(z, y, reduction = "none"))
  zz <- rbind(c(5, 0, 0), c(0, 0, 5))
  expect_lt(max(ce(z = zz, y = c(0L, 2L))), 0.02)
  expect_error(ce(z = zz, y = c(0L, 3L)), class = "symnet_index_error")
  expect_error(sym_index_base(sym_var("f", NA), 0), class = "symnet_dtype_error")
  expect_error(sym_index_base(y, 2), class = "symnet_error")
})

test_that("1-based labels in cross-entropy report the value as given", {
  z <- sym_var("z", c(NA, 3))
  y <- sym_var("y", NA, dtype = "int32")
  ce <- sym_compile(sym_softmax_cross_entropy(z, y))
  expect_error(ce(z = matrix(0, 2, 3), y = c(1L, 0L)), "label 0")
  expect_error(ce(z = matrix(0, 2, 3), y = c(1L, 0L)), "index_base = 0")
  expect_error(ce(z = matrix(0, 2, 3), y = c(4L, 1L)), class = "symnet_index_error")
  # ignore_index is compared with the labels as given
  ci <- sym_compile(sym_softmax_cross_entropy(z, y, reduction = "none", ignore_index = 0))
  expect_equal(ci(z = matrix(0, 2, 3), y = c(0L, 1L))[1], 0)
})

test_that("missing and hostile index arguments are classed errors without warnings", {
  x <- sym_var("x", c(3, 2))
  expect_error(sym_gather(x), class = "symnet_error")
  expect_error(sym_gather_elements(x), class = "symnet_error")
  expect_error(sym_scatter_elements(x, matrix(1L, 1, 2)), class = "symnet_error")
  expect_error(sym_one_hot(depth = 3), class = "symnet_error")
  expect_no_warning(g <- sym_gather(x, 1e10))
  expect_error(sym_compile(g)(x = matrix(0, 3, 2)), class = "symnet_index_error")
  expect_error(sym_gather(x, 1e300), class = "symnet_error")
})
