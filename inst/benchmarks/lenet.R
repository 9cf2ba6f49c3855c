#!/usr/bin/env Rscript
# Classic LeNet on Fashion-MNIST with symnet: the benchmark of issue 3, section 5.
#
#   Rscript inst/benchmarks/lenet.R --threads 2 --epochs 2
#   Rscript inst/benchmarks/lenet.R --threads 2 --max-steps 60   # quick run
#
# Model: conv 5x5x20 tanh, max-pool 2, conv 5x5x50 tanh, max-pool 2,
# dense 500 tanh, dense 10; softmax cross-entropy from logits;
# SGD lr 0.05 momentum 0.9; batch 128, shuffled every epoch; inputs in [0, 1].
# The companion lenet_torch.py runs the same with PyTorch; run-lenet.sh runs both.
#
# Printed lines (one "key value" pair per line; '#' lines are comments):
#   train_img_per_s  steady-state training throughput. A callback stamps the
#                    wall clock at the end of every batch; the figure is the
#                    images of the batches after the first --warmup-steps (20)
#                    divided by the wall time from the end of batch 20 to the
#                    end of the last batch. This counts everything fit() does
#                    per step (gathering the mini-batch rows, the compiled
#                    forward/backward/update graph, the R loop around it, the
#                    epoch boundary) and leaves out the set-up: data checks and
#                    conversion, graph compilation, first-call allocations.
#   eval_img_per_s   predict() over the 10 000 test images in batches of
#                    --eval-batch (1000, as lenet_torch.py); best of
#                    --eval-reps (3) passes (the conversion of the test array
#                    into engine memory, done by every predict() call, is in).
#   test_accuracy    fraction correct on the test images after training.
#   peak_rss_mb      peak resident set size, VmHWM of /proc/self/status, MiB.
#   train_img_per_cpu_s, eval_img_per_cpu_s
#                    the same images divided by the process CPU time (all threads,
#                    user + system) instead of the wall time: less sensitive to a
#                    loaded machine, blind to idle waits.
#
# --profile K times every kernel of the training graph with sym_profile() over the K
# steps after the warm-up and prints the table as '#' lines (leave it off when
# timing: profiling adds a clock read per kernel).
# --scale graph (default) feeds the integer pixels and scales them in the model
# (layer_rescaling(1/255) as the first layer, keras' idiom): R keeps only the integer
# arrays dataset_fashion_mnist() returns and fit()/predict() keep one byte per pixel
# in engine memory. --scale r scales in R (x / 255): R then also holds a double copy
# (8 bytes per pixel) and the engine float32 (4 bytes per pixel).

args <- commandArgs(trailingOnly = TRUE)
opt <- list(threads = 1L, epochs = 2L, `max-steps` = 0L, `batch-size` = 128L,
            `eval-batch` = 1000L, `eval-reps` = 3L, `warmup-steps` = 20L, seed = 42L,
            data = Sys.getenv("SYMNET_DATA_DIR", "/usr/share/datasets/fashion-mnist"),
            scale = "graph", verbose = 0L, profile = 0L)
i <- 1L
while (i <= length(args)) {
  a <- args[[i]]
  if (a %in% c("-h", "--help")) {
    cat("usage: Rscript lenet.R [--threads N] [--epochs E] [--max-steps S] [--batch-size B]\n",
        "       [--eval-batch B] [--eval-reps R] [--warmup-steps W] [--seed S] [--data DIR]\n",
        "       [--scale r|graph] [--verbose 0|1|2] [--profile K]\n", sep = "")
    quit(status = 0)
  }
  kv <- regmatches(a, regexpr("=", a), invert = TRUE)[[1]]
  key <- sub("^--", "", kv[[1]])
  if (!startsWith(a, "--") || !key %in% names(opt)) stop("unknown argument: ", a)
  if (length(kv) == 2L) {
    val <- kv[[2]]
  } else {
    i <- i + 1L
    if (i > length(args)) stop("missing value for ", a)
    val <- args[[i]]
  }
  opt[[key]] <- if (is.integer(opt[[key]])) as.integer(val) else val
  i <- i + 1L
}
stopifnot(opt$scale %in% c("r", "graph"))

vm_status <- function(field) {
  l <- grep(paste0("^", field, ":"), readLines("/proc/self/status"), value = TRUE)
  if (!length(l)) return(NA_real_)
  as.numeric(gsub("[^0-9]", "", l)) / 1024  # kB -> MiB
}
loadavg <- function() {
  la <- tryCatch(strsplit(readLines("/proc/loadavg"), " ")[[1]][1:3], error = function(e) NA)
  paste(la, collapse = " ")
}
now <- function() as.numeric(Sys.time())
# Profiling hook (development): with SYMNET_BENCH_PERF_CTL naming the control fifo of
# `perf record --control fifo:CTL -D -1 ...`, sampling is switched on for the steady-state
# training steps (SYMNET_BENCH_PERF_PHASE=train, the default) or for the predict() passes
# (SYMNET_BENCH_PERF_PHASE=eval) only. See README.md.
perf_ctl <- Sys.getenv("SYMNET_BENCH_PERF_CTL")
perf_phase <- Sys.getenv("SYMNET_BENCH_PERF_PHASE", "train")
perf_cmd <- function(phase, cmd) {
  if (nzchar(perf_ctl) && identical(phase, perf_phase)) {
    con <- file(perf_ctl, "w", raw = TRUE)
    writeLines(cmd, con)
    close(con)
  }
}
cpu <- function() { p <- proc.time(); p[["user.self"]] + p[["sys.self"]] }  # all threads
note <- function(...) cat("#", ..., "\n")

if (nzchar(Sys.getenv("SYMNET_BENCH_LOAD"))) {
  source(Sys.getenv("SYMNET_BENCH_LOAD"))  # development only: a loader script instead of library()
} else {
  suppressPackageStartupMessages(library(symnet))
}
# the data and model, shared with distributed-lenet.R
here <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(if (length(here)) dirname(here[1]) else ".", "lenet-common.R"))
symnet_threads(opt$threads)
note(sprintf("symnet %s, threads %d, loadavg at start %s", format(utils::packageVersion("symnet")),
             symnet_threads(), loadavg()))

# ---- data ---------------------------------------------------------------------------------------
d <- lenet_data(opt$data, opt$scale, note = function(ds) {
  note(sprintf("after dataset_fashion_mnist(): VmRSS %.0f MiB, VmHWM %.0f MiB", vm_status("VmRSS"),
               vm_status("VmHWM")))
})
x_train <- d$x_train
x_test <- d$x_test
y_train <- d$y_train
y_test <- d$y_test
n_test <- length(y_test)
rm(d)
dim(x_train) <- c(length(y_train), 1L, 28L, 28L)  # in place at top level (lenet-common.R)
dim(x_test) <- c(n_test, 1L, 28L, 28L)
invisible(gc())
note(sprintf("data in R (%s): VmRSS %.0f MiB, VmHWM %.0f MiB", typeof(x_train), vm_status("VmRSS"),
             vm_status("VmHWM")))

# ---- model --------------------------------------------------------------------------------------
model <- lenet_model(opt$scale, opt$seed)
if (opt$verbose > 0) print(model)

# ---- training -----------------------------------------------------------------------------------
step <- 0L
warm <- opt$`warmup-steps`
t_mark <- NA_real_
t_last <- NA_real_
c_mark <- NA_real_
c_last <- NA_real_
steady_imgs <- 0
t_fit <- now()
prof <- NULL
train_fn <- function(state) {  # the compiled training step fit() is running
  cache <- get("cache", envir = state$model)
  cache$train$fn
}
timer <- callback_lambda(
  on_batch_end = function(batch, logs, state) {
    t <- now()
    c <- cpu()
    step <<- step + 1L
    if (opt$profile > 0 && step == warm) sym_profile(train_fn(state), TRUE)
    if (opt$profile > 0 && step == warm + opt$profile) {
      f <- train_fn(state)
      prof <<- sym_profile(f)
      sym_profile(f, FALSE)
    }
    if (step == warm) {
      perf_cmd("train", "enable")
      t_mark <<- t
      c_mark <<- c
    }
    if (step > warm) {
      steady_imgs <<- steady_imgs + logs$size
      t_last <<- t
      c_last <<- c
    }
    if (opt$`max-steps` > 0 && step >= opt$`max-steps`) state$stop_training <- TRUE
  },
  on_epoch_end = function(epoch, logs) {
    note(sprintf("epoch %d: loss %.4f, steps %d, elapsed %.1fs, loadavg %s", epoch, logs$loss, step,
                 now() - t_fit, loadavg()))
  })
hist <- fit(model, x_train, y_train, loss = loss_softmax_cross_entropy(),
            optimizer = optimizer_sgd(0.05, momentum = 0.9), batch_size = opt$`batch-size`,
            epochs = opt$epochs, callbacks = list(timer), seed = opt$seed, verbose = opt$verbose)
perf_cmd("train", "disable")
train_wall <- now() - t_fit
train_ips <- if (steady_imgs > 0) steady_imgs / (t_last - t_mark) else NA_real_
if (!is.null(prof)) {
  note(sprintf("sym_profile() of %d training steps (batch %d), threads %d: ms per step", opt$profile,
               opt$`batch-size`, symnet_threads()))
  tab <- data.frame(op = prof$op, node = prof$node, ms_per_step = round(prof$ms / opt$profile, 3),
                    share = sprintf("%.1f%%", 100 * prof$share))
  out <- utils::capture.output(print(tab, row.names = FALSE))
  for (l in out) note(l)
  note(sprintf("total %.2f ms per step", sum(prof$ms) / opt$profile))
}
note(sprintf("after fit: VmRSS %.0f MiB, VmHWM %.0f MiB", vm_status("VmRSS"), vm_status("VmHWM")))

# ---- evaluation ---------------------------------------------------------------------------------
best <- Inf
best_cpu <- Inf
pred <- NULL
perf_cmd("eval", "enable")
for (r in seq_len(max(1L, opt$`eval-reps`))) {
  t0 <- now()
  c0 <- cpu()
  pred <- predict(model, x_test, batch_size = opt$`eval-batch`)
  best <- min(best, now() - t0)
  best_cpu <- min(best_cpu, cpu() - c0)
}
perf_cmd("eval", "disable")
acc <- mean(max.col(pred, ties.method = "first") - 1L == y_test)

note(sprintf("train: %d steps in %.2fs incl. set-up (steady: %d images in %.2fs after %d warm-up steps)",
             step, train_wall, as.integer(steady_imgs), t_last - t_mark, warm))
note(sprintf("eval: batch %d, best of %d predict() passes over %d images", opt$`eval-batch`,
             opt$`eval-reps`, n_test))
note(sprintf("scale in %s; loadavg at end %s", opt$scale, loadavg()))
cat("framework symnet\n")
cat(sprintf("threads %d\n", symnet_threads()))
cat(sprintf("steps %d\n", step))
cat(sprintf("train_img_per_s %.1f\n", train_ips))
cat(sprintf("eval_img_per_s %.1f\n", n_test / best))
cat(sprintf("train_img_per_cpu_s %.1f\n", if (steady_imgs > 0) steady_imgs / (c_last - c_mark) else NA_real_))
cat(sprintf("eval_img_per_cpu_s %.1f\n", n_test / best_cpu))
cat(sprintf("test_accuracy %.4f\n", acc))
cat(sprintf("peak_rss_mb %.1f\n", vm_status("VmHWM")))
