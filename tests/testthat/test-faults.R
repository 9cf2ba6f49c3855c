# Faults: Ctrl-C (SIGINT) during fit(), a long kernel and predict(); kill -9
# during a checkpoint save; a full disk during save. Each case drives a CHILD
# R process (a background Rscript that writes its pid and progress markers to
# files), so the session under test can be interrupted or killed for real.

# ---- child process helpers ---------------------------------------------------------------------

skip_if_no_child_processes <- function() {
  skip_on_cran()
  skip_on_os("windows") # POSIX signals and sh are needed
  if (!nzchar(Sys.which("sh"))) skip("no sh to start a child R process")
  if (!file.exists(file.path(R.home("bin"), "Rscript"))) skip("Rscript not found")
  pkg <- system.file(package = "symnet")
  if (!file.exists(file.path(pkg, "Meta", "package.rds"))) {
    skip("symnet is loaded from source, not installed: a child process cannot load it")
  }
}

# Starts `body` (R code lines) in a background Rscript in `dir`. The child
# gets mark(name) to signal progress and writes its pid to "pid". `prefix` is
# sh code run before R starts (e.g. limits). Returns list(dir, pid, log).
child_start <- function(dir, body, prefix = "") {
  lib <- dirname(system.file(package = "symnet"))
  script <- file.path(dir, "child.R")
  writeLines(c(
    sprintf(".libPaths(c(%s, .libPaths()))", deparse(lib)),
    sprintf("setwd(%s)", deparse(dir)),
    "mark <- function(name, value = '') { writeLines(as.character(value), paste0(name, '.part')); file.rename(paste0(name, '.part'), name) }",
    "mark('pid', Sys.getpid())",
    "suppressPackageStartupMessages(library(symnet))",
    "options(symnet.verbose = 0)",
    body
  ), script)
  log <- file.path(dir, "child.log")
  cmd <- sprintf("%s exec %s --vanilla %s > %s 2>&1", prefix, shQuote(file.path(R.home("bin"), "Rscript")),
                 shQuote(script), shQuote(log))
  system2("sh", c("-c", shQuote(cmd)), wait = FALSE)
  ok <- wait_for_file(file.path(dir, "pid"), 60)
  if (!ok) fail_child(list(dir = dir, log = log), "the child did not start")
  list(dir = dir, pid = as.integer(readLines(file.path(dir, "pid"))), log = log)
}

wait_for_file <- function(path, timeout) {
  t0 <- Sys.time()
  while (!file.exists(path)) {
    if (as.double(Sys.time() - t0, units = "secs") > timeout) return(FALSE)
    Sys.sleep(0.02)
  }
  TRUE
}

child_alive <- function(ch) isTRUE(tools::pskill(ch$pid, 0L))

# Waits for the child to exit (after it wrote "done"); kills it on timeout.
child_finish <- function(ch, timeout = 120) {
  ok <- wait_for_file(file.path(ch$dir, "done"), timeout)
  if (!ok) {
    tools::pskill(ch$pid, tools::SIGKILL)
    fail_child(ch, "the child did not finish in time")
  }
  t0 <- Sys.time()
  while (child_alive(ch) && as.double(Sys.time() - t0, units = "secs") < 10) Sys.sleep(0.05)
  readRDS(file.path(ch$dir, "result.rds"))
}

fail_child <- function(ch, what) {
  log <- if (file.exists(ch$log)) readLines(ch$log, warn = FALSE) else "(no log)"
  stop(what, "; child log:\n", paste(utils::tail(log, 30), collapse = "\n"), call. = FALSE)
}

# ---- Ctrl-C ------------------------------------------------------------------------------------

test_that("Ctrl-C during fit() keeps the session and the weights of the last finished step", {
  skip_if_no_child_processes()
  dir <- withr::local_tempdir()
  # Full-batch SGD (no optimiser state, no shuffling): one step per epoch, and
  # each step is a pure function of the weights, so the weights after the
  # interrupt can be matched against a replayed trajectory. A step takes
  # tens of milliseconds in the engine, so the signal mostly lands in a kernel.
  ch <- child_start(dir, c(
    "set.seed(1)",
    "n <- 2048; X <- matrix(rnorm(n * 64), n, 64); y <- sample(0:9, n, TRUE)",
    "x <- sym_var('x', c(NA, 64))",
    "model <- sym_model(x, x |> layer_dense(512, activation = 'relu') |> layer_dense(512, activation = 'relu') |> layer_dense(10))",
    "w0 <- get_weights(model)",
    "k <- 0L",
    "cb <- callback_lambda(on_epoch_end = function(epoch, logs, state) { k <<- epoch; if (epoch == 3) mark('ready') })",
    "h <- tryCatch(fit(model, X, y, loss = 'softmax_cross_entropy', optimizer = optimizer_sgd(0.05), epochs = 100000,",
    "                  batch_size = n, shuffle = FALSE, callbacks = list(cb), verbose = 0),",
    "              interrupt = function(e) 'interrupt escaped fit()', symnet_interrupt_error = function(e) 'interrupt error escaped fit()')",
    "w_int <- get_weights(model)",
    "interrupted <- inherits(h, 'symnet_history') && isTRUE(h$interrupted)",
    "p <- predict(model, X[1:20, ])",
    # replay: the same steps from w0, one fit() call per step
    "set_weights(model, w0)",
    "traj <- list()",
    "for (i in seq_len(k + 1)) { fit(model, X, y, loss = 'softmax_cross_entropy', optimizer = optimizer_sgd(0.05), epochs = 1, batch_size = n, shuffle = FALSE, verbose = 0); traj[[i]] <- get_weights(model) }",
    "match <- which(vapply(traj, identical, logical(1), w_int))",
    # and training goes on from the interrupted state
    "set_weights(model, w_int)",
    "h2 <- fit(model, X, y, loss = 'softmax_cross_entropy', optimizer = optimizer_sgd(0.05), epochs = 1, batch_size = n, shuffle = FALSE, verbose = 0)",
    "saveRDS(list(h = if (is.character(h)) h else 'history', interrupted = interrupted, k = k, match = match,",
    "             changed = !identical(w_int, w0), pred_ok = all(is.finite(p)) && identical(dim(p), c(20L, 10L)),",
    "             cont_loss = h2$metrics$loss), 'result.rds')",
    "mark('done')"
  ))
  expect_true(wait_for_file(file.path(dir, "ready"), 120), info = "child reached epoch 3")
  Sys.sleep(0.15)
  expect_true(tools::pskill(ch$pid, tools::SIGINT))
  res <- child_finish(ch)
  expect_identical(res$h, "history")            # fit() returned: the session lived on
  expect_true(res$interrupted)
  expect_true(res$changed)
  # the weights are exactly those after the last finished step: the step the
  # interrupt hit was rolled back (k) or had already finished (k + 1)
  expect_length(res$match, 1)
  expect_true(res$match %in% c(res$k, res$k + 1L), info = sprintf("matched step %s, k = %d", format(res$match), res$k))
  expect_true(res$pred_ok)
  expect_true(is.finite(res$cont_loss))
})

test_that("Ctrl-C during a long kernel raises an interrupt and leaves variables unchanged", {
  skip_if_no_child_processes()
  dir <- withr::local_tempdir()
  # One run of three large matmuls (about a second on the project's 2-core VM with
  # symnet's own GEMM; a single 2000^3 product took a tenth of that, so the signal
  # could land after the call, outside the tryCatch), with a variable update. The
  # operands live in the engine (a shared variable times a scalar input), so after the
  # "running" mark the child is in the engine.
  ch <- child_start(dir, c(
    "s <- sym_var('scale', integer())",
    "n <- 3000; set.seed(2); b <- sym_shared(matrix(runif(n * n), n), 'big')",
    "v <- sym_shared(matrix(0, 2, 2), 'v')",
    "y <- sym_matmul(sym_matmul(sym_matmul(b * s, b) / n, b) / n, b)",
    "f <- sym_compile(sym_sum(y), updates = list(list(v, v + 1)))",
    "t0 <- Sys.time(); full <- f(scale = 1); dur <- as.double(Sys.time() - t0, units = 'secs')",
    "before <- sym_value(v)",
    "mark('running', dur)",
    "t0 <- Sys.time()",
    "r <- tryCatch({ f(scale = 1); 'finished' }, symnet_interrupt_error = function(e) 'symnet_interrupt_error',",
    "              interrupt = function(e) 'interrupt')",
    "latency <- as.double(Sys.time() - t0, units = 'secs')",
    "after <- sym_value(v)",
    "again <- f(scale = 2)",
    "saveRDS(list(r = r, before = before, after = after, again = again, expect = 2 * full,",
    "             v_final = sym_value(v), latency = latency, dur = dur), 'result.rds')",
    "mark('done')"
  ))
  expect_true(wait_for_file(file.path(dir, "running"), 300))
  dur <- as.double(readLines(file.path(dir, "running")))
  Sys.sleep(min(0.3, dur / 4))
  expect_true(tools::pskill(ch$pid, tools::SIGINT))
  res <- child_finish(ch, timeout = 300)
  if (identical(res$r, "finished")) skip("the kernel finished before the signal arrived (machine too fast)")
  expect_identical(res$r, "symnet_interrupt_error") # raised by the engine between kernels
  expect_identical(res$after, res$before)            # the interrupted run committed no update
  expect_equal(as.vector(res$again), as.vector(res$expect), tolerance = 1e-5)
  expect_identical(res$v_final, res$before + 1)      # the next run commits its update
  message(sprintf("long kernel (%.2f s): interrupt honoured %.2f s after the call started", res$dur, res$latency))
})

test_that("Ctrl-C during predict() keeps the session and the model", {
  skip_if_no_child_processes()
  dir <- withr::local_tempdir()
  ch <- child_start(dir, c(
    "set.seed(3)",
    "x <- sym_var('x', c(NA, 256))",
    "model <- sym_model(x, x |> layer_dense(1024, activation = 'relu') |> layer_dense(1024, activation = 'relu') |> layer_dense(4))",
    "X <- matrix(rnorm(60000 * 256), 60000)",
    "ref <- predict(model, X[1:50, ])",
    "w <- get_weights(model)",
    "mark('running')",
    "r <- tryCatch({ predict(model, X, batch_size = 64); 'finished' },",
    "              symnet_interrupt_error = function(e) 'symnet_interrupt_error', interrupt = function(e) 'interrupt')",
    "p <- predict(model, X[1:50, ])",
    "saveRDS(list(r = r, same_pred = identical(p, ref), same_w = identical(get_weights(model), w)), 'result.rds')",
    "mark('done')"
  ))
  expect_true(wait_for_file(file.path(dir, "running"), 120))
  Sys.sleep(0.5)
  expect_true(tools::pskill(ch$pid, tools::SIGINT))
  res <- child_finish(ch)
  if (identical(res$r, "finished")) skip("predict() finished before the signal arrived (machine too fast)")
  expect_true(res$r %in% c("symnet_interrupt_error", "interrupt"))
  expect_true(res$same_pred)
  expect_true(res$same_w)
})

# ---- kill -9 during a save ---------------------------------------------------------------------

test_that("kill -9 during a checkpoint save leaves the previous checkpoint intact", {
  skip_if_no_child_processes()
  dir <- withr::local_tempdir()
  path <- file.path(dir, "ckpt.safetensors")
  # ~64 MB of weights: each save takes long enough to be caught half way.
  # The child saves weights A, then saves weights B over and over.
  ch <- child_start(dir, c(
    "set.seed(4)",
    "x <- sym_var('x', c(NA, 4000))",
    "model <- sym_model(x, x |> layer_dense(4000, name = 'big') |> layer_dense(1, name = 'head'))",
    sprintf("path <- %s", deparse(path)),
    "save_model(model, path)",
    "wa <- get_weights(model)",
    "saveRDS(lapply(wa, function(v) c(sum = sum(v), n = length(v))), 'a_sums.rds')",
    "wb <- lapply(wa, function(w) w + 1)",
    "set_weights(model, wb)",
    "mark('saved_a')",
    "i <- 0L",
    "repeat { i <- i + 1L; save_model(model, path); mark('saves', i) }"
  ))
  expect_true(wait_for_file(file.path(dir, "saved_a"), 120))
  a_sums <- readRDS(file.path(dir, "a_sums.rds"))
  expect_true(wait_for_file(file.path(dir, "saves"), 120))
  # kill as soon as a save's temporary file appears: the write is under way
  t0 <- Sys.time()
  while (!length(list.files(dir, pattern = "[.]tmp$", all.files = TRUE)) &&
         as.double(Sys.time() - t0, units = "secs") < 60) Sys.sleep(0.002)
  expect_true(tools::pskill(ch$pid, tools::SIGKILL))
  t0 <- Sys.time()
  while (child_alive(ch) && as.double(Sys.time() - t0, units = "secs") < 10) Sys.sleep(0.05)
  expect_false(child_alive(ch))
  # the checkpoint loads, whole: every tensor holds A's weights, or every
  # tensor B's (A + 1), never a mixture or a truncated tail
  w <- get_weights(load_model(path))
  expect_setequal(names(w), names(a_sums))
  shift <- vapply(names(a_sums), function(nm) {
    (sum(w[[nm]]) - a_sums[[nm]][["sum"]]) / a_sums[[nm]][["n"]]
  }, numeric(1))
  expect_true(all(abs(shift) < 1e-3) || all(abs(shift - 1) < 1e-3), info = paste(format(shift), collapse = " "))
  leftovers <- list.files(dir, pattern = "[.]tmp$", all.files = TRUE)
  expect_length(leftovers, 1) # the killed write's; it never replaced the checkpoint
  message(sprintf("kill -9 during saves: the checkpoint holds the %s weights; %d temporary file(s) left by the killed save",
                  if (all(abs(shift) < 1e-3)) "previous (A)" else "newest (B)", length(leftovers)))
})

# ---- full disk / unwritable path ---------------------------------------------------------------

test_that("a full disk during save is a classed error and loses nothing", {
  skip_if_no_child_processes()
  dir <- withr::local_tempdir()
  path <- file.path(dir, "model.safetensors")
  set.seed(5)
  x <- sym_var("x", c(NA, 300))
  m <- sym_model(x, x |> layer_dense(300, name = "fd_d1") |> layer_dense(2, name = "fd_d2"))
  save_model(m, path)                            # ~360 kB, written without a limit
  good <- readBin(path, "raw", n = file.size(path) + 1)
  # In the child, files may not exceed 100 kB (RLIMIT_FSIZE; SIGXFSZ ignored,
  # so writes fail with EFBIG as on a full disk): the same save must fail.
  ch <- child_start(dir, c(
    sprintf("path <- %s", deparse(path)),
    "m <- load_model(path)",
    "w <- get_weights(m)",
    "set_weights(m, lapply(w, function(v) v * 2))",
    "e <- tryCatch({ save_model(m, path); NULL }, error = function(e) e)",
    "still <- identical(get_weights(m), lapply(w, function(v) v * 2))",
    "saveRDS(list(class = class(e), msg = if (!is.null(e)) conditionMessage(e), still = still), 'result.rds')",
    "mark('done')"
  ), prefix = "trap '' XFSZ; ulimit -f 200 || exit 3;")
  res <- child_finish(ch)
  expect_true("symnet_io_error" %in% res$class, info = paste(res$class, collapse = ","))
  expect_true("symnet_error" %in% res$class)
  expect_match(res$msg, "unchanged")
  expect_true(res$still)                         # the model in memory is untouched
  expect_identical(readBin(path, "raw", n = file.size(path) + 1), good)
  expect_equal(list.files(dir, pattern = "[.]tmp$", all.files = TRUE), character())
})

test_that("short writes and failing closes never replace the file", {
  dir <- withr::local_tempdir()
  path <- file.path(dir, "f.bin")
  writeBin(as.raw(1:10), path)
  # a chunk producer that warns (as writeBin() does on a short write)
  expect_error(symnet:::.write_atomic(path, list(as.raw(1:5), function() { warning("problem writing to connection"); raw(3) })),
               class = "symnet_io_error")
  expect_identical(readBin(path, "raw", n = 100), as.raw(1:10))
  expect_equal(list.files(dir, all.files = TRUE, no.. = TRUE), "f.bin")
  # something that is not bytes is refused before anything is renamed
  expect_error(symnet:::.write_atomic(path, list(1:3)), class = "symnet_io_error")
  expect_identical(readBin(path, "raw", n = 100), as.raw(1:10))
  # a good write replaces it
  symnet:::.write_atomic(path, list(as.raw(1:3), function() as.raw(4:6)))
  expect_identical(readBin(path, "raw", n = 100), as.raw(1:6))
  expect_equal(list.files(dir, all.files = TRUE, no.. = TRUE), "f.bin")
})

test_that("an unwritable path is a classed error and keeps the old file", {
  skip_on_os("windows")
  dir <- withr::local_tempdir()
  path <- file.path(dir, "m.safetensors")
  set.seed(6)
  x <- sym_var("x", c(NA, 3))
  m <- sym_model(x, layer_dense(x, 2, name = "uw_d"))
  save_model(m, path)
  good <- readBin(path, "raw", n = file.size(path) + 1)
  # a path below a regular file (ENOTDIR) can never be written, even by root
  expect_error(save_model(m, file.path(path, "x.safetensors")), class = "symnet_io_error")
  ro <- file.path(dir, "ro")
  dir.create(ro)
  file.copy(path, ro)
  Sys.chmod(ro, "0555")
  on.exit(Sys.chmod(ro, "0755"), add = TRUE)
  if (file.access(ro, 2) == 0) skip("running as root: a read-only directory is still writable")
  expect_error(save_model(m, file.path(ro, "m.safetensors")), class = "symnet_io_error")
  expect_identical(readBin(file.path(ro, "m.safetensors"), "raw", n = length(good) + 1), good)
})
