#!/usr/bin/env Rscript
# Bernoulli RBM training against scikit-learn's BernoulliRBM, measured in the same run.
#
#   Rscript inst/benchmarks/rbm.R [--epochs 5] [--threads 2] [--n 60000] [--skip-sklearn]
#
# 784 visible (Fashion-MNIST's 60 000 training images scaled to [0, 1]), 256 hidden units,
# batch 64, learning rate 0.1, no momentum or weight decay, float32 on both sides.
# scikit-learn's BernoulliRBM knows one algorithm, persistent CD-1 (PCD-1) without
# shuffling; symnet runs CD-1 (the issue's setting) and PCD-1 (sklearn's algorithm).
# Figures: seconds per epoch, as the time of one whole fit() of all the epochs divided by
# their number, on both sides (each includes its one-off costs: data checks and conversion,
# compilation for symnet, validation for sklearn; symnet also computes its per-epoch
# monitoring figures on 2048 images, which sklearn does not), and the pseudo-log-likelihood
# after the last epoch. The PLL of both sides is
# computed the same way: by symnet's evaluate() (sklearn's definition, score_samples()) on
# the same training images, sklearn's weights being loaded into a symnet RBM; sklearn's own
# score_samples() is printed too. Both sides use the same number of threads (symnet's pool;
# OpenBLAS / OpenMP threads for numpy). Needs dataset-fashion-mnist and python3-sklearn
# (Debian). On a shared machine the figures are noisy: compare within one run.
suppressPackageStartupMessages(library(symnet))

opt <- list(epochs = 5L, threads = 2L, n = 60000L, skip_sklearn = FALSE)
a <- commandArgs(trailingOnly = TRUE)
i <- 1
while (i <= length(a)) {
  switch(a[i],
    "--epochs" = { opt$epochs <- as.integer(a[i + 1]); i <- i + 1 },
    "--threads" = { opt$threads <- as.integer(a[i + 1]); i <- i + 1 },
    "--n" = { opt$n <- as.integer(a[i + 1]); i <- i + 1 },
    "--skip-sklearn" = opt$skip_sklearn <- TRUE,
    stop("unknown argument ", a[i]))
  i <- i + 1
}

fm <- dataset_fashion_mnist()
n <- min(opt$n, dim(fm$train$x)[1])
# one image per row, pixels in row-major order (as numpy reads the IDX file)
x <- t(apply(fm$train$x[seq_len(n), , , drop = FALSE], 1, function(img) as.vector(t(img)))) / 255
symnet_threads(opt$threads)
blas <- tryCatch(extSoftVersion()[["BLAS"]], error = function(e) "?")
cat(sprintf("# %d images x 784, 256 hidden, batch 64, lr 0.1, %d epochs, %d threads; BLAS %s\n",
            n, opt$epochs, opt$threads, blas))

# PLL by symnet's evaluate(), mean of 3 draws of the flipped units
pll_of <- function(r) mean(vapply(1:3, function(s) evaluate(r, x, seed = s)[["pseudo_loglik"]], numeric(1)))

run_symnet <- function(persistent) {
  set.seed(0)
  r <- rbm(784, 256)
  secs <- system.time(fit(r, x, epochs = opt$epochs, batch_size = 64, learning_rate = 0.1,
                          persistent = persistent, shuffle = !persistent, verbose = 0))[["elapsed"]]
  list(secs = secs / opt$epochs, pll = pll_of(r))
}
rows <- list()
add <- function(what, res) {
  rows[[length(rows) + 1]] <<- data.frame(what = what, epoch_s = res$secs, pll = res$pll)
}
add("symnet CD-1", run_symnet(FALSE))
add("symnet PCD-1", run_symnet(TRUE))

if (!opt$skip_sklearn) {
  py <- Sys.getenv("PYTHON", "/usr/bin/python3")
  script <- file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])),
                      "rbm_sklearn.py")
  data_file <- tempfile(fileext = ".bin")
  w_file <- tempfile(fileext = ".bin")
  writeBin(as.vector(t(x)), data_file, size = 4)
  env <- paste0(c("OMP_NUM_THREADS=", "OPENBLAS_NUM_THREADS=", "MKL_NUM_THREADS="), opt$threads)
  out <- tryCatch(system2(py, c(script, data_file, n, opt$epochs, "float32", w_file), env = env,
                          stdout = TRUE, stderr = TRUE),
                  warning = function(w) conditionMessage(w), error = function(e) conditionMessage(e))
  ep <- grep("^epoch_s ", out, value = TRUE)
  if (!length(ep) || !file.exists(w_file)) {
    cat("# scikit-learn did not run: ", paste(utils::tail(out, 3), collapse = " "), "\n", sep = "")
  } else {
    secs <- as.numeric(sub("^epoch_s ", "", ep))
    own <- as.numeric(sub("^pll ", "", grep("^pll ", out, value = TRUE)))
    wv <- readBin(w_file, "double", n = 784 * 256 + 784 + 256, size = 4)
    r <- rbm(784, 256)
    # components_ is [256, 784] row-major: read as a column-major [784, 256] matrix
    set_weights(r, list(weights = matrix(wv[seq_len(784 * 256)], 784, 256),
                        hidden_bias = wv[784 * 256 + seq_len(256)],
                        visible_bias = wv[784 * 256 + 256 + seq_len(784)]))
    add("sklearn BernoulliRBM (PCD-1)", list(secs = secs, pll = pll_of(r)))
    cat(sprintf("# sklearn's own score_samples() mean: %.4f\n", own))
  }
  unlink(c(data_file, w_file))
}
tab <- do.call(rbind, rows)
print(format(tab, digits = 4), row.names = FALSE)
sk <- tab[startsWith(tab$what, "sklearn"), ]
if (nrow(sk)) {
  for (k in which(startsWith(tab$what, "symnet"))) {
    cat(sprintf("%s: %.2fx sklearn's epoch speed (goal >= 3x); PLL %.2f vs %.2f (goal: at least as good)\n",
                tab$what[k], sk$epoch_s / tab$epoch_s[k], tab$pll[k], sk$pll))
  }
}
