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
#' Batch-norm layers normalise, by default, with the statistics of each
#' rank's share of the batch (their running averages are averaged over ranks
#' after each step), as in PyTorch's `DistributedDataParallel` without
#' `SyncBatchNorm`; training with them then differs slightly from one
#' process. With `sync_batch_norm = TRUE` they normalise with the statistics
#' of the whole batch: per-channel sums are all-reduced over the ranks in the
#' forward pass (two all-reduces per batch-norm layer), their gradients cross
#' the ranks in the backward pass, and training equals one process with the
#' same `batch_size` up to float rounding (batch norms inside control-flow
#' bodies are not synchronised). It pays off when each rank's share is
#' small (a few examples per rank make noisy statistics). A last batch
#' with fewer examples than ranks is skipped. The training data must be
#' arrays (not a batch function or iterator), given on every rank.
#' In a single process the strategy changes nothing.
#'
#' The same strategy given to [predict()][predict.symnet_model] and
#' [evaluate()] shares their rows out over the ranks (every rank gets all the
#' predictions, or the figures of all the examples).
#'
#' @param bucket_mb Size of the gradient buckets, in megabytes: gradients
#'   are concatenated into buckets of about this size so that each bucket
#'   costs one all-reduce.
#' @param sync_batch_norm Whether batch-norm layers compute their batch
#'   statistics over all ranks (see Details) rather than over each rank's
#'   share.
#' @return A `symnet_strategy` object for [fit()].
#' @examples
#' s <- strategy_data_parallel(bucket_mb = 4)
#' s
#' strategy_data_parallel(sync_batch_norm = TRUE)
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
strategy_data_parallel <- function(bucket_mb = 25, sync_batch_norm = FALSE) {
  bucket_mb <- .check_number(bucket_mb, "bucket_mb", finite = TRUE)
  if (bucket_mb <= 0) sym_abort("{.arg bucket_mb} must be positive.")
  sync_batch_norm <- .check_flag(sync_batch_norm, "sync_batch_norm")
  structure(list(kind = "data_parallel", bucket_bytes = bucket_mb * 2^20, sync_batch_norm = sync_batch_norm),
            class = "symnet_strategy")
}

#' @export
print.symnet_strategy <- function(x, ...) {
  cat(sprintf("<symnet strategy> data parallel, gradient buckets of %s MB%s\n", format(x$bucket_bytes / 2^20),
              if (isTRUE(x$sync_batch_norm)) ", synchronized batch norm" else ""))
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
  list(rank = dist_rank(), size = dist_size(), bucket_bytes = strategy$bucket_bytes,
       sync_batch_norm = isTRUE(strategy$sync_batch_norm))
}

# Training-mode outputs whose batch norms use the statistics of all ranks' examples. One
# rewrite for all of them, so the nodes they share stay shared.
.dp_sync_batch_norm <- function(syms) {
  if (!length(syms)) return(syms)
  res <- lapply(cpp_graph_sync_batch_norm(lapply(unname(syms), .ptr)), new_symbol)
  names(res) <- names(syms)
  res
}

# The loss whose gradient, summed over ranks, is the whole batch's: each rank's mean loss
# weighted by its share of the batch's examples, sum_r(n_r * L_r) / sum_r(n_r). Weighting the
# loss rather than the gradients matters when the forward pass itself crosses ranks
# (synchronized batch norm): rank r's gradient then also carries the other ranks' losses,
# each with its own weight.
.dp_scaled_loss <- function(loss, count) {
  share <- count / sym_allreduce(count)
  loss * if (loss$dtype == share$dtype) share else sym_cast(share, loss$dtype)
}

# Sums over ranks the gradients of .dp_scaled_loss(), which is the whole batch's mean
# gradient. Gradients are flattened and concatenated into buckets (one all-reduce each).
.dp_reduce_grads <- function(grads, bucket_bytes) {
  out <- vector("list", length(grads))
  bytes <- vapply(grads, function(g) prod(g$shape) * if (g$dtype == "float64") 8 else 4, numeric(1))
  groups <- split(seq_along(grads), paste(vapply(grads, function(g) g$dtype, ""),
                                          cumsum(c(0, utils::head(cumsum(bytes), -1))) %/% bucket_bytes))
  for (ids in groups) {
    flat <- lapply(grads[ids], function(g) sym_reshape(g, prod(g$shape)))
    red <- sym_allreduce(if (length(flat) == 1) flat[[1]] else sym_concat(flat, axis = 1))
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

# This rank's contiguous share of rows 1..n for inference (predict, evaluate, validation):
# unlike training steps, a rank may get none.
.dp_rows <- function(n, dp) {
  bounds <- floor(seq(0, n, length.out = dp$size + 1L))
  if (bounds[dp$rank + 2L] <= bounds[dp$rank + 1L]) return(integer(0))
  seq.int(bounds[dp$rank + 1L] + 1L, bounds[dp$rank + 2L])
}

# Callbacks that write files run on rank 0 only.
.dp_callbacks <- function(callbacks, dp) {
  if (is.null(dp) || dp$rank == 0L) return(callbacks)
  Filter(function(cb) !cb$name %in% c("model_checkpoint", "csv_logger"), callbacks)
}

# Runs `expr` on this rank of a data-parallel fit, predict or evaluate. An error here is
# told to the other ranks before it propagates, so that they stop at their next (or
# current) collective with a symnet_comm_error naming this rank and its message, instead
# of waiting for the timeout. Not sent: a failure another rank told us about, and a
# non-finite step, which every rank meets together (its test reads the reduced gradients).
# The communicator cannot be used after a notice (a collective may be left half done).
.dp_guard <- function(dp, expr) {
  if (is.null(dp)) return(expr)
  withCallingHandlers(expr, error = function(e) {
    if (is.null(e$failed_rank) && !inherits(e, "symnet_nonfinite_error")) {
      msg <- conditionMessage(e)
      try(cpp_dist_notify_failure(if (nchar(msg) > 2000) paste0(substr(msg, 1, 2000), "...") else msg),
          silent = TRUE)
    }
  })
}

