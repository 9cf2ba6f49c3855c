# CUDA without a GPU (these machines): the library opens lazily, says exactly why CUDA is
# off, and every device argument refuses "cuda" with a classed error carrying that reason.
# The tests that need a GPU skip with the reason.

# Runs R code in a fresh R process (the CUDA library is opened once per process) with the
# given environment; returns its output lines.
run_fresh <- function(code, env = character()) {
  rscript <- file.path(R.home("bin"), "Rscript")
  lib <- paste(.libPaths(), collapse = .Platform$path.sep)
  out <- suppressWarnings(system2(rscript, c("-e", shQuote(code)), stdout = TRUE, stderr = TRUE,
                                  env = c(paste0("R_LIBS=", lib), env), timeout = 120))
  out
}

test_that("loading symnet does not open the CUDA library", {
  out <- run_fresh("library(symnet); cat('attempted:', symnet:::cpp_cuda_status()$attempted, '\\n')")
  expect_true(any(grepl("attempted: FALSE", out, fixed = TRUE)), info = paste(out, collapse = "\n"))
})

test_that("cuda_device_info() gives the reason, versions and an empty device table without a GPU", {
  info <- cuda_device_info()
  expect_s3_class(info, "symnet_cuda_info")
  expect_identical(cuda_is_available(), info$available)
  expect_named(info$devices, c("device", "name", "total_memory", "free_memory", "compute_capability",
                               "multiprocessors"))
  expect_named(info$memory, c("device", "in_use", "peak", "reserved"))
  if (info$available) {
    expect_identical(info$reason, "")
    expect_gt(nrow(info$devices), 0)
  } else {
    expect_true(nzchar(info$reason))
    expect_identical(nrow(info$devices), 0L)
    expect_identical(nrow(info$memory), 0L)
    if (is.na(info$library)) {
      expect_match(info$reason, "^not built")
    } else {
      # The real library answered: it loads without a driver and reports the runtime,
      # cuBLAS and cuDNN it was linked with.
      expect_match(info$reason, "no CUDA driver|CUDA driver too old|no CUDA device|failed to load")
      if (!grepl("failed to load", info$reason)) {
        expect_match(info$runtime_version, "^[0-9]+\\.[0-9]+$")
        expect_match(info$cublas_version, "^[0-9]+\\.[0-9]+\\.[0-9]+$")
        expect_match(info$cudnn_version, "^[0-9]+\\.[0-9]+\\.[0-9]+$")
      }
    }
  }
  printed <- capture.output(print(info))
  expect_match(printed[1], if (info$available) "available" else "not available")
})

test_that("a missing or broken library is reported as not built / failed to load", {
  out <- run_fresh("library(symnet); cat('REASON:', cuda_device_info()$reason, '\\n')",
                   env = "SYMNET_CUDA_LIBRARY=/nonexistent/symnet_cuda.so")
  expect_true(any(grepl("REASON: not built", out, fixed = TRUE)), info = paste(out, collapse = "\n"))
  bogus <- tempfile(fileext = ".so")
  writeLines("not a shared library", bogus)
  out <- run_fresh("library(symnet); cat('REASON:', cuda_device_info()$reason, '\\n')",
                   env = paste0("SYMNET_CUDA_LIBRARY=", bogus))
  expect_true(any(grepl("REASON: the CUDA backend library failed to load:", out, fixed = TRUE)),
              info = paste(out, collapse = "\n"))
  # the loader's own message is kept
  expect_true(any(grepl(basename(bogus), out, fixed = TRUE) | grepl("invalid ELF|too short|file", out)),
              info = paste(out, collapse = "\n"))
})

test_that("device = 'cuda' is refused with the reason when CUDA is unavailable", {
  skip_if(cuda_is_available(), "a GPU is usable here")
  reason <- cuda_device_info()$reason
  x <- sym_var("x", c(2, 3))
  for (dev in c("cuda", "cuda:0", "CUDA:1")) {
    err <- tryCatch(sym_compile(x * 2, device = dev), error = identity)
    expect_s3_class(err, "symnet_cuda_unavailable_error")
    expect_s3_class(err, "symnet_unsupported_error")
    expect_s3_class(err, "symnet_error")
    expect_identical(err$reason, reason)
    flat <- function(x) gsub("[[:space:]\u00a0]+", " ", x)
    expect_match(flat(conditionMessage(err)), flat(reason), fixed = TRUE)
  }
  xi <- sym_var("x", c(NA, 2))
  m <- sym_model(xi, xi |> layer_dense(1, name = "d"))
  expect_error(predict(m, matrix(1, 2, 2), device = "cuda"), class = "symnet_cuda_unavailable_error")
  expect_error(evaluate(m, matrix(1, 4, 2), matrix(1, 4, 1), device = "cuda:0"),
               class = "symnet_cuda_unavailable_error")
  expect_error(fit(m, matrix(1, 4, 2), matrix(1, 4, 1), loss = "mse", epochs = 1, verbose = 0, device = "cuda"),
               class = "symnet_cuda_unavailable_error")
  expect_error(cuda_memory_stats(), class = "symnet_cuda_unavailable_error")
  expect_error(cuda_set_options(allow_tf32 = TRUE), class = "symnet_cuda_unavailable_error")
  expect_error(cuda_empty_cache(), class = "symnet_cuda_unavailable_error")
})

test_that("device names are checked before CUDA is asked", {
  x <- sym_var("x", c(2, 3))
  expect_error(sym_compile(x * 2, device = "cuda:x"), class = "symnet_unsupported_error")
  expect_error(sym_compile(x * 2, device = "gpu"), class = "symnet_unsupported_error")
  expect_error(cuda_memory_stats("gpu0"), class = "symnet_value_error")
  expect_error(cuda_memory_stats(reset_peak = NA), class = "symnet_value_error")
  expect_error(cuda_set_options(allow_tf32 = "yes"), class = "symnet_value_error")
  expect_error(cuda_set_options(conv_workspace_limit = -1), class = "symnet_value_error")
  expect_identical(symnet:::.cuda_device_name("cuda"), "cuda:0")
  expect_identical(symnet:::.cuda_device_name("cuda:02"), "cuda:2")
  expect_null(symnet:::.cuda_device_name("cpu"))
})

test_that("a compiled function runs on cuda:0 and matches the CPU", {
  skip_if_no_cuda()
  x <- sym_var("x", c(NA, 3))
  w <- sym_shared(matrix(c(0.5, -1, 2, 0.25, 1, -0.5), 3, 2), name = "w_cuda")
  y <- sym_relu(sym_matmul(x, w))
  xv <- matrix(seq(-1, 1, length.out = 12), 4, 3)
  expect_equal(sym_compile(y, device = "cuda")(x = xv), sym_compile(y)(x = xv), tolerance = 1e-6)
  s <- cuda_memory_stats("cuda:0")
  expect_named(s, c("in_use", "peak", "reserved"))
  expect_gte(s[["reserved"]], s[["in_use"]])
})

test_that("options and the cache work on a GPU", {
  skip_if_no_cuda()
  expect_null(cuda_set_options(allow_tf32 = FALSE, conv_workspace_limit = 2^28))
  expect_null(cuda_empty_cache("cuda:0"))
  before <- cuda_memory_stats(0, reset_peak = TRUE)
  expect_identical(cuda_memory_stats(0)[["peak"]], before[["in_use"]])
})
