.onLoad <- function(libname, pkgname) {
  .threads_at_load()
  if (getRversion() >= "4.4.0") {
    registerS3method("matrixOps", "symnet_symbol", .matrix_ops_method, envir = baseenv())
  }
  invisible()
}

.onUnload <- function(libpath) {
  # The engine's worker threads run code from the shared library: join them before R
  # unmaps it.
  try(cpp_threads_shutdown(), silent = TRUE)
  library.dynam.unload("symnet", libpath)
}
