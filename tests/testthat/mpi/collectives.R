# Run by test-distributed.R as: mpirun -np 2 Rscript collectives.R <out-dir>
# Each rank writes what it computed to <out-dir>/rank<r>.rds; the test compares them.
suppressPackageStartupMessages(library(symnet))
out_dir <- commandArgs(trailingOnly = TRUE)[1]
info <- dist_init()
r <- dist_rank()
n <- dist_size()
res <- list(info = info, rank = r, size = n)

res$sum <- dist_allreduce(c(1, 2) * (r + 1), "sum")
res$mean <- dist_allreduce(matrix(r, 2, 2), "mean")
res$max <- dist_allreduce(r, "max")
res$bcast <- dist_broadcast(if (r == 1) list(from = "rank 1", v = 1:3) else NULL, root = 1)

# collectives inside a compiled graph
x <- sym_var("x", c(2, 3))
f <- sym_compile(list(total = sym_allreduce(x), avg = sym_allreduce(x, "mean"),
                      all = sym_allgather(x), part = sym_reduce_scatter(x),
                      root = sym_broadcast(x, root = 0), rank = sym_comm_rank()))
res$graph <- f(x = matrix(seq_len(6) + 10 * r, 2, 3))

# data parallelism: every rank has half of a batch; the mean over ranks of the half-batch
# gradients equals the whole batch's gradient, computed here without collectives
set.seed(42)
X <- matrix(rnorm(8 * 5), 8, 5)
Y <- matrix(rnorm(8 * 2), 8, 2)
w <- sym_shared(matrix(rnorm(5 * 2), 5, 2), name = "w")
xs <- sym_var("xs", c(NA, 5))
ys <- sym_var("ys", c(NA, 2))
loss <- sym_mean(sym_square(sym_matmul(xs, w) - ys))
g_local <- sym_compile(sym_grad(loss, list(w = w)))
g_dist <- sym_compile(lapply(sym_grad(loss, list(w = w)), sym_allreduce, reduction = "mean"))
rows <- if (r == 0) 1:4 else 5:8
res$grad_whole <- g_local(xs = X, ys = Y)
res$grad_shared <- g_dist(xs = X[rows, ], ys = Y[rows, ])

# the gradient of a collective: d/dx of sum(allreduce(x * x)) over both ranks' losses
xv <- sym_var("xv", c(3))
gl <- sym_compile(sym_grad(sym_sum(sym_allreduce(xv * xv)), list(xv = xv)))
res$grad_through <- gl(xv = c(1, 2, 3) * (r + 1))

dist_barrier()
saveRDS(res, file.path(out_dir, sprintf("rank%d.rds", r)))
dist_finalize()
