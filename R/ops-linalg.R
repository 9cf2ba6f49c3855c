# Matrix products.

#' Matrix products
#'
#' `sym_matmul(a, b)` is the matrix product with NumPy semantics: for
#' matrices `[n, k] x [k, m] -> [n, m]`; leading (batch) dimensions
#' broadcast (`[b, n, k] x [k, m] -> [b, n, m]`); a rank-1 operand is a
#' row (left) or column (right) vector whose dimension is dropped from the
#' result. `a %*% b` calls it.
#'
#' `sym_gemm(a, b, c)` is `alpha * op(a) %*% op(b) + beta * c` for
#' matrices, where `op()` transposes when `trans_a`/`trans_b` is `TRUE` and
#' `c` broadcasts to the result (a bias row, say).
#'
#' @param a,b Symbols (R matrices are converted to constants).
#' @param c Optional symbol added to the product (broadcasting).
#' @param alpha,beta Scalars.
#' @param trans_a,trans_b Transpose `a` / `b` first.
#' @param name Optional node name.
#' @return A symbol.
#' @examples
#' x <- sym_var("x", c(NA, 3))
#' w <- sym_var("w", c(3, 2))
#' b <- sym_var("b", 2)
#' f <- sym_compile(list(mm = sym_matmul(x, w), gemm = sym_gemm(x, w, b)))
#' f(x = diag(3), w = matrix(1:6, 3, 2), b = c(100, 200))
#' @export
sym_matmul <- function(a, b, name = NULL) {
  .op("matmul", .binary_inputs(a, b), name = name)
}

#' @rdname sym_matmul
#' @export
sym_gemm <- function(a, b, c = NULL, alpha = 1, beta = 1, trans_a = FALSE, trans_b = FALSE,
                     name = NULL) {
  ab <- .binary_inputs(a, b)
  inputs <- ab
  # base::c: the argument `c` may itself be a function
  if (!is.null(c)) inputs <- base::c(inputs, list(if (is_symbol(c)) c else .const_for(c, ab[[1]]$dtype)))
  .op("gemm", inputs,
      list(alpha = .check_number(alpha, "alpha", finite = TRUE),
           beta = .check_number(beta, "beta", finite = TRUE),
           transA = .check_flag(trans_a, "trans_a"),
           transB = .check_flag(trans_b, "trans_b")), name)
}
