# R operators and group generics on symbols. These follow R's type rules
# (integers divide to floats, logicals count as 0/1, mixed types promote),
# while the sym_*() ops are the engine's, which need matching types.

.dtype_rank <- c(bool = 0L, uint8 = 1L, int32 = 2L, int64 = 3L,
                 float32 = 4L, float16 = 4L, bfloat16 = 4L, float64 = 5L)

.promote_dtype <- function(dts) names(.dtype_rank)[match(max(.dtype_rank[dts]), .dtype_rank)]

.cast_to <- function(x, dt) if (x$dtype == dt) x else sym_cast(x, dt)

# R value next to a symbol: the dtype it becomes before promotion.
.operand_dtype <- function(value, sym_dt) {
  if (is.logical(value)) return(if (sym_dt == "bool") "bool" else sym_dt)
  whole <- .is_whole(value[!is.na(value)]) && !anyNA(value)
  if (.is_float_dtype(sym_dt)) return(sym_dt)
  if (is.integer(value) || whole) return(if (sym_dt == "bool") "int32" else sym_dt)
  "float32"
}

# Both operands as symbols of one dtype (R values converted, types promoted).
.operator_inputs <- function(a, b, call = parent.frame()) {
  if (!is_symbol(a)) {
    .check_value(a, "e1", call = call)
    a <- sym_const(a, dtype = .operand_dtype(a, b$dtype))
  }
  if (!is_symbol(b)) {
    .check_value(b, "e2", call = call)
    b <- sym_const(b, dtype = .operand_dtype(b, a$dtype))
  }
  if (a$dtype != b$dtype) {
    dt <- .promote_dtype(c(a$dtype, b$dtype))
    a <- .cast_to(a, dt)
    b <- .cast_to(b, dt)
  }
  list(a, b)
}

.as_bool <- function(x) {
  if (!is_symbol(x)) return(sym_const(as.logical(x), dtype = "bool"))
  if (x$dtype == "bool") x else sym_not_equal(x, 0)
}

# Integers and bools for arithmetic: bool/uint8 compute in int32.
.arith_type <- function(x) if (x$dtype %in% c("bool", "uint8")) sym_cast(x, "int32") else x
# Float-only math on integer input computes in float32.
.float_type <- function(x) if (.is_float_dtype(x$dtype)) x else sym_cast(x, "float32")

#' Operators and math functions on symbols
#'
#' Symbols work with R's operators and math functions, mixing freely with R
#' numbers, vectors and arrays (which become constants of the symbol's
#' element type):
#' * arithmetic `+ - * / ^ %% %/%` (with broadcasting, see [sym_arith()]);
#' * comparisons `== != < <= > >=` and logic `& | !`, returning bool symbols;
#' * `%*%`, the matrix product ([sym_matmul()]);
#' * the Math group: `abs`, `sign`, `sqrt`, `exp`, `log` (with `base`),
#'   `log2`, `log10`, `log1p`, `expm1`, `sin`, `cos`, `tan`, `asin`, `acos`,
#'   `atan`, `sinh`, `cosh`, `tanh`, `asinh`, `acosh`, `atanh`, `floor`,
#'   `ceiling`, `trunc`, `round` (with `digits`), and `cumsum` (rank 1);
#' * the Summary group: `sum`, `prod`, `max`, `min`, `all`, `any`, `range`,
#'   reducing over all elements to a scalar symbol; and `mean()`;
#' * `t()` and `aperm()` ([sym_transpose()]), and indexing `x[i, j]`
#'   (see [sym_slice()]).
#'
#' Types follow R: integer symbols divided with `/` or raised with `^` give
#' float32, bool symbols count as 0/1 in arithmetic, and mixed element types
#' promote (bool < uint8 < int32 < int64 < float32 < float64).
#'
#' @param e1,e2,x Symbols or R values.
#' @param ... Further arguments (`base` for `log()`, `digits` for
#'   `round()`; symbols to reduce for the Summary group).
#' @param na.rm Ignored (symbols have no missing values).
#' @return A symbol.
#' @examples
#' x <- sym_var("x", c(2, 3))
#' y <- 2 * x^2 + 1
#' z <- sum(exp(-abs(x))) / 6
#' b <- x > 0 & x < 3
#' f <- sym_compile(list(y = y, z = z, b = b))
#' f(x = matrix(c(-1, 0, 1, 2, 3, 4), 2, 3))
#' @name symnet-operators
#' @aliases Ops.symnet_symbol Math.symnet_symbol Summary.symnet_symbol
NULL

#' @rdname symnet-operators
#' @export
Ops.symnet_symbol <- function(e1, e2) {
  gen <- .Generic
  if (missing(e2)) {
    return(switch(gen,
      "-" = sym_neg(.arith_type(e1)),
      "+" = e1,
      "!" = sym_logical_not(.as_bool(e1)),
      sym_abort("Unary {.code {gen}} is not defined for symbols.", kind = "unsupported")))
  }
  if (gen %in% c("&", "|")) {
    a <- .as_bool(e1)
    b <- .as_bool(e2)
    return(if (gen == "&") sym_logical_and(a, b) else sym_logical_or(a, b))
  }
  if (gen == "^" && is_symbol(e1) && .is_float_dtype(e1$dtype) && !is_symbol(e2) &&
      is.numeric(e2) && length(e2) == 1 && is.null(dim(e2)) && identical(as.double(e2), 2)) {
    return(sym_square(e1))
  }
  ab <- .operator_inputs(e1, e2)
  a <- ab[[1]]
  b <- ab[[2]]
  switch(gen,
    "==" = sym_equal(a, b),
    "!=" = sym_not_equal(a, b),
    "<" = sym_less(a, b),
    "<=" = sym_less_equal(a, b),
    ">" = sym_greater(a, b),
    ">=" = sym_greater_equal(a, b),
    {
      a <- .arith_type(a)
      b <- .arith_type(b)
      switch(gen,
        "+" = sym_add(a, b),
        "-" = sym_sub(a, b),
        "*" = sym_mul(a, b),
        "/" = sym_div(.float_type(a), .float_type(b)),
        "^" = sym_pow(.float_type(a), .float_type(b)),
        "%%" = sym_mod(a, b),
        "%/%" = if (.is_float_dtype(a$dtype)) sym_floor(sym_div(a, b)) else sym_div(sym_sub(a, sym_mod(a, b)), b),
        sym_abort("Operator {.code {gen}} is not defined for symbols.", kind = "unsupported"))
    })
}

#' @rdname symnet-operators
#' @export
Math.symnet_symbol <- function(x, ...) {
  gen <- .Generic
  int_ok <- c("abs", "sign", "floor", "ceiling", "trunc", "round", "cumsum")
  if (!gen %in% int_ok) x <- .float_type(x)
  if (gen %in% c("floor", "ceiling", "trunc", "round") && !.is_float_dtype(x$dtype)) {
    return(x)
  }
  switch(gen,
    abs = sym_abs(.arith_type(x)),
    sign = sym_sign(.arith_type(x)),
    sqrt = sym_sqrt(x),
    exp = sym_exp(x),
    log = {
      base <- .dots_arg(list(...), "base")
      if (is.null(base)) sym_log(x) else sym_log(x) / log(.check_number(base, "base"))
    },
    log2 = sym_log(x) / log(2),
    log10 = sym_log(x) / log(10),
    log1p = sym_log1p(x),
    expm1 = sym_expm1(x),
    sin = sym_sin(x), cos = sym_cos(x), tan = sym_tan(x),
    asin = sym_asin(x), acos = sym_acos(x), atan = sym_atan(x),
    sinh = sym_sinh(x), cosh = sym_cosh(x), tanh = sym_tanh(x),
    asinh = sym_log(x + sym_sqrt(sym_square(x) + 1)),
    acosh = sym_log(x + sym_sqrt(sym_square(x) - 1)),
    atanh = 0.5 * sym_log((1 + x) / (1 - x)),
    floor = sym_floor(x),
    ceiling = sym_ceil(x),
    trunc = sym_where(x < 0, sym_ceil(x), sym_floor(x)),
    round = {
      digits <- .dots_arg(list(...), "digits") %||% 0
      digits <- .check_int(digits, "digits")
      if (digits == 0) sym_round(x) else sym_round(x * 10^digits) / 10^digits
    },
    cumsum = {
      .need_rank(x, "{.fn cumsum}")
      if (length(x$shape) > 1) {
        sym_abort(c("{.fn cumsum} on a symbol of rank {length(x$shape)} is ambiguous.",
                    i = "Use {.code sym_cumsum(x, axis = )}."), kind = "unsupported")
      }
      sym_cumsum(.arith_type(x), axis = 1)
    },
    sym_abort("{.fn {gen}} is not available for symbols.", kind = "unsupported"))
}

# An argument of a Math generic given by name or as the first unnamed one.
.dots_arg <- function(dots, name) {
  if (!is.null(dots[[name]])) return(dots[[name]])
  nms <- names(dots) %||% rep("", length(dots))
  unnamed <- dots[!nzchar(nms)]
  if (length(unnamed)) unnamed[[1]] else NULL
}

#' @rdname symnet-operators
#' @export
Summary.symnet_symbol <- function(..., na.rm = FALSE) {
  gen <- .Generic
  parts <- lapply(list(...), function(a) {
    a <- as_symbol(a)
    switch(gen,
      sum = sym_sum(.arith_type(a)),
      prod = sym_prod(.arith_type(a)),
      max = sym_max(.arith_type(a)),
      min = sym_min(.arith_type(a)),
      all = sym_cast(sym_min(sym_cast(.as_bool(a), "int32")), "bool"),
      any = sym_cast(sym_max(sym_cast(.as_bool(a), "int32")), "bool"),
      range = list(sym_min(.arith_type(a)), sym_max(.arith_type(a))),
      sym_abort("{.fn {gen}} is not available for symbols.", kind = "unsupported"))
  })
  if (gen == "range") {
    lo <- Reduce(function(p, q) .pairwise(p, q, sym_minimum), lapply(parts, `[[`, 1))
    hi <- Reduce(function(p, q) .pairwise(p, q, sym_maximum), lapply(parts, `[[`, 2))
    ab <- .operator_inputs(lo, hi)
    return(sym_stack(ab, axis = 1))
  }
  combine <- switch(gen, sum = sym_add, prod = sym_mul, max = sym_maximum,
                    min = sym_minimum, all = sym_logical_and, any = sym_logical_or)
  Reduce(function(p, q) .pairwise(p, q, combine), parts)
}

.pairwise <- function(p, q, f) {
  ab <- .operator_inputs(p, q)
  f(ab[[1]], ab[[2]])
}

#' @rdname symnet-operators
#' @export
mean.symnet_symbol <- function(x, ...) sym_mean(.float_type(x))

#' @rdname symnet-operators
#' @export
t.symnet_symbol <- function(x) {
  .need_rank(x, "{.fn t}")
  r <- length(x$shape)
  if (r == 0) return(sym_reshape(x, c(1, 1)))
  if (r == 1) return(sym_unsqueeze(x, 1))
  if (r != 2) {
    sym_abort(c("{.fn t} needs a symbol of rank 1 or 2, not {r}.",
                i = "Use {.fn aperm} or {.fn sym_transpose} with a permutation."))
  }
  sym_transpose(x)
}

#' @rdname symnet-operators
#' @param a A symbol.
#' @param perm A permutation of the axes (1-based).
#' @export
aperm.symnet_symbol <- function(a, perm = NULL, ...) sym_transpose(a, perm)

#' @export
`dim<-.symnet_symbol` <- function(x, value) {
  sym_abort(c("Symbols cannot change shape in place.",
              i = "Use {.code sym_reshape(x, shape)} (row-major order)."),
            kind = "unsupported")
}

#' @export
`[<-.symnet_symbol` <- function(x, ..., value) {
  sym_abort(c("Symbols are immutable: elements cannot be assigned.",
              i = "Build a new symbol with {.fn sym_where}, {.fn sym_pad} or {.fn sym_scatter_elements}."),
            kind = "unsupported")
}

#' Matrix product operator
#'
#' `a %*% b` is [sym_matmul()] when either side is a symbol, and base R's
#' matrix product otherwise. (R before 4.4 has no S3 dispatch for `%*%`, so
#' symnet exports this function, which masks `base::%*%` and calls it for
#' anything that is not a symbol.)
#'
#' @param x,y Symbols, or R matrices/vectors.
#' @return A symbol, or what `base::%*%` returns.
#' @examples
#' w <- sym_var("w", c(3, 2))
#' x <- sym_var("x", c(NA, 3))
#' f <- sym_compile(x %*% w)
#' f(x = matrix(1, 4, 3), w = matrix(1:6, 3, 2))
#' matrix(1:4, 2) %*% diag(2)   # base R still works
#' @export
`%*%` <- function(x, y) {
  if (missing(y)) .missing_abort("y", environment())
  if (is_symbol(x) || is_symbol(y)) sym_matmul(x, y) else base::`%*%`(x, y)
}

# R >= 4.4 dispatches %*% to S3 methods of the matrixOps group; registered
# in .onLoad under that name.
.matrix_ops_method <- function(x, y) {
  if (.Generic == "%*%") return(sym_matmul(x, y))
  sym_abort("{.code {(.Generic)}} is not defined for symbols.", kind = "unsupported")
}
