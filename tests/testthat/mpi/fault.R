# Run by test-distributed.R as: mpirun -np 2 Rscript fault.R <out-dir>
# Rank 1 fails inside a data-parallel fit() (a callback error at epoch 2). Rank 0 must stop
# at once with a symnet_comm_error naming rank 1 and its message, long before the timeout.
suppressPackageStartupMessages(library(symnet))
out_dir <- commandArgs(trailingOnly = TRUE)[1]
dist_init(timeout = 60)
r <- dist_rank()
set.seed(1)
x <- matrix(rnorm(64 * 4), 64, 4)
y <- sample(0:1, 64, replace = TRUE)
inp <- sym_var("x", c(NA, 4))
m <- sym_model(inp, layer_dense(inp, 2))
boom <- callback_lambda(on_epoch_begin = function(epoch, logs, state) {
  if (dist_rank() == 1 && epoch == 2) stop("the disk of rank 1 is full")
})
failed_at <- NULL
err <- tryCatch(
  fit(m, x, y, loss = "softmax_cross_entropy", batch_size = 8, epochs = 4, verbose = 0, seed = 1,
      callbacks = list(boom), strategy = strategy_data_parallel()),
  error = function(e) {
    failed_at <<- Sys.time()
    e
  })
# rank 1 failed first and told rank 0; rank 0 notes when its own error came
res <- list(rank = r, class = class(err), message = conditionMessage(err), failed_rank = err$failed_rank,
            failed_message = err$failed_message, at = as.double(failed_at))
# later collectives fail at once as well: the communicator is broken
t0 <- Sys.time()
later <- tryCatch(dist_allreduce(1), error = function(e) e)
res$later_class <- class(later)
res$later_waited <- as.double(difftime(Sys.time(), t0, units = "secs"))
saveRDS(res, file.path(out_dir, sprintf("fault%d.rds", r)))
