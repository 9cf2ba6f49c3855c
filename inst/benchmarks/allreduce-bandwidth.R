#!/usr/bin/env Rscript
# All-reduce time and bandwidth of symnet's MPI communicator on this machine, over message
# sizes from 8 bytes to 256 MiB: the measured input of SCALING.md's cost model.
#
#   mpirun --oversubscribe -np 2 Rscript inst/benchmarks/allreduce-bandwidth.R [--max-mb 256] [--seconds 1]
#
# Each size is all-reduced (sum of doubles, dist_allreduce()) repeatedly for about
# --seconds, after a barrier and two warm-up calls; the time is the median of the calls.
# Rank 0 prints, per size: bytes, microseconds per call, algorithm bandwidth (bytes / time)
# and bus bandwidth (algorithm bandwidth x 2(N-1)/N, what each rank's link carries in a ring
# all-reduce; the convention of nccl-tests), and the fitted latency and bandwidth of
# t = 2(N-1) alpha + 2(N-1)/N S / B (least squares over the sizes).
# dist_allreduce() also copies the R vector once before the reduction (R values are
# immutable), so large sizes include one memory copy; the engine's in-graph all-reduce of
# gradients reduces in place.
suppressPackageStartupMessages(library(symnet))
args <- commandArgs(trailingOnly = TRUE)
opt <- list(`max-mb` = 256, seconds = 1)
for (i in seq_len((length(args) + 1L) %/% 2L) * 2L - 1L) opt[[sub("^--", "", args[[i]])]] <- as.numeric(args[[i + 1L]])
dist_init()
n <- dist_size()
rank <- dist_rank()
sizes <- 2^(seq(3, log2(opt$`max-mb` * 2^20), by = 2))  # bytes: 8 B, 32 B, ... max
rows <- list()
for (bytes in sizes) {
  x <- runif(bytes / 8)
  dist_barrier()
  for (w in 1:2) dist_allreduce(x)
  times <- numeric(0)
  t_end <- as.numeric(Sys.time()) + opt$seconds
  repeat {
    dist_barrier()
    t0 <- as.numeric(Sys.time())
    dist_allreduce(x)
    times <- c(times, as.numeric(Sys.time()) - t0)
    # every rank runs the same number of calls: rank 0 decides when to stop
    if (!dist_broadcast(as.numeric(Sys.time()) < t_end && length(times) < 2000)) break
  }
  t <- stats::median(times)
  rows[[length(rows) + 1L]] <- data.frame(bytes = bytes, us = 1e6 * t, calls = length(times),
                                          algbw_GBps = bytes / t / 1e9,
                                          busbw_GBps = bytes / t / 1e9 * 2 * (n - 1) / n)
}
tab <- do.call(rbind, rows)
if (rank == 0L) {
  cat(sprintf("# %s, %d ranks on %s, loadavg %s\n", dist_info()$description, n, Sys.info()[["nodename"]],
              paste(strsplit(readLines("/proc/loadavg"), " ")[[1]][1:3], collapse = " ")))
  print(format(tab, digits = 4), row.names = FALSE)
  # The model's parameters: alpha from the small messages (t = 2(N-1) alpha), the bus
  # bandwidth from the large ones (the best, and that of the largest message: on a loaded
  # machine large transfers fall out of the caches and compete for memory bandwidth).
  small <- tab$bytes <= 512
  alpha <- stats::median(tab$us[small]) / 1e6 / (2 * (n - 1))
  large <- tab$bytes >= 2^17
  cat(sprintf("latency_us %.2f\n", 1e6 * alpha))
  cat(sprintf("busbw_best_GBps %.3f\n", max(tab$busbw_GBps[large])))
  cat(sprintf("busbw_largest_GBps %.3f\n", tab$busbw_GBps[nrow(tab)]))
}
dist_finalize()
