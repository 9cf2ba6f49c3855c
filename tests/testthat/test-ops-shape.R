test_that("reshape is row-major and infers one size", {
  x <- sym_var("x", c(2, 3))
  m <- matrix(1:6, 2, 3)
  r <- sym_compile(list(a = sym_reshape(x, c(3, 2)), b = sym_reshape(x, c(-1, 2)),
                        c = sym_reshape(x, 6), d = sym_reshape(x, c(NA, 3, 1)),
                        e = sym_reshape(x, c(0, -1))))(x = m)
  expect_close(r$a, rm_reshape(m, c(3, 2)))
  expect_close(r$a, matrix(c(1, 5, 4, 3, 2, 6), 3, 2))
  expect_close(r$b, rm_reshape(m, c(3, 2)))
  expect_close(r$c, c(1, 3, 5, 2, 4, 6))
  expect_close(r$d, rm_reshape(m, c(2, 3, 1)))
  expect_close(r$e, m)
  expect_error(sym_reshape(x, c(-1, -1)), class = "symnet_value_error")
  expect_error(sym_reshape(x, c(4, 2)), class = "symnet_shape_error")
})

test_that("reshape with an unknown batch size", {
  x <- sym_var("x", c(NA, 2, 3))
  y <- sym_reshape(x, c(-1, 6))
  expect_identical(dim(y), c(NA, 6L))
  a <- array(1:24, c(4, 2, 3))
  expect_close(run_sym(y, x = a), rm_reshape(a, c(4, 6)))
})

test_that("flatten keeps the batch dimension by default", {
  x <- sym_var("x", c(NA, 2, 3))
  expect_identical(dim(sym_flatten(x)), c(NA, 6L))
  expect_identical(dim(sym_flatten(sym_var("z", c(2, 3, 4)), axis = 3)), c(6L, 4L))
  expect_identical(dim(sym_flatten(sym_var("z", c(2, 3, 4)), axis = 1)), c(1L, 24L))
  a <- array(1:12, c(2, 2, 3))
  expect_close(run_sym(sym_flatten(x), x = a), rm_reshape(a, c(2, 6)))
  expect_error(sym_flatten(x, axis = 5), class = "symnet_value_error")
})

test_that("transpose permutes axes like aperm", {
  x <- sym_var("x", c(2, 3, 4))
  a <- array(1:24, c(2, 3, 4))
  r <- sym_compile(list(rev = sym_transpose(x), p = sym_transpose(x, c(2, 3, 1))))(x = a)
  expect_close(r$rev, aperm(a))
  expect_close(r$p, aperm(a, c(2, 3, 1)))
  expect_error(sym_transpose(x, c(1, 2)), class = "symnet_value_error")
})

test_that("squeeze and unsqueeze", {
  x <- sym_var("x", c(3, 1, 2, 1))
  expect_identical(dim(sym_squeeze(x)), c(3L, 2L))
  expect_identical(dim(sym_squeeze(x, 2)), c(3L, 2L, 1L))
  expect_identical(dim(sym_squeeze(x, -1)), c(3L, 1L, 2L))
  v <- sym_var("v", 3)
  expect_identical(dim(sym_unsqueeze(v, 1)), c(1L, 3L))
  expect_identical(dim(sym_unsqueeze(v, -1)), c(3L, 1L))
  expect_identical(dim(sym_unsqueeze(v, c(1, 3))), c(1L, 3L, 1L))
  expect_error(sym_squeeze(x, 1), class = "symnet_shape_error")
  a <- array(1:6, c(3, 1, 2, 1))
  expect_close(run_sym(sym_squeeze(x), x = a), matrix(1:6, 3, 2))
})

test_that("expand broadcasts", {
  x <- sym_var("x", c(1, 3))
  r <- run_sym(sym_expand(x, c(2, 3)), x = matrix(1:3, 1))
  expect_close(r, matrix(1:3, 2, 3, byrow = TRUE))
  expect_identical(dim(sym_expand(sym_var("v", 3), c(4, 2, 3))), c(4L, 2L, 3L))
  expect_error(sym_expand(x, c(2, 4)), class = "symnet_shape_error")
})

test_that("slice takes R-style inclusive ranges, negatives and steps", {
  x <- sym_var("x", c(5, 4))
  m <- matrix(1:20, 5, 4)
  r <- sym_compile(list(
    a = sym_slice(x, 2, 4), b = sym_slice(x, -2, NULL), c = sym_slice(x, NULL, -2),
    d = sym_slice(x, 1, -1, step = 2), e = sym_slice(x, NULL, NULL, step = -1),
    f = sym_slice(x, 4, 2, step = -1), g = sym_slice(x, c(2, 3), c(3, 4)),
    h = sym_slice(x, 2, 3, axis = 2), i = sym_slice(x, -1, 1, step = -2),
    j = sym_slice(x, 3, 99), k = sym_slice(x, -2, -1, axis = -1)))(x = m)
  expect_close(r$a, m[2:4, ])
  expect_close(r$b, m[4:5, ])
  expect_close(r$c, m[1:4, ])
  expect_close(r$d, m[c(1, 3, 5), ])
  expect_close(r$e, m[5:1, ])
  expect_close(r$f, m[4:2, ])
  expect_close(r$g, m[2:3, 3:4])
  expect_close(r$h, m[, 2:3])
  expect_close(r$i, m[c(5, 3, 1), ])
  expect_close(r$j, m[3:5, ])
  expect_close(r$k, m[, 3:4])
  expect_error(sym_slice(x, 1, 2, step = 0), class = "symnet_value_error")
  expect_error(sym_slice(x, c(1, 1, 1), 2), class = "symnet_value_error")
})

test_that("concat, stack and split", {
  a <- sym_var("a", c(2, 3))
  b <- sym_var("b", c(1, 3))
  ma <- matrix(1:6, 2, 3)
  mb <- matrix(7:9, 1, 3)
  parts <- sym_split(a, c(1, 2), axis = 2)
  halves <- sym_split(sym_var("v", 5), n = 2)
  expect_length(parts, 2)
  r <- sym_compile(list(rows = sym_concat(a, b), cols = sym_concat(list(a, a), axis = 2),
                        st1 = sym_stack(a, a * 2), st3 = sym_stack(a, a, axis = -1),
                        p1 = parts[[1]], p2 = parts[[2]], h1 = halves[[1]], h2 = halves[[2]],
                        num = sym_concat(a, 0 * a + 1)))(a = ma, b = mb, v = 1:5)
  expect_close(r$rows, rbind(ma, mb))
  expect_close(r$cols, cbind(ma, ma))
  expect_close(r$st1, aperm(array(c(ma, 2 * ma), c(2, 3, 2)), c(3, 1, 2)))
  expect_close(r$st3, array(c(ma, ma), c(2, 3, 2)))
  expect_close(r$p1, ma[, 1, drop = FALSE])
  expect_close(r$p2, ma[, 2:3])
  expect_close(r$h1, 1:3)
  expect_close(r$h2, 4:5)
  expect_close(r$num, rbind(ma, matrix(1, 2, 3)))
  expect_error(sym_split(a, c(1, 1), axis = 2), class = "symnet_shape_error")
  expect_error(sym_split(a), class = "symnet_value_error")
  expect_error(sym_stack(a, b), class = "symnet_shape_error")
})

test_that("tile and pad", {
  x <- sym_var("x", c(2, 2))
  m <- matrix(1:4, 2)
  r <- sym_compile(list(t = sym_tile(x, c(2, 3)), z = sym_pad(x, c(1, 1), axis = 2),
                        c = sym_pad(x, c(1, 0, 0, 2), value = 9),
                        e = sym_pad(x, c(1, 1, 1, 1), mode = "edge"),
                        rf = sym_pad(x, c(1, 1), mode = "reflect", axis = 1),
                        crop = sym_pad(x, c(0, -1, 0, 0))))(x = m)
  expect_close(r$t, kronecker(matrix(1, 2, 3), m))
  expect_close(r$z, cbind(0, m, 0))
  expect_close(r$c, rbind(9, cbind(m, 9, 9)))
  expect_close(r$e, m[c(1, 1, 2, 2), c(1, 1, 2, 2)])
  expect_close(r$rf, m[c(2, 1, 2, 1), ])
  expect_close(r$crop, m[1, , drop = FALSE])
  expect_error(sym_tile(x, 2), class = "symnet_value_error")
  expect_error(sym_pad(x, c(1, 1, 1)), class = "symnet_value_error")
  expect_error(sym_pad(x, c(1, 1), mode = "wrap"), class = "symnet_value_error")
})

test_that("shape op gradients match finite differences", {
  x <- sym_var("x", c(3, 4), dtype = "float64")
  set.seed(3)
  m <- matrix(rnorm(12), 3, 4)
  w <- array(seq_len(24) / 7, c(2, 3, 4))
  cases <- list(
    reshape = list(function(z) sym_reshape(z, c(4, 3)) * matrix(1:12, 4, 3),
                   function(z) rm_reshape(z, c(4, 3)) * matrix(1:12, 4, 3)),
    transpose = list(function(z) t(z) * matrix(1:12, 4, 3), function(z) t(z) * matrix(1:12, 4, 3)),
    slice = list(function(z) sym_slice(z, 3, 1, step = -2) * 3, function(z) z[c(3, 1), ] * 3),
    concat = list(function(z) sym_concat(z, z * 2, axis = 2), function(z) cbind(z, 2 * z)),
    pad = list(function(z) sym_pad(z, c(1, 2), mode = "reflect", axis = 2) * matrix(1:3, 3, 1),
               function(z) z[, c(2, 1, 2, 3, 4, 3, 2)] * (1:3)),
    tile = list(function(z) sym_tile(z, c(1, 2)) * matrix(1:3, 3, 1), function(z) cbind(z, z) * (1:3)),
    expand = list(function(z) sym_expand(z, c(2, 3, 4)) * w,
                  function(z) aperm(array(rep(aperm(z), 2), c(4, 3, 2))) * w),
    split = list(function(z) sym_split(z, c(1, 3), axis = 2)[[2]]^3, function(z) z[, 2:4]^3),
    stack = list(function(z) sym_stack(z, z^2), function(z) aperm(array(c(z, z^2), c(3, 4, 2)), c(3, 1, 2)))
  )
  for (nm in names(cases)) {
    g <- run_sym(sym_grad(sum(sym_sin(cases[[nm]][[1]](x))), x), x = m)
    expect_equal(g, fd_grad(function(z) sum(sin(cases[[nm]][[2]](z))), m), tolerance = 1e-6,
                 info = nm)
  }
})
