#!/usr/bin/env Rscript
# LeNet on Fashion-MNIST trained with fit(strategy = strategy_data_parallel()): throughput and
# the share of the step spent in gradient all-reduces. Run by distributed-lenet.sh as
#
#   Rscript distributed-lenet.R --threads 1                               # 1 rank x 1 thread
#   mpirun -np 2 Rscript distributed-lenet.R --threads 1                  # 2 ranks x 1 thread
#   Rscript distributed-lenet.R --threads 2                               # 1 rank x 2 threads
#
# The model, data and optimizer are lenet.R's (lenet-common.R); the batch (--batch-size, 128)
# is the global one: each of N ranks computes batch/N examples of it.
# Printed by rank 0 (one "key value" pair per line; '#' lines are comments):
#   train_img_per_s   images of all ranks per second of wall time over --steps steps after
#                     --warmup-steps (the end of every step is stamped by a callback)
#   step_ms           wall time per step over the --profile-steps steps profiled afterwards
#   comm_ms           per step, the time inside the all-reduce kernels (sym_profile(): each
#                     kernel timed on its own); rank 0's, then the mean over ranks
#   comm_fraction     comm_ms / step_ms. It includes the wait for the slower rank: an
#                     all-reduce completes when the last rank joins it
#   overlap_ms        communication hidden behind compute: the kernel times summed minus the
#                     step's wall time when positive. The executor runs a step's kernels one
#                     after the other on one thread and an all-reduce kernel returns only
#                     when the reduction is complete, so nothing overlaps: 0 here
suppressPackageStartupMessages(library(symnet))
args <- commandArgs(trailingOnly = TRUE)
opt <- list(threads = 1L, steps = 150L, `warmup-steps` = 20L, `profile-steps` = 40L, `batch-size` = 128L,
            `bucket-mb` = 25, seed = 42L, data = Sys.getenv("SYMNET_DATA_DIR", "/usr/share/datasets/fashion-mnist"))
for (i in seq_len((length(args) + 1L) %/% 2L) * 2L - 1L) {
  key <- sub("^--", "", args[[i]])
  if (!key %in% names(opt) || i == length(args)) stop("usage: distributed-lenet.R [--", paste(names(opt), collapse = " N] [--"), " N]")
  opt[[key]] <- methods::as(args[[i + 1L]], class(opt[[key]]))
}
here <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(if (length(here)) dirname(here[1]) else ".", "lenet-common.R"))

# under mpirun (Open MPI, MPICH or SLURM set these), a rank of a data-parallel job
launched <- any(nzchar(Sys.getenv(c("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"))))
if (launched) dist_init()
rank <- dist_rank()
ranks <- dist_size()
note <- function(...) if (rank == 0L) cat("#", ..., "\n")
symnet_threads(opt$threads)
note(sprintf("symnet %s, %d rank(s) x %d thread(s), %s", format(utils::packageVersion("symnet")), ranks,
             symnet_threads(), dist_info()$description))

d <- lenet_data(opt$data, "graph")
dim(d$x_train) <- c(length(d$y_train), 1L, 28L, 28L)
model <- lenet_model("graph", opt$seed)
now <- function() as.numeric(Sys.time())
warm <- opt$`warmup-steps`
timed_end <- warm + opt$steps
prof_end <- timed_end + opt$`profile-steps`
stamps <- numeric(prof_end)
prof <- NULL
step <- 0L
train_fn <- function(state) get("cache", envir = state$model)$train$fn
meter <- callback_lambda(on_batch_end = function(batch, logs, state) {
  step <<- step + 1L
  stamps[step] <<- now()
  if (step == timed_end) sym_profile(train_fn(state), TRUE)
  if (step == prof_end) {
    prof <<- sym_profile(train_fn(state))
    sym_profile(train_fn(state), FALSE)
    state$stop_training <- TRUE  # every rank stops at the same step
  }
})
epochs <- ceiling(prof_end * opt$`batch-size` / length(d$y_train))
hist <- fit(model, d$x_train, d$y_train, loss = loss_softmax_cross_entropy(),
            optimizer = optimizer_sgd(0.05, momentum = 0.9), batch_size = opt$`batch-size`, epochs = epochs,
            callbacks = list(meter), seed = opt$seed, verbose = 0,
            strategy = if (ranks > 1) strategy_data_parallel(bucket_mb = opt$`bucket-mb`))
stopifnot(step == prof_end, !is.null(prof))

ips <- opt$steps * opt$`batch-size` / (stamps[timed_end] - stamps[warm])
step_ms <- 1000 * (stamps[prof_end] - stamps[timed_end]) / opt$`profile-steps`
per_step <- function(ops) sum(prof$ms[prof$op %in% ops]) / opt$`profile-steps`
comm_ms <- per_step("allreduce")
kernel_ms <- sum(prof$ms) / opt$`profile-steps`
comm_all <- dist_allreduce(replace(numeric(ranks), rank + 1L, comm_ms))
step_all <- dist_allreduce(replace(numeric(ranks), rank + 1L, step_ms))
n_collectives <- sum(prof$op == "allreduce")
note(sprintf("%d all-reduce kernels per step; kernels %.2f ms of a %.2f ms step (the rest: R's loop, batch gathering)",
             n_collectives, kernel_ms, step_ms))
note(sprintf("per rank: comm %s ms, step %s ms", paste(sprintf("%.2f", comm_all), collapse = " / "),
             paste(sprintf("%.2f", step_all), collapse = " / ")))
if (rank == 0L) {
  cat(sprintf("ranks %d\nthreads %d\n", ranks, symnet_threads()))
  cat(sprintf("train_img_per_s %.1f\n", ips))
  cat(sprintf("step_ms %.2f\n", step_ms))
  cat(sprintf("comm_ms %.3f\n", comm_ms))
  cat(sprintf("comm_ms_mean %.3f\n", mean(comm_all)))
  cat(sprintf("comm_fraction %.4f\n", mean(comm_all / step_all)))
  cat(sprintf("overlap_ms %.3f\n", max(0, kernel_ms - step_ms)))
}
if (launched) dist_finalize()
