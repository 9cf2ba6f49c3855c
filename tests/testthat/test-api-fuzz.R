# A small deterministic subset of tools/api-fuzz.R, in process: hostile
# values for the arguments whose checks were fixed (the shared .check_*
# helpers and the functions using them). Every error must be a classed
# symnet_error, and no call may warn on its way to the error.

hostile <- list(
  NULL, NA, NA_character_, Inf, -1, 0.5, 1e10, -1e10, 2^31, "abc", character(0), list(1, "a"),
  new.env(), function(x) x, 1i
)

# Calls f with `arg` set to each hostile value (and `base` for the other
# arguments); every call must succeed or fail with a symnet_error, silently.
expect_hostile_classed <- function(f, arg, base = list(), label = deparse(substitute(f))) {
  for (i in seq_along(hostile)) {
    args <- base
    args[arg] <- list(hostile[[i]])
    warned <- NULL
    res <- tryCatch(withCallingHandlers(
      { do.call(f, args, quote = TRUE); NULL },
      warning = function(w) { warned <<- conditionMessage(w); invokeRestart("muffleWarning") }),
      error = function(e) e)
    what <- sprintf("%s(%s = %s)", label, arg, paste(deparse(hostile[[i]], nlines = 1), collapse = ""))
    if (!is.null(res)) {
      expect_true(inherits(res, "symnet_error"),
                  info = paste0(what, " gave an unclassed error: ", conditionMessage(res)))
    }
    expect_null(warned, info = paste0(what, " warned: ", warned %||% ""))
  }
}

`%||%` <- function(a, b) if (is.null(a)) b else a

test_that("whole-number arguments reject hostile values with classed errors", {
  x <- sym_var("x", c(2, 3))
  img <- sym_var("img", c(NA, 1, 5, 5))
  expect_hostile_classed(sym_eye, "n")
  expect_hostile_classed(sym_fill, "shape", list(value = 1))
  expect_hostile_classed(sym_reshape, "shape", list(x = x))
  expect_hostile_classed(sym_sum, "axis", list(x = x))
  expect_hostile_classed(sym_flatten, "axis", list(x = x))
  expect_hostile_classed(sym_random_uniform, "seed", list(shape = c(2, 2)))
  expect_hostile_classed(sym_param, "shape", list(name = "fz_p"))
  expect_hostile_classed(sym_param, "seed", list(name = "fz_p", shape = c(2, 2)))
  expect_hostile_classed(layer_dense, "units", list(x = x))
  expect_hostile_classed(layer_conv2d, "filters", list(x = img, kernel_size = 3))
  expect_hostile_classed(initializer_glorot_uniform, "seed")
  expect_hostile_classed(symnet_threads, "n")
  symnet_threads(0)
})

test_that("a size beyond the integer range is an error, not an unknown dimension", {
  expect_error(sym_var("a", c(3e9, 2)), class = "symnet_error")
  expect_error(sym_zeros(c(2^31, 1)), class = "symnet_error")
  expect_error(sym_eye(1e10), "whole number", class = "symnet_error")
  expect_error(sym_param("big", c(1e5, 1e5)), "elements", class = "symnet_error")
})

test_that("choice arguments describe non-string values without failing", {
  x <- sym_var("x", c(2, 3))
  lbl <- sym_const(c(1L, 2L))
  expect_hostile_classed(sym_gelu, "approximate", list(x = x))
  expect_hostile_classed(sym_pad, "mode", list(x = x, pads = c(1, 1)))
  expect_hostile_classed(sym_softmax_cross_entropy, "reduction", list(logits = x, labels = lbl))
  expect_error(sym_gelu(x, approximate = function(x) x), "function", class = "symnet_value_error")
  expect_error(sym_gelu(x, approximate = new.env()), "environment", class = "symnet_value_error")
})

test_that("dtype, flag, number and string arguments", {
  x <- sym_var("x", c(2, 3))
  expect_hostile_classed(sym_cast, "dtype", list(x = x))
  expect_hostile_classed(sym_var, "dtype", list(name = "fz_v", shape = 2))
  expect_hostile_classed(sym_fill, "value", list(shape = 2))
  expect_hostile_classed(sym_range, "to", list(from = 1))
  expect_hostile_classed(sym_gemm, "alpha", list(a = x, b = sym_var("w", c(3, 2))))
  # the argument `c` may be a function without shadowing base::c()
  expect_hostile_classed(sym_gemm, "c", list(a = x, b = sym_var("w", c(3, 2))))
})

test_that("missing required arguments are classed errors naming the argument", {
  x <- sym_var("x", c(2, 3))
  expect_error(sym_add(x), "`b` is missing", class = "symnet_error")
  expect_error(sym_mul(b = x), "`a` is missing", class = "symnet_error")
  expect_error(sym_where(x > 0, x), "`no` is missing", class = "symnet_error")
  expect_error(sym_cast(x), "`dtype` is missing", class = "symnet_error")
  expect_error(sym_reshape(x), "`shape` is missing", class = "symnet_error")
  expect_error(sym_fill(value = 1), "`shape` is missing", class = "symnet_error")
  expect_error(sym_eye(), "`n` is missing", class = "symnet_error")
  expect_error(sym_param("p"), "`shape` is missing", class = "symnet_error")
  expect_error(sym_range(1), "`to` is missing", class = "symnet_error")
})
