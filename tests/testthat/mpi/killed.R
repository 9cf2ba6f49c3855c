# Run by test-distributed.R as: mpirun [--enable-recovery] -np 2 Rscript killed.R <out-dir>
# Rank 1 is killed (SIGKILL) at the start of epoch 2 of a data-parallel fit(). Plain mpirun
# then ends the whole job; with --enable-recovery rank 0 lives on and its all-reduce must
# fail after the timeout, naming rank 1 as the one that never arrived.
suppressPackageStartupMessages(library(symnet))
out_dir <- commandArgs(trailingOnly = TRUE)[1]
dist_init(timeout = 3)
r <- dist_rank()
set.seed(1)
x <- matrix(rnorm(64 * 4), 64, 4)
y <- sample(0:1, 64, replace = TRUE)
inp <- sym_var("x", c(NA, 4))
m <- sym_model(inp, layer_dense(inp, 2))
started <- NULL
die <- callback_lambda(on_epoch_begin = function(epoch, logs, state) {
  if (epoch == 2) started <<- Sys.time()
  if (dist_rank() == 1 && epoch == 2) tools::pskill(Sys.getpid(), tools::SIGKILL)
})
err <- tryCatch(fit(m, x, y, loss = "softmax_cross_entropy", batch_size = 8, epochs = 4, verbose = 0, seed = 1,
                    callbacks = list(die), strategy = strategy_data_parallel()),
                error = function(e) e)
saveRDS(list(class = class(err), message = conditionMessage(err), failed_rank = err$failed_rank,
             waited = as.double(difftime(Sys.time(), started, units = "secs"))),
        file.path(out_dir, sprintf("killed%d.rds", r)))
