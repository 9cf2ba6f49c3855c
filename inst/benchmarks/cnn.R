#!/usr/bin/env Rscript
# Modern CNNs on the CPU with symnet: the benchmark of issue 14. One network and one
# thread count per process (so that the peak RSS is that run's); run-cnn.sh runs every
# network at 1 and 2 threads against cnn_torch.py (PyTorch) and prints the table.
#
#   Rscript inst/benchmarks/cnn.R --net vgg --threads 2
#   Rscript inst/benchmarks/cnn.R --net resnet18 --threads 2 --steps 4
#   Rscript inst/benchmarks/cnn.R --net mobilenet --threads 1
#   Rscript inst/benchmarks/cnn.R --net gemm --threads 2        # float32 GEMM GFLOP/s
#
# Networks (channels first, float32, random weights):
#   vgg        3x32x32: [conv3x3(32)-BN-ReLU] x2, max-pool 2, [conv3x3(64)-BN-ReLU] x2,
#              max-pool 2, global average pool, dense 10.
#   resnet18   CIFAR ResNet-18: conv3x3(64)-BN-ReLU stem (no max-pool), four stages of two
#              basic blocks (64, 128, 256, 512 channels; stride 2 and a 1x1 conv + BN
#              projection shortcut at stages 2-4), global average pool, dense 10.
#   mobilenet  torchvision's MobileNetV2 (width 1.0, 1000 classes) at 3x224x224, inference
#              only: inverted residual blocks of 1x1 expansion conv-BN-ReLU6, 3x3 depthwise
#              conv (groups = channels)-BN-ReLU6, 1x1 projection conv-BN, residual where the
#              stride is 1 and the channels match. ReLU6 is sym_clip(x, 0, 6).
#   gemm       a compiled sym_matmul of two float32 --gemm-n square matrices (parameters in
#              engine memory, so no R conversion is timed; the graph returns the sum of the
#              product, one pass over it): the machine's sgemm ceiling for the figures above.
# Convolutions have no bias (BN follows), BN epsilon 1e-5 as PyTorch.
#
# Data are RANDOM (speed only; the losses mean nothing): a pool of --pool images of integer
# pixels 0..255 (the model rescales by 1/255 as its first layer, as lenet.R; cnn_torch.py
# holds the same kind of pool as uint8 and scales each batch) and labels 0..9.
#
# Printed lines ("key value"; '#' lines are comments):
#   flops_per_img      forward FLOPs per image: 2 x the multiply-adds of the convolutions and
#                      dense layers (a training step counts 3x: forward, input and weight
#                      gradients).
#   train_img_per_s    vgg/resnet18: steady-state training throughput of fit() (softmax
#                      cross-entropy, SGD lr 0.01 momentum 0.9, batch --batch-size 64): a
#                      callback stamps the clock at the end of every step; images of the
#                      --steps steps after --warmup-steps divided by their wall time (as
#                      lenet.R: everything fit() does per step, none of its set-up).
#   eval_img_per_s     vgg/resnet18: predict() over the pool in batches of --eval-batch, best
#                      of --eval-reps passes (includes converting the array into engine memory).
#   infer_img_per_s_b<B>  mobilenet: predict() of B images (--mobilenet-batches, "1 16"), best
#                      of --mobilenet-reps calls.
#   train_img_per_cpu_s, eval_img_per_cpu_s  the same per second of process CPU time.
#   gemm_gflops        gemm: 2 n^3 / best time of --gemm-reps products, in GFLOP/s.
#   train_peak_rss_mb  vgg/resnet18: peak RSS (VmHWM of /proc/self/status, MiB) after training.
#   peak_rss_mb        the same at the end of the run (after the evaluation).
# --on-nonfinite is fit()'s on_nonfinite: "stop" (the default, what a user gets) checks every
# step's loss and gradients in the graph; "ignore" leaves the check out (PyTorch has none).
# --profile K runs K more training steps after the timed ones (or K more predict() calls for
# mobilenet) with sym_profile() on and prints the slowest kernels ('#' lines); 0: off.

args <- commandArgs(trailingOnly = TRUE)
opt <- list(net = "vgg", threads = 1L, `batch-size` = 64L, steps = 0L, `warmup-steps` = 0L,
            pool = 512L, `eval-batch` = 128L, `eval-images` = 0L, `eval-reps` = 3L,
            `mobilenet-batches` = "1 16", `mobilenet-reps` = 5L, `gemm-n` = 1024L,
            `gemm-reps` = 10L, profile = 0L, top = 12L, seed = 42L, `on-nonfinite` = "stop")
i <- 1L
while (i <= length(args)) {
  a <- args[[i]]
  if (a %in% c("-h", "--help")) {
    cat("usage: Rscript cnn.R --net vgg|resnet18|mobilenet|gemm [--threads N] [--batch-size B]\n",
        "       [--steps S] [--warmup-steps W] [--pool P] [--eval-batch B] [--eval-images N]\n",
        "       [--eval-reps R] [--mobilenet-batches \"1 16\"] [--mobilenet-reps R] [--gemm-n N]\n",
        "       [--gemm-reps R] [--profile K] [--top T] [--seed S] [--on-nonfinite stop|ignore]\n",
        sep = "")
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
stopifnot(opt$net %in% c("vgg", "resnet18", "mobilenet", "gemm"),
          opt$`on-nonfinite` %in% c("stop", "skip", "ignore"))
# per-network defaults: the default run of run-cnn.sh stays under ~10 minutes on 2 cores
if (opt$steps <= 0L) opt$steps <- if (opt$net == "resnet18") 4L else 30L
if (opt$`warmup-steps` <= 0L) opt$`warmup-steps` <- if (opt$net == "resnet18") 1L else 5L
if (opt$`eval-images` <= 0L) opt$`eval-images` <- if (opt$net == "resnet18") 128L else opt$pool

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
cpu <- function() { p <- proc.time(); p[["user.self"]] + p[["sys.self"]] }  # all threads
note <- function(...) cat("#", ..., "\n")
kv <- function(key, fmt, value) cat(key, " ", sprintf(fmt, value), "\n", sep = "")

suppressPackageStartupMessages(library(symnet))
symnet_threads(opt$threads)
note(sprintf("symnet %s, net %s, threads %d, GEMM %s, loadavg at start %s",
             format(utils::packageVersion("symnet")), opt$net, symnet_threads(),
             symnet:::cpp_gemm_backend_name(), loadavg()))
note("random data and weights: speed only")
cat("framework symnet\n")
cat("net ", opt$net, "\n", sep = "")
cat("threads ", symnet_threads(), "\n", sep = "")

# Slowest kernels of a compiled function over `n` profiled runs: by op, then by node.
print_profile <- function(fn, n, what) {
  p <- sym_profile(fn)
  sym_profile(fn, FALSE)
  if (!nrow(p)) {
    note("sym_profile() measured nothing")
    return(invisible())
  }
  total <- sum(p$ms)
  note(sprintf("sym_profile() of %s (%d run(s), %d thread(s)): %.1f ms per run in kernels", what, n,
               symnet_threads(), total / n))
  agg <- stats::aggregate(cbind(ms, calls) ~ op, data = p, FUN = sum)
  agg <- agg[order(-agg$ms), ]
  agg <- utils::head(agg, opt$top)
  tab <- data.frame(op = agg$op, ms_per_run = round(agg$ms / n, 2), calls_per_run = agg$calls / n,
                    share = sprintf("%.1f%%", 100 * agg$ms / total))
  note("by op:")
  for (l in utils::capture.output(print(tab, row.names = FALSE))) note(" ", l)
  top <- utils::head(p, opt$top)
  tab <- data.frame(op = top$op, node = top$node, ms_per_run = round(top$ms / n, 2),
                    share = sprintf("%.1f%%", 100 * top$share))
  note("slowest nodes:")
  for (l in utils::capture.output(print(tab, row.names = FALSE))) note(" ", l)
  note("end of profile")
}

# ---- GEMM ceiling -------------------------------------------------------------------------------
if (opt$net == "gemm") {
  n <- opt$`gemm-n`
  set.seed(opt$seed)
  a <- sym_param("gemm/a", c(n, n), "glorot_uniform")
  b <- sym_param("gemm/b", c(n, n), "glorot_uniform")
  f <- sym_compile(sym_sum(sym_matmul(a, b)))
  f()
  f()
  best <- Inf
  for (r in seq_len(opt$`gemm-reps`)) {
    t0 <- now()
    f()
    best <- min(best, now() - t0)
  }
  note(sprintf("%d x %d x %d float32 product, best of %d: %.2f ms", n, n, n, opt$`gemm-reps`, best * 1e3))
  kv("gemm_gflops", "%.2f", 2 * n^3 / best / 1e9)
  kv("peak_rss_mb", "%.1f", vm_status("VmHWM"))
  quit(status = 0)
}

# ---- building blocks (count forward multiply-adds as they are built) ----------------------------
macs <- 0  # (each helper forces its input before reading `macs`: the input's layers add theirs)
conv_bn <- function(x, filters, k, stride = 1, groups = 1) {
  force(x)
  y <- layer_conv2d(x, filters, k, strides = stride, padding = (k - 1) %/% 2, groups = groups,
                    use_bias = FALSE)
  d <- dim(y)
  macs <<- macs + prod(d[2:4]) * (dim(x)[2] / groups) * k * k
  layer_batch_norm(y, momentum = 0.9, epsilon = 1e-5)  # keras momentum 0.9 = PyTorch's 0.1
}
dense <- function(x, units) {
  force(x)
  macs <<- macs + dim(x)[2] * units
  layer_dense(x, units)
}
relu6 <- function(x) sym_clip(x, 0, 6)

vgg <- function(x) {
  x |> conv_bn(32, 3) |> sym_relu() |> conv_bn(32, 3) |> sym_relu() |> layer_max_pool2d(2) |>
    conv_bn(64, 3) |> sym_relu() |> conv_bn(64, 3) |> sym_relu() |> layer_max_pool2d(2) |>
    layer_global_avg_pool2d() |> dense(10)
}

basic_block <- function(x, planes, stride) {
  y <- x |> conv_bn(planes, 3, stride) |> sym_relu() |> conv_bn(planes, 3)
  short <- if (stride != 1 || dim(x)[2] != planes) conv_bn(x, planes, 1, stride) else x
  sym_relu(layer_add(y, short))
}
resnet18 <- function(x) {
  h <- x |> conv_bn(64, 3) |> sym_relu()
  for (s in 1:4) {
    planes <- 64 * 2^(s - 1)
    h <- basic_block(h, planes, if (s == 1) 1 else 2)
    h <- basic_block(h, planes, 1)
  }
  h |> layer_global_avg_pool2d() |> dense(10)
}

# torchvision.models.mobilenet_v2: (expansion t, channels c, repeats n, first stride s)
mobilenet_v2 <- function(x) {
  h <- x |> conv_bn(32, 3, 2) |> relu6()
  cfg <- list(c(1, 16, 1, 1), c(6, 24, 2, 2), c(6, 32, 3, 2), c(6, 64, 4, 2), c(6, 96, 3, 1),
              c(6, 160, 3, 2), c(6, 320, 1, 1))
  for (b in cfg) {
    for (j in seq_len(b[3])) {
      stride <- if (j == 1) b[4] else 1
      cin <- dim(h)[2]
      hidden <- cin * b[1]
      y <- h
      if (b[1] != 1) y <- y |> conv_bn(hidden, 1) |> relu6()
      y <- y |> conv_bn(hidden, 3, stride, groups = hidden) |> relu6() |> conv_bn(b[2], 1)
      h <- if (stride == 1 && cin == b[2]) layer_add(h, y) else y
    }
  }
  h |> conv_bn(1280, 1) |> relu6() |> layer_global_avg_pool2d() |> dense(1000)
}

# ---- model ----------------------------------------------------------------------------------------
set.seed(opt$seed)
side <- if (opt$net == "mobilenet") 224L else 32L
x <- sym_var("x", c(NA, 3, side, side))
build <- switch(opt$net, vgg = vgg, resnet18 = resnet18, mobilenet = mobilenet_v2)
model <- sym_model(x, build(if (opt$net == "mobilenet") x else layer_rescaling(x, 1 / 255)))
note(sprintf("%s: %d parameter tensors, %.2f M weights", opt$net, length(model$params),
             sum(vapply(get_weights(model), length, numeric(1))) / 1e6))
kv("flops_per_img", "%.0f", 2 * macs)

# ---- MobileNetV2 inference --------------------------------------------------------------------
if (opt$net == "mobilenet") {
  batches <- as.integer(strsplit(trimws(opt$`mobilenet-batches`), " +")[[1]])
  for (bs in batches) {
    xb <- array(runif(bs * 3 * side * side), c(bs, 3, side, side))
    predict(model, xb, batch_size = bs)
    predict(model, xb, batch_size = bs)
    best <- Inf
    best_cpu <- Inf
    for (r in seq_len(opt$`mobilenet-reps`)) {
      t0 <- now()
      c0 <- cpu()
      predict(model, xb, batch_size = bs)
      best <- min(best, now() - t0)
      best_cpu <- min(best_cpu, cpu() - c0)
    }
    note(sprintf("batch %d: best of %d predict() calls %.2f ms", bs, opt$`mobilenet-reps`, best * 1e3))
    kv(paste0("infer_img_per_s_b", bs), "%.2f", bs / best)
    kv(paste0("infer_img_per_cpu_s_b", bs), "%.2f", bs / best_cpu)
    if (opt$profile > 0 && bs == max(batches)) {
      fn <- model$cache$predict$fn
      sym_profile(fn, TRUE)
      for (r in seq_len(opt$profile)) predict(model, xb, batch_size = bs)
      print_profile(fn, opt$profile, sprintf("predict(), batch %d", bs))
    }
  }
  note(sprintf("loadavg at end %s", loadavg()))
  kv("peak_rss_mb", "%.1f", vm_status("VmHWM"))
  quit(status = 0)
}

# ---- training -------------------------------------------------------------------------------------
pool_x <- array(sample.int(256L, opt$pool * 3L * side * side, replace = TRUE) - 1L,
                c(opt$pool, 3L, side, side))
pool_y <- sample.int(10L, opt$pool, replace = TRUE) - 1L
warm <- opt$`warmup-steps`
last <- warm + opt$steps
step <- 0L
t_mark <- t_last <- c_mark <- c_last <- NA_real_
steady_imgs <- 0
prof_fn <- NULL
timer <- callback_lambda(on_batch_end = function(batch, logs, state) {
  t <- now()
  c <- cpu()
  step <<- step + 1L
  if (step == warm) {
    t_mark <<- t
    c_mark <<- c
  }
  if (step > warm && step <= last) {
    steady_imgs <<- steady_imgs + logs$size
    t_last <<- t
    c_last <<- c
  }
  if (step == last && opt$profile > 0) {  # time the kernels of the K steps after the timed ones
    prof_fn <<- get("cache", envir = state$model)$train$fn
    sym_profile(prof_fn, TRUE)
  }
})
t_fit <- now()
hist <- fit(model, pool_x, pool_y, loss = loss_softmax_cross_entropy(),
            optimizer = optimizer_sgd(0.01, momentum = 0.9), batch_size = opt$`batch-size`,
            epochs = 1, steps_per_epoch = last + opt$profile, callbacks = list(timer),
            seed = opt$seed, verbose = 0, on_nonfinite = opt$`on-nonfinite`)
note(sprintf("train: %d steps in %.2fs incl. set-up (steady: %d images in %.2fs after %d warm-up steps), loss %.3f, loadavg %s",
             step, now() - t_fit, as.integer(steady_imgs), t_last - t_mark, warm,
             hist$metrics$loss[[1]], loadavg()))
kv("steps", "%d", opt$steps)
kv("train_img_per_s", "%.2f", steady_imgs / (t_last - t_mark))
kv("train_img_per_cpu_s", "%.2f", steady_imgs / (c_last - c_mark))
if (!is.null(prof_fn)) print_profile(prof_fn, opt$profile, sprintf("the training step, batch %d", opt$`batch-size`))
note(sprintf("after fit: VmRSS %.0f MiB", vm_status("VmRSS")))
kv("train_peak_rss_mb", "%.1f", vm_status("VmHWM"))

# ---- evaluation -----------------------------------------------------------------------------------
# whole batches only (a smaller last batch would compile another shape in the first pass)
eb <- min(opt$`eval-batch`, opt$`eval-images`, opt$pool)
n_eval <- max(1L, min(opt$`eval-images`, opt$pool) %/% eb) * eb
x_eval <- pool_x[seq_len(n_eval), , , , drop = FALSE]
invisible(predict(model, x_eval[seq_len(eb), , , , drop = FALSE], batch_size = eb))  # compiles the inference graph
best <- Inf
best_cpu <- Inf
for (r in seq_len(max(1L, opt$`eval-reps`))) {
  t0 <- now()
  c0 <- cpu()
  predict(model, x_eval, batch_size = eb)
  best <- min(best, now() - t0)
  best_cpu <- min(best_cpu, cpu() - c0)
}
note(sprintf("eval: best of %d predict() passes over %d images in batches of %d: %.2fs; loadavg at end %s",
             opt$`eval-reps`, n_eval, eb, best, loadavg()))
kv("eval_img_per_s", "%.2f", n_eval / best)
kv("eval_img_per_cpu_s", "%.2f", n_eval / best_cpu)
kv("peak_rss_mb", "%.1f", vm_status("VmHWM"))
