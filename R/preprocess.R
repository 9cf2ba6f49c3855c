# Image preprocessing for the pretrained classifiers: load, resize, center-crop, normalize.
#
# Layouts, told apart by rank: [H, W] (one grey image), [H, W, C] (one image, as
# image_load() and the png/jpeg packages return it) and [N, C, H, W] (a batch, the layout of
# symnet's convolution models). Every helper returns the layout it was given.

.image_dims <- function(x, arg, call) {
  if (!is.numeric(x) || !(length(dim(x)) %in% 2:4) || any(dim(x) == 0)) {
    sym_abort(c("{.arg {arg}} must be a numeric array [H, W], [H, W, C] or [N, C, H, W] with no empty dimension.",
                x = "Got {.obj_type_friendly {x}}{if (!is.null(dim(x))) paste0(' of dim ', paste(dim(x), collapse = ' x ')) else ''}."),
              kind = "shape", call = call)
  }
  if (anyNA(x)) sym_abort("{.arg {arg}} must not contain missing values.", call = call)
  d <- dim(x)
  switch(length(d) - 1,
         list(h = d[1], w = d[2], hw = c(1, 2), ch = NA),
         list(h = d[1], w = d[2], hw = c(1, 2), ch = 3),
         list(h = d[3], w = d[4], hw = c(3, 4), ch = 2))
}

.image_size_arg <- function(size, arg, call) {
  size <- .check_ints(size, arg, call = call, min = 1, max = 65536)
  if (!length(size) %in% 1:2) sym_abort("{.arg {arg}} must have one or two elements.", call = call)
  size
}

# Applies f (a [h, w] matrix -> matrix function) to every 2-D plane of x.
.image_planes <- function(x, info, f) {
  d <- dim(x)
  if (length(d) == 2) return(f(x))
  if (length(d) == 3) {
    planes <- lapply(seq_len(d[3]), function(k) f(x[, , k, drop = TRUE]))
    out <- array(unlist(planes), c(dim(planes[[1]]), d[3]))
    return(out)
  }
  # [N, C, H, W]: move H, W first, work on planes, move back
  y <- aperm(x, c(3, 4, 1, 2))
  dim(y) <- c(d[3], d[4], d[1] * d[2])
  planes <- lapply(seq_len(d[1] * d[2]), function(k) f(y[, , k, drop = TRUE]))
  hw <- dim(planes[[1]])
  out <- array(unlist(planes), c(hw, d[1], d[2]))
  aperm(out, c(3, 4, 1, 2))
}

# Source coordinates of `n_out` output pixels over `n_in` input pixels with half-pixel
# centers (align_corners = FALSE, as torchvision and PIL): indices and weights.
.bilinear_axis <- function(n_in, n_out) {
  s <- (seq_len(n_out) - 0.5) * (n_in / n_out) - 0.5
  s <- pmin(pmax(s, 0), n_in - 1)
  i0 <- floor(s)
  list(i0 = i0 + 1, i1 = pmin(i0 + 1, n_in - 1) + 1, w = s - i0)
}

#' Image preprocessing
#'
#' Helpers that bring images to the input a pretrained classifier expects. They work on
#' one image as `[H, W]` (grey) or `[H, W, C]` (as `image_load()` and the \pkg{png} and
#' \pkg{jpeg} packages return it), or on a batch `[N, C, H, W]` (the layout of symnet's
#' convolution models), told apart by the rank, and return the layout they are given.
#'
#' * `image_resize(x, size)` resizes by bilinear interpolation (half-pixel centers, no
#'   antialiasing). `size` is `c(height, width)`, or one number: the new length of the
#'   shorter side, keeping the aspect ratio (the longer side truncated to a whole number,
#'   as torchvision's `Resize(256)`).
#' * `image_center_crop(x, size)` cuts the central `size` (`c(height, width)` or one number
#'   for a square); the image must be at least that large. An odd margin is split as
#'   torchvision splits it (its half rounded to even).
#' * `image_normalize(x, mean, sd)` computes `(x - mean) / sd` per channel (`mean` and `sd`
#'   of length 1 or the number of channels).
#' * `image_load(path, channels)` reads a PNG or JPEG file (needs the \pkg{png} or
#'   \pkg{jpeg} package; a `symnet_unsupported_error` naming it when it is missing) as
#'   `[H, W, channels]` doubles in \[0, 1\]: grey images are repeated to 3 channels, colour
#'   ones averaged to 1, alpha dropped.
#' * `preprocess_imagenet(x, style)` chains them into the `[N, 3, 224, 224]` input of the
#'   ImageNet models of [pretrained_model()]: `x` is a character vector of image files, one
#'   `[H, W, 3]` image or an `[N, 3, H, W]` batch, RGB in \[0, 1\]. The shorter side is
#'   resized to 256 and the center 224 x 224 cropped; then `"torchvision"` normalizes with
#'   mean (0.485, 0.456, 0.406) and sd (0.229, 0.224, 0.225), and `"caffe"` scales to 0-255,
#'   reorders the channels to BGR and subtracts (104, 117, 123). The `preprocess` field of
#'   a model's registry entry (`model$zoo$preprocess`) names its style.
#'
#' Resizing, cropping and normalizing give what torchvision's `Resize`, `CenterCrop` and
#' `Normalize` give on tensors with `antialias = False`. torchvision's default on PIL images
#' antialiases when it shrinks an image, so for large reductions the values differ a little
#' from those the models were evaluated with.
#'
#' @param x An image or batch (see Details); for `preprocess_imagenet()` also file paths.
#' @param size Output size, see Details.
#' @param mean,sd Per-channel mean and standard deviation.
#' @param path Path of a PNG or JPEG file.
#' @param channels 3 (RGB) or 1 (grey).
#' @param style `"torchvision"` or `"caffe"`.
#' @return An array (see Details); `preprocess_imagenet()`: `[N, 3, 224, 224]`.
#' @seealso [pretrained_model()], [imagenet_labels()].
#' @examples
#' img <- array(runif(40 * 60 * 3), c(40, 60, 3))      # [H, W, C] in [0, 1]
#' dim(image_resize(img, 20))                           # shorter side to 20
#' dim(image_center_crop(img, c(30, 30)))
#' x <- preprocess_imagenet(img)
#' dim(x)
#' round(apply(x, 2, mean), 2)
#' f <- tempfile(fileext = ".png")
#' if (requireNamespace("png", quietly = TRUE)) {
#'   png::writePNG(img, f)
#'   dim(image_load(f))
#' }
#' @name image_preprocessing
NULL

#' @rdname image_preprocessing
#' @export
image_resize <- function(x, size) {
  info <- .image_dims(x, "x", environment())
  size <- .image_size_arg(size, "size", environment())
  if (length(size) == 1) {
    # the longer side truncated, as torchvision's Resize(int) computes it
    short <- min(info$h, info$w)
    size <- if (info$h <= info$w) c(size, max(1L, as.integer(floor(info$w * size / short))))
            else c(max(1L, as.integer(floor(info$h * size / short))), size)
  }
  ay <- .bilinear_axis(info$h, size[1])
  ax <- .bilinear_axis(info$w, size[2])
  resize <- function(m) {
    m <- as.matrix(m)
    if (info$h == 1 || info$w == 1) m <- matrix(m, info$h, info$w)
    rows <- m[ay$i0, , drop = FALSE] * (1 - ay$w) + m[ay$i1, , drop = FALSE] * ay$w
    rows[, ax$i0, drop = FALSE] * rep(1 - ax$w, each = size[1]) +
      rows[, ax$i1, drop = FALSE] * rep(ax$w, each = size[1])
  }
  .image_planes(x, info, resize)
}

#' @rdname image_preprocessing
#' @export
image_center_crop <- function(x, size) {
  info <- .image_dims(x, "x", environment())
  size <- .image_size_arg(size, "size", environment())
  if (length(size) == 1) size <- c(size, size)
  if (size[1] > info$h || size[2] > info$w) {
    sym_abort(c("Cannot crop {size[1]} x {size[2]} from an image of {info$h} x {info$w}.",
                i = "Resize it first ({.fn image_resize})."), kind = "shape")
  }
  # an odd margin rounds half to even (R's round(), Python's too): torchvision's offsets
  top <- round((info$h - size[1]) / 2)
  left <- round((info$w - size[2]) / 2)
  rows <- top + seq_len(size[1])
  cols <- left + seq_len(size[2])
  switch(length(dim(x)) - 1,
         x[rows, cols, drop = FALSE],
         x[rows, cols, , drop = FALSE],
         x[, , rows, cols, drop = FALSE])
}

#' @rdname image_preprocessing
#' @export
image_normalize <- function(x, mean, sd) {
  info <- .image_dims(x, "x", environment())
  n_ch <- if (is.na(info$ch)) 1L else dim(x)[info$ch]
  for (a in c("mean", "sd")) {
    v <- get(a)
    if (!is.numeric(v) || !length(v) %in% unique(c(1L, n_ch)) || anyNA(v) || any(!is.finite(v))) {
      sym_abort("{.arg {a}} must be a finite numeric vector of length 1 or {n_ch} (the number of channels).")
    }
  }
  if (any(sd == 0)) sym_abort("{.arg sd} must not contain zeros.")
  mean <- rep_len(as.double(mean), n_ch)
  sd <- rep_len(as.double(sd), n_ch)
  if (is.na(info$ch)) return((x - mean) / sd)
  # a vector along the channel axis, recycled in R's column-major order
  d <- dim(x)
  idx <- slice.index(array(0, d), info$ch)
  out <- (x - mean[idx]) / sd[idx]
  dim(out) <- d
  out
}

#' @rdname image_preprocessing
#' @export
image_load <- function(path, channels = 3) {
  path <- .check_string(path, "path")
  channels <- .check_int(channels, "channels")
  if (!channels %in% c(1L, 3L)) sym_abort("{.arg channels} must be 1 or 3.")
  if (!file.exists(path) || dir.exists(path)) .io_abort("File {.file {path}} does not exist.")
  what <- path  # named in the "While reading" line of format errors
  head <- readBin(path, raw(), 8)
  png_magic <- as.raw(c(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a))
  fmt <- if (length(head) == 8 && identical(head, png_magic)) "png"
         else if (length(head) >= 3 && identical(head[1:3], as.raw(c(0xff, 0xd8, 0xff)))) "jpeg"
         else .format_abort("{.file {path}} is neither a PNG nor a JPEG file.", what = path)
  if (!requireNamespace(fmt, quietly = TRUE)) {
    sym_abort(c("Reading {toupper(fmt)} files needs the {.pkg {fmt}} package.",
                i = "Install it: {.code install.packages(\"{fmt}\")} (Debian/Ubuntu: {.code apt install r-cran-{fmt}})."),
              kind = "unsupported", package = fmt)
  }
  img <- tryCatch(if (fmt == "png") png::readPNG(path) else jpeg::readJPEG(path),
                  error = function(e) .format_abort("Cannot decode {.file {path}}: {conditionMessage(e)}", what = path))
  if (is.null(dim(img)) || length(dim(img)) == 2) img <- array(img, c(dim(img), 1))
  n <- dim(img)[3]
  if (n == 2 || n == 4) img <- img[, , seq_len(n - 1), drop = FALSE]  # drop alpha
  n <- dim(img)[3]
  if (channels == 3 && n == 1) img <- array(rep(img, 3), c(dim(img)[1:2], 3))
  if (channels == 1 && n == 3) img <- array((img[, , 1] + img[, , 2] + img[, , 3]) / 3, c(dim(img)[1:2], 1))
  storage.mode(img) <- "double"
  img
}

#' @rdname image_preprocessing
#' @export
preprocess_imagenet <- function(x, style = c("torchvision", "caffe")) {
  style <- .match_arg(style, c("torchvision", "caffe"), "style")
  if (is.character(x)) {
    if (!length(x) || anyNA(x)) sym_abort("{.arg x} must be one or more file paths, or an image array.")
    return(.bind_batch(lapply(x, function(p) preprocess_imagenet(image_load(p, 3), style))))
  }
  info <- .image_dims(x, "x", environment())
  d <- dim(x)
  if (length(d) == 2 || (length(d) == 3 && d[3] != 3) || (length(d) == 4 && d[2] != 3)) {
    sym_abort("{.arg x} must be an RGB image [H, W, 3] or a batch [N, 3, H, W] (got dim {paste(d, collapse = ' x ')}).",
              kind = "shape")
  }
  x <- image_center_crop(image_resize(x, 256), 224)
  if (length(d) == 3) x <- array(aperm(x, c(3, 1, 2)), c(1, 3, 224, 224))
  if (style == "torchvision") return(image_normalize(x, c(0.485, 0.456, 0.406), c(0.229, 0.224, 0.225)))
  image_normalize(x[, 3:1, , , drop = FALSE] * 255, c(104, 117, 123), 1)
}

# Binds [1, C, H, W] arrays along the batch axis.
.bind_batch <- function(xs) {
  d <- dim(xs[[1]])
  out <- aperm(array(unlist(lapply(xs, function(a) aperm(a, c(2, 3, 4, 1)))), c(d[2:4], length(xs))), c(4, 1, 2, 3))
  out
}
