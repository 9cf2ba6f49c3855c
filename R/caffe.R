#' Import a Caffe model
#'
#' Reads a Caffe network definition (text `.prototxt`, current or V1 layer format)
#' and its trained weights (binary `.caffemodel`) into a symnet model that prints,
#' predicts, fits and saves like any other. Layers are matched to their weights by
#' name; layers that Caffe runs only in the TRAIN phase (`include { phase: TRAIN }`)
#' are left out.
#'
#' Converted layer types: Input, Convolution (with groups and dilation), Pooling
#' (MAX and AVE, Caffe's rounded-up output size), InnerProduct, ReLU (also leaky),
#' Sigmoid, TanH, LRN (across channels), Dropout, Softmax, Concat, BatchNorm,
#' Scale, Eltwise (SUM with coefficients, PROD, MAX), Flatten, Reshape and Split.
#' Weights become trainable parameters named `"<layer>/weight"` and
#' `"<layer>/bias"`. A BatchNorm layer followed by an in-place Scale layer (Caffe's
#' way of giving batch normalization its affine part) becomes one batch
#' normalization whose gamma and beta are the Scale layer's parameters; its
#' statistics, `"<layer>/mean"` and `"<layer>/variance"` (divided by Caffe's stored
#' moving-average factor), are non-trainable running state, updated when the model
#' is fitted. Prediction always uses the stored statistics, and fitting batch
#' statistics, whatever `use_global_stats` says. Dropout drops only while fitting.
#'
#' The first dimension of every input is left free, so the model takes batches of
#' any size, unless computing the model's shapes needs the declared batch size.
#' Every blob of the network is in `model$tensors` as a symbol, so a model can be
#' cut anywhere: `sym_model(model$inputs, model$tensors[["pool1"]])`.
#'
#' Reading Caffe files needs the protobuf library when symnet is installed, as
#' reading ONNX files does: [onnx_available()] says whether it is there; without it
#' `import_caffe()` raises a `symnet_unsupported_error` saying so. Layer types or
#' parameters symnet does not support are refused with a
#' `symnet_unsupported_error` naming them; malformed files (blob shapes that
#' disagree with their data, missing blobs) give a `symnet_value_error`.
#'
#' @param prototxt Path of the network definition (`.prototxt`, text format).
#' @param caffemodel Path of the trained weights (`.caffemodel`, binary format).
#' @param name Model name (default: the network's name).
#' @return A `symnet_model` with the extra fields `tensors` (named list of symbols)
#'   and `caffe` (the two paths).
#' @seealso [import_onnx()], [sym_model()], [fit()].
#' @examples
#' p <- system.file("extdata", "caffe", "tiny.prototxt", package = "symnet")
#' w <- system.file("extdata", "caffe", "tiny.caffemodel", package = "symnet")
#' if (onnx_available() && nzchar(p)) {
#'   m <- import_caffe(p, w)
#'   print(m)
#'   predict(m, array(runif(2 * 1 * 8 * 8), c(2, 1, 8, 8)))
#' }
#' @export
import_caffe <- function(prototxt, caffemodel, name = NULL) {
  prototxt <- .check_string(prototxt, "prototxt")
  caffemodel <- .check_string(caffemodel, "caffemodel")
  if (!onnx_available()) {
    sym_abort(c("Reading Caffe files needs protobuf, and symnet was installed without it.",
                i = "Install protobuf (Debian/Ubuntu: {.code apt install libprotobuf-dev protobuf-compiler}; Fedora: {.code protobuf-devel}; macOS: {.code brew install protobuf}) and reinstall symnet from source."),
              kind = "unsupported")
  }
  for (f in c(prototxt, caffemodel)) {
    if (!file.exists(f) || dir.exists(f)) .io_abort("File {.file {f}} does not exist.")
  }
  if (!is.null(name)) name <- .check_string(name, "name")
  p <- normalizePath(prototxt)
  w <- normalizePath(caffemodel)
  res <- tryCatch(cpp_import_caffe(p, w, TRUE),
                  symnet_unsupported_error = function(e) {
                    # the shapes need the batch size: keep the one the file declares
                    if (!grepl("must be known when the model is imported", conditionMessage(e), fixed = TRUE)) stop(e)
                    cpp_import_caffe(p, w, FALSE)
                  })
  inputs <- lapply(res$inputs, new_symbol)
  outputs <- lapply(res$outputs, new_symbol)
  if (is.null(name)) name <- if (nzchar(res$net_name)) res$net_name else tools::file_path_sans_ext(basename(prototxt))
  # the layers' names, with their Caffe types, for print() and model_layers()
  .layer_names_register(as.list(res$layer_types))
  model <- sym_model(inputs, outputs, name = make.names(name))
  model$tensors <- lapply(res$tensors, new_symbol)
  model$caffe <- list(prototxt = p, caffemodel = w)
  model
}
