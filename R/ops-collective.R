# Collective ops: tensors combined across the processes of a distributed run (see
# dist_init()). They run inside compiled graphs, so a gradient's reduction happens in the
# same engine call as the backward pass.

#' Collective operations across processes
#'
#' Inside a compiled graph, combine a tensor across the ranks of a
#' distributed run ([dist_init()]): `sym_allreduce()` gives every rank the sum
#' (or mean, max, min) of every rank's `x`; `sym_broadcast()` gives every
#' rank `root`'s `x`; `sym_allgather()` concatenates every rank's `x` along
#' the first axis (rank 0 first); `sym_reduce_scatter()` sums over ranks and
#' gives rank `r` the `r`-th of `world_size` equal blocks of the first axis;
#' `sym_comm_rank()` is the rank running the graph (an int32 scalar).
#'
#' They differentiate: the gradient of an all-reduce is the all-reduce of
#' the gradients, of an all-gather the reduce-scatter of its gradient, and so
#' on, so a loss built from them gives every rank its share of the gradient
#' of the sum of all ranks' losses.
#'
#' Every rank must run the same collectives in the same order (the same
#' graph). In a single process each is the identity (`world_size = 1`).
#' `world_size` is fixed when the graph is built, because it sets the output
#' shape of `sym_allgather()` and `sym_reduce_scatter()`; running the graph in
#' a group of another size is a `symnet_comm_error`.
#'
#' @param x A symbol (float32, float64, int32, int64, uint8 or bool; `"mean"`
#'   needs floats).
#' @param reduction `"sum"`, `"mean"`, and for `sym_allreduce()` also
#'   `"max"` or `"min"`.
#' @param root The rank whose value every rank receives.
#' @param world_size The number of ranks (default [dist_size()]).
#' @param name Optional node name.
#' @return A symbol.
#' @examples
#' x <- sym_var("x", c(2, 3))
#' f <- sym_compile(list(total = sym_allreduce(x), all = sym_allgather(x),
#'                       rank = sym_comm_rank()))
#' f(x = matrix(1:6, 2))  # one process: the identity, rank 0
#' @name sym_collectives
NULL

#' @rdname sym_collectives
#' @export
sym_allreduce <- function(x, reduction = c("sum", "mean", "max", "min"), name = NULL) {
  x <- .check_symbol(x, "x")
  reduction <- .match_arg(reduction, c("sum", "mean", "max", "min"), "reduction")
  .op("allreduce", list(x), list(reduction = reduction), name)
}

#' @rdname sym_collectives
#' @export
sym_broadcast <- function(x, root = 0, name = NULL) {
  x <- .check_symbol(x, "x")
  .op("broadcast", list(x), list(root = .check_int(root, "root", min = 0)), name)
}

#' @rdname sym_collectives
#' @export
sym_allgather <- function(x, world_size = dist_size(), name = NULL) {
  x <- .check_symbol(x, "x")
  .op("allgather", list(x), list(world_size = .check_int(world_size, "world_size", min = 1)), name)
}

#' @rdname sym_collectives
#' @export
sym_reduce_scatter <- function(x, reduction = c("sum", "mean"), world_size = dist_size(), name = NULL) {
  x <- .check_symbol(x, "x")
  reduction <- .match_arg(reduction, c("sum", "mean"), "reduction")
  .op("reduce_scatter", list(x),
      list(world_size = .check_int(world_size, "world_size", min = 1), reduction = reduction), name)
}

#' @rdname sym_collectives
#' @export
sym_comm_rank <- function(name = NULL) .op("comm_rank", list(), list(), name)
