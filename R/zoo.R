# The model zoo: a registry of well-known pretrained classifiers (ONNX model zoo files,
# pinned to the commit whose Git LFS pointer states the checksum) and one small model
# shipped with the package. Files are downloaded once into a cache, resumably, and their
# size and SHA-256 are checked before every use.

.onnx_zoo_raw <- "https://github.com/onnx/models/raw/"

# Preprocessing styles of the registry (see preprocess_imagenet()).
.zoo_torchvision <- "torchvision: RGB, short side 256, center crop 224, [0, 1], mean (0.485, 0.456, 0.406), sd (0.229, 0.224, 0.225)"
.zoo_caffe <- "caffe: BGR, short side 256, center crop 224, 0-255, mean (104, 117, 123) subtracted"

.zoo_onnx_entry <- function(name, path, commit, sha256, size, style, title) {
  list(name = name, title = title, file = basename(path),
       url = paste0(.onnx_zoo_raw, commit, "/", path),
       sha256 = sha256, size = size, format = "onnx",
       input_shape = c(1, 3, 224, 224), preprocess = style,
       preprocess_text = if (style == "torchvision") .zoo_torchvision else .zoo_caffe,
       labels = "imagenet")
}

# The Caffe-derived models (GoogLeNet, AlexNet, CaffeNet) come from BVLC Caffe: BGR input in
# 0-255 with the ImageNet channel means subtracted, as in Caffe's own deploy files. Their
# zoo READMEs could not be consulted when this registry was written; that preprocessing and
# the 224 x 224 input are the assumption (import_onnx() reports the declared input shape).
.zoo_builtin <- function() {
  e <- list(
    .zoo_onnx_entry("resnet18", "vision/classification/resnet/model/resnet18-v1-7.onnx",
                    "5372b0b46b4a0cafcaf5f9f924e7494a088ffa86",
                    "4e8f8653e7a2222b3904cc3fe8e304cd8b339ce1d05fd24688162f86fb6df52c", 46820737,
                    "torchvision", "ResNet-18 v1 (ONNX model zoo, opset 7)"),
    .zoo_onnx_entry("resnet50", "vision/classification/resnet/model/resnet50-v1-12.onnx",
                    "652f4e4af7975c8e7a505c4b6e0f8ac72d8260ea",
                    "ab65bdc02c5b3123eb3cdf6dac01742438517d8635d4f233913b2be1c70db3b6", 102576419,
                    "torchvision", "ResNet-50 v1 (ONNX model zoo, opset 12)"),
    .zoo_onnx_entry("mobilenet_v2", "vision/classification/mobilenet/model/mobilenetv2-7.onnx",
                    "13fcb614fdedcc09864c0691c080ccf82ca3b85b",
                    "c1c513582d56afceff8516c73804e484c81c6a830712ab6d682253f4a3cd042f", 14246826,
                    "torchvision", "MobileNetV2 1.0 (ONNX model zoo, opset 7)"),
    .zoo_onnx_entry("squeezenet1.1", "vision/classification/squeezenet/model/squeezenet1.1-7.onnx",
                    "96d633069ed74096408061accc3b728672802890",
                    "9456373b67f04e4a9cb0bb9be984f0db2d0ad141582d84d4b4ad9e84f7ec7785", 9165684,
                    "torchvision", "SqueezeNet 1.1 (ONNX model zoo, opset 7)"),
    .zoo_onnx_entry("vgg16", "vision/classification/vgg/model/vgg16-7.onnx",
                    "13fcb614fdedcc09864c0691c080ccf82ca3b85b",
                    "f20805a3ecccaa88647bbab4ad011ff2412a9838485ea844de0fcbce349820b9", 553437328,
                    "torchvision", "VGG-16 (ONNX model zoo, opset 7)"),
    .zoo_onnx_entry("googlenet", "vision/classification/inception_and_googlenet/googlenet/model/googlenet-6.onnx",
                    "13fcb614fdedcc09864c0691c080ccf82ca3b85b",
                    "bd979d99d10d9acf84c5a67252bcae4992bf4e1afdab046cb0ea370e6f01ee38", 28020232,
                    "caffe", "GoogLeNet, BVLC Caffe (ONNX model zoo, opset 6)"),
    .zoo_onnx_entry("alexnet", "vision/classification/alexnet/model/bvlcalexnet-12.onnx",
                    "6ab957a2fe61f34a76c670946f7cbd806d2cacca",
                    "6b0da9510f27f234ee96a85dc3809dd210150fdefad87f6850f9788513216945", 243863787,
                    "caffe", "AlexNet, BVLC Caffe (ONNX model zoo, opset 12)"),
    .zoo_onnx_entry("caffenet", "vision/classification/caffenet/model/caffenet-8.onnx",
                    "13fcb614fdedcc09864c0691c080ccf82ca3b85b",
                    "82f8997778cd9c5ef9673fc86e340f86e3b29650886b923e5e1aa478d5f83f92", 243863553,
                    "caffe", "CaffeNet, BVLC Caffe (ONNX model zoo, opset 8)"),
    # Shipped in inst/extdata, made by inst/scripts/train-lenet-fashion.R: no download.
    list(name = "lenet_fashion", title = "LeNet-5 trained by symnet on Fashion-MNIST",
         file = "lenet_fashion.symnet", url = NA_character_, sha256 = NA_character_,
         size = NA_real_, format = "symnet", input_shape = c(1, 1, 28, 28),
         preprocess = "none",
         preprocess_text = "none: grey levels 0-255 as [N, 1, 28, 28] (dataset_fashion_mnist())",
         labels = "fashion_mnist")
  )
  stats::setNames(e, vapply(e, `[[`, "", "name"))
}

# Entries added at run time (tests register fakes served by a local mirror).
.zoo_extra <- new.env(parent = emptyenv())
.zoo_register <- function(entry) assign(entry$name, entry, envir = .zoo_extra)
.zoo_unregister <- function(name) if (exists(name, envir = .zoo_extra, inherits = FALSE)) rm(list = name, envir = .zoo_extra)
.zoo_registry <- function() c(.zoo_builtin(), as.list(.zoo_extra, sorted = TRUE))

.zoo_entry <- function(name, call = parent.frame()) {
  name <- .check_string(name, "name", call = call)
  reg <- .zoo_registry()
  if (!name %in% names(reg)) {
    sym_abort(c("There is no pretrained model {.val {name}}.",
                i = "Known models: {.val {names(reg)}} (see {.fn pretrained_models})."), call = call)
  }
  reg[[name]]
}

.zoo_abort <- function(message, classes, ..., call = parent.frame(), .envir = parent.frame()) {
  cli::cli_abort(message, class = c(classes, "symnet_download_error", "symnet_io_error", "symnet_error"),
                 kind = "io", ..., call = call, .envir = .envir)
}

# Where the cache lives: the argument, else options(symnet.zoo_cache), else the user cache.
.zoo_cache_dir <- function(cache_dir, call = parent.frame()) {
  if (is.null(cache_dir)) cache_dir <- getOption("symnet.zoo_cache")
  if (is.null(cache_dir)) return(file.path(tools::R_user_dir("symnet", "cache"), "models"))
  .check_string(cache_dir, "cache_dir", call = call)
}

# The URL a file is fetched from: the registry's, or the same base name under
# options(symnet.zoo_mirror) / the SYMNET_ZOO_MIRROR environment variable.
.zoo_url <- function(entry) {
  mirror <- getOption("symnet.zoo_mirror", Sys.getenv("SYMNET_ZOO_MIRROR"))
  if (is.character(mirror) && length(mirror) == 1 && !is.na(mirror) && nzchar(mirror)) {
    return(paste0(sub("/+$", "", mirror), "/", entry$file))
  }
  entry$url
}

# NULL when the file has the registry's size and SHA-256, else a message saying why not.
.zoo_check_file <- function(path, entry) {
  size <- file.size(path)
  if (is.na(size) || size != entry$size) {
    return(sprintf("it has %s bytes where %s were expected", format(size, big.mark = ","),
                   format(entry$size, big.mark = ",")))
  }
  sum <- cpp_sha256_file(normalizePath(path))
  if (!identical(sum, entry$sha256)) return(sprintf("its SHA-256 is %s where %s was expected", sum, entry$sha256))
  NULL
}

#' Pretrained models
#'
#' `pretrained_model(name)` returns a well-known pretrained classifier as a symnet model:
#' the ONNX model zoo's ResNet-18 and ResNet-50, MobileNetV2, SqueezeNet 1.1, VGG-16,
#' GoogLeNet, AlexNet and CaffeNet (ImageNet, 1000 classes), imported with
#' [import_onnx()], or `"lenet_fashion"`, a small LeNet trained by symnet on
#' Fashion-MNIST that ships with the package (no download; the script that made it is
#' `system.file("scripts", "train-lenet-fashion.R", package = "symnet")`).
#' `pretrained_models()` lists them.
#'
#' A model file is downloaded once, into `cache_dir` (by default
#' `tools::R_user_dir("symnet", "cache")/models`, or `options(symnet.zoo_cache = )`),
#' with a progress bar. It is written to `<file>.part` first, so an interrupted
#' download resumes where it stopped; its size and SHA-256 (the checksums the model zoo
#' publishes, URLs pinned to the commit that states them) are checked before it is moved
#' into place, and again each time it is used. A cached file that fails the check is
#' removed and downloaded again. Resuming needs the \pkg{curl} package; without it
#' the file is fetched whole with [utils::download.file()].
#'
#' `options(symnet.zoo_mirror = "https://host/dir")` (or the environment variable
#' `SYMNET_ZOO_MIRROR`) fetches the files from a mirror that holds them under their base
#' names instead; `file://` URLs work too.
#'
#' Errors: an unknown name is a `symnet_value_error`; a download that fails (offline, an
#' unreachable URL) or is not allowed (`download = FALSE`) a `symnet_download_error`
#' naming the URL and the cache path; a file whose size or checksum is wrong a
#' `symnet_checksum_error` (also a `symnet_download_error`), after the file was removed.
#' Both are `symnet_io_error`s.
#'
#' @param name Name of the model (see `pretrained_models()`).
#' @param cache_dir Directory of downloaded models (created when needed); `NULL` for the
#'   default.
#' @param download Whether a model that is not cached may be downloaded.
#' @param ... Passed on to [import_onnx()] (for example `input_shapes`).
#' @return `pretrained_model()`: a `symnet_model` with an extra field `zoo`, the
#'   registry entry (name, title, url, sha256, size, input_shape, preprocess,
#'   preprocess_text), plus `labels` (the class names, in output order) and `path`.
#'   `pretrained_model_file()`: the path of the verified file. `pretrained_models()`: a
#'   data frame with one row per model (name, title, size in bytes, input shape,
#'   preprocessing, labels, URL, and whether it is cached in `cache_dir`).
#' @seealso [preprocess_imagenet()], [imagenet_labels()], [import_onnx()].
#' @examples
#' pretrained_models()[, c("name", "size", "input", "cached")]
#' m <- pretrained_model("lenet_fashion")
#' x <- array(runif(2 * 28 * 28, 0, 255), c(2, 1, 28, 28))
#' m$zoo$labels[max.col(predict(m, x))]
#' @export
pretrained_model <- function(name, cache_dir = NULL, download = TRUE, ...) {
  entry <- .zoo_entry(name)
  if (entry$format == "onnx" && !onnx_available()) {
    sym_abort(c("Pretrained model {.val {entry$name}} is an ONNX file, and symnet was installed without ONNX support.",
                i = "See {.fn import_onnx}."), kind = "unsupported")
  }
  if (entry$format != "onnx" && ...length()) {
    sym_abort("Arguments in {.arg ...} go to {.fn import_onnx}, and {.val {entry$name}} is not an ONNX model.")
  }
  path <- pretrained_model_file(name, cache_dir = cache_dir, download = download)
  model <- if (entry$format == "onnx") import_onnx(path, ...) else load_model(path)
  entry$labels <- .zoo_labels(entry$labels)
  entry$path <- path
  model$zoo <- entry
  model
}

#' @rdname pretrained_model
#' @export
pretrained_model_file <- function(name, cache_dir = NULL, download = TRUE) {
  entry <- .zoo_entry(name)
  download <- .check_flag(download, "download")
  if (entry$format == "symnet") {
    path <- system.file("extdata", entry$file, package = "symnet")
    if (!nzchar(path)) .io_abort("The shipped model file {.file {entry$file}} is missing from the installation.")
    return(path)
  }
  .zoo_fetch(entry, .zoo_cache_dir(cache_dir), download = download)
}

#' @rdname pretrained_model
#' @export
pretrained_models <- function(cache_dir = NULL) {
  dir <- .zoo_cache_dir(cache_dir)
  reg <- .zoo_registry()
  col <- function(f) unname(vapply(reg, f, FUN.VALUE = f(reg[[1]])))
  data.frame(
    name = names(reg),
    title = col(function(e) e$title),
    size = col(function(e) if (e$format == "symnet") .zoo_shipped_size(e) else as.double(e$size)),
    input = col(function(e) paste(e$input_shape[-1], collapse = "x")),
    preprocess = col(function(e) e$preprocess),
    labels = col(function(e) e$labels),
    url = col(function(e) as.character(e$url)),
    cached = col(function(e) e$format == "symnet" || file.exists(file.path(dir, e$file))),
    stringsAsFactors = FALSE, row.names = NULL
  )
}

.zoo_shipped_size <- function(entry) {
  f <- system.file("extdata", entry$file, package = "symnet")
  if (nzchar(f)) as.double(file.size(f)) else NA_real_
}

.zoo_labels <- function(kind) {
  switch(kind, imagenet = imagenet_labels(), fashion_mnist = fashion_mnist_classes, NULL)
}

# The verified file of `entry` in `dir`: the cached one when it passes the checks, else
# downloaded (resuming a `.part` file) and checked.
.zoo_fetch <- function(entry, dir, download = TRUE, call = parent.frame()) {
  target <- file.path(dir, entry$file)
  url <- .zoo_url(entry)
  if (file.exists(target)) {
    bad <- .zoo_check_file(target, entry)
    if (is.null(bad)) return(normalizePath(target))
    cli::cli_inform(c("!" = "The cached file {.file {target}} is damaged ({bad}): downloading it again."))
    unlink(target)
  }
  if (!download) {
    .zoo_abort(c("Pretrained model {.val {entry$name}} is not in the cache and {.code download = FALSE}.",
                 i = "Download it from {.url {url}} into {.file {target}}, or call with {.code download = TRUE}."),
               "symnet_offline_error", url = url, path = target, call = call)
  }
  dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  if (!dir.exists(dir)) {
    .zoo_abort("Cannot create the cache directory {.file {dir}}.", character(), url = url, path = target, call = call)
  }
  part <- paste0(target, ".part")
  res <- tryCatch(.zoo_download(url, part, entry), error = function(e) e)
  if (inherits(res, "error")) {
    .zoo_abort(c("Cannot download pretrained model {.val {entry$name}} from {.url {url}}.",
                 x = "{conditionMessage(res)}",
                 i = "It is cached as {.file {target}} once downloaded; a partial download in {.file {part}} is resumed next time.",
                 i = "Offline, copy the file there, or set {.code options(symnet.zoo_mirror = )}."),
               character(), url = url, path = target, call = call)
  }
  bad <- .zoo_check_file(part, entry)
  if (!is.null(bad)) {
    unlink(part)
    .zoo_abort(c("The file downloaded from {.url {url}} is not pretrained model {.val {entry$name}}: {bad}.",
                 i = "It was removed; the cache path is {.file {target}}."),
               "symnet_checksum_error", url = url, path = target, call = call)
  }
  if (!file.rename(part, target)) {
    .zoo_abort("Cannot move {.file {part}} to {.file {target}}.", character(), url = url, path = target, call = call)
  }
  normalizePath(target)
}

# Fetches `url` into `part`, appending to what is there when curl can resume.
.zoo_download <- function(url, part, entry) {
  have <- if (file.exists(part)) file.size(part) else 0
  if (have > entry$size) {  # longer than the real file: cannot be a prefix of it
    unlink(part)
    have <- 0
  }
  if (have == entry$size) return(invisible(part))  # complete, not yet verified
  if (requireNamespace("curl", quietly = TRUE)) .zoo_download_curl(url, part, entry, have)
  else .zoo_download_base(url, part)
}

.zoo_download_curl <- function(url, part, entry, have) {
  h <- curl::new_handle(failonerror = TRUE)
  if (have > 0) curl::handle_setopt(h, resume_from = have)
  con <- curl::curl(url, open = "", handle = h)
  on.exit(close(con), add = TRUE)
  open(con, "rb")
  status <- curl::handle_data(h)$status_code
  # A server that ignores the range sends the whole file (200, not 206): start over.
  if (have > 0 && identical(as.integer(status), 200L) && startsWith(url, "http")) have <- 0
  out <- file(part, if (have > 0) "ab" else "wb")
  on.exit(close(out), add = TRUE, after = FALSE)
  bar <- cli::cli_progress_bar(sprintf("Downloading %s", entry$file), total = entry$size,
                               .envir = environment())
  got <- have
  repeat {
    chunk <- readBin(con, raw(), 1048576L)
    if (!length(chunk)) break
    writeBin(chunk, out)
    got <- got + length(chunk)
    cli::cli_progress_update(id = bar, set = min(got, entry$size), .envir = environment())
  }
  cli::cli_progress_done(id = bar, .envir = environment())
  invisible(part)
}

.zoo_download_base <- function(url, part) {
  unlink(part)  # download.file() cannot resume
  res <- suppressWarnings(utils::download.file(url, part, mode = "wb", quiet = !interactive()))
  if (!identical(res, 0L) || !file.exists(part)) stop("download failed", call. = FALSE)
  invisible(part)
}

#' ImageNet class names
#'
#' The names of the 1000 ImageNet-1k classes, in the order of the outputs of the ImageNet
#' classifiers of [pretrained_model()] (element `k + 1` is class `k`). The file
#' (`system.file("extdata", "imagenet_labels.txt", package = "symnet")`) was written by
#' `inst/scripts/make-imagenet-labels.py` from the class names torchvision ships.
#'
#' @return A character vector of length 1000.
#' @examples
#' head(imagenet_labels())
#' imagenet_labels()[207 + 1]   # class 207
#' @export
imagenet_labels <- function() {
  f <- system.file("extdata", "imagenet_labels.txt", package = "symnet")
  if (!nzchar(f)) .io_abort("The ImageNet label file is missing from the installation.")
  readLines(f, encoding = "UTF-8")
}
