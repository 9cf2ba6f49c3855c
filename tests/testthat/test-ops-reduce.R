test_that("reductions match base R over every axis choice", {
  x <- sym_var("x", c(2, 3, 4), dtype = "float64")
  set.seed(1)
  a <- array(runif(24, 0.5, 2), c(2, 3, 4))
  red <- list(sum = list(sym_sum, sum), mean = list(sym_mean, mean), prod = list(sym_prod, prod),
              max = list(sym_max, max), min = list(sym_min, min),
              l1 = list(sym_l1, function(v) sum(abs(v))), l2 = list(sym_l2, function(v) sqrt(sum(v^2))),
              lse = list(sym_logsumexp, function(v) log(sum(exp(v)))),
              var = list(sym_variance, function(v) var(as.vector(v))))
  axes <- list(NULL, 1, 2, 3, -1, c(1, 3), c(2, 3))
  outs <- list()
  refs <- list()
  for (nm in names(red)) {
    for (k in seq_along(axes)) {
      ax <- axes[[k]]
      key <- paste(nm, k)
      outs[[key]] <- red[[nm]][[1]](x, axis = ax)
      keep <- if (is.null(ax)) integer() else setdiff(1:3, ifelse(ax < 0, 3 + ax + 1, ax))
      refs[[key]] <- if (length(keep)) apply(a, keep, red[[nm]][[2]]) else red[[nm]][[2]](a)
    }
  }
  r <- sym_compile(outs)(x = a)
  for (key in names(refs)) expect_close(r[[key]], refs[[key]], tolerance = 1e-10)
})

test_that("keepdims keeps reduced axes with size 1", {
  x <- sym_var("x", c(NA, 3))
  s <- sym_sum(x, axis = 2, keepdims = TRUE)
  expect_identical(dim(s), c(NA, 1L))
  m <- matrix(1:6, 2, 3)
  centred <- x - sym_mean(x, axis = 2, keepdims = TRUE)
  r <- sym_compile(list(s = s, c = centred))(x = m)
  expect_close(r$s, matrix(rowSums(m), 2, 1))
  expect_close(r$c, m - rowMeans(m))
})

test_that("variance correction", {
  x <- sym_var("x", 5, dtype = "float64")
  v <- c(1, 4, 2, 8, 5)
  r <- sym_compile(list(s = sym_variance(x), p = sym_variance(x, correction = 0)))(x = v)
  expect_equal(r$s, var(v))
  expect_equal(r$p, mean((v - mean(v))^2))
})

test_that("integer reductions stay integer", {
  i <- sym_var("i", c(2, 3), dtype = "int32")
  m <- matrix(1:6, 2)
  r <- sym_compile(list(s = sym_sum(i, 1), mx = sym_max(i)))(i = m)
  expect_identical(r$s, as.integer(colSums(m)))
  expect_identical(r$mx, 6L)
  expect_error(sym_mean(i), class = "symnet_dtype_error")
})

test_that("argmax and argmin are 1-based by default", {
  x <- sym_var("x", c(NA, 3))
  m <- rbind(c(0.1, 0.7, 0.2), c(0.9, 0.05, 0.05), c(0.3, 0.3, 0.4))
  r <- sym_compile(list(amax = sym_argmax(x), amin = sym_argmin(x), col = sym_argmax(x, axis = 1),
                        zero = sym_argmax(x, index_base = 0),
                        keep = sym_argmax(x, keepdims = TRUE)))(x = m)
  expect_equal(r$amax, apply(m, 1, which.max))
  expect_equal(r$amin, apply(m, 1, which.min))
  expect_equal(r$col, apply(m, 2, which.max))
  expect_equal(r$zero, apply(m, 1, which.max) - 1)
  expect_equal(dim(r$keep), c(3L, 1L))
  expect_identical(sym_info(sym_argmax(x))$dtype, "int64")
  expect_error(sym_argmax(x, index_base = 2), class = "symnet_value_error")
})

test_that("cumsum along axes, exclusive and reversed", {
  x <- sym_var("x", c(2, 3))
  m <- matrix(1:6, 2, 3)
  r <- sym_compile(list(last = sym_cumsum(x), first = sym_cumsum(x, axis = 1),
                        ex = sym_cumsum(x, exclusive = TRUE),
                        rev = sym_cumsum(x, reverse = TRUE)))(x = m)
  expect_close(r$last, t(apply(m, 1, cumsum)))
  expect_close(r$first, apply(m, 2, cumsum))
  expect_close(r$ex, t(apply(m, 1, function(v) cumsum(v) - v)))
  expect_close(r$rev, t(apply(m, 1, function(v) rev(cumsum(rev(v))))))
})

test_that("reduction gradients match finite differences", {
  x <- sym_var("x", c(2, 3), dtype = "float64")
  set.seed(2)
  m <- matrix(runif(6, 0.5, 1.5), 2, 3)
  w <- matrix(1:6, 2, 3)
  cases <- list(
    sum = list(function(z) sym_sum(z * w, axis = 2), function(z) rowSums(z * w)),
    mean = list(function(z) sym_mean(z, axis = 1), function(z) colMeans(z)),
    max = list(function(z) sym_max(z, axis = 2), function(z) apply(z, 1, max)),
    prod = list(function(z) sym_prod(z, axis = 2), function(z) apply(z, 1, prod)),
    l2 = list(function(z) sym_l2(z, axis = 1), function(z) sqrt(colSums(z^2))),
    lse = list(function(z) sym_logsumexp(z, axis = 2), function(z) log(rowSums(exp(z)))),
    var = list(function(z) sym_variance(z, axis = 2), function(z) apply(z, 1, var)),
    cumsum = list(function(z) sym_cumsum(z) * w, function(z) t(apply(z, 1, cumsum)) * w)
  )
  for (nm in names(cases)) {
    g <- run_sym(sym_grad(sum(cases[[nm]][[1]](x)^2), x), x = m)
    expect_equal(g, fd_grad(function(z) sum(cases[[nm]][[2]](z)^2), m), tolerance = 1e-6, info = nm)
  }
})
