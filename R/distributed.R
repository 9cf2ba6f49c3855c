# Distributed runs: the process group (MPI), its rank and size, and the collectives R code
# needs outside compiled graphs. Inside graphs, the collective ops (R/ops-collective.R) run
# on the same communicator.

.dist_state <- new.env(parent = emptyenv())

#' Distributed runs on MPI
#'
#' Launch the same R script on several processes with MPI
#' (`mpirun -np 4 Rscript train.R`, or `srun Rscript train.R` under SLURM)
#' and call `dist_init()` at its start: every process (a *rank*) then knows
#' its number, `dist_rank()` (0 to `dist_size() - 1`), and the collective
#' operations of compiled graphs ([sym_allreduce()] and friends) exchange
#' tensors between the ranks.
#'
#' Without `dist_init()` (or without MPI) a process is a group of one:
#' `dist_rank()` is 0, `dist_size()` 1, and every collective is the identity,
#' so a distributed script also runs as a plain one.
#'
#' `dist_allreduce()` combines numeric arrays over ranks (keeping their
#' dimensions); `dist_broadcast()` sends any R object from `root` to every
#' rank; `dist_barrier()` waits for all ranks. Each must be called by every
#' rank, in the same order. `dist_finalize()` ends MPI in this process (R
#' does it at exit when `dist_init()` started it); MPI cannot be started again
#' afterwards in the same process.
#'
#' When a rank's data-parallel [fit()][fit.symnet_model], [predict()][predict.symnet_model]
#' or [evaluate()] fails with an error, it tells the other ranks before the
#' error reaches its script: their collectives then fail at once with a
#' `symnet_comm_error` whose message names the failed rank and its error,
#' also given as the condition's fields `failed_rank` and `failed_message`.
#' A rank that dies without a word is named by a collective that times out
#' (see `timeout`) as a rank that never reached it. After either, the
#' communicator refuses every collective: stop the job and restart from the
#' last checkpoint.
#'
#' MPI support is a separate library built when MPI is found at install time
#' (Debian/Ubuntu: `apt install libopenmpi-dev openmpi-bin`); `dist_available()`
#' says whether this installation has it. `dist_init()` raises a
#' `symnet_unsupported_error` explaining how to get it otherwise.
#'
#' @param library Path of the communicator library; the default is the one
#'   installed with the package (option `symnet.mpi_library` overrides it).
#' @param timeout Seconds after which a collective operation that has not
#'   completed (because another rank died, failed or stopped calling the same
#'   collectives) fails with a `symnet_comm_error` instead of waiting forever;
#'   `0` waits without limit. The error names the ranks that never reached the
#'   collective (ranks that have waited in it for more than a second say so).
#'   The job should then be stopped (a rank that timed out cannot know how far
#'   the others got).
#' @param x For `dist_allreduce()`, a numeric vector or array; for
#'   `dist_broadcast()`, any R object (only root's value matters).
#' @param op Reduction over ranks: `"sum"`, `"mean"`, `"max"` or `"min"`.
#' @param root The rank whose object every rank receives.
#' @return `dist_init()` and `dist_info()`: a list with `rank`, `size`,
#'   `description` (the MPI library and version) and `distributed` (`TRUE`
#'   once MPI runs), invisibly for `dist_init()`. `dist_rank()`, `dist_size()`:
#'   integers. `dist_available()`: `TRUE` or `FALSE`. `dist_allreduce()`: `x`
#'   reduced over ranks. `dist_broadcast()`: root's `x`. The others: `NULL`,
#'   invisibly.
#' @examples
#' dist_available()
#' dist_rank()   # 0: a single process unless dist_init() ran under mpirun
#' dist_size()
#' dist_allreduce(c(1, 2, 3), "mean")
#' dist_broadcast(list(a = 1), root = 0)
#' \dontrun{
#' # train.R, launched as: mpirun -np 2 Rscript train.R
#' library(symnet)
#' dist_init()
#' cat("rank", dist_rank(), "of", dist_size(), "\n")
#' total <- dist_allreduce(dist_rank() + 1, "sum")  # 1 + 2 = 3 on every rank
#' }
#' @name distributed
NULL

#' @rdname distributed
#' @export
dist_available <- function() nzchar(.dist_library_path())

#' @rdname distributed
#' @export
dist_init <- function(library = getOption("symnet.mpi_library"), timeout = 300) {
  timeout <- .check_number(timeout, "timeout", finite = TRUE)
  if (timeout < 0) sym_abort("{.arg timeout} must be >= 0 seconds.")
  path <- if (is.null(library)) .dist_library_path() else .check_string(library, "library")
  if (!nzchar(path)) {
    sym_abort(c("Distributed training needs MPI, and symnet was installed without it.",
                i = "Install MPI (Debian/Ubuntu: {.code apt install libopenmpi-dev openmpi-bin}; Fedora: {.code openmpi-devel}; macOS: {.code brew install open-mpi}) and reinstall symnet from source.",
                i = "Then launch the script with {.code mpirun -np 2 Rscript script.R}."),
              kind = "unsupported")
  }
  if (!file.exists(path)) sym_abort("The communicator library {.file {path}} does not exist.", kind = "unsupported")
  info <- cpp_dist_open(normalizePath(path))
  cpp_dist_set_timeout(timeout)
  if (is.null(.dist_state$finalizer)) {
    # MPI must be finalized before the process exits, or mpirun reports the rank as failed
    .dist_state$finalizer <- TRUE
    reg.finalizer(.dist_state, function(e) try(cpp_dist_finalize(), silent = TRUE), onexit = TRUE)
  }
  invisible(info)
}

#' @rdname distributed
#' @export
dist_info <- function() cpp_dist_info()

#' @rdname distributed
#' @export
dist_rank <- function() as.integer(cpp_dist_info()$rank)

#' @rdname distributed
#' @export
dist_size <- function() as.integer(cpp_dist_info()$size)

#' @rdname distributed
#' @export
dist_barrier <- function() {
  cpp_dist_barrier()
  invisible(NULL)
}

#' @rdname distributed
#' @export
dist_allreduce <- function(x, op = c("sum", "mean", "max", "min")) {
  op <- .match_arg(op, c("sum", "mean", "max", "min"), "op")
  if (!(is.numeric(x) || is.logical(x)) || is.object(x)) {
    sym_abort("{.arg x} must be a numeric vector or array, not {.obj_type_friendly {x}}.")
  }
  out <- cpp_dist_allreduce(as.double(x), if (op == "mean") "sum" else op)
  if (op == "mean") out <- out / dist_size()
  attributes(out) <- attributes(x)[intersect(names(attributes(x)), c("dim", "dimnames", "names"))]
  out
}

#' @rdname distributed
#' @export
dist_broadcast <- function(x, root = 0) {
  root <- .check_int(root, "root", min = 0)
  if (root >= dist_size()) sym_abort("{.arg root} must be a rank from 0 to {dist_size() - 1}, not {root}.")
  bytes <- if (dist_rank() == root) serialize(x, NULL) else raw(0)
  unserialize(cpp_dist_broadcast_raw(bytes, root))
}

# Every rank's R object, in rank order (a list of dist_size() objects).
.dist_allgather_object <- function(x) {
  lapply(cpp_dist_allgather_raw(serialize(x, NULL)), unserialize)
}

#' @rdname distributed
#' @export
dist_finalize <- function() {
  cpp_dist_finalize()
  invisible(NULL)
}

# The MPI communicator library installed with the package ("" when built without MPI).
.dist_library_path <- function() {
  arch <- Sys.getenv("R_ARCH")
  for (libs in unique(c(paste0("libs", arch), "libs"))) {
    p <- system.file(libs, "mpi", "symnet_mpi.so", package = "symnet")
    if (nzchar(p)) return(p)
  }
  ""
}
