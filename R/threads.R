# CPU threads used by the engine.

#' Number of CPU threads
#'
#' `symnet_threads()` returns the number of CPU threads the engine uses;
#' `symnet_threads(n)` sets it (and returns the previous value invisibly).
#' `n = 0` restores the default: all cores. At load time the option
#' `symnet.threads`, or else the environment variable `SYMNET_THREADS`, sets
#' the initial value. Results do not depend on the number of threads
#' (random numbers included).
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
