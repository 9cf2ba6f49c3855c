#' Export a model to ONNX
#'
#' Writes a symnet model as an ONNX file (`.onnx`) that ONNX Runtime and other
#' ONNX tools run, and that [import_onnx()] reads back. The model is exported in
#' inference mode, as it predicts: dropout passes its input through and batch
#' normalization uses its running statistics. Parameters and running statistics
#' become initializers named after the model's variables, inputs keep their names
#' (an unknown first dimension becomes the symbolic batch dimension `"N"`), and
#' outputs take the model's output names.
#'
#' Every symnet op with an ONNX equivalent at the opset is exported (elementwise
#' math and activations, matrix products, convolutions, pooling, normalization,
#' recurrent layers, reductions, shape and indexing ops; [sym_cond()] as `If`,
#' [sym_scan()] with sequences as `Scan`, [sym_while_loop()] as `Loop`); ops ONNX
#' lacks at the opset are written as their ONNX compositions (for example GELU, and
#' layer normalization before opset 17). Ops without one (losses, gradient ops, a
#' loop with `on_max = "error"`, the `mask` input of recurrent layers) raise a
#' `symnet_unsupported_error` naming the op, and nothing is written.
#' [import_onnx()] does not read `If`, `Scan` and `Loop` yet: models with control
#' flow run in ONNX Runtime but do not import back into symnet.
#'
#' The file is written to a temporary file next to `path` and renamed over it
#' only when complete, so a failure leaves an existing file unchanged. Writing
#' ONNX needs the protobuf library when symnet is installed, as [import_onnx()]
#' does (see [onnx_available()]).
#'
#' @param model A `symnet_model` (from [sym_model()], [import_onnx()] or
#'   [load_model()]).
#' @param path Path of the `.onnx` file to write.
#' @param opset ONNX opset to target, 13 to 17 (default 17).
#' @return `path`, invisibly.
#' @seealso [import_onnx()], [save_model()].
#' @examples
#' if (onnx_available()) {
#'   x <- sym_var("x", c(NA, 4))
#'   y <- x |> layer_dense(8, activation = "relu") |> layer_dense(2)
#'   m <- sym_model(x, y, name = "mlp")
#'   f <- tempfile(fileext = ".onnx")
#'   export_onnx(m, f)
#'   m2 <- import_onnx(f)
#'   xs <- matrix(runif(12), 3, 4)
#'   all.equal(predict(m, xs), predict(m2, xs))
#' }
#' @export
export_onnx <- function(model, path, opset = 17) {
  .check_model(model)
  path <- .check_string(path, "path")
  opset <- .check_int(opset, "opset", min = 13, max = 17)
  if (!onnx_available()) {
    sym_abort(c("Writing ONNX files needs protobuf, and symnet was installed without it.",
                i = "Install protobuf (Debian/Ubuntu: {.code apt install libprotobuf-dev protobuf-compiler}; Fedora: {.code protobuf-devel}; macOS: {.code brew install protobuf}) and reinstall symnet from source."),
              kind = "unsupported")
  }
  path <- path.expand(path)
  if (dir.exists(path)) .io_abort("{.arg path} is a directory: {.file {path}}.")
  if (!dir.exists(dirname(path))) .io_abort("Directory {.file {dirname(path)}} does not exist.")
  # The graph's own outputs, without the state updates that fitting carries along.
  inputs <- .model_get(model, "inputs")
  outputs <- .model_get(model, "outputs")
  bytes <- cpp_export_onnx(lapply(unname(inputs), .ptr), lapply(unname(outputs), .ptr), names(outputs),
                           as.integer(opset), .model_get(model, "name") %||% "symnet",
                           as.character(utils::packageVersion("symnet")))
  .write_atomic(path, list(bytes))
  invisible(path)
}
