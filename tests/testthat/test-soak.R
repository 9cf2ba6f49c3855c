# Soak: many compile/run/free and fit/predict cycles must not grow the
# process. Resident memory (VmRSS) is read after a warm-up and at the end;
# the growth is printed. The goal is < 5 MiB.
#
# What RSS measures: after trainings glibc keeps 100+ MiB of freed C heap for
# reuse (R's garbage between collections and engine buffers are freed in an
# order that leaves holes), and how much of it stays resident moves by tens of
# MiB from one run to the next. malloc_trim() hands it back, so "RSS after a
# trim" counts the memory the process holds; that is what the leak bounds test.
# The plain RSS growth is printed beside it.

r_heap_mib <- function() sum(gc()[, 2])

rss_mib <- function() {
  l <- grep("^VmRSS:", readLines("/proc/self/status"), value = TRUE)
  as.numeric(gsub("[^0-9]", "", l)) / 1024
}

settle <- function() {
  # finalizers of engine objects run at garbage collection
  for (i in 1:3) gc(full = TRUE)
  invisible()
}

# RSS after returning the allocator's free memory to the system (glibc)
trimmed_rss_mib <- function() {
  symnet:::cpp_malloc_trim()
  rss_mib()
}

test_that("1000 compile/run/free cycles keep resident memory flat", {
  skip_on_cran()
  skip_if_not(file.exists("/proc/self/status"), "no /proc/self/status to read VmRSS from")
  set.seed(1)
  xv <- matrix(runif(32 * 8), 32, 8)
  cycle <- function(i) {
    x <- sym_var("x", c(NA, 8))
    w <- sym_shared(matrix(runif(8 * 16), 8, 16), "soak_w")
    h <- sym_tanh(x %*% w)
    loss <- sym_mean(sym_square(h))
    g <- sym_grad(loss, list(w))[[1]]
    f <- sym_compile(list(loss = loss, h = h), updates = list(list(w, w - 0.1 * g)))
    r <- f(x = xv)
    # a second specialisation (another batch size) of the same function
    f(x = xv[1:5, , drop = FALSE])
    r$loss
  }
  # warm-up: R's own heap grows to its working size during the first few
  # hundred cycles (garbage between collections), which is not a leak
  for (i in 1:300) cycle(i)
  settle()
  # trimmed RSS over all 1000 cycles; plain RSS over the last 500 (both ends measured the
  # same number of cycles after a trim)
  before_trim <- trimmed_rss_mib()
  heap0 <- r_heap_mib()
  t0 <- Sys.time()
  for (i in 1:500) cycle(i)
  settle()
  before <- rss_mib()
  for (i in 1:500) cycle(i)
  settle()
  growth <- rss_mib() - before
  growth_trim <- trimmed_rss_mib() - before_trim
  message(sprintf(paste("soak: 1000 compile/run/free cycles in %.1f s: RSS after trim %.1f -> %.1f MiB (growth %.2f MiB;",
                        "goal < 5); plain RSS growth over the last 500 %.2f MiB; R heap %+.2f MiB"),
                  as.double(Sys.time() - t0, units = "secs"), before_trim, before_trim + growth_trim, growth_trim,
                  growth, r_heap_mib() - heap0))
  expect_lt(growth_trim, 5)
  expect_lt(growth, 20)
})

test_that("100 fit/predict cycles keep resident memory flat", {
  skip_on_cran()
  skip_if_not(file.exists("/proc/self/status"), "no /proc/self/status to read VmRSS from")
  pkg <- system.file(package = "symnet")
  skip_if_not(file.exists(file.path(pkg, "Meta", "package.rds")), "symnet is not installed")
  # Measured in a fresh Rscript: inside testthat the trainings' models stayed
  # reachable from the test's own bookkeeping (70+ MiB over 100 cycles in
  # testthat, flat in a plain R process), which would hide or fake a leak.
  script <- withr::local_tempfile(fileext = ".R")
  out <- withr::local_tempfile(fileext = ".rds")
  writeLines(c(
    sprintf(".libPaths(c(%s, .libPaths()))", deparse(dirname(pkg))),
    "suppressPackageStartupMessages(library(symnet))",
    "rss <- function() as.numeric(gsub('[^0-9]', '', grep('^VmRSS:', readLines('/proc/self/status'), value = TRUE))) / 1024",
    "trimmed <- function() { symnet:::cpp_malloc_trim(); rss() }",
    "settle <- function() for (i in 1:3) gc(full = TRUE)",
    "set.seed(2); X <- matrix(rnorm(256 * 10), 256, 10); y <- as.integer(X[, 1] > 0)",
    "cycle <- function(i) {",
    "  x <- sym_var('x', c(NA, 10))",
    # ~270 kB of weights per model (plus optimiser state), so a model that is never freed shows
    "  m <- sym_model(x, x |> layer_dense(256, activation = 'relu') |> layer_dense(256, activation = 'relu') |> layer_dense(2))",
    "  fit(m, X, y, loss = 'softmax_cross_entropy', optimizer = optimizer_adam(0.01), epochs = 2,",
    "      batch_size = 32, metrics = 'accuracy', verbose = 0)",
    "  p <- predict(m, X); evaluate(m, X, y); p[1, 1]",
    "}",
    # warm-up: malloc arenas of the engine threads and R heap reach their working size within ~100 trainings (measured: +40, +30, +3, -8, 0, +11 MiB per 50)
    "for (i in 1:100) cycle(i); settle()",
    # trimmed RSS over 100 cycles; plain RSS over the last 50 (both ends 50 and 100 cycles after a trim)
    "before_trim <- trimmed(); heap0 <- sum(gc()[, 2]); t0 <- Sys.time()",
    "for (i in 1:50) cycle(i); settle(); before <- rss()",
    "for (i in 1:50) cycle(i); settle()",
    "after <- rss(); after_trim <- trimmed()",
    sprintf("saveRDS(list(before = before, after = after, before_trim = before_trim, after_trim = after_trim, heap = sum(gc()[, 2]) - heap0, secs = as.double(Sys.time() - t0, units = 'secs')), %s)", deparse(out))
  ), script)
  status <- system2(file.path(R.home("bin"), "Rscript"), c("--vanilla", shQuote(script)), stdout = FALSE, stderr = FALSE)
  expect_equal(status, 0)
  r <- readRDS(out)
  growth <- r$after - r$before
  growth_trim <- r$after_trim - r$before_trim
  message(sprintf(paste("soak: 100 fit/predict cycles in %.1f s: RSS after trim %.1f -> %.1f MiB (growth %.2f MiB;",
                        "goal < 5); plain RSS over the last 50 cycles %.1f -> %.1f MiB (growth %.2f MiB); R heap %+.2f MiB"),
                  r$secs, r$before_trim, r$after_trim, growth_trim, r$before, r$after, growth, r$heap))
  # A model that is never freed (~0.8 MB each with Adam's state) adds 80+ MiB. The plain
  # RSS bound is wider: the allocator's retained free memory moves it by tens of MiB.
  expect_lt(growth_trim, 5)
  expect_lt(growth, 40)
})

test_that("models with batch normalisation are freed", {
  skip_on_cran()
  skip_if_not(file.exists("/proc/self/status"), "no /proc/self/status to read VmRSS from")
  # ~1 MB of weights per model: batch-norm updates kept for the session (as the
  # registry of sym_aux_update() did) would add 50 MiB
  cycle <- function(i) {
    x <- sym_var("x", c(NA, 500))
    m <- sym_model(x, x |> layer_dense(500) |> layer_batch_norm())
    length(m$aux_updates)
  }
  for (i in 1:20) expect_equal(cycle(i), 2)
  settle()
  before <- trimmed_rss_mib()
  for (i in 1:50) cycle(i)
  settle()
  growth <- trimmed_rss_mib() - before
  message(sprintf("soak: 50 batch-norm models of 1 MB: RSS growth after trim %.2f MiB", growth))
  expect_lt(growth, 5)
})
