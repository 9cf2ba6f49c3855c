# Data-parallel training: fit() on every rank of an MPI job, each rank on its share of every
# batch, the gradients averaged across ranks inside the compiled training step.

#' Data-parallel training across processes
#'
#' Give `strategy = strategy_data_parallel()` to [fit()] in a script launched
#' on several processes (`mpirun -np 4 Rscript train.R`, after
#' [dist_init()]). Every rank then:
#' * starts from rank 0's weights and optimizer state (broadcast when
#'   `fit()` starts);
#' * walks the same shuffled batches of `batch_size` examples (the shuffle
#'   uses one seed shared by all ranks) and computes on its own contiguous
#'   share of each batch, so every example is used once per epoch;
#' * averages the gradients over ranks inside the training step (weighted by
#'   the examples each rank had), in buckets of about `bucket_mb` megabytes,
#'   before the optimizer update, so the weights stay identical on all ranks
#'   and equal (up to float rounding) to one process training with the same
#'   `batch_size`;
#' * reports the loss and metrics of the whole epoch over all ranks; only
#'   rank 0 prints progress and runs [callback_model_checkpoint()] and
#'   [callback_csv_logger()].
#'
#' Batch-norm layers normalise with the statistics of each rank's share of
#' the batch (their running averages are averaged over ranks after each
#' step), as in PyTorch's `DistributedDataParallel` without `SyncBatchNorm`;
#' training with them then differs slightly from one process. A last batch
#' with fewer examples than ranks is skipped. The training data must be
#' arrays (not a batch function or iterator), given on every rank.
#' In a single process the strategy changes nothing.
#'
#' @param bucket_mb Size of the gradient buckets, in megabytes: gradients
#'   are concatenated into buckets of about this size so that each bucket
#'   costs one all-reduce.
#' @return A `symnet_strategy` object for [fit()].
#' @examples
#' s <- strategy_data_parallel(bucket_mb = 4)
#' s
#' \dontrun{
#' # train.R, launched as: mpirun -np 2 Rscript train.R
#' library(symnet)
#' dist_init()
#' x <- sym_var("x", c(NA, 4))
#' m <- sym_model(x, layer_dense(x, 3))
#' fit(m, matrix(rnorm(400), 100), sample(0:2, 100, TRUE),
#'     loss = "softmax_cross_entropy", batch_size = 20, epochs = 2,
#'     strategy = strategy_data_parallel())
#' }
#' @export
strategy_data_parallel <- function(bucket_mb = 25) {
  bucket_mb <- .check_number(bucket_mb, "bucket_mb", finite = TRUE)
  if (bucket_mb <= 0) sym_abort("{.arg bucket_mb} must be positive.")
  structure(list(kind = "data_parallel", bucket_bytes = bucket_mb * 2^20), class = "symnet_strategy")
}

#' @export
print.symnet_strategy <- function(x, ...) {
  cat(sprintf("<symnet strategy> data parallel, gradient buckets of %s MB\n", format(x$bucket_bytes / 2^20)))
  invisible(x)
}

.check_strategy <- function(strategy, call = parent.frame()) {
  if (is.null(strategy)) return(NULL)
  if (!inherits(strategy, "symnet_strategy")) {
    sym_abort("{.arg strategy} must come from {.fn strategy_data_parallel}, not {.obj_type_friendly {strategy}}.",
              call = call)
  }
  strategy
}

# The distributed state of one fit(): NULL in a single process (nothing changes).
.dp_context <- function(strategy) {
  if (is.null(strategy) || dist_size() < 2L) return(NULL)
  list(rank = dist_rank(), size = dist_size(), bucket_bytes = strategy$bucket_bytes)
}

# Averages gradients over ranks, weighted by each rank's examples: sum_r(n_r * g_r) / sum_r(n_r)
# is the whole batch's mean gradient when each g_r is the mean over rank r's n_r examples.
# Gradients are flattened and concatenated into buckets (one all-reduce each).
.dp_reduce_grads <- function(grads, count, bucket_bytes) {
  total <- sym_allreduce(count)
  out <- vector("list", length(grads))
  bytes <- vapply(grads, function(g) prod(g$shape) * if (g$dtype == "float64") 8 else 4, numeric(1))
  groups <- split(seq_along(grads), paste(vapply(grads, function(g) g$dtype, ""),
                                          cumsum(c(0, utils::head(cumsum(bytes), -1))) %/% bucket_bytes))
  for (ids in groups) {
    flat <- lapply(grads[ids], function(g) sym_reshape(g, prod(g$shape)))
    w <- sym_cast(count, grads[[ids[1]]]$dtype)
    tw <- sym_cast(total, grads[[ids[1]]]$dtype)
    red <- sym_allreduce(if (length(flat) == 1) flat[[1]] * w else sym_concat(flat, axis = 1) * w) / tw
    at <- 0
    for (i in ids) {
      n <- prod(grads[[i]]$shape)
      out[[i]] <- sym_reshape(red[(at + 1):(at + n)], grads[[i]]$shape)
      at <- at + n
    }
  }
  out
}

# Rank 0's weights, optimizer state and batch-norm statistics on every rank.
.dp_broadcast_state <- function(vars) {
  vals <- dist_broadcast(if (dist_rank() == 0L) lapply(vars, function(v) cpp_shared_get(v$var)) else NULL)
  for (k in seq_along(vars)) cpp_shared_set(vars[[k]]$var, vals[[k]])
  invisible()
}

# A seed all ranks share, for the shuffles (rank 0's when the user gave none).
.dp_seed <- function(seed) {
  dist_broadcast(seed %||% sample.int(.Machine$integer.max, 1L))
}

# This rank's contiguous share of a batch's rows; integer(0) for all ranks when the batch is
# too small to give every rank an example (every rank must run the same steps).
.dp_shard <- function(idx, dp) {
  n <- length(idx)
  if (n < dp$size) return(integer(0))
  bounds <- floor(seq(0, n, length.out = dp$size + 1L))
  idx[(bounds[dp$rank + 1L] + 1L):bounds[dp$rank + 2L]]
}

# Callbacks that write files run on rank 0 only.
.dp_callbacks <- function(callbacks, dp) {
  if (is.null(dp) || dp$rank == 0L) return(callbacks)
  Filter(function(cb) !cb$name %in% c("model_checkpoint", "csv_logger"), callbacks)
}
