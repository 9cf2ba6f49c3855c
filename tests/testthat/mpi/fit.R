# Run by test-distributed.R as: mpirun -np 2 Rscript fit.R <out-dir>
# Rank r trains with strategy_data_parallel(); rank 0 also trains the same model alone (in a
# single-process fit on the whole batches) so the test can compare the weights.
suppressPackageStartupMessages(library(symnet))
out_dir <- commandArgs(trailingOnly = TRUE)[1]
dist_init()
r <- dist_rank()
set.seed(7)
x <- matrix(rnorm(70 * 6), 70, 6)  # 70 rows, batch 16: the last batch has 6
y <- sample(0:2, 70, replace = TRUE)

make_model <- function() {
  set.seed(11)
  inp <- sym_var("x", c(NA, 6))
  h <- layer_dense(inp, 8, activation = "tanh", name = "hidden")
  sym_model(inp, layer_dense(h, 3, name = "out"))
}
train <- function(m, optimizer, strategy) {
  fit(m, x, y, loss = "softmax_cross_entropy", optimizer = optimizer, batch_size = 16, epochs = 3,
      seed = 5, verbose = 0, strategy = strategy)
}
res <- list(rank = r)
for (opt in c("sgd", "adam")) {
  make_opt <- function() if (opt == "sgd") optimizer_sgd(0.1, momentum = 0.9) else optimizer_adam(0.01)
  m <- make_model()
  # ranks start from different weights: fit() must broadcast rank 0's
  if (r == 1) set_weights(m, lapply(get_weights(m), function(w) w + 1))
  h <- train(m, make_opt(), strategy_data_parallel(bucket_mb = 1e-4))
  res[[opt]] <- list(weights = get_weights(m), history = as.data.frame(h))
  if (r == 0) {
    # the same training in this process alone (no strategy: no collectives)
    alone <- make_model()
    h1 <- fit(alone, x, y, loss = "softmax_cross_entropy", optimizer = make_opt(), batch_size = 16,
              epochs = 3, seed = 5, verbose = 0)
    res[[paste0(opt, "_alone")]] <- list(weights = get_weights(alone), history = as.data.frame(h1))
  }
}
# batch norm: each rank normalises its share; running statistics averaged, so the ranks agree
set.seed(11)
inp <- sym_var("x", c(NA, 6))
bn <- sym_model(inp, layer_dense(layer_batch_norm(layer_dense(inp, 8, name = "d1"), name = "bn"), 3, name = "d2"))
train(bn, optimizer_sgd(0.05, momentum = 0.9), strategy_data_parallel())
res$bn <- get_weights(bn)
# synchronized batch norm: the whole batch's statistics on every rank, so two ranks with
# half batches train like one process with whole ones (momentum SGD and Adam)
make_bn <- function() {
  set.seed(13)
  inp <- sym_var("x", c(NA, 6))
  # no bias before the batch norm: its gradient is zero up to rounding, which Adam would
  # blow up into steps of the learning rate's size, differently in every run
  h <- layer_batch_norm(layer_dense(inp, 8, use_bias = FALSE, name = "d1"), momentum = 0.9, name = "bn")
  sym_model(inp, layer_dense(sym_tanh(h), 3, name = "d2"))
}
for (opt in c("sgd", "adam")) {
  make_opt <- function() if (opt == "sgd") optimizer_sgd(0.1, momentum = 0.9) else optimizer_adam(0.01)
  m <- make_bn()
  if (r == 1) set_weights(m, lapply(get_weights(m), function(w) w - 1))
  h <- train(m, make_opt(), strategy_data_parallel(sync_batch_norm = TRUE))
  res[[paste0("sync_", opt)]] <- list(weights = get_weights(m), history = as.data.frame(h))
  if (r == 0) {
    alone <- make_bn()
    h1 <- train(alone, make_opt(), NULL)
    res[[paste0("sync_", opt, "_alone")]] <- list(weights = get_weights(alone), history = as.data.frame(h1))
  }
}
dist_barrier()
saveRDS(res, file.path(out_dir, sprintf("fit%d.rds", r)))
dist_finalize()
