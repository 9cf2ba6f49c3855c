#!/usr/bin/env Rscript
# Recurrent layers against PyTorch's CPU nn.LSTM / nn.GRU, measured in the same run.
#
#   Rscript inst/benchmarks/lstm.R [--reps 20] [--threads "1 2"] [--skip-torch] [--skip-scan]
#
# One layer, seq 50, batch 64, input 128, hidden 256, float32, return_sequences.
# training: one compiled function computing the layer, a fixed linear loss of its
#   outputs and the gradients with respect to the input and every weight (what
#   y.backward(g) computes in lstm_torch.py); inference: the outputs only.
# Figures are the best of --reps calls, in sequences per second. PyTorch runs
# inst/benchmarks/lstm_torch.py with PYTHON (default /usr/bin/python3) at each thread
# count; ratios compare each side's best thread count (the issue's goal: >= 1.5x).
# "lstm (scan)" is the same LSTM built with sym_scan() (implementation = "scan"): how
# much the fused kernel buys.
#
# Both sides spend most of the step in sgemm. OpenBLAS picks its kernels from the CPU it
# detects; on some virtual machines it falls back to a generic one (see the "BLAS" line
# printed below); OPENBLAS_CORETYPE (e.g. SkylakeX, Haswell) set before starting R
# overrides the detection for both sides.
suppressPackageStartupMessages(library(symnet))

opt <- list(reps = 20, threads = "1 2", skip_torch = FALSE, skip_scan = FALSE)
a <- commandArgs(trailingOnly = TRUE)
i <- 1
while (i <= length(a)) {
  switch(a[i],
    "--reps" = { opt$reps <- as.integer(a[i + 1]); i <- i + 1 },
    "--threads" = { opt$threads <- a[i + 1]; i <- i + 1 },
    "--skip-torch" = opt$skip_torch <- TRUE,
    "--skip-scan" = opt$skip_scan <- TRUE,
    stop("unknown argument ", a[i]))
  i <- i + 1
}
threads <- as.integer(strsplit(opt$threads, " ")[[1]])
seq_len_ <- 50
batch <- 64
n_in <- 128
hidden <- 256

best_ms <- function(f, reps) {
  f()
  f()
  b <- Inf
  for (r in seq_len(reps)) b <- min(b, system.time(f())[["elapsed"]] * 1000)
  b
}

set.seed(0)
xs <- array(runif(batch * seq_len_ * n_in, -1, 1), c(batch, seq_len_, n_in))
g <- array(runif(batch * seq_len_ * hidden, -1, 1), c(batch, seq_len_, hidden))

measure <- function(layer, impl) {
  x <- sym_var("x", c(batch, seq_len_, n_in))
  y <- layer(x, hidden, return_sequences = TRUE, implementation = impl)
  params <- sym_model(x, y)$params
  loss <- sym_sum(y * sym_const(g))
  train <- sym_compile(sym_grad(loss, c(list(x = x), unname(params))))
  infer <- sym_compile(y)
  t(vapply(threads, function(nt) {
    symnet_threads(nt)
    c(threads = nt, train = best_ms(function() train(x = xs), opt$reps),
      infer = best_ms(function() infer(x = xs), opt$reps))
  }, numeric(3)))
}

blas <- tryCatch(extSoftVersion()[["BLAS"]], error = function(e) "?")
cat(sprintf("# seq %d, batch %d, input %d, hidden %d, float32; best of %d; BLAS %s; OPENBLAS_CORETYPE=%s\n",
            seq_len_, batch, n_in, hidden, opt$reps, blas, Sys.getenv("OPENBLAS_CORETYPE", "(unset)")))
rows <- list()
add <- function(what, m) {
  for (k in seq_len(nrow(m))) {
    rows[[length(rows) + 1]] <<- data.frame(what = what, threads = m[k, "threads"],
                                            train_seq_s = batch * 1000 / m[k, "train"],
                                            infer_seq_s = batch * 1000 / m[k, "infer"])
  }
}
add("symnet lstm", measure(layer_lstm, "fused"))
add("symnet gru", measure(layer_gru, "fused"))
if (!opt$skip_scan) add("symnet lstm (scan)", measure(layer_lstm, "scan"))

if (!opt$skip_torch) {
  py <- Sys.getenv("PYTHON", "/usr/bin/python3")
  script <- file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])),
                      "lstm_torch.py")
  for (cell in c("lstm", "gru")) {
    out <- tryCatch(system2(py, c(script, "--cell", cell, opt$reps, threads), stdout = TRUE, stderr = TRUE),
                    warning = function(w) character(), error = function(e) character())
    hits <- regmatches(out, regexec("threads ([0-9]+): training +([0-9.]+) ms.* inference +([0-9.]+) ms", out))
    hits <- Filter(length, hits)
    if (!length(hits)) {
      cat("# PyTorch (", cell, ") did not run: ", paste(utils::head(out, 3), collapse = " "), "\n", sep = "")
      next
    }
    add(paste("torch", cell), t(vapply(hits, function(h) {
      c(threads = as.numeric(h[2]), train = as.numeric(h[3]), infer = as.numeric(h[4]))
    }, numeric(3))))
  }
}

tab <- do.call(rbind, rows)
print(format(tab, digits = 4), row.names = FALSE)
best <- function(w, col) max(tab[tab$what == w, col])
for (cell in c("lstm", "gru")) {
  s <- paste("symnet", cell)
  t <- paste("torch", cell)
  if (!t %in% tab$what) next
  cat(sprintf("%s: training %.2fx, inference %.2fx PyTorch's best thread count (goal >= 1.5x)\n", cell,
              best(s, "train_seq_s") / best(t, "train_seq_s"), best(s, "infer_seq_s") / best(t, "infer_seq_s")))
}
if ("symnet lstm (scan)" %in% tab$what) {
  cat(sprintf("lstm built with sym_scan: training %.2fx, inference %.2fx the fused kernel's speed\n",
              best("symnet lstm (scan)", "train_seq_s") / best("symnet lstm", "train_seq_s"),
              best("symnet lstm (scan)", "infer_seq_s") / best("symnet lstm", "infer_seq_s")))
}
