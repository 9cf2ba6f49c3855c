#' Import an ONNX model
#'
#' Reads an ONNX file (`.onnx`, opsets 1 to 21) into a symnet model that prints,
#' predicts, fits and saves like any other. Floating-point initializers become
#' trainable parameters named as in the file; BatchNormalization statistics become
#' non-trainable running state, updated when the model is fitted; Dropout drops only
#' while fitting. Tensors that the model reads as shapes, axes or sizes stay
#' constants, and chains that compute shapes from static input shapes (`Shape` ->
#' `Gather` -> `Concat` -> `Reshape`) are folded at import.
#'
#' The first dimension of every input is left free, so the model takes batches of
#' any size, unless computing the model's shapes needs it (a reshape built from the
#' input's batch size): then the size the file declares is kept. `input_shapes`
#' decides explicitly.
#'
#' Every named tensor of the ONNX graph is in `model$tensors` as a symbol, so a
#' model can be cut anywhere: `sym_model(model$inputs, model$tensors[["x"]])`, or
#' `get_layer_output(model, "x")`. `saveRDS()` keeps these names; [save_model()] keeps
#' the model but not the ONNX names of its inner tensors.
#'
#' Reading ONNX files needs the protobuf library when symnet is installed (Debian and
#' Ubuntu: `libprotobuf-dev` and `protobuf-compiler`); without it `import_onnx()`
#' raises a `symnet_unsupported_error` saying so. Operators, attributes or element
#' types symnet does not support are refused with a `symnet_unsupported_error`
#' naming them; malformed files give a `symnet_value_error`.
#'
#' @param path Path of the `.onnx` file. Tensors stored as external data are read
#'   from files next to it.
#' @param input_shapes Optional named list of shapes for graph inputs, replacing the
#'   declared ones (for example to fix a symbolic batch dimension); `NA` leaves a
#'   dimension unknown.
#' @param bind Optional named list of values for graph inputs, fixed at import: they
#'   become constants. Use it for inputs that carry shapes, axes or sizes, which
#'   symnet needs to know when the model is built.
#' @param name Model name (default: the ONNX graph's name).
#' @return A `symnet_model` with the extra fields `tensors` (named list of symbols)
#'   and `onnx` (opset, IR version, producer, path).
#' @seealso [read_onnx_tensor()], [sym_model()], [fit()].
#' @examples
#' f <- system.file("extdata", "onnx", "mlp.onnx", package = "symnet")
#' if (onnx_available() && nzchar(f)) {
#'   m <- import_onnx(f)
#'   print(m)
#'   predict(m, matrix(runif(8), 2, 4))
#' }
#' @export
import_onnx <- function(path, input_shapes = NULL, bind = NULL, name = NULL) {
  path <- .check_string(path, "path")
  if (!onnx_available()) {
    sym_abort(c("Reading ONNX files needs protobuf, and symnet was installed without it.",
                i = "Install protobuf (Debian/Ubuntu: {.code apt install libprotobuf-dev protobuf-compiler}; Fedora: {.code protobuf-devel}; macOS: {.code brew install protobuf}) and reinstall symnet from source."),
              kind = "unsupported")
  }
  if (!file.exists(path) || dir.exists(path)) .io_abort("File {.file {path}} does not exist.")
  shapes <- .named_list_arg(input_shapes, "input_shapes")
  for (k in names(shapes)) {
    s <- shapes[[k]]
    if (!(is.numeric(s) || (is.logical(s) && all(is.na(s)))) || !is.null(dim(s))) {
      sym_abort("{.arg input_shapes}${k} must be a numeric vector of dimensions ({.code NA} for unknown).")
    }
  }
  if (!is.null(name)) name <- .check_string(name, "name")
  binds <- .named_list_arg(bind, "bind")
  res <- tryCatch(cpp_import_onnx(normalizePath(path), shapes, binds, TRUE),
                  symnet_unsupported_error = function(e) {
                    # the shapes need the batch size: keep the one the file declares
                    if (!grepl("must be known when the model is imported", conditionMessage(e), fixed = TRUE)) stop(e)
                    cpp_import_onnx(normalizePath(path), shapes, binds, FALSE)
                  })
  inputs <- lapply(res$inputs, new_symbol)
  outputs <- lapply(res$outputs, new_symbol)
  if (!length(inputs)) {
    sym_abort(c("The ONNX model has no inputs left to feed.",
                i = "Every graph input was bound with {.arg bind}; leave at least one unbound."))
  }
  if (is.null(name)) name <- if (nzchar(res$graph_name)) res$graph_name else tools::file_path_sans_ext(basename(path))
  model <- sym_model(inputs, outputs, name = make.names(name))
  model$tensors <- lapply(res$tensors, new_symbol)
  model$onnx <- list(opset = res$opset, ir_version = res$ir_version, producer = res$producer,
                     path = normalizePath(path))
  model
}

#' Read a serialized ONNX tensor
#'
#' Reads a `TensorProto` file (`.pb`), such as the inputs and outputs that come with
#' ONNX models and the ONNX backend tests, as an R array in symnet's layout (dims as
#' in the file). float16 and bfloat16 tensors are returned as doubles; integers as
#' integers or doubles (64-bit).
#'
#' @param path Path of the `.pb` file.
#' @return An array (a plain vector for rank 0 or 1).
#' @examples
#' f <- system.file("extdata", "onnx", "mlp_input_0.pb", package = "symnet")
#' if (onnx_available() && nzchar(f)) dim(read_onnx_tensor(f))
#' @export
read_onnx_tensor <- function(path) {
  path <- .check_string(path, "path")
  if (!onnx_available()) sym_abort("Reading ONNX files needs protobuf, and symnet was installed without it.", kind = "unsupported")
  if (!file.exists(path) || dir.exists(path)) .io_abort("File {.file {path}} does not exist.")
  cpp_onnx_read_tensor(normalizePath(path))
}

#' Is ONNX support available?
#'
#' `TRUE` when symnet was installed with protobuf, which [import_onnx()] needs.
#' @return `TRUE` or `FALSE`.
#' @examples
#' onnx_available()
#' @export
onnx_available <- function() cpp_onnx_available()

# NULL or a named list (every element named, names unique).
.named_list_arg <- function(x, what, call = parent.frame()) {
  if (is.null(x)) return(list())
  if (!is.list(x) || (length(x) && (is.null(names(x)) || any(!nzchar(names(x))) || anyDuplicated(names(x))))) {
    sym_abort("{.arg {what}} must be a list with a unique name for every element.", call = call)
  }
  x
}
