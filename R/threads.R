# CPU threads used by the engine.

#' Number of CPU threads
#'
#' `symnet_threads()` returns the number of CPU threads the engine uses;
#' `symnet_threads(n)` sets it (and returns the previous value invisibly).
#' `n = 0` restores the default: all cores. At load time the option
#' `symnet.threads`, or else the environment variable `SYMNET_THREADS`, sets
#' the initial value. Random numbers do not depend on the number of threads;
#' other results agree up to floating-point rounding (a sum split over
#' threads adds its terms in another order).
#'
#' The engine runs kernels on its own pool of `n - 1` worker threads plus the
#' calling R thread. Work is handed out in chunks that the R thread takes too,
#' so a worker held up by another process delays only the chunk it holds, and
#' idle workers sleep after polling for about 200 microseconds (the
#' environment variable `SYMNET_SPIN_US` changes that, 0 to 100000). The pool
#' is safe with `parallel::mclapply()`: a forked child starts its own.
#'
#' @param n `NULL` to query, or a whole number >= 0.
#' @return The number of threads (when querying), or the previous number
#'   invisibly.
#' @examples
#' old <- symnet_threads(1)
#' symnet_threads()
#' symnet_threads(old)
#' @export
symnet_threads <- function(n = NULL) {
  if (is.null(n)) return(cpp_threads_get())
  n <- .check_int(n, "n", min = 0)
  old <- cpp_threads_get()
  cpp_threads_set(n)
  invisible(old)
}

# Initial thread count from the option or the environment variable.
.threads_at_load <- function() {
  n <- getOption("symnet.threads")
  src <- "option symnet.threads"
  if (is.null(n)) {
    env <- Sys.getenv("SYMNET_THREADS", "")
    if (!nzchar(env)) return(invisible())
    n <- suppressWarnings(as.numeric(env))
    src <- "SYMNET_THREADS"
  }
  if (length(n) != 1 || is.na(n) || n < 0 || n != round(n)) {
    warning(sprintf("symnet: ignoring %s = %s (expected a whole number >= 0)", src, format(n)),
            call. = FALSE)
    return(invisible())
  }
  cpp_threads_set(as.integer(n))
  invisible()
}
