#!/usr/bin/env Rscript
# API fuzz: calls every exported function of symnet (and the S3 methods users
# reach through fit(), evaluate(), predict(), operators and `[`) with hostile
# values in every argument position, in a child R process so that a crash is
# seen as a crash. Prints: calls made, crashes (child died), hangs, errors
# classed `symnet_error`, errors that are NOT classed (grouped by function,
# with an example call and the message), warnings and successes.
#
# Usage (from the repository root, symnet installed):
#   R_LIBS=<lib> Rscript tools/api-fuzz.R [--quick | --all] [--no-missing] [--jobs N]
#                                         [--only REGEX] [--tsv FILE]
#     --quick       12 hostile values (a smoke run); default 28; --all 49
#     --no-missing  skip the second mode (hostile value, other arguments missing)
#     --jobs N      child processes running shards of the targets (default 2)
#     --only REGEX  fuzz only the targets whose name matches
#     --tsv FILE    also write one line per call to FILE
#
# Two modes per argument position:
#   A  the hostile value in that position, every other required argument a
#      valid value (so the call reaches the argument's own check);
#   B  the hostile value as the first argument, the other arguments left out
#      (their defaults, or missing when required).
# When a call returns a symbol, the symbol is also compiled and run on valid
# feeds, so values that pass graph building but break the engine are seen.
#
# The child runs under `ulimit -v` (4 GiB) so that a huge size fails as an
# allocation error instead of exhausting the machine, with a 5 s limit per
# call (setTimeLimit) and a watchdog on the whole child.

# ---------------------------------------------------------------------------
# Shared by parent and child: hostile values and the call plan.

hostile_values <- function() {
  forged_sym <- structure(list(ptr = NULL, dtype = "float32", shape = 2L), class = "symnet_symbol")
  null_ptr <- methods::new("externalptr")
  dead_sym <- structure(list(ptr = null_ptr, dtype = "float32", shape = c(2L, 3L)), class = "symnet_symbol")
  forged_model <- structure(list(), class = "symnet_model")
  list(
    `NULL` = NULL,
    `NA` = NA,
    `NA_integer_` = NA_integer_,
    `NA_real_` = NA_real_,
    `NA_character_` = NA_character_,
    `NaN` = NaN,
    `Inf` = Inf,
    `-Inf` = -Inf,
    `0` = 0,
    `-1` = -1,
    `0.5` = 0.5,
    `-1e10` = -1e10,
    `1e10` = 1e10,
    `.Machine$integer.max` = .Machine$integer.max,
    `2^31` = 2^31,
    `2^53` = 2^53,
    `1e300` = 1e300,
    `TRUE` = TRUE,
    `FALSE` = FALSE,
    `""` = "",
    `"abc"` = "abc",
    `"\\u00e9\\u4e2d"` = "\u00e9\u4e2d",
    `character(0)` = character(0),
    `numeric(0)` = numeric(0),
    `integer(0)` = integer(0),
    `logical(0)` = logical(0),
    `list()` = list(),
    `list(NULL)` = list(NULL),
    `list(1, "a")` = list(1, "a"),
    `c(1, 2, 3)` = c(1, 2, 3),
    `c(NA, 1)` = c(NA, 1),
    `c(-1, 2)` = c(-1, 2),
    `matrix(0, 0, 3)` = matrix(0, 0, 3),
    `array(0, c(0, 0, 0))` = array(0, c(0, 0, 0)),
    `array(1, rep(1, 9))` = array(1, rep(1, 9)),
    `1:100000` = 1:100000,
    `strrep("a", 1e5)` = strrep("a", 1e5),
    `new.env()` = new.env(),
    `function(x) x` = function(x) x,
    `quote(x)` = quote(x),
    `quote(f(x))` = quote(f(x)),
    `1i` = 1i,
    `as.raw(1)` = as.raw(1),
    `factor("a")` = factor("a"),
    `data.frame(a = 1)` = data.frame(a = 1),
    `Sys.Date()` = as.Date("2026-01-01"),
    `forged symbol` = forged_sym,
    `symbol with a null pointer` = dead_sym,
    `forged model` = forged_model
  )
}

# --quick: a smoke run; default: the core set; --all: every value above
quick_subset <- c("NULL", "NA", "Inf", "-1", "1e10", "\"abc\"", "character(0)", "list()", "new.env()",
                  "function(x) x", "forged symbol", "symbol with a null pointer")
core_subset <- c(quick_subset, "NA_character_", "NaN", "-Inf", "0.5", "2^31", "TRUE", "\"\"", "numeric(0)",
                 "list(1, \"a\")", "c(NA, 1)", "matrix(0, 0, 3)", "1:100000", "quote(x)", "1i",
                 "data.frame(a = 1)", "forged model")

# Targets: exported functions, plus S3 methods reached through generics
# (called through the generic, fuzzed over the method's arguments).
fuzz_targets <- function(ns) {
  exports <- sort(getNamespaceExports("symnet"))
  t <- list()
  for (f in exports) {
    fn <- get(f, envir = ns)
    if (!is.function(fn)) next
    fm <- formals(fn)
    if (f %in% c("fit", "evaluate")) fm <- formals(get(paste0(f, ".symnet_model"), envir = ns))
    t[[f]] <- list(name = f, call = f, formals = fm)
  }
  add <- function(label, call, fm, skip = character()) t[[label]] <<- list(name = label, call = call, formals = fm, skip = skip)
  add("predict.symnet_model", "predict", formals(get("predict.symnet_model", envir = ns)))
  for (m in c("fit.symnet_rbm", "fit.symnet_dbn", "predict.symnet_rbm", "evaluate.symnet_rbm",
              "transform.symnet_rbm", "transform.symnet_dbn", "plot.symnet_rbm", "get_weights.symnet_rbm",
              "set_weights.symnet_rbm")) {
    add(m, sub("\\..*$", "", m), formals(get(m, envir = ns)))
    t[[m]]$skip <- intersect(c("object", "_data", "x", "model"), names(t[[m]]$formals))[1]
  }
  add("Ops.symnet_symbol(+)", "+", alist(e1 = , e2 = ))
  add("Ops.symnet_symbol(<)", "<", alist(e1 = , e2 = ))
  add("[.symnet_symbol", "[", alist(x = , i = , j = ))
  add("dim<-.symnet_symbol", "dim<-", alist(x = , value = ))
  add("symnet_function()", ".compiled", alist(fz_in = ))
  # the argument a foreign generic dispatches on never reaches symnet when hostile
  for (nm in c("fit", "predict.symnet_model")) t[[nm]]$skip <- "object"
  for (nm in c("[.symnet_symbol", "dim<-.symnet_symbol")) t[[nm]]$skip <- "x"
  # operators reach symnet only with a symbol operand: no mode B for them
  for (nm in c("Ops.symnet_symbol(+)", "Ops.symnet_symbol(<)", "[.symnet_symbol", "dim<-.symnet_symbol")) t[[nm]]$no_b <- TRUE
  t
}

# ---------------------------------------------------------------------------
# Child: builds valid baseline objects, runs calls from a start index.

child_main <- function(start, results, level, modes, shard = 0L, jobs = 1L, only = NULL) {
  suppressPackageStartupMessages(library(symnet))
  ns <- asNamespace("symnet")
  options(warn = 1, timeout = 2, symnet.verbose = 0, cli.num_colors = 1, symnet.fsync = FALSE)
  grDevices::pdf(NULL)
  wd <- tempfile("fuzz")
  dir.create(wd)
  setwd(wd)
  hv <- hostile_values()
  if (level == "quick") hv <- hv[names(hv) %in% quick_subset]
  if (level == "core") hv <- hv[names(hv) %in% core_subset]
  targets <- fuzz_targets(ns)

  # Valid values for required arguments (fresh per target so mutations by a
  # call do not leak into other targets).
  base <- function(target) {
    set.seed(1)
    x <- sym_var("fz_x", c(2, 3))
    xin <- sym_var("fz_in", c(NA, 3))
    model <- sym_model(xin, layer_dense(xin, 2, name = paste0("fz_dense_", sample.int(1e6, 1))))
    v <- list(
      x = x, a = x, b = x, c = x, e1 = x, e2 = x, y = sym_sum(x), condition = x > 0, yes = x, no = x,
      value = 1, shape = c(2, 3), scale = 2, indices = sym_const(matrix(1L, 2, 3)),
      labels = sym_const(c(1L, 2L)), logits = x, probs = sym_sigmoid(x), depth = 3,
      model = model, object = model, weights = get_weights(model), path = file.path(wd, "m.safetensors"),
      filepath = file.path(wd, "ckpt.safetensors"), filename = file.path(wd, "log.csv"),
      file = file.path(wd, "none.idx"), schedule = function(epoch, lr) lr, lr = 0.1, epochs = 10,
      step_size = 2, outputs = sym_sum(x), inputs = xin, f = sym_compile(x * 2), prefix = "dense",
      name = "fz_name", n = 3, rate = 0.5, target_shape = c(3, 2), filters = 2, kernel_size = 3,
      repeats = c(1, 2), dtype = "float64", from = 1, to = 5, updates = x, op = "add", activation = "relu",
      input_dim = 5, output_dim = 2, var = sym_shared(matrix(0, 2, 3), "fz_var"), wrt = list(x),
      p = 0.5, pads = c(1, 1), units = 2, axis = 1, v = sym_shared(matrix(0, 2, 3), "fz_v"), i = 1, j = 1,
      mult = 0.5, layer = 1
    )
    tn <- target$name
    img <- sym_var("fz_img", c(NA, 1, 5, 5))
    if (tn %in% c("layer_conv2d", "layer_conv2d_transpose", "layer_max_pool2d", "layer_avg_pool2d",
                  "layer_global_avg_pool2d", "layer_global_max_pool2d", "layer_batch_norm")) v$x <- img
    if (tn == "layer_conv1d") v$x <- sym_var("fz_seq", c(NA, 2, 6))
    if (tn == "layer_embedding") v$x <- sym_var("fz_ids", c(NA, 3), "int32")
    if (tn %in% c("sym_gather", "sym_gather_elements", "sym_scatter_elements")) v$indices <- sym_const(matrix(1L, 2, 3))
    if (tn == "sym_one_hot") v$labels <- sym_const(c(1L, 2L))
    if (tn == "sym_softmax_cross_entropy") v$labels <- sym_const(c(1L, 2L))
    if (tn %in% c("sym_sigmoid_cross_entropy", "sym_binary_cross_entropy")) v$labels <- sym_const(matrix(1, 2, 3))
    if (tn %in% c("%*%", "sym_matmul", "sym_gemm")) { v$y <- sym_var("fz_w", c(3, 2)); v$b <- v$y; v$c <- NULL }
    if (tn == "sym_grad") {
      p <- sym_param("fz_p", c(3, 2))
      v$y <- sym_sum(sym_matmul(x, p)); v$wrt <- list(p)
    }
    if (tn %in% c("sym_aux_update", "sym_with_update")) v$value <- v$var * 2
    if (tn == "sym_value<-") v$value <- matrix(2, 2, 3)
    if (tn %in% c("sym_value", "is_shared")) v$v <- v$var
    if (tn == "sym_shared") v$value <- matrix(1, 2, 3)
    if (tn == "sym_const") v$value <- c(1, 2)
    if (tn == "sym_fill_like") v$value <- 2
    if (tn == "sym_unsqueeze") v$axis <- 1
    if (tn == "sym_expand") v$shape <- c(2, 3)
    if (tn == "sym_reshape") v$shape <- c(3, 2)
    if (tn == "sym_model") v$outputs <- layer_dense(xin, 2, name = "fz_dense_m")
    if (tn == "sym_apply") v$op <- "relu"
    if (tn == "sym_var") v$name <- "fz_new"
    if (tn == "sym_param") { v$name <- "fz_newp"; v$shape <- c(2, 2) }
    if (tn == "save_model") v$path <- file.path(wd, "saved.safetensors")
    if (tn == "load_model") { save_model(model, v$path); }
    if (tn == "sym_layer_name") v$prefix <- "dense"
    if (tn %in% c("fit", "evaluate", "predict.symnet_model")) {
      v$x <- matrix(stats::rnorm(12), 4, 3)
      v$y <- matrix(stats::rnorm(8), 4, 2)
    }
    if (tn == "data_iterator") { v$x <- matrix(stats::rnorm(12), 4, 3) }
    if (tn == "Ops.symnet_symbol(+)" || tn == "Ops.symnet_symbol(<)") { v$e1 <- x; v$e2 <- x }
    if (tn == "symnet_function()") { v$.compiled <- sym_compile(sym_sum(xin * 2)); v$fz_in <- matrix(1, 2, 3) }
    if (tn == "schedule_cosine") v$epochs <- 10
    # RBMs and DBNs (rbm(), dbn(), their methods): a small machine and binary data
    if (grepl("rbm|dbn", tn)) {
      r <- rbm(6, 3)
      d <- dbn(c(6, 3, 2))
      is_dbn <- grepl("dbn", tn) && tn != "initializer_rbm"
      v$object <- if (is_dbn) d else r
      v$`_data` <- v$object
      v$model <- r
      v$rbm <- r
      v$dbn <- d
      v$x <- matrix(c(0, 1), 4, 6)
      v$weights <- get_weights(r)
      v$n_visible <- 6
      v$n_hidden <- 3
      v$sizes <- c(6, 3, 2)
      v$n <- 2
      v$n_steps <- 3
      v$epochs <- 1
      v$batch_size <- 2
      if (tn == "plot.symnet_rbm") { v$x <- r; v$dims <- c(2, 3) }
    }
    rseq <- sym_var("fz_rseq", c(NA, 4, 3))
    if (tn %in% c("layer_lstm", "layer_gru", "layer_simple_rnn", "layer_masking", "layer_bidirectional",
                  "layer_time_distributed")) v$x <- rseq
    if (tn == "layer_bidirectional") v$layer <- layer_gru
    if (tn == "layer_time_distributed") v$layer <- layer_dense
    if (tn == "pad_sequences") v$sequences <- list(1:3, 4:5)
    if (tn == "sym_scan") {
      v$fn <- function(x_t, h) list(h + x_t, x_t * 2)
      v$sequences <- x
      v$init <- sym_zeros(3)
    }
    if (tn %in% c("sym_fori_loop", "sym_while_loop")) {
      v$lower <- 1
      v$upper <- 3
      v$body_fn <- function(i, s) s * 2
      v$init <- x
      v$cond_fn <- function(s) sym_sum(s) < 100
      v$loop_vars <- x
    }
    if (tn == "sym_while_loop") v$body_fn <- function(s) s * 2
    if (tn == "import_onnx") v$path <- system.file("extdata", "onnx", "mlp.onnx", package = "symnet")
    if (tn == "import_caffe") {
      v$prototxt <- system.file("extdata", "caffe", "tiny.prototxt", package = "symnet")
      v$caffemodel <- system.file("extdata", "caffe", "tiny.caffemodel", package = "symnet")
    }
    # model zoo and image helpers: the shipped model (never a download), a small RGB image
    if (tn %in% c("pretrained_model", "pretrained_model_file")) {
      v$name <- "lenet_fashion"
      v$cache_dir <- file.path(wd, "zoo-cache")
    }
    if (grepl("^image_|^preprocess_imagenet$", tn)) {
      v$x <- array(stats::runif(6 * 8 * 3), c(6, 8, 3))
      v$size <- 4
      v$mean <- c(0.5, 0.5, 0.5)
      v$sd <- c(0.2, 0.2, 0.2)
    }
    if (tn == "image_load") {
      v$path <- file.path(wd, "fz_img.png")
      if (requireNamespace("png", quietly = TRUE)) png::writePNG(array(0.5, c(4, 5, 3)), v$path)
    }
    if (tn == "read_onnx_tensor") v$path <- system.file("extdata", "onnx", "mlp_input_0.pb", package = "symnet")
    if (tn %in% c("sym_function", "sym_custom_gradient")) {
      v$fn <- function(a) a * 2
      v$grad_fn <- function(a, y, dy) dy * 2
    }
    if (tn == "sym_custom_op") {
      v$forward <- function(x) x * 2
      v$backward <- function(inputs, outputs, grads) grads[[1]] * 2
      v$infer <- function(shapes, dtypes) list(shape = shapes[[1]], dtype = dtypes[[1]])
    }
    if (tn == "export_onnx") v$path <- file.path(wd, "m.onnx")
    if (tn == "sym_cond") {
      v$pred <- sym_sum(x) > 0
      v$true_fn <- function() x * 2
      v$false_fn <- function() -x
    }
    v
  }

  # Valid feeds for the inputs a result depends on (by input name).
  feeds_by_name <- list(fz_x = matrix(0.5, 2, 3), fz_in = matrix(0.5, 2, 3),
                        fz_img = array(0.5, c(2, 1, 5, 5)), fz_seq = array(0.5, c(2, 2, 6)),
                        fz_ids = matrix(1L, 2, 3), fz_w = matrix(0.5, 3, 2), fz_rseq = array(0.5, c(2, 4, 3)))

  deep_run <- function(res) {
    if (!inherits(res, "symnet_symbol")) return(invisible())
    f <- sym_compile(res)
    nm <- environment(f)$state$inputs$name
    args <- feeds_by_name[intersect(names(feeds_by_name), nm)]
    if (length(setdiff(nm, names(args)))) return(invisible())
    do.call(f, args)
    invisible()
  }
  `%||%` <- function(a, b) if (is.null(a)) b else a

  # Enumerate the plan deterministically; run entries >= start.
  out <- file(results, open = "a")
  line <- function(...) {
    cat(paste(..., sep = "\t"), "\n", file = out, sep = "")
    flush(out)
  }
  clean <- function(s) {
    s <- gsub("[\t\r\n]+", " ", paste(s, collapse = " "))
    s <- gsub("\033\\[[0-9;]*m", "", s)
    substr(s, 1, 300)
  }
  line("P", Sys.getpid())
  idx <- 0L
  for (ti in seq_along(targets)) {
    target <- targets[[ti]]
    if ((ti - 1L) %% jobs != shard) next
    fm <- target$formals
    argn <- names(fm)
    if (!length(argn)) argn <- "(none)"
    required <- names(fm)[vapply(fm, function(a) identical(a, quote(expr = )), logical(1))]
    required <- setdiff(required, "...")
    positions <- setdiff(argn, target$skip)
    if (!is.null(only) && !grepl(only, target$name)) positions <- character()
    plan <- list()
    for (mode in if (isTRUE(target$no_b)) setdiff(modes, "B") else modes) {
      # mode B (the other arguments left out): the hostile value first only;
      # later positions would mostly meet "argument missing" errors
      for (pos in if (mode == "B") utils::head(positions, 1) else positions) {
        for (hn in names(hv)) {
          if (pos == "(none)" && hn != names(hv)[1]) next
          plan[[length(plan) + 1]] <- list(mode = mode, pos = pos, hn = hn)
        }
      }
    }
    if (idx + length(plan) < start) { idx <- idx + length(plan); next }
    bv <- NULL
    for (p in plan) {
      idx <- idx + 1L
      if (idx < start) next
      if (is.null(bv)) bv <- tryCatch(base(target), error = function(e) e)
      if (inherits(bv, "error")) { line("R", idx, target$name, p$mode, p$pos, p$hn, "baseline_error", class(bv)[1], clean(conditionMessage(bv)), 0, "", "0"); next }
      args <- list()
      if (p$mode == "A") {
        for (a in required) if (!is.null(bv[[a]])) args[[a]] <- bv[[a]]
      } else {
        for (a in target$skip) if (!is.null(bv[[a]])) args[[a]] <- bv[[a]]
      }
      if (p$pos != "(none)") {
        if (p$pos == "...") {
          args <- c(args, list(hv[[p$hn]]))
        } else {
          args[p$pos] <- list(hv[[p$hn]])
        }
      }
      fun <- if (target$call == ".compiled") bv$.compiled else get(target$call, envir = ns)
      line("B", idx)
      warns <- character()
      t0 <- proc.time()[[1]]
      setTimeLimit(elapsed = 5, transient = TRUE)
      res <- tryCatch(withCallingHandlers({
        r <- do.call(fun, args, quote = TRUE)
        if (inherits(r, c("symnet_symbol", "symnet_model", "symnet_function", "symnet_shared")))
          utils::capture.output(print(r))
        deep_run(r)
        NULL
      }, warning = function(w) {
        warns <<- c(warns, conditionMessage(w))
        invokeRestart("muffleWarning")
      }, message = function(m) invokeRestart("muffleMessage")),
      error = function(e) e, interrupt = function(e) simpleError("interrupt"))
      setTimeLimit(elapsed = Inf)
      el <- proc.time()[[1]] - t0
      if (is.null(res)) {
        outcome <- "ok"; cls <- ""; msg <- ""
      } else {
        msg <- clean(conditionMessage(res))
        cls <- paste(class(res), collapse = ",")
        outcome <- if (inherits(res, "symnet_error")) "symnet_error"
                   else if (grepl("reached elapsed time limit", msg)) "timeout"
                   else "plain_error"
      }
      line("R", idx, target$name, p$mode, p$pos, p$hn, outcome, cls, msg, length(warns),
           clean(warns[1] %||% ""), sprintf("%.4f", el))
      # reset the engine thread count a fuzzed call may have changed
      if (target$name == "symnet_threads") try(symnet_threads(2), silent = TRUE)
    }
  }
  line("END", idx)
  close(out)
}

# ---------------------------------------------------------------------------
# Parent: runs the child (restarting it after a crash), then summarises.

parent_main <- function(args) {
  level <- if ("--quick" %in% args) "quick" else if ("--all" %in% args) "all" else "core"
  modes <- if ("--no-missing" %in% args) "A" else c("A", "B")
  tsv <- if (length(i <- which(args == "--tsv"))) args[i + 1] else NULL
  only <- if (length(i <- which(args == "--only"))) args[i + 1] else NULL
  jobs <- if (length(i <- which(args == "--jobs"))) as.integer(args[i + 1]) else 2L
  self <- normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1]))
  rscript <- file.path(R.home("bin"), "Rscript")
  crashes <- list()
  hangs <- list()
  t0 <- proc.time()[[3]]
  # one shard per job: targets k, k + jobs, ...; each shard's child is
  # restarted after the call it died in
  shard <- lapply(seq_len(jobs), function(k) {
    list(k = k - 1L, start = 1L, results = tempfile(sprintf("fuzz-results-%d-", k), fileext = ".tsv"),
         done = FALSE, running = FALSE)
  })
  for (sh in shard) file.create(sh$results)
  launch <- function(sh) {
    sh$rc_file <- tempfile("fuzz-rc")
    sh$log <- tempfile("fuzz-child", fileext = ".log")
    cmd <- sprintf("ulimit -v %d 2>/dev/null; %s --vanilla %s --child %d %s %s %s %d %d %s > %s 2>&1; echo $? > %s",
                   4L * 1024L * 1024L, shQuote(rscript), shQuote(self), sh$start, shQuote(sh$results),
                   level, paste(modes, collapse = ""), sh$k, jobs,
                   if (is.null(only)) "''" else shQuote(only), shQuote(sh$log), shQuote(sh$rc_file))
    system2("sh", c("-c", shQuote(cmd)), wait = FALSE)
    sh$running <- TRUE
    sh$last_size <- -1
    sh$last_change <- proc.time()[[3]]
    sh
  }
  for (j in seq_along(shard)) shard[[j]] <- launch(shard[[j]])
  while (!all(vapply(shard, function(sh) sh$done, logical(1)))) {
    Sys.sleep(0.5)
    for (j in seq_along(shard)) {
      sh <- shard[[j]]
      if (sh$done) next
      size <- file.size(sh$results)
      if (!identical(size, sh$last_size)) { sh$last_size <- size; sh$last_change <- proc.time()[[3]] }
      lines <- readLines(sh$results, warn = FALSE)
      finished <- file.exists(sh$rc_file) && length(readLines(sh$rc_file, warn = FALSE))
      stuck <- !finished && proc.time()[[3]] - sh$last_change > 120
      if (stuck) {
        pids <- grep("^P\t", lines, value = TRUE)
        if (length(pids)) tools::pskill(as.integer(sub("^P\t", "", pids[length(pids)])), tools::SIGKILL)
        Sys.sleep(1)
        next
      }
      if (!finished) { shard[[j]] <- sh; next }
      rc <- as.integer(readLines(sh$rc_file, warn = FALSE)[1])
      if (length(lines) && grepl("^END\t", lines[length(lines)])) {
        sh$done <- TRUE
        shard[[j]] <- sh
        next
      }
      begins <- grep("^B\t", lines, value = TRUE)
      last <- if (length(begins)) as.integer(sub("^B\t", "", begins[length(begins)])) else NA
      tail_log <- paste(utils::tail(readLines(sh$log, warn = FALSE), 5), collapse = " | ")
      if (is.na(last) || last < sh$start) stop("fuzz child failed before its first call:\n", tail_log)
      hung <- proc.time()[[3]] - sh$last_change > 120
      entry <- list(idx = last, shard = sh$k, rc = rc, log = tail_log, call = lines[max(grep(paste0("^B\t", last, "$"), lines))])
      if (hung) hangs[[length(hangs) + 1]] <- entry else crashes[[length(crashes) + 1]] <- entry
      cat(sprintf("child of shard %d %s at call %d (exit status %s): %s\n", sh$k, if (hung) "hung" else "died",
                  last, rc, tail_log))
      sh$start <- last + 1L
      shard[[j]] <- launch(sh)
    }
  }
  elapsed <- proc.time()[[3]] - t0
  lines <- unlist(lapply(shard, function(sh) readLines(sh$results, warn = FALSE)))
  rl <- strsplit(grep("^R\t", lines, value = TRUE), "\t", fixed = TRUE)
  rl <- lapply(rl, function(r) c(r, rep("", 12 - length(r)))[2:12])
  df <- as.data.frame(do.call(rbind, rl), stringsAsFactors = FALSE)
  names(df) <- c("idx", "fn", "mode", "arg", "value", "outcome", "class", "message", "n_warnings", "warning", "seconds")
  df$idx <- as.integer(df$idx)
  df$n_warnings <- as.integer(df$n_warnings)
  df$seconds <- as.double(df$seconds)
  # the call each crash/hang happened in
  plan_of <- function(i) {
    # re-derive from neighbours: the child never wrote an R line for it
    list(idx = i)
  }
  if (!is.null(tsv)) utils::write.table(df, tsv, sep = "\t", quote = FALSE, row.names = FALSE)

  owners <- function_files()
  cat("\n== symnet API fuzz ==\n")
  cat(sprintf("targets: %d (exports and user-facing S3 methods); modes: %s; hostile values: %d\n",
              length(unique(df$fn)), paste(modes, collapse = "+"),
              switch(level, quick = length(quick_subset), core = length(core_subset), all = length(hostile_values()))))
  cat(sprintf("calls made:                 %d (%.0f s)\n", nrow(df) + length(crashes) + length(hangs), elapsed))
  cat(sprintf("crashes (child died):       %d\n", length(crashes)))
  cat(sprintf("hangs (child killed):       %d\n", length(hangs)))
  cat(sprintf("timeouts (5 s, caught):     %d\n", sum(df$outcome == "timeout")))
  cat(sprintf("errors classed symnet_error: %d\n", sum(df$outcome == "symnet_error")))
  cat(sprintf("errors NOT classed:         %d (%d in mode A, %d in mode B; %d of them 'argument missing')\n",
              sum(df$outcome == "plain_error"), sum(df$outcome == "plain_error" & df$mode == "A"),
              sum(df$outcome == "plain_error" & df$mode == "B"),
              sum(df$outcome == "plain_error" & grepl("is missing, with no default", df$message))))
  cat(sprintf("calls with warnings:        %d\n", sum(df$n_warnings > 0)))
  cat(sprintf("successes:                  %d\n", sum(df$outcome == "ok")))
  cat(sprintf("baseline failures:          %d\n", sum(df$outcome == "baseline_error")))
  for (e in c(crashes, hangs)) cat(sprintf("  crash/hang at call %d: %s\n", e$idx, e$log))
  pe <- df[df$outcome == "plain_error", ]
  if (nrow(pe)) {
    cat("\n-- unclassed errors by function (count; file; example call -> message) --\n")
    tab <- sort(table(pe$fn), decreasing = TRUE)
    for (fn in names(tab)) {
      sub <- pe[pe$fn == fn, ]
      msgs <- sort(table(sub$message), decreasing = TRUE)
      cat(sprintf("%s: %d  [%s]\n", fn, tab[[fn]], owners[fn] %||% "?"))
      for (k in seq_len(min(3, length(msgs)))) {
        ex <- sub[sub$message == names(msgs)[k], ][1, ]
        cat(sprintf("    %dx  %s(%s = %s)%s -> %s\n", msgs[[k]], fn, ex$arg, ex$value,
                    if (ex$mode == "B") " [others missing]" else "", substr(ex$message, 1, 160)))
      }
    }
  }
  w <- df[df$n_warnings > 0, ]
  if (nrow(w)) {
    cat("\n-- warnings by function (count; example) --\n")
    tab <- sort(table(w$fn), decreasing = TRUE)
    for (fn in names(tab)) {
      ex <- w[w$fn == fn, ][1, ]
      cat(sprintf("%s: %d  e.g. %s(%s = %s) -> %s\n", fn, tab[[fn]], fn, ex$arg, ex$value, substr(ex$warning, 1, 140)))
    }
  }
  cat("\n-- slowest targets (seconds in calls) --\n")
  tt <- sort(tapply(df$seconds, df$fn, sum), decreasing = TRUE)
  cat(paste(sprintf("%s %.1f", names(tt)[1:min(10, length(tt))], tt[1:min(10, length(tt))]), collapse = "; "), "\n")
  cat(sprintf("per outcome: %s\n", paste(sprintf("%s %.1f s", names(tapply(df$seconds, df$outcome, sum)), tapply(df$seconds, df$outcome, sum)), collapse = "; ")))
  bf <- unique(df[df$outcome == "baseline_error", c("fn", "message")])
  if (nrow(bf)) {
    cat("\n-- targets whose valid baseline failed (fuzz results for them are partial) --\n")
    for (k in seq_len(nrow(bf))) cat(sprintf("%s: %s\n", bf$fn[k], bf$message[k]))
  }
  invisible(df)
}

`%||%` <- function(a, b) if (is.null(a)) b else a

# function name -> R file defining it (from the sources, when run in the repo)
function_files <- function() {
  out <- character()
  for (f in list.files("R", pattern = "[.]R$", full.names = TRUE)) {
    ex <- tryCatch(parse(f, keep.source = FALSE), error = function(e) NULL)
    for (e in ex) {
      if (is.call(e) && (identical(e[[1]], as.name("<-")) || identical(e[[1]], as.name("="))) &&
          (is.name(e[[2]]) || is.character(e[[2]]))) {
        out[as.character(e[[2]])] <- basename(f)
      }
    }
  }
  out["Ops.symnet_symbol(+)"] <- out["Ops.symnet_symbol"]
  out["Ops.symnet_symbol(<)"] <- out["Ops.symnet_symbol"]
  out["symnet_function()"] <- "compile.R"
  out["fit"] <- "fit.R"
  out
}

args <- commandArgs(TRUE)
if (length(args) >= 1 && args[1] == "--child") {
  child_main(start = as.integer(args[2]), results = args[3], level = args[4],
             modes = strsplit(args[5], "")[[1]], shard = as.integer(args[6]), jobs = as.integer(args[7]),
             only = if (length(args) >= 8 && nzchar(args[8])) args[8])
} else {
  invisible(parent_main(args))
}
