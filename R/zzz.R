.onLoad <- function(libname, pkgname) {
  .threads_at_load()
  if (getRversion() >= "4.4.0") {
    registerS3method("matrixOps", "symnet_symbol", .matrix_ops_method, envir = baseenv())
  }
  invisible()
}
