# Random ops. Numbers come from a counter-based generator (Philox) keyed by
# the seed and the node, so they are the same for any thread count; every
# call of a compiled function draws fresh numbers.

.random_shape <- function(shape, call = parent.frame()) {
  if (is_symbol(shape)) return(shape)
  .check_shape(shape, "shape", call = call, allow_unknown = FALSE)
}

.seed_attr <- function(seed, call = parent.frame()) {
  if (is.null(seed)) return(NULL)
  .check_int(seed, "seed", call = call, min = 0)
}

#' Random numbers
#'
#' `sym_random_uniform()` draws from the uniform distribution on
#' `[low, high)`, `sym_random_normal()` from a normal distribution, and
#' `sym_random_bernoulli(p)` draws 1 with probability `p` (a symbol of
#' probabilities, elementwise) and 0 otherwise.
#'
#' `shape` is either a fixed shape or a symbol whose shape (known only at
#' run time, say) the draw takes. Each call of the compiled function draws
#' new numbers. With `seed`, draws are reproducible: two functions compiled
#' from the same graph give the same numbers on their first call; without
#' it, the function's seed ([sym_compile()]'s `seed`) is used.
#'
#' @param shape Shape (whole numbers), or a symbol to take the shape from.
#' @param low,high Bounds of the uniform distribution.
#' @param mean,sd Mean and standard deviation of the normal distribution.
#' @param p A float symbol of probabilities.
#' @param dtype `"float32"` or `"float64"` (for Bernoulli draws any type;
#'   default the type of `p`).
#' @param seed Optional whole number.
#' @param name Optional node name.
#' @return A symbol.
#' @examples
#' u <- sym_random_uniform(c(2, 3), seed = 1)
#' f <- sym_compile(u)
#' f()
#' f()   # new numbers
#' x <- sym_var("x", c(NA, 4))
#' mask <- sym_random_bernoulli(sym_fill_like(x, 0.5), seed = 2)
#' sym_compile(x * mask)(x = matrix(1, 2, 4))
#' @export
sym_random_uniform <- function(shape, low = 0, high = 1, dtype = "float32", seed = NULL, name = NULL) {
  low <- .check_number(low, "low", finite = TRUE)
  high <- .check_number(high, "high", finite = TRUE)
  if (low >= high) sym_abort("{.arg low} ({low}) must be below {.arg high} ({high}).")
  s <- .random_shape(shape)
  attrs <- list(low = low, high = high, dtype = .check_dtype(dtype), seed = .seed_attr(seed))
  if (is_symbol(s)) return(.op("random_uniform_like", list(s), attrs, name))
  .op("random_uniform", list(), c(list(shape = .ints_attr(s)), attrs), name)
}

#' @rdname sym_random_uniform
#' @export
sym_random_normal <- function(shape, mean = 0, sd = 1, dtype = "float32", seed = NULL, name = NULL) {
  mean <- .check_number(mean, "mean", finite = TRUE)
  sd <- .check_number(sd, "sd", finite = TRUE)
  if (sd < 0) sym_abort("{.arg sd} must be non-negative.")
  s <- .random_shape(shape)
  attrs <- list(mean = mean, std = sd, dtype = .check_dtype(dtype), seed = .seed_attr(seed))
  if (is_symbol(s)) return(.op("random_normal_like", list(s), attrs, name))
  .op("random_normal", list(), c(list(shape = .ints_attr(s)), attrs), name)
}

#' @rdname sym_random_uniform
#' @export
sym_random_bernoulli <- function(p, dtype = NULL, seed = NULL, name = NULL) {
  p <- as_symbol(p)
  attrs <- list(seed = .seed_attr(seed))
  if (!is.null(dtype)) attrs$dtype <- .check_dtype(dtype)
  .op("random_bernoulli", list(p), attrs, name)
}
