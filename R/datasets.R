# Fashion-MNIST and MNIST from idx files (gzip-compressed or not).

.dataset_specs <- list(
  fashion_mnist = list(
    title = "Fashion-MNIST",
    dir = "fashion-mnist",
    debian_dir = "/usr/share/datasets/fashion-mnist",
    debian_package = "dataset-fashion-mnist",
    urls = c("https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
    files = c(train_x = "train-images-idx3-ubyte.gz", train_y = "train-labels-idx1-ubyte.gz",
              test_x = "t10k-images-idx3-ubyte.gz", test_y = "t10k-labels-idx1-ubyte.gz"),
    md5 = c(train_x = "8d4fb7e6c68d591d4c3dfef9ec88bf0d", train_y = "25c81989df183df01b3e8a0aad5dffbe",
            test_x = "bef4ecab320f06d8554ea6380940ec79", test_y = "bb300cfdad3c16e7a12a480ee83cd310")
  ),
  mnist = list(
    title = "MNIST",
    dir = "mnist",
    debian_dir = NULL,
    debian_package = NULL,
    urls = c("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    files = c(train_x = "train-images-idx3-ubyte.gz", train_y = "train-labels-idx1-ubyte.gz",
              test_x = "t10k-images-idx3-ubyte.gz", test_y = "t10k-labels-idx1-ubyte.gz"),
    md5 = c(train_x = "f68b3c2dcbeaaa9fbdd348bbdeb94873", train_y = "d53e105ee54ea40749a09fcbcd1e9432",
            test_x = "9fb629c4189551a2d022fa330f9573f3", test_y = "ec29112dd5afa0611ce80d1b7f02629c")
  )
)

.data_abort <- function(message, ..., call = parent.frame(), .envir = parent.frame()) {
  sym_abort(message, kind = "data", ..., call = call, .envir = .envir)
}

#' Fashion-MNIST and MNIST
#'
#' `dataset_fashion_mnist()` and `dataset_mnist()` return the datasets as
#' keras does: `list(train = list(x, y), test = list(x, y))`, where `x` is
#' an integer array `[n, 28, 28]` of grey levels 0-255 (`x[i, , ]` is the
#' i-th image, rows top to bottom) and `y` an integer vector of labels
#' 0-9. Fashion-MNIST has 60 000 training and 10 000 test images of 10
#' clothing classes (`fashion_mnist_classes`).
#'
#' The four idx files (`train-images-idx3-ubyte.gz`,
#' `train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz`,
#' `t10k-labels-idx1-ubyte.gz`, gzip-compressed or not) are looked for, in
#' order, in:
#' 1. `path`, when given (and only there);
#' 2. the directory in the option `symnet.data_dir` (itself, or its
#'    `fashion-mnist` / `mnist` subdirectory);
#' 3. for Fashion-MNIST, `/usr/share/datasets/fashion-mnist`, where the
#'    Debian package `dataset-fashion-mnist` installs them;
#' 4. the user cache, `tools::R_user_dir("symnet", "cache")`;
#'
#' and are otherwise downloaded into the user cache (with a progress bar),
#' each checked against its published MD5 checksum. Without them and
#' without a network, a `symnet_data_error` says where to put them (on
#' Debian: `apt-get install dataset-fashion-mnist`). Damaged files (bad
#' gzip data, wrong magic number, truncated) raise a `symnet_data_error`
#' too.
#'
#' @param path Directory holding the four files, or `NULL` to search.
#' @param download Download the files when they are not found.
#' @return A list `list(train = list(x, y), test = list(x, y))`.
#' @seealso [read_idx()] to read one idx file.
#' @examples
#' fashion_mnist_classes
#' if (dir.exists("/usr/share/datasets/fashion-mnist")) {
#'   # the test labels alone are quick to read
#'   y <- read_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")
#'   table(fashion_mnist_classes[y + 1])
#' }
#' \donttest{
#' if (dir.exists("/usr/share/datasets/fashion-mnist")) {
#'   fm <- dataset_fashion_mnist(download = FALSE)
#'   str(fm)
#'   image(t(fm$train$x[1, 28:1, ]), col = grey.colors(256, 1, 0), axes = FALSE)
#' }
#' }
#' @export
dataset_fashion_mnist <- function(path = NULL, download = TRUE) {
  .load_idx_dataset(.dataset_specs$fashion_mnist, path, download)
}

#' @rdname dataset_fashion_mnist
#' @export
dataset_mnist <- function(path = NULL, download = TRUE) {
  .load_idx_dataset(.dataset_specs$mnist, path, download)
}

#' @rdname dataset_fashion_mnist
#' @format `fashion_mnist_classes`: the names of the 10 Fashion-MNIST
#'   classes, for labels 0-9.
#' @export
fashion_mnist_classes <- c("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                           "Sneaker", "Bag", "Ankle boot")

.load_idx_dataset <- function(spec, path, download, call = parent.frame()) {
  download <- .check_flag(download, "download", call = call)
  dir <- .locate_dataset(spec, path, download = download, call = call)
  f <- .dataset_files(spec, dir)
  tx <- read_idx(f[["train_x"]])
  ty <- read_idx(f[["train_y"]])
  vx <- read_idx(f[["test_x"]])
  vy <- read_idx(f[["test_y"]])
  .check_pair(tx, ty, f[["train_x"]], f[["train_y"]], call)
  .check_pair(vx, vy, f[["test_x"]], f[["test_y"]], call)
  list(train = list(x = tx, y = ty), test = list(x = vx, y = vy))
}

.check_pair <- function(x, y, fx, fy, call) {
  if (length(dim(x)) != 3 || !is.null(dim(y)) || dim(x)[1] != length(y)) {
    .data_abort(c("The image and label files do not match.",
                  i = "{.file {fx}}: {paste(dim(x), collapse = ' x ')}; {.file {fy}}: {length(y)} labels."),
                call = call)
  }
}

# The file of each part in dir (gzip or plain), or NULL when one is missing.
.dataset_files <- function(spec, dir) {
  if (is.null(dir) || !dir.exists(dir)) return(NULL)
  out <- character()
  for (k in names(spec$files)) {
    gz <- file.path(dir, spec$files[[k]])
    plain <- sub("\\.gz$", "", gz)
    if (file.exists(gz)) out[[k]] <- gz else if (file.exists(plain)) out[[k]] <- plain else return(NULL)
  }
  out
}

.dataset_cache_dir <- function(spec) file.path(tools::R_user_dir("symnet", "cache"), spec$dir)

# Directory holding the dataset, searching (and downloading) as documented.
.locate_dataset <- function(spec, path = NULL, download = TRUE, dirs = NULL, cache = NULL,
                            call = parent.frame()) {
  if (!is.null(path)) {
    path <- .check_string(path, "path", call = call)
    if (is.null(.dataset_files(spec, path))) {
      .data_abort(c("{spec$title} files not found in {.file {path}}.",
                    i = "Expected {.file {unname(spec$files)}} (gzip-compressed or not)."),
                  call = call)
    }
    return(path)
  }
  cache <- cache %||% .dataset_cache_dir(spec)
  if (is.null(dirs)) {
    opt <- getOption("symnet.data_dir")
    dirs <- c(if (!is.null(opt)) c(file.path(opt, spec$dir), opt), spec$debian_dir, cache)
  }
  for (d in dirs) if (!is.null(.dataset_files(spec, d))) return(d)
  if (download) {
    ok <- tryCatch(.download_dataset(spec, cache), symnet_data_error = function(e) e)
    if (!inherits(ok, "condition")) return(cache)
    reason <- conditionMessage(ok)
  } else {
    reason <- "downloading is switched off"
  }
  hint <- if (!is.null(spec$debian_package)) {
    c(i = "On Debian and Ubuntu: {.code apt-get install {spec$debian_package}} (installs them in {.file {spec$debian_dir}}).")
  } else {
    character()
  }
  .data_abort(c("{spec$title} is not available: the files were not found and could not be downloaded.",
                x = "{reason}",
                hint,
                i = "Or put {.file {unname(spec$files)}} in a directory and pass it as {.arg path} or set {.code options(symnet.data_dir = )}."),
              call = call)
}

# Downloads the four files into `dest` (via a temporary name, checking MD5).
.download_dataset <- function(spec, dest) {
  dir.create(dest, recursive = TRUE, showWarnings = FALSE)
  if (!dir.exists(dest)) .data_abort("Cannot create the cache directory {.file {dest}}.", call = NULL)
  for (k in names(spec$files)) {
    target <- file.path(dest, spec$files[[k]])
    if (file.exists(target) && identical(unname(tools::md5sum(target)), spec$md5[[k]])) next
    tmp <- paste0(target, ".part")
    got <- FALSE
    errs <- character()
    for (u in spec$urls) {
      url <- paste0(u, spec$files[[k]])
      res <- tryCatch(suppressWarnings(utils::download.file(url, tmp, mode = "wb", quiet = FALSE)),
                      error = function(e) e)
      if (inherits(res, "error") || !identical(res, 0L) || !file.exists(tmp)) {
        errs <- c(errs, paste0(url, ": ", if (inherits(res, "error")) conditionMessage(res) else "download failed"))
        next
      }
      sum <- unname(tools::md5sum(tmp))
      if (!identical(sum, spec$md5[[k]])) {
        errs <- c(errs, sprintf("%s: checksum %s, expected %s", url, sum, spec$md5[[k]]))
        unlink(tmp)
        next
      }
      if (!file.rename(tmp, target)) .data_abort("Cannot move {.file {tmp}} to {.file {target}}.", call = NULL)
      got <- TRUE
      break
    }
    unlink(tmp)
    if (!got) .data_abort(paste("Download failed:", paste(errs, collapse = "; ")), call = NULL)
  }
  invisible(dest)
}

#' Read an idx file
#'
#' `read_idx(file)` reads a file in the idx format of (Fashion-)MNIST,
#' gzip-compressed or not: a big-endian header (magic number giving the
#' element type and rank, then the dimensions) followed by the elements in
#' row-major order. The result is an R array with the file's dimensions
#' (a vector for rank 1), unsigned bytes as integers.
#'
#' @param file Path of the file.
#' @return An integer (or double, for float and double files) array.
#' @seealso [dataset_fashion_mnist()]
#' @examples
#' f <- tempfile(fileext = ".gz")
#' con <- gzfile(f, "wb")
#' writeBin(as.integer(c(0x00000801, 3)), con, size = 4, endian = "big")
#' writeBin(as.raw(c(7, 2, 9)), con)
#' close(con)
#' read_idx(f)
#' @export
read_idx <- function(file) {
  file <- .check_string(file, "file")
  if (!file.exists(file)) .data_abort("File {.file {file}} does not exist.")
  con <- gzfile(file, "rb")
  on.exit(close(con))
  fail <- function(what) {
    .data_abort(c("{.file {file}} is not a valid idx file: {what}.",
                  i = "The file may be damaged or truncated; delete it and fetch it again."),
                call = NULL)
  }
  # the engine (engine/io/idx.cpp) parses and validates; its messages say what is wrong
  engine <- function(expr) tryCatch(expr, symnet_error = function(e) fail(e$engine_message))
  bytes <- tryCatch({
    head <- readBin(con, "raw", cpp_idx_max_header())
    need <- engine(cpp_idx_size(head))
    # read what the header declares, in chunks: a lying header (or a gzip bomb) costs no
    # more memory than the bytes really there
    chunks <- list(head)
    have <- length(head)
    while (have < need) {
      ch <- readBin(con, "raw", min(need - have, 2^24))
      if (!length(ch)) break
      chunks[[length(chunks) + 1L]] <- ch
      have <- have + length(ch)
    }
    if (length(chunks) == 1L) head else do.call(c, chunks)
  }, symnet_data_error = function(e) stop(e), error = function(e) {
    .data_abort(c("Cannot read {.file {file}}: {conditionMessage(e)}.",
                  i = "The file may be damaged; delete it and fetch it again."),
                call = NULL)
  }, warning = function(w) {
    .data_abort(c("Cannot read {.file {file}}: {conditionMessage(w)}.",
                  i = "The file may be damaged; delete it and fetch it again."),
                call = NULL)
  })
  engine(cpp_idx_read(bytes))
}
