# Run by test-distributed.R as: mpirun -np 2 Rscript timeout.R <out-dir>
# Rank 1 never joins the all-reduce: rank 0's must fail after its timeout with a classed
# error instead of waiting forever.
suppressPackageStartupMessages(library(symnet))
out_dir <- commandArgs(trailingOnly = TRUE)[1]
dist_init(timeout = 1)
if (dist_rank() == 0) {
  t0 <- Sys.time()
  err <- tryCatch({
    dist_allreduce(1)
    NULL
  }, symnet_comm_error = function(e) e)
  saveRDS(list(class = class(err), message = conditionMessage(err),
               waited = as.double(difftime(Sys.time(), t0, units = "secs"))),
          file.path(out_dir, "timeout0.rds"))
  saveRDS(list(), file.path(out_dir, "timeout1.rds"))
  # MPI cannot be finalized with the other rank's collective outstanding: end the job
  quit(save = "no", status = 0)
} else {
  Sys.sleep(4)
}
