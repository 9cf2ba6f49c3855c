#!/usr/bin/env Rscript
# The projection table of SCALING.md: ring all-reduce cost and data-parallel scaling
# efficiency for ResNet-50 on 8 to 256 GPUs, under the assumptions stated there.
#
#   Rscript inst/benchmarks/scaling-model.R [--latency-us A --bandwidth-GBps B]   # add a network
#
# Ring all-reduce of S bytes over N ranks, in k buckets (one all-reduce each):
#   t(N) = 2 (N - 1) / N * S / B  +  2 (N - 1) * alpha * k
# Efficiency of a step of compute time c:
#   no overlap:   c / (c + t)
#   full overlap: c / max(c, t + tail), tail = the last bucket's all-reduce, which
#                 can only start when the backward pass ends
args <- commandArgs(trailingOnly = TRUE)
params <- 25.6e6               # ResNet-50
S <- params * 4                # fp32 gradients, bytes
bucket <- 25 * 2^20            # strategy_data_parallel()'s default bucket_mb = 25
k <- ceiling(S / bucket)
nets <- list(
  "100 Gb/s InfiniBand" = c(alpha = 5e-6, B = 10e9),   # EDR, ~80% of 12.5 GB/s line rate
  "25 GbE (TCP)" = c(alpha = 30e-6, B = 2.5e9)          # ~80% of 3.125 GB/s line rate
)
if (length(args) >= 4) {
  a <- as.numeric(args[which(args == "--latency-us") + 1]) * 1e-6
  b <- as.numeric(args[which(args == "--bandwidth-GBps") + 1]) * 1e9
  nets[["given network"]] <- c(alpha = a, B = b)
}
steps <- c(0.25, 0.1)          # compute seconds per step per GPU (see SCALING.md)
N <- c(8, 16, 32, 64, 128, 256)
rows <- list()
for (net in names(nets)) {
  p <- nets[[net]]
  for (n in N) {
    t <- 2 * (n - 1) / n * S / p[["B"]] + 2 * (n - 1) * p[["alpha"]] * k
    tail <- 2 * (n - 1) / n * min(S, bucket) / p[["B"]] + 2 * (n - 1) * p[["alpha"]]
    row <- data.frame(network = net, gpus = n, allreduce_ms = round(1000 * t, 1))
    for (c in steps) {
      row[[sprintf("eff_%gs_no_overlap", c)]] <- sprintf("%.0f%%", 100 * c / (c + t))
      row[[sprintf("eff_%gs_overlap", c)]] <- sprintf("%.0f%%", 100 * c / max(c + tail, t + tail))
    }
    rows[[length(rows) + 1L]] <- row
  }
}
cat(sprintf("# ResNet-50: %.1f MB of fp32 gradients in %d buckets of %g MiB\n", S / 1e6, k, bucket / 2^20))
print(do.call(rbind, rows), row.names = FALSE)
