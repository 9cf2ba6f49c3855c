# Shared helpers for the testthat suite.

# Row-major reshape in base R (what sym_reshape() does).
rm_reshape <- function(a, shape) {
  v <- if (is.null(dim(a))) as.vector(a) else as.vector(aperm(a))
  if (length(shape) <= 1) return(v)
  aperm(array(v, rev(shape)))
}

# Compile symbols and run once with the given feeds.
run_sym <- function(outputs, ...) sym_compile(outputs)(...)

# Central finite differences of a scalar R function at x (any shape).
fd_grad <- function(f, x, eps = 1e-5) {
  g <- x
  g[] <- 0
  for (i in seq_along(x)) {
    xp <- x
    xm <- x
    xp[i] <- xp[i] + eps
    xm[i] <- xm[i] - eps
    g[i] <- (f(xp) - f(xm)) / (2 * eps)
  }
  g
}

# Plain numeric comparison that ignores dim attributes of length-1 results.
expect_close <- function(object, expected, tolerance = 1e-5) {
  testthat::expect_equal(as.vector(object), as.vector(expected), tolerance = tolerance)
  if (!is.null(dim(expected)) && length(dim(expected)) > 1) {
    testthat::expect_equal(dim(object), dim(expected))
  }
}

softmax_rows <- function(z) {
  e <- exp(z - apply(z, 1, max))
  e / rowSums(e)
}

# Skips a test that needs a usable GPU, saying why there is none.
skip_if_no_cuda <- function() {
  if (!cuda_is_available()) testthat::skip(paste("no usable CUDA GPU:", cuda_device_info()$reason))
}
