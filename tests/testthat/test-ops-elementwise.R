test_that("every unary math op matches base R", {
  x <- sym_var("x", 5, dtype = "float64")
  v <- c(0.1, 0.3, 0.5, 0.7, 0.9)
  ref <- list(neg = -v, abs = abs(v), sign = sign(v), reciprocal = 1 / v, exp = exp(v),
              log = log(v), log1p = log1p(v), expm1 = expm1(v), sqrt = sqrt(v),
              rsqrt = 1 / sqrt(v), square = v^2, sin = sin(v), cos = cos(v), tan = tan(v),
              asin = asin(v), acos = acos(v), atan = atan(v), sinh = sinh(v), cosh = cosh(v),
              tanh = tanh(v), erf = 2 * pnorm(v * sqrt(2)) - 1, floor = floor(v * 3),
              ceil = ceiling(v * 3), round = round(v * 3))
  fns <- list(neg = sym_neg, abs = sym_abs, sign = sym_sign, reciprocal = sym_reciprocal,
              exp = sym_exp, log = sym_log, log1p = sym_log1p, expm1 = sym_expm1, sqrt = sym_sqrt,
              rsqrt = sym_rsqrt, square = sym_square, sin = sym_sin, cos = sym_cos,
              tan = sym_tan, asin = sym_asin, acos = sym_acos, atan = sym_atan, sinh = sym_sinh,
              cosh = sym_cosh, tanh = sym_tanh, erf = sym_erf,
              floor = function(x) sym_floor(x * 3), ceil = function(x) sym_ceil(x * 3),
              round = function(x) sym_round(x * 3))
  outs <- lapply(fns, function(fn) fn(x))
  r <- sym_compile(outs)(x = v)
  for (nm in names(ref)) expect_equal(r[[nm]], ref[[nm]], tolerance = 1e-10, info = nm)
})

test_that("round rounds half to even", {
  x <- sym_var("x", 4)
  expect_equal(run_sym(sym_round(x), x = c(0.5, 1.5, 2.5, -0.5)), round(c(0.5, 1.5, 2.5, -0.5)))
})

test_that("isnan and isinf return bools", {
  x <- sym_var("x", 4)
  v <- c(1, NaN, Inf, -Inf)
  r <- sym_compile(list(n = sym_isnan(x), i = sym_isinf(x)))(x = v)
  expect_identical(r$n, is.nan(v))
  expect_identical(r$i, is.infinite(v))
})

test_that("activations match their formulas", {
  x <- sym_var("x", 6, dtype = "float64")
  v <- c(-3, -1, -0.2, 0.2, 1, 3)
  sig <- 1 / (1 + exp(-v))
  r <- sym_compile(list(
    relu = sym_relu(x), sigmoid = sym_sigmoid(x), softplus = sym_softplus(x),
    softsign = sym_softsign(x), hard = sym_hard_sigmoid(x), hard2 = sym_hard_sigmoid(x, 0.5, 0.1),
    leaky = sym_leaky_relu(x), leaky2 = sym_leaky_relu(x, 0.3), elu = sym_elu(x, 0.7),
    selu = sym_selu(x), celu = sym_celu(x, 2), gelu = sym_gelu(x),
    gelu_tanh = sym_gelu(x, "tanh")))(x = v)
  expect_equal(r$relu, pmax(v, 0))
  expect_equal(r$sigmoid, sig)
  expect_equal(r$softplus, log1p(exp(v)))
  expect_equal(r$softsign, v / (1 + abs(v)))
  expect_equal(r$hard, pmax(0, pmin(1, 0.2 * v + 0.5)))
  expect_equal(r$hard2, pmax(0, pmin(1, 0.5 * v + 0.1)))
  expect_equal(r$leaky, ifelse(v > 0, v, 0.01 * v))
  expect_equal(r$leaky2, ifelse(v > 0, v, 0.3 * v))
  expect_equal(r$elu, ifelse(v > 0, v, 0.7 * expm1(v)))
  a <- 1.6732632423543772
  g <- 1.0507009873554805
  expect_equal(r$selu, g * ifelse(v > 0, v, a * expm1(v)))
  expect_equal(r$celu, pmax(0, v) + pmin(0, 2 * expm1(v / 2)))
  expect_equal(r$gelu, v * pnorm(v))
  expect_equal(r$gelu_tanh, 0.5 * v * (1 + tanh(sqrt(2 / pi) * (v + 0.044715 * v^3))))
  expect_error(sym_celu(x, 0), class = "symnet_value_error")
  expect_error(sym_leaky_relu(x, NA), class = "symnet_value_error")
})

test_that("binary ops broadcast like NumPy", {
  a <- sym_var("a", c(2, 3))
  b <- sym_var("b", c(1, 3))
  ma <- matrix(c(1, 2, 3, 4, 5, 6), 2, 3)
  mb <- matrix(c(2, 3, 4), 1, 3)
  bb <- mb[rep(1, 2), ]
  r <- sym_compile(list(add = sym_add(a, b), sub = sym_sub(a, b), mul = sym_mul(a, b),
                        div = sym_div(a, b), pow = sym_pow(a, b), mod = sym_mod(a, b),
                        fmod = sym_mod(-a, b, fmod = TRUE), rmod = sym_mod(-a, b),
                        min = sym_minimum(a, b), max = sym_maximum(a, 3.5)))(a = ma, b = mb)
  expect_close(r$add, ma + bb)
  expect_close(r$sub, ma - bb)
  expect_close(r$mul, ma * bb)
  expect_close(r$div, ma / bb)
  expect_close(r$pow, ma^bb)
  expect_close(r$mod, ma %% bb)
  expect_close(r$fmod, -ma - trunc(-ma / bb) * bb)
  expect_close(r$rmod, -ma %% bb)
  expect_close(r$min, pmin(ma, bb))
  expect_close(r$max, pmax(ma, 3.5))
})

test_that("comparison and logical ops", {
  a <- sym_var("a", 4)
  p <- sym_var("p", 4, dtype = "bool")
  q <- sym_var("q", 4, dtype = "bool")
  va <- c(1, 2, 3, 4)
  vp <- c(TRUE, TRUE, FALSE, FALSE)
  vq <- c(TRUE, FALSE, TRUE, FALSE)
  r <- sym_compile(list(eq = sym_equal(a, 2), ne = sym_not_equal(a, 2), lt = sym_less(a, 2),
                        le = sym_less_equal(a, 2), gt = sym_greater(a, 2),
                        ge = sym_greater_equal(a, 2), and = sym_logical_and(p, q),
                        or = sym_logical_or(p, q), xor = sym_logical_xor(p, q),
                        not = sym_logical_not(p)))(a = va, p = vp, q = vq)
  expect_identical(r$eq, va == 2)
  expect_identical(r$ne, va != 2)
  expect_identical(r$lt, va < 2)
  expect_identical(r$le, va <= 2)
  expect_identical(r$gt, va > 2)
  expect_identical(r$ge, va >= 2)
  expect_identical(r$and, vp & vq)
  expect_identical(r$or, vp | vq)
  expect_identical(r$xor, xor(vp, vq))
  expect_identical(r$not, !vp)
})

test_that("where, cast and clip", {
  x <- sym_var("x", 5)
  v <- c(-2.7, -0.5, 0, 1.5, 3.2)
  r <- sym_compile(list(w = sym_where(x > 0, x, 0), w2 = sym_where(x, 1, -1),
                        i = sym_cast(x, "int32"), b = sym_cast(x, "bool"),
                        d = sym_cast(x, "float64"), u = sym_cast(sym_abs(x), "uint8"),
                        l = sym_cast(x, "int64"),
                        c = sym_clip(x, -1, 1), lo = sym_clip(x, min = 0),
                        hi = sym_clip(x, max = 0)))(x = v)
  expect_equal(r$w, ifelse(v > 0, v, 0))
  expect_equal(r$w2, ifelse(v != 0, 1, -1))
  expect_identical(r$i, as.integer(v))
  expect_identical(r$b, v != 0)
  expect_equal(r$d, v, tolerance = 1e-6)
  expect_identical(r$u, as.integer(abs(v)))
  expect_equal(r$l, trunc(v))
  expect_equal(r$c, pmin(pmax(v, -1), 1), tolerance = 1e-6)
  expect_equal(r$lo, pmax(v, 0), tolerance = 1e-6)
  expect_equal(r$hi, pmin(v, 0), tolerance = 1e-6)
  expect_error(sym_cast(x, "string"), class = "symnet_dtype_error")
})

test_that("identity passes values and stop_gradient blocks gradients", {
  x <- sym_var("x", integer())
  y <- x * sym_stop_gradient(x)
  r <- sym_compile(list(id = sym_identity(x, name = "same"), g = sym_grad(y, x),
                        g2 = sym_grad(x * x, x)))(x = 3)
  expect_equal(r$id, 3)
  expect_equal(r$g, 3)
  expect_equal(r$g2, 6)
})

test_that("elementwise gradients match finite differences", {
  x <- sym_var("x", 4, dtype = "float64")
  v <- c(0.3, 0.6, 1.1, 1.7)
  cases <- list(
    exp = list(sym_exp, exp), log = list(sym_log, log), sqrt = list(sym_sqrt, sqrt),
    tanh = list(sym_tanh, tanh), sigmoid = list(sym_sigmoid, function(z) 1 / (1 + exp(-z))),
    softplus = list(sym_softplus, function(z) log1p(exp(z))),
    sin = list(sym_sin, sin), atan = list(sym_atan, atan),
    gelu = list(sym_gelu, function(z) z * pnorm(z)),
    elu = list(function(z) sym_elu(z - 1), function(z) ifelse(z > 1, z - 1, expm1(z - 1))),
    rsqrt = list(sym_rsqrt, function(z) 1 / sqrt(z)),
    pow = list(function(z) z^1.7, function(z) z^1.7)
  )
  for (nm in names(cases)) {
    fs <- cases[[nm]][[1]]
    fr <- cases[[nm]][[2]]
    g <- run_sym(sym_grad(sum(fs(x) * c(1, 2, 3, 4)), x), x = v)
    expect_equal(g, fd_grad(function(z) sum(fr(z) * c(1, 2, 3, 4)), v), tolerance = 1e-6,
                 info = nm)
  }
})
