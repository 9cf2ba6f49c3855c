# Run the testthat suite against the INSTALLED symnet and print plain totals.
#
#   Rscript tools/run-tests.R [totals-file]
#
# Prints per-file progress, then a line "testthat: N passed, N failed, N skipped" where
# passed = passing expectations, failed = failed expectations + tests that errored (including
# errors outside test_that() and a suite that could not run at all), skipped = skipped tests.
# With a totals-file argument, also writes "passed failed skipped" (three integers) there.
# Exit status: 0 when nothing failed, 1 otherwise. Run from the package root.

args <- commandArgs(trailingOnly = TRUE)
totals_file <- if (length(args) >= 1) args[[1]] else NA_character_

# Run skip_on_cran() tests too, as devtools::test() does.
if (!nzchar(Sys.getenv("NOT_CRAN"))) Sys.setenv(NOT_CRAN = "true")
# Never stop counting after the first few failures.
options(testthat.progress.max_fails = Inf, warn = 1)

write_totals <- function(passed, failed, skipped) {
  cat(sprintf("testthat: %d passed, %d failed, %d skipped\n", passed, failed, skipped))
  if (!is.na(totals_file)) {
    writeLines(sprintf("%d %d %d", passed, failed, skipped), totals_file)
  }
  invisible(failed == 0)
}

ok <- tryCatch({
  suppressPackageStartupMessages(library(testthat))
  res <- testthat::test_dir(
    "tests/testthat",
    package = "symnet",
    load_package = "installed",
    # One line per file in logs; the live spinner only on a terminal.
    reporter = testthat::ProgressReporter$new(
      show_praise = FALSE, max_failures = Inf,
      update_interval = if (cli::is_dynamic_tty()) 0.1 else Inf
    ),
    stop_on_failure = FALSE,
    stop_on_warning = FALSE
  )
  df <- as.data.frame(res)
  if (nrow(df) == 0) {
    write_totals(0L, 0L, 0L)
  } else {
    write_totals(
      passed = as.integer(sum(df$passed)),
      failed = as.integer(sum(df$failed) + sum(df$error)),
      skipped = as.integer(sum(df$skipped))
    )
  }
}, error = function(e) {
  cat("testthat: the suite could not run: ", conditionMessage(e), "\n", sep = "")
  write_totals(0L, 1L, 0L)
})

quit(save = "no", status = if (isTRUE(ok)) 0L else 1L)
