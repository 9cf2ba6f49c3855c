#' CUDA: is a GPU usable, and what was found
#'
#' symnet's CUDA backend is a separate library (`libs/cuda/symnet_cuda.so`),
#' built at install time when `configure` finds the CUDA toolkit, cuBLAS and
#' cuDNN, and opened only when first needed: by these functions or by
#' `device = "cuda"` in [sym_compile()], [fit()][fit.symnet_model],
#' [evaluate()][evaluate.symnet_model] and [predict()][predict.symnet_model].
#' The package itself never depends on CUDA: it installs and loads on
#' machines without a GPU, a driver or the CUDA libraries, and these
#' functions then say why CUDA is off.
#'
#' `cuda_is_available()` is `TRUE` when the library is loaded and at least
#' one GPU answered. `cuda_device_info()` describes the installation:
#' whether CUDA is available and, when not, the exact reason (the library
#' was not built; it failed to load, with the system loader's message; no
#' driver; no device), the driver, runtime, cuBLAS and cuDNN versions the
#' library sees, the devices (name, memory, compute capability,
#' multiprocessors) and, once a device is in use, its memory figures.
#'
#' Devices are named `"cuda:0"`, `"cuda:1"`, ...; `"cuda"` means `"cuda:0"`.
#'
#' @return `cuda_is_available()`: `TRUE` or `FALSE`. `cuda_device_info()`: a
#'   `symnet_cuda_info` list with `available`, `reason` (`""` when
#'   available), `library` (the backend library's path, `NA` when not built),
#'   `driver_version`, `runtime_version` (CUDA versions as `"13.0"`, `NA`
#'   when unknown or without a driver), `cublas_version`, `cudnn_version`,
#'   `devices` (a data frame: `device`, `name`, `total_memory`,
#'   `free_memory` in bytes, `compute_capability`, `multiprocessors`; no rows
#'   without a GPU) and `memory` (the caching allocator's figures per device,
#'   see [cuda_memory_stats()]; no rows without a GPU).
#' @seealso [cuda_memory_stats()], [cuda_set_options()].
#' @examples
#' cuda_is_available()
#' info <- cuda_device_info()
#' info$reason
#' info$devices
#' @export
cuda_is_available <- function() {
  isTRUE(.cuda_state()$available)
}

#' @rdname cuda_is_available
#' @export
cuda_device_info <- function() {
  st <- .cuda_state()
  raw <- cpp_cuda_info()
  version <- function(v, digits = 2) {
    v <- as.numeric(v %||% 0)
    if (!length(v) || is.na(v) || v <= 0) return(NA_character_)
    if (digits == 2) sprintf("%d.%d", v %/% 1000, (v %% 1000) %/% 10)
    else sprintf("%d.%d.%d", v %/% 10000, (v %% 10000) %/% 100, v %% 100)
  }
  devs <- raw$devices %||% list()
  devices <- data.frame(
    device = vapply(devs, function(d) paste0("cuda:", d$index), character(1)),
    name = vapply(devs, function(d) as.character(d$name), character(1)),
    total_memory = vapply(devs, function(d) as.numeric(d$total_memory), numeric(1)),
    free_memory = vapply(devs, function(d) as.numeric(d$free_memory), numeric(1)),
    compute_capability = vapply(devs, function(d) as.character(d$compute_capability), character(1)),
    multiprocessors = vapply(devs, function(d) as.integer(d$multiprocessors), integer(1)),
    stringsAsFactors = FALSE
  )
  memory <- .cuda_memory_frame(if (st$available) seq_along(st$backends) - 1L else integer())
  structure(list(
    available = isTRUE(st$available),
    reason = if (isTRUE(st$available)) "" else st$reason,
    library = if (nzchar(.cuda_library_path())) .cuda_library_path() else NA_character_,
    driver_version = version(raw$driver_version),
    runtime_version = version(raw$runtime_version),
    cublas_version = if (is.null(raw$cublas_version)) NA_character_ else raw$cublas_version,
    cudnn_version = version(raw$cudnn_version, digits = 3),
    devices = devices,
    memory = memory
  ), class = "symnet_cuda_info")
}

#' @export
print.symnet_cuda_info <- function(x, ...) {
  cat("CUDA:", if (x$available) "available" else "not available", "\n")
  if (!x$available) cat("  reason:", x$reason, "\n")
  v <- c(driver = x$driver_version, runtime = x$runtime_version, cuBLAS = x$cublas_version, cuDNN = x$cudnn_version)
  v <- v[!is.na(v)]
  if (length(v)) cat("  versions:", paste(names(v), v, collapse = ", "), "\n")
  if (nrow(x$devices)) {
    cat("  devices:\n")
    print(x$devices, row.names = FALSE)
  }
  invisible(x)
}

#' Memory of a CUDA device and the backend's options
#'
#' The CUDA backend keeps device memory it has freed in a cache (free lists
#' by size) and reuses it, since allocating from the driver is slow and
#' synchronizes the device. `cuda_memory_stats()` reports, in bytes, what
#' tensors hold now (`in_use`), the most they held since the last reset
#' (`peak`) and what the backend holds from the driver, cache included
#' (`reserved`). `cuda_empty_cache()` returns the cached blocks to the
#' driver (for other programs on the same GPU).
#'
#' `cuda_set_options()` sets options of every device: `allow_tf32` lets
#' cuBLAS and cuDNN multiply float32 matrices in TF32 (faster on Ampere and
#' newer GPUs, about 3 decimal digits per product; off by default so that
#' results match the CPU), and `conv_workspace_limit` caps the scratch
#' memory (bytes) a cuDNN convolution algorithm may use (256 MiB by default).
#'
#' All of them need a usable GPU: without one they raise a
#' `symnet_unsupported_error` (class `symnet_cuda_unavailable_error`) whose
#' `reason` is [cuda_device_info()]'s.
#'
#' @param device The device: `"cuda:N"`, `"cuda"` (device 0) or its number.
#' @param reset_peak Restart the peak from the current use after reading it.
#' @param allow_tf32 `TRUE` or `FALSE`; `NULL` leaves it.
#' @param conv_workspace_limit Bytes (a whole number); `NULL` leaves it.
#' @return `cuda_memory_stats()`: a named numeric vector `in_use`, `peak`,
#'   `reserved`. The others: `NULL`, invisibly.
#' @examples
#' if (cuda_is_available()) {
#'   cuda_memory_stats("cuda:0")
#'   cuda_set_options(allow_tf32 = FALSE)
#'   cuda_empty_cache()
#' }
#' @export
cuda_memory_stats <- function(device = "cuda:0", reset_peak = FALSE) {
  if (!is.logical(reset_peak) || length(reset_peak) != 1 || is.na(reset_peak)) {
    sym_abort("{.arg reset_peak} must be TRUE or FALSE.")
  }
  index <- .cuda_device_index(device)
  out <- cpp_cuda_memory_stats(index, reset_peak)
  if (is.null(out)) {
    sym_abort("{.val {paste0('cuda:', index)}} is not a CUDA device of this machine.", kind = "unsupported")
  }
  out
}

#' @rdname cuda_memory_stats
#' @export
cuda_empty_cache <- function(device = "cuda:0") {
  index <- .cuda_device_index(device)
  cpp_cuda_set_option("empty_cache", as.character(index))
  invisible(NULL)
}

#' @rdname cuda_memory_stats
#' @export
cuda_set_options <- function(allow_tf32 = NULL, conv_workspace_limit = NULL) {
  if (!is.null(allow_tf32) && (!is.logical(allow_tf32) || length(allow_tf32) != 1 || is.na(allow_tf32))) {
    sym_abort("{.arg allow_tf32} must be TRUE or FALSE.")
  }
  if (!is.null(conv_workspace_limit) &&
      (!is.numeric(conv_workspace_limit) || length(conv_workspace_limit) != 1 || is.na(conv_workspace_limit) ||
       conv_workspace_limit < 0 || conv_workspace_limit != floor(conv_workspace_limit))) {
    sym_abort("{.arg conv_workspace_limit} must be a whole number of bytes.")
  }
  .cuda_require()
  if (!is.null(allow_tf32)) cpp_cuda_set_option("allow_tf32", if (allow_tf32) "1" else "0")
  if (!is.null(conv_workspace_limit)) {
    cpp_cuda_set_option("conv_workspace_limit", format(conv_workspace_limit, scientific = FALSE))
  }
  invisible(NULL)
}

# --- internals --------------------------------------------------------------------------

# The backend library installed with the package ("" when it was not built). The
# SYMNET_CUDA_LIBRARY environment variable names another one (tests, developers).
.cuda_library_path <- function() {
  env <- Sys.getenv("SYMNET_CUDA_LIBRARY")
  if (nzchar(env)) return(env)
  arch <- Sys.getenv("R_ARCH")
  for (libs in unique(c(paste0("libs", arch), "libs"))) {
    p <- system.file(libs, "cuda", "symnet_cuda.so", package = "symnet")
    if (nzchar(p)) return(p)
  }
  ""
}

# Opens the library on first use (never at library(symnet)); the engine keeps the outcome
# for the life of the process.
.cuda_state <- function() {
  st <- cpp_cuda_status()
  if (isTRUE(st$attempted)) return(st)
  path <- .cuda_library_path()
  # No library installed: the engine's "not built" reason (it finds no file there).
  cpp_cuda_load(if (nzchar(path)) path else file.path(tempdir(), "symnet_cuda-not-built.so"))
}

# Raises the classed "CUDA unavailable" error unless a GPU is usable.
.cuda_require <- function(device = "cuda", call = parent.frame()) {
  st <- .cuda_state()
  if (isTRUE(st$available)) return(invisible(st))
  reason <- st$reason
  cli::cli_abort(c("Device {.val {device}} is not available: CUDA cannot be used.", i = "{reason}",
                   i = "See {.fn cuda_device_info}."),
                 class = c("symnet_cuda_unavailable_error", .error_classes("unsupported")),
                 kind = "unsupported", reason = reason, call = call)
}

# "cuda" -> "cuda:0"; "cuda:N" kept; anything else NULL.
.cuda_device_name <- function(device) {
  if (identical(device, "cuda")) return("cuda:0")
  if (grepl("^cuda:[0-9]+$", device)) return(paste0("cuda:", as.integer(sub("^cuda:", "", device))))
  NULL
}

# A CUDA device argument ("cuda", "cuda:N" or N) -> its ordinal, after checking that it exists.
.cuda_device_index <- function(device, call = parent.frame()) {
  if (is.numeric(device) && length(device) == 1 && !is.na(device) && device >= 0 && device == floor(device)) {
    device <- paste0("cuda:", device)
  }
  if (!is.character(device) || length(device) != 1 || is.na(device)) {
    sym_abort("{.arg device} must be {.val cuda}, {.val cuda:N} or a device number.", call = call)
  }
  name <- .cuda_device_name(tolower(device))
  if (is.null(name)) {
    sym_abort("{.arg device} must be {.val cuda}, {.val cuda:N} or a device number, not {.val {device}}.",
              call = call)
  }
  .cuda_check_device(name, call = call)
  as.integer(sub("^cuda:", "", name))
}

# A CUDA device name -> itself when its backend is registered; else a classed error.
.cuda_check_device <- function(name, call = parent.frame()) {
  st <- .cuda_require(name, call = call)
  if (!name %in% st$backends) {
    have <- st$backends
    sym_abort(c("Device {.val {name}} does not exist on this machine.", i = "CUDA devices: {.val {have}}."),
              kind = "unsupported", call = call)
  }
  name
}

# The memory figures of the given ordinals as a data frame.
.cuda_memory_frame <- function(indices) {
  rows <- lapply(indices, function(i) cpp_cuda_memory_stats(i, FALSE))
  data.frame(
    device = paste0("cuda:", indices)[seq_along(rows)],
    in_use = vapply(rows, function(r) unname(r["in_use"]), numeric(1)),
    peak = vapply(rows, function(r) unname(r["peak"]), numeric(1)),
    reserved = vapply(rows, function(r) unname(r["reserved"]), numeric(1)),
    stringsAsFactors = FALSE
  )
}
