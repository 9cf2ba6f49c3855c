# Run by test-distributed.R as: mpirun -np 2 Rscript infer.R <out-dir>
# Every rank builds the same model; predict() and evaluate() with strategy_data_parallel()
# (each rank on its share of the rows) against the same calls in one process.
suppressPackageStartupMessages(library(symnet))
out_dir <- commandArgs(trailingOnly = TRUE)[1]
dist_init()
r <- dist_rank()
set.seed(3)
x <- matrix(rnorm(37 * 5), 37, 5)  # 37 rows: 18 on rank 0, 19 on rank 1
y <- sample(0:2, 37, replace = TRUE)
set.seed(21)
inp <- sym_var("x", c(NA, 5))
h <- layer_batch_norm(layer_dense(inp, 6, name = "d1"), name = "bn")
logits <- layer_dense(sym_relu(h), 3, name = "out")
m <- sym_model(inp, logits)
# two outputs: predictions come back as a named list
m2 <- sym_model(inp, list(logits = logits, score = sym_sum(logits, axis = 2)))
dp <- strategy_data_parallel()
acc <- function(y_true, y_pred) as.double(max.col(y_pred) - 1 == y_true)
res <- list(rank = r)
res$pred <- predict(m, x, batch_size = 5, strategy = dp)
res$pred2 <- predict(m2, x, batch_size = 7, strategy = dp)
res$pred_one_row <- predict(m, x[1, , drop = FALSE], strategy = dp)  # rank 1 has no rows
res$eval <- evaluate(m, x, y, loss = "softmax_cross_entropy", metrics = list(acc = acc), batch_size = 4,
                     strategy = dp)
res$eval_weighted <- evaluate(m, x, y, loss = "softmax_cross_entropy", batch_size = 37,
                              sample_weight = seq_len(37) / 10, strategy = dp)
if (r == 0) {
  # the same in this process alone
  res$pred_alone <- predict(m, x, batch_size = 5)
  res$pred2_alone <- predict(m2, x, batch_size = 7)
  res$pred_one_row_alone <- predict(m, x[1, , drop = FALSE])
  res$eval_alone <- evaluate(m, x, y, loss = "softmax_cross_entropy", metrics = list(acc = acc), batch_size = 4)
}
dist_barrier()
saveRDS(res, file.path(out_dir, sprintf("infer%d.rds", r)))
dist_finalize()
