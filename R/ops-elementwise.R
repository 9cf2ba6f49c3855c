# Elementwise ops: unary math, activations, binary arithmetic with NumPy
# broadcasting, comparisons, logic, where, cast, clip.

# Two operands, at least one usually a symbol. An R value takes the element
# type of the symbol it meets; when it cannot be represented there (0.5 next
# to an int32 symbol) both sides become float32.
.binary_inputs <- function(a, b, call = parent.frame()) {
  if (missing(a)) .missing_abort(deparse(substitute(a)), call)
  if (missing(b)) .missing_abort(deparse(substitute(b)), call)
  sa <- is_symbol(a)
  sb <- is_symbol(b)
  if (sa && sb) return(list(a, b))
  if (!sa && !sb) return(list(as_symbol(a), as_symbol(b)))
  if (sa) {
    r <- .number_with(b, a, call)
    list(r$sym, r$const)
  } else {
    r <- .number_with(a, b, call)
    list(r$const, r$sym)
  }
}

.number_with <- function(value, sym, call) {
  .check_value(value, "operand", call = call)
  dt <- sym$dtype
  if ((.is_int_dtype(dt) || dt == "bool") && is.double(value) && !.is_whole(value[!is.na(value)])) {
    sym <- sym_cast(sym, "float32")
    dt <- "float32"
  } else if (dt == "bool" && !is.logical(value)) {
    # a number next to a bool: compare/compute as R would, in int32 / float32
    dt <- if (.is_whole(value)) "int32" else "float32"
    sym <- sym_cast(sym, dt)
  }
  list(sym = sym, const = sym_const(value, dtype = dt))
}

.unary_fn <- function(op) {
  force(op)
  function(x, name = NULL) .op(op, list(as_symbol(x)), name = name)
}

.binary_fn <- function(op) {
  force(op)
  function(a, b, name = NULL) .op(op, .binary_inputs(a, b), name = name)
}

#' Elementwise math
#'
#' Unary elementwise functions of a symbol. R's own functions work on
#' symbols too (`exp(x)`, `sqrt(x)`, `abs(x)`, ... through the Math group
#' generic); these are the engine ops by name. Most need a float input
#' (`"float32"` or `"float64"`); `sym_neg()`, `sym_abs()`, `sym_sign()` and
#' `sym_square()` also take integers.
#'
#' `sym_rsqrt(x)` is `1 / sqrt(x)`; `sym_round()` rounds half to even like
#' R's [round()]; `sym_isnan()` and `sym_isinf()` return bool symbols.
#'
#' @param x A symbol (or an R value, converted with [as_symbol()]).
#' @param name Optional node name.
#' @return A symbol of the same shape.
#' @examples
#' x <- sym_var("x", 3)
#' f <- sym_compile(list(e = sym_exp(x), r = sym_rsqrt(x), n = sym_isnan(sym_log(x))))
#' f(x = c(1, 4, -1))
#' @name sym_math
NULL

#' @rdname sym_math
#' @export
sym_neg <- .unary_fn("neg")
#' @rdname sym_math
#' @export
sym_abs <- .unary_fn("abs")
#' @rdname sym_math
#' @export
sym_sign <- .unary_fn("sign")
#' @rdname sym_math
#' @export
sym_reciprocal <- .unary_fn("reciprocal")
#' @rdname sym_math
#' @export
sym_exp <- .unary_fn("exp")
#' @rdname sym_math
#' @export
sym_log <- .unary_fn("log")
#' @rdname sym_math
#' @export
sym_log1p <- .unary_fn("log1p")
#' @rdname sym_math
#' @export
sym_expm1 <- .unary_fn("expm1")
#' @rdname sym_math
#' @export
sym_sqrt <- .unary_fn("sqrt")
#' @rdname sym_math
#' @export
sym_rsqrt <- .unary_fn("rsqrt")
#' @rdname sym_math
#' @export
sym_square <- .unary_fn("square")
#' @rdname sym_math
#' @export
sym_sin <- .unary_fn("sin")
#' @rdname sym_math
#' @export
sym_cos <- .unary_fn("cos")
#' @rdname sym_math
#' @export
sym_tan <- .unary_fn("tan")
#' @rdname sym_math
#' @export
sym_asin <- .unary_fn("asin")
#' @rdname sym_math
#' @export
sym_acos <- .unary_fn("acos")
#' @rdname sym_math
#' @export
sym_atan <- .unary_fn("atan")
#' @rdname sym_math
#' @export
sym_sinh <- .unary_fn("sinh")
#' @rdname sym_math
#' @export
sym_cosh <- .unary_fn("cosh")
#' @rdname sym_math
#' @export
sym_tanh <- .unary_fn("tanh")
#' @rdname sym_math
#' @export
sym_erf <- .unary_fn("erf")
#' @rdname sym_math
#' @export
sym_floor <- .unary_fn("floor")
#' @rdname sym_math
#' @export
sym_ceil <- .unary_fn("ceil")
#' @rdname sym_math
#' @export
sym_round <- .unary_fn("round")
#' @rdname sym_math
#' @export
sym_isnan <- .unary_fn("isnan")
#' @rdname sym_math
#' @export
sym_isinf <- .unary_fn("isinf")

#' Activation functions
#'
#' Elementwise activations of a float symbol:
#' * `sym_relu(x)`: `max(x, 0)`;
#' * `sym_sigmoid(x)`: `1 / (1 + exp(-x))`;
#' * `sym_hard_sigmoid(x, alpha, beta)`: `max(0, min(1, alpha * x + beta))`;
#' * `sym_leaky_relu(x, alpha)`: `x` for `x > 0`, else `alpha * x`;
#' * `sym_elu(x, alpha)`: `x` for `x > 0`, else `alpha * (exp(x) - 1)`;
#' * `sym_selu(x, alpha, gamma)`: `gamma * elu(x, alpha)` with the
#'   self-normalising constants as defaults;
#' * `sym_celu(x, alpha)`: `max(0, x) + min(0, alpha * (exp(x / alpha) - 1))`;
#' * `sym_softplus(x)`: `log(1 + exp(x))`; `sym_softsign(x)`: `x / (1 + |x|)`;
#' * `sym_gelu(x, approximate)`: `x * pnorm(x)`, or its tanh approximation.
#'
#' @inheritParams sym_math
#' @param alpha,beta,gamma Parameters as described above.
#' @param approximate `"none"` (exact, with `erf`) or `"tanh"`.
#' @return A symbol of the same shape and type.
#' @examples
#' x <- sym_var("x", 5)
#' f <- sym_compile(list(relu = sym_relu(x), leaky = sym_leaky_relu(x, 0.1),
#'                       gelu = sym_gelu(x)))
#' f(x = c(-2, -1, 0, 1, 2))
#' @name sym_activations
NULL

#' @rdname sym_activations
#' @export
sym_relu <- .unary_fn("relu")
#' @rdname sym_activations
#' @export
sym_sigmoid <- .unary_fn("sigmoid")
#' @rdname sym_activations
#' @export
sym_softplus <- .unary_fn("softplus")
#' @rdname sym_activations
#' @export
sym_softsign <- .unary_fn("softsign")

#' @rdname sym_activations
#' @export
sym_hard_sigmoid <- function(x, alpha = 0.2, beta = 0.5, name = NULL) {
  .op("hard_sigmoid", list(as_symbol(x)),
      list(alpha = .check_number(alpha, "alpha", finite = TRUE),
           beta = .check_number(beta, "beta", finite = TRUE)), name)
}

#' @rdname sym_activations
#' @export
sym_leaky_relu <- function(x, alpha = 0.01, name = NULL) {
  .op("leaky_relu", list(as_symbol(x)), list(alpha = .check_number(alpha, "alpha", finite = TRUE)), name)
}

#' @rdname sym_activations
#' @export
sym_elu <- function(x, alpha = 1, name = NULL) {
  .op("elu", list(as_symbol(x)), list(alpha = .check_number(alpha, "alpha", finite = TRUE)), name)
}

#' @rdname sym_activations
#' @export
sym_selu <- function(x, alpha = 1.6732632423543772, gamma = 1.0507009873554805, name = NULL) {
  .op("selu", list(as_symbol(x)),
      list(alpha = .check_number(alpha, "alpha", finite = TRUE),
           gamma = .check_number(gamma, "gamma", finite = TRUE)), name)
}

#' @rdname sym_activations
#' @export
sym_celu <- function(x, alpha = 1, name = NULL) {
  alpha <- .check_number(alpha, "alpha", finite = TRUE)
  if (alpha == 0) sym_abort("{.arg alpha} must not be 0.")
  .op("celu", list(as_symbol(x)), list(alpha = alpha), name)
}

#' @rdname sym_activations
#' @export
sym_gelu <- function(x, approximate = c("none", "tanh"), name = NULL) {
  approximate <- .match_arg(approximate, c("none", "tanh"), "approximate")
  .op("gelu", list(as_symbol(x)), list(approximate = approximate), name)
}

#' Elementwise arithmetic
#'
#' Binary arithmetic with NumPy broadcasting: shapes are aligned at their
#' last dimension and sizes of 1 stretch (`[4, 3] + [3]`, `[4, 1] * [1, 5]`).
#' The R operators `+ - * / ^ %%` do the same with R's type rules (integer
#' division `/` gives floats, logicals count as 0/1); these functions are the
#' engine ops, which need both inputs of one element type. An R number next
#' to a symbol takes the symbol's element type.
#'
#' `sym_mod(a, b)` takes the sign of `b` like R's `%%`; with `fmod = TRUE`
#' it takes the sign of `a` like C's `fmod()`. `sym_minimum()` and
#' `sym_maximum()` are elementwise (R's `pmin()`/`pmax()`); the reductions
#' are [sym_min()] and [sym_max()].
#'
#' @param a,b Symbols or R values (at least one should be a symbol).
#' @param fmod For `sym_mod()`: truncated (C) instead of floored (R) modulo.
#' @param name Optional node name.
#' @return A symbol with the broadcast shape.
#' @examples
#' a <- sym_var("a", c(2, 3))
#' b <- sym_var("b", 3)
#' f <- sym_compile(list(sum = sym_add(a, b), max = sym_maximum(a, 2)))
#' f(a = matrix(1:6, 2, 3), b = c(10, 20, 30))
#' @name sym_arith
NULL

#' @rdname sym_arith
#' @export
sym_add <- .binary_fn("add")
#' @rdname sym_arith
#' @export
sym_sub <- .binary_fn("sub")
#' @rdname sym_arith
#' @export
sym_mul <- .binary_fn("mul")
#' @rdname sym_arith
#' @export
sym_div <- .binary_fn("div")
#' @rdname sym_arith
#' @export
sym_pow <- .binary_fn("pow")
#' @rdname sym_arith
#' @export
sym_mod <- function(a, b, fmod = FALSE, name = NULL) {
  .op("mod", .binary_inputs(a, b), list(fmod = .check_flag(fmod, "fmod")), name)
}
#' @rdname sym_arith
#' @export
sym_minimum <- .binary_fn("minimum")
#' @rdname sym_arith
#' @export
sym_maximum <- .binary_fn("maximum")

#' Comparisons and logical ops
#'
#' Elementwise comparisons returning bool symbols, and logical operations on
#' bool symbols, with broadcasting. The R operators `== != < <= > >= & | !`
#' do the same.
#'
#' @inheritParams sym_arith
#' @param x A bool symbol.
#' @return A bool symbol.
#' @examples
#' x <- sym_var("x", 4)
#' f <- sym_compile(sym_logical_and(sym_greater(x, 0), sym_less_equal(x, 2)))
#' f(x = c(-1, 1, 2, 3))
#' @name sym_compare
NULL

#' @rdname sym_compare
#' @export
sym_equal <- .binary_fn("equal")
#' @rdname sym_compare
#' @export
sym_not_equal <- .binary_fn("not_equal")
#' @rdname sym_compare
#' @export
sym_less <- .binary_fn("less")
#' @rdname sym_compare
#' @export
sym_less_equal <- .binary_fn("less_equal")
#' @rdname sym_compare
#' @export
sym_greater <- .binary_fn("greater")
#' @rdname sym_compare
#' @export
sym_greater_equal <- .binary_fn("greater_equal")
#' @rdname sym_compare
#' @export
sym_logical_and <- .binary_fn("logical_and")
#' @rdname sym_compare
#' @export
sym_logical_or <- .binary_fn("logical_or")
#' @rdname sym_compare
#' @export
sym_logical_xor <- .binary_fn("logical_xor")
#' @rdname sym_compare
#' @export
sym_logical_not <- .unary_fn("logical_not")

#' Choose elementwise between two values
#'
#' `sym_where(condition, yes, no)` takes `yes` where `condition` is true and
#' `no` elsewhere, broadcasting all three (like R's [ifelse()]).
#'
#' @param condition A bool symbol (or R logical value). Non-bool symbols are
#'   compared with 0.
#' @param yes,no Symbols or R values of one element type.
#' @param name Optional node name.
#' @return A symbol.
#' @examples
#' x <- sym_var("x", 4)
#' f <- sym_compile(sym_where(x > 0, x, 0.1 * x))
#' f(x = c(-2, -1, 1, 2))
#' @export
sym_where <- function(condition, yes, no, name = NULL) {
  cond <- as_symbol(condition)
  if (cond$dtype != "bool") cond <- sym_not_equal(cond, 0)
  vals <- .binary_inputs(yes, no)
  .op("where", list(cond, vals[[1]], vals[[2]]), name = name)
}

#' Change the element type
#'
#' `sym_cast(x, dtype)` converts every element: floats to integers truncate
#' toward zero, anything to bool tests `!= 0`, bool to numbers gives 0/1.
#' Gradients flow through casts between float types only.
#'
#' @param x A symbol.
#' @param dtype Target element type, one of [sym_dtypes()].
#' @param name Optional node name.
#' @return A symbol of type `dtype`.
#' @examples
#' x <- sym_var("x", 3)
#' sym_compile(sym_cast(x, "int32"))(x = c(1.7, -1.7, 3))
#' @export
sym_cast <- function(x, dtype, name = NULL) {
  dtype <- .check_dtype(dtype)
  .op("cast", list(as_symbol(x)), list(dtype = dtype), name)
}

#' Limit values to a range
#'
#' @param x A numeric symbol.
#' @param min,max Bounds (`-Inf`/`Inf` for none); `min <= max`.
#' @param name Optional node name.
#' @return A symbol with every element in `[min, max]`.
#' @examples
#' x <- sym_var("x", 4)
#' sym_compile(sym_clip(x, 0, 1))(x = c(-1, 0.5, 1, 2))
#' @export
sym_clip <- function(x, min = -Inf, max = Inf, name = NULL) {
  lo <- .check_number(min, "min")
  hi <- .check_number(max, "max")
  if (lo > hi) sym_abort("{.arg min} ({lo}) must not exceed {.arg max} ({hi}).")
  .op("clip", list(as_symbol(x)),
      list(min = if (is.finite(lo)) lo else NULL, max = if (is.finite(hi)) hi else NULL), name)
}

#' Identity and gradient stopping
#'
#' `sym_identity(x)` returns `x` unchanged (a separate node, e.g. to name a
#' value). `sym_stop_gradient(x)` returns `x` but blocks gradients: for
#' [sym_grad()] it is a constant.
#'
#' @param x A symbol.
#' @param name Optional node name.
#' @return A symbol.
#' @examples
#' x <- sym_var("x", integer())
#' y <- x * sym_stop_gradient(x)
#' sym_compile(sym_grad(y, x))(x = 3)   # 3, not 6
#' @export
sym_identity <- .unary_fn("identity")

#' @rdname sym_identity
#' @export
sym_stop_gradient <- .unary_fn("stop_gradient")
