#' symnet: symbolic deep learning graphs compiled to C++
#'
#' symnet builds computation graphs from R symbols, differentiates them
#' symbolically, optimises them with graph passes (common subexpressions,
#' constant folding, algebraic simplification, elementwise fusion, in-place
#' selection, memory planning) and runs them through a compiled C++17 engine.
#'
#' The low-level API has four steps:
#' 1. declare inputs with [sym_var()], constants with [sym_const()] and
#'    engine-resident variables with [sym_shared()];
#' 2. combine them with R operators (`+`, `*`, `%*%`, `exp()`, `sum()`, ...)
#'    and `sym_*()` ops;
#' 3. take gradients with [sym_grad()];
#' 4. compile with [sym_compile()] and call the result like an R function.
#'
#' @section Conventions:
#' * Shapes are batch-first and `dim()` of an R array equals the engine
#'   shape: an R array with `dim = c(2, 3, 4)` is the engine tensor
#'   `[2, 3, 4]` with the same element at every index.
#' * Axes count from 1; negative axes count from the end (`-1` is the last).
#' * Indices (for [sym_gather()], [sym_one_hot()], class labels in
#'   [sym_softmax_cross_entropy()], results of [sym_argmax()]) are 1-based
#'   like R's, unless you pass `index_base = 0` or the indices carry their
#'   base ([sym_index_base()]; labels from [fit()] are 0-based). An index
#'   outside its axis is an error, never wrapped around.
#' * Element-order sensitive operations ([sym_reshape()], [sym_flatten()])
#'   use row-major (C) order, as the engine stores tensors row-major.
#' * Errors are classed conditions inheriting `symnet_error`
#'   (`symnet_shape_error`, `symnet_dtype_error`, `symnet_attr_error`,
#'   `symnet_feed_error`, `symnet_value_error`, `symnet_index_error` (also a
#'   value error), `symnet_unsupported_error`,
#'   `symnet_interrupt_error`, `symnet_internal_error`).
#'
#' @section Options:
#' * `symnet.threads`: number of CPU threads used at load time (see
#'   [symnet_threads()]); the environment variable `SYMNET_THREADS` is read
#'   when the option is unset.
#'
#' @keywords internal
#' @useDynLib symnet, .registration = TRUE
#' @importFrom Rcpp sourceCpp
#' @importFrom rlang abort
"_PACKAGE"
