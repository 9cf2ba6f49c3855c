test_that(".sym_call runs its body on the arguments, lifting outer values", {
  x <- sym_var("x", c(NA, 2))
  s <- sym_var("s", integer())
  p <- sym_var("p", c(NA, 2))
  # exp(p) * s: s is an outer value, passed to the body as an extra argument
  out <- symnet:::.sym_call(p, list(exp(p) * s, p + 1), x, name = "c1")
  expect_length(out, 2)
  expect_true(is_symbol(out[[1]]))
  f <- sym_compile(list(a = out[[1]], b = out[[2]]))
  xv <- matrix(c(0, 1, -1, 2), 2, 2)
  r <- f(x = xv, s = 3)
  expect_equal(r$a, exp(xv) * 3, tolerance = 1e-6)
  expect_equal(r$b, xv + 1, tolerance = 1e-6)
  # gradients through the call, with respect to the argument and to the lifted value
  g <- sym_compile(sym_grad(sum(out[[1]]), list(x = x, s = s)))(x = xv, s = 3)
  expect_equal(g$x, exp(xv) * 3, tolerance = 1e-6)
  expect_equal(g$s, sum(exp(xv)), tolerance = 1e-5)
  expect_error(symnet:::.sym_call(p, p, list(x, x)), class = "symnet_error")
})
