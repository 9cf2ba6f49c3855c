#!/usr/bin/env Rscript
# Inference of imported torchvision models against ONNX Runtime on the same machine, same
# threads, measured in the same run (issue 9's benchmark; goal >= 1.0x ORT's speed).
#
#   Rscript inst/benchmarks/onnx.R [--reps 10] [--threads "1 2"] [--models "resnet18 ..."]
#                                  [--batches "1 16"] [--profile]
#
# Needs /usr/bin/python3 with python3-torch, python3-torchvision and python3-onnx (to
# export the models, random weights) and node with onnxruntime-node
# (`npm install --ignore-scripts onnxruntime-node` in a folder given by ORT_NODE_MODULES,
# default /work/ort/node_modules). symnet is timed through predict() on an R array, so its
# figures include the R <-> engine conversion of the input and output; ONNX Runtime's
# exclude its JavaScript tensor creation. --profile prints symnet's slowest ops per model.
suppressPackageStartupMessages(library(symnet))

opt <- list(reps = 10, threads = "1 2", models = "resnet18 mobilenet_v2 squeezenet1_1", batches = "1 16",
            profile = FALSE)
a <- commandArgs(trailingOnly = TRUE)
i <- 1
while (i <= length(a)) {
  switch(a[i],
    "--reps" = { opt$reps <- as.integer(a[i + 1]); i <- i + 1 },
    "--threads" = { opt$threads <- a[i + 1]; i <- i + 1 },
    "--models" = { opt$models <- a[i + 1]; i <- i + 1 },
    "--batches" = { opt$batches <- a[i + 1]; i <- i + 1 },
    "--profile" = opt$profile <- TRUE,
    stop("unknown argument ", a[i]))
  i <- i + 1
}
threads <- as.integer(strsplit(opt$threads, " ")[[1]])
models <- strsplit(opt$models, " ")[[1]]
batches <- as.integer(strsplit(opt$batches, " ")[[1]])
here <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
python <- Sys.getenv("PYTHON", "/usr/bin/python3")
modules <- Sys.getenv("ORT_NODE_MODULES", "/work/ort/node_modules")
exporter <- system.file("..", "tests", "testthat", "fixtures", "onnx", "export_torchvision.py", package = "symnet")
if (!file.exists(exporter)) exporter <- file.path(here, "..", "..", "tests", "testthat", "fixtures", "onnx", "export_torchvision.py")
stopifnot(file.exists(exporter), onnx_available())

dir <- file.path(tempdir(), "onnx-bench")
best_ms <- function(f, reps) {
  f()
  f()
  b <- Inf
  for (r in seq_len(reps)) b <- min(b, system.time(f())[["elapsed"]] * 1000)
  b
}

cat(sprintf("# %s, %d CPUs, %s; symnet GEMM: %s\n", Sys.info()[["nodename"]], parallel::detectCores(),
            format(Sys.time(), "%Y-%m-%d %H:%M UTC", tz = "UTC"), symnet:::cpp_gemm_backend_name()))
rows <- list()
for (b in batches) {
  bdir <- file.path(dir, paste0("b", b))
  st <- system2(python, c(exporter, bdir, models, "--batch", b), stdout = FALSE, stderr = FALSE)
  if (st != 0) stop("exporting the models failed (python3-torch, torchvision, onnx installed?)")
  for (m in models) {
    f <- file.path(bdir, paste0(m, ".onnx"))
    x <- read_onnx_tensor(file.path(bdir, paste0(m, "_input_0.pb")))
    raw <- file.path(bdir, paste0(m, ".f32"))
    # the input in row-major order for ONNX Runtime
    writeBin(as.numeric(aperm(x, rev(seq_along(dim(x))))), raw, size = 4, endian = "little")
    model <- import_onnx(f)
    for (nt in threads) {
      symnet_threads(nt)
      s_ms <- best_ms(function() predict(model, x, batch_size = b), opt$reps)
      o <- system2("node", c(file.path(here, "onnx_ort.js"), f, raw, paste(dim(x), collapse = ","), nt, opt$reps),
                   stdout = TRUE, env = paste0("ORT_NODE_MODULES=", modules))
      o_ms <- suppressWarnings(as.numeric(tail(o, 1)))
      rows[[length(rows) + 1]] <- data.frame(model = m, batch = b, threads = nt, symnet_ms = s_ms, ort_ms = o_ms,
                                             ratio = o_ms / s_ms)
      cat(sprintf("%-14s batch %2d, %d thread(s): symnet %8.2f ms, ONNX Runtime %8.2f ms, speed ratio %.2fx\n",
                  m, b, nt, s_ms, o_ms, o_ms / s_ms))
    }
    if (opt$profile) {
      fn <- model$cache$predict$fn
      sym_profile(fn, TRUE)
      for (r in 1:3) predict(model, x, batch_size = b)
      p <- sym_profile(fn)
      agg <- stats::aggregate(ms ~ op, data = p, FUN = sum)
      agg <- agg[order(-agg$ms), ]
      agg$share <- agg$ms / sum(agg$ms)
      cat("  symnet profile (3 runs):", paste(sprintf("%s %.0f%%", head(agg$op, 6), 100 * head(agg$share, 6)),
                                            collapse = ", "), "\n")
      sym_profile(fn, FALSE)
    }
  }
}
res <- do.call(rbind, rows)
best <- stats::aggregate(cbind(symnet_ms, ort_ms) ~ model + batch, data = res, FUN = min)
best$ratio <- best$ort_ms / best$symnet_ms
cat("\n# best thread count of each side; ratio = ORT time / symnet time (goal >= 1.0)\n")
print(best, row.names = FALSE, digits = 3)
