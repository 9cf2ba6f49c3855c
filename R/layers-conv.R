# Convolution and pooling layers. Data layout is channels first (NCHW):
# layer_conv2d() takes [N, C, H, W]; layer_conv1d() takes [N, C, L].

.spatial_ints <- function(v, nsp, arg, min = 1, call = parent.frame()) {
  v <- .check_ints(v, arg, call = call, min = min)
  if (length(v) == 1) v <- rep(v, nsp)
  if (length(v) != nsp) {
    sym_abort("{.arg {arg}} must have 1 or {nsp} value{?s}, not {length(v)}.", call = call)
  }
  v
}

# padding = "valid" | "same" | "causal" (1-D) | numbers -> list of engine attrs.
.padding_attrs <- function(padding, nsp, kernel, dilation, allow_causal = FALSE, call = parent.frame()) {
  if (is.character(padding)) {
    p <- if (length(padding) == 1 && !is.na(padding)) tolower(padding) else ""
    choices <- c("valid", "same", if (allow_causal) "causal")
    if (!p %in% choices) {
      sym_abort(c("{.arg padding} must be one of {.val {choices}} or whole numbers, not {.val {padding}}.",
                  i = "Numbers give explicit zero padding: one per spatial dim (both sides) or begins then ends."),
                call = call)
    }
    return(switch(p,
      valid = list(),
      same = list(auto_pad = "SAME_UPPER"),
      causal = list(pads = .ints_attr(c((kernel - 1L) * dilation, rep(0L, nsp))))))
  }
  p <- .check_ints(padding, "padding", call = call, min = 0)
  if (length(p) == 1) p <- rep(p, nsp)
  if (length(p) == nsp) p <- c(p, p)
  if (length(p) != 2 * nsp) {
    sym_abort("{.arg padding} must have 1, {nsp} or {2 * nsp} values, not {length(p)}.", call = call)
  }
  list(pads = .ints_attr(p))
}

.check_spatial_input <- function(x, nsp, fn, call = parent.frame()) {
  layout <- c("[N, C, L]", "[N, C, H, W]", "[N, C, D, H, W]")[nsp]
  if (is.null(x$shape)) {
    # Channels size the kernel (created now, not at the first feed) and the
    # layout is checked for a channels-last hint: the rank must be declared.
    ex <- .declare_example(x, paste0("c(NA, channels, ", paste(rep("NA", nsp), collapse = ", "), ")"))
    sym_abort(c("{.fn {fn}} needs an input of rank {nsp + 2}, {layout} (channels first), but its rank is known only when fed.",
                i = "Declare the input with its channels, e.g. {.code {ex}}."),
              kind = "shape", call = call)
  }
  if (length(x$shape) != nsp + 2) {
    shp <- .format_shape(x$shape)
    sym_abort(c("{.fn {fn}} needs an input of rank {nsp + 2}, {layout} (channels first), not {shp}.",
                i = "Reshape images to [N, C, H, W] first, e.g. {.code layer_reshape(x, c(1, 28, 28))}."),
              kind = "shape", call = call)
  }
  if (is.na(x$shape[2])) {
    ex <- .declare_example(x, paste0("c(NA, channels, ", paste(rep("NA", nsp), collapse = ", "), ")"))
    sym_abort(c("{.fn {fn}} needs a known number of channels (dimension 2 of {layout}).",
                i = "Declare the input with its channels, e.g. {.code {ex}}."),
              kind = "shape", call = call)
  }
  .float_input(x, fn, call = call)
}

.conv_layer <- function(x, nsp, filters, kernel_size, strides, padding, dilation_rate, groups,
                        activation, use_bias, kernel_initializer, bias_initializer, name,
                        prefix, type, fn, transposed = FALSE, output_padding = NULL,
                        call = parent.frame()) {
  x <- .layer_input(x, call = call)
  filters <- .check_int(filters, "filters", call = call, min = 1)
  k <- .spatial_ints(kernel_size, nsp, "kernel_size", call = call)
  s <- .spatial_ints(strides, nsp, "strides", call = call)
  d <- .spatial_ints(dilation_rate, nsp, "dilation_rate", call = call)
  groups <- .check_int(groups, "groups", call = call, min = 1)
  activation <- .check_activation(activation, call = call)
  use_bias <- .check_flag(use_bias, "use_bias", call = call)
  dt <- .check_spatial_input(x, nsp, fn, call = call)
  if (.maybe_channels_last(x$shape, nsp, strict = TRUE)) .abort_channels_last(x, nsp, fn, call)
  cin <- x$shape[2]
  if (cin %% groups != 0 || filters %% groups != 0) {
    sym_abort("{.arg groups} = {groups} must divide both the input channels ({cin}) and {.arg filters} ({filters}).",
              kind = "shape", call = call)
  }
  attrs <- c(list(strides = .ints_attr(s), dilations = .ints_attr(d), group = groups),
             .padding_attrs(padding, nsp, k, d, allow_causal = nsp == 1 && !transposed, call = call))
  if (transposed && !is.null(output_padding)) {
    op <- .spatial_ints(output_padding, nsp, "output_padding", min = 0, call = call)
    if (any(op >= pmax(s, d))) {
      sym_abort("{.arg output_padding} must be smaller than the stride (or dilation) in each dimension.",
                call = call)
    }
    attrs$output_padding <- .ints_attr(op)
  }
  nm <- .layer_name(prefix, type, name, call = call)
  wshape <- if (transposed) c(cin, filters %/% groups, k) else c(filters, cin %/% groups, k)
  w <- sym_param(.nn(nm, "kernel"), wshape, kernel_initializer, dtype = dt)
  ins <- list(x, w)
  if (use_bias) ins[[3]] <- sym_param(.nn(nm, "bias"), filters, bias_initializer, dtype = dt)
  y <- tryCatch(.op(if (transposed) "conv_transpose" else "conv", ins, attrs,
                    .nn(nm, if (transposed) "conv_transpose" else "conv")),
                symnet_error = function(e) {
                  if (.maybe_channels_last(x$shape, nsp)) .abort_channels_last(x, nsp, fn, call, parent = e)
                  stop(e)
                })
  .apply_activation(y, activation, nm)
}

# An input shaped like channels-last images ([N, H, W, C] with C = 1..4 channels): its channel
# axis would be taken as a spatial one. `strict` (a square/cubic image with its few channels
# last) is so unlike a real channels-first input that it is refused up front.
.maybe_channels_last <- function(shape, nsp, strict = FALSE) {
  r <- length(shape)
  last <- shape[r]
  ch <- shape[2]
  if (is.na(last) || is.na(ch) || last > 4L || ch <= 4L) return(FALSE)
  if (!strict) return(TRUE)
  sp <- shape[2:(r - 1L)]
  nsp >= 2L && all(!is.na(sp)) && length(unique(sp)) == 1L
}

.abort_channels_last <- function(x, nsp, fn, call, parent = NULL) {
  shp <- .format_shape(x$shape)
  r <- length(x$shape)
  want <- .format_shape(c(NA, x$shape[r], x$shape[2:(r - 1L)]))
  perm <- paste(c(1L, r, 2:(r - 1L)), collapse = ", ")
  sym_abort(c("{.fn {fn}} got an input of shape {shp}, which looks channels-last ({x$shape[r]} channel{?s} on the last axis).",
              i = "symnet's convolutions are channels-first (NCHW, as PyTorch and MXNet): declare the input as {want} and give the data in that layout, e.g. {.code aperm(x, c({perm}))}.",
              i = "Inside a model, {.code sym_transpose(x, c({perm}))} reorders a channels-last symbol."),
            kind = "shape", call = call, parent = parent)
}

#' Convolution layers
#'
#' `layer_conv2d(x, filters, kernel_size)` convolves images `x` of shape
#' `[N, C, H, W]` -- **channels first** (NCHW, as PyTorch and MXNet; keras
#' defaults to channels last) -- with `filters` kernels, giving
#' `[N, filters, H', W']`. `layer_conv1d()` does the same for sequences
#' `[N, C, L]`. `layer_conv2d_transpose()` is the transposed convolution
#' (the gradient of a convolution with respect to its input; "deconvolution"),
#' which upsamples by `strides`.
#'
#' An input that looks channels-last (`[N, H, W, C]` with a square image and
#' 1 to 4 channels last, or any input with 1 to 4 channels last that the
#' convolution cannot take) is a `symnet_shape_error` saying how to
#' reorder it to channels first.
#'
#' Weights: the kernel `"<name>/kernel"` has shape `[filters, C / groups,
#' k...]` (`[C, filters / groups, k...]` for the transposed convolution,
#' as ONNX), and the bias `"<name>/bias"` shape `[filters]`.
#'
#' Padding: `"valid"` (none), `"same"` (output size `ceil(input / stride)`,
#' or `input * stride` for the transposed convolution; any odd padding
#' goes at the end, as TensorFlow), `"causal"` for `layer_conv1d()` (pads
#' only the start, so output `t` sees inputs up to `t`), or explicit zero
#' padding: one number per spatial dimension for both sides, or the
#' begins then the ends.
#'
#' @inheritParams layer_dense
#' @param x Input symbol, channels first: `[N, C, L]` for
#'   `layer_conv1d()`, `[N, C, H, W]` for the 2-d layers.
#' @param filters Number of output channels.
#' @param kernel_size Kernel size: one number, or one per spatial dimension.
#' @param strides Strides (one number or one per spatial dimension).
#' @param padding `"valid"`, `"same"`, `"causal"` (1-d only) or numbers,
#'   see Details.
#' @param dilation_rate Dilation (one number or one per spatial dimension).
#' @param groups Number of groups: input and output channels are split
#'   into `groups` groups convolved separately (`groups = C` with `filters
#'   = C` is a depthwise convolution).
#' @param output_padding For the transposed convolution: extra size added
#'   at the end of each output dimension (to pick among the output sizes a
#'   strided convolution maps to the same input size).
#' @return A symbol.
#' @family layers
#' @examples
#' set.seed(1)
#' x <- sym_var("img", c(NA, 1, 28, 28))
#' y <- x |> layer_conv2d(20, 5, activation = "tanh") |> layer_max_pool2d(2)
#' dim(y)
#' dim(layer_conv2d(x, 8, 3, strides = 2, padding = "same"))
#' dim(layer_conv2d_transpose(y, 4, 2, strides = 2))
#' s <- sym_var("seq", c(NA, 3, 10))
#' dim(layer_conv1d(s, 6, 3, padding = "causal"))
#' @export
layer_conv2d <- function(x, filters, kernel_size, strides = 1, padding = "valid", dilation_rate = 1,
                         groups = 1, activation = NULL, use_bias = TRUE,
                         kernel_initializer = "glorot_uniform", bias_initializer = "zeros",
                         name = NULL) {
  .conv_layer(x, 2L, filters, kernel_size, strides, padding, dilation_rate, groups, activation,
              use_bias, kernel_initializer, bias_initializer, name, "conv2d", "Conv2D", "layer_conv2d")
}

#' @rdname layer_conv2d
#' @export
layer_conv1d <- function(x, filters, kernel_size, strides = 1, padding = "valid", dilation_rate = 1,
                         groups = 1, activation = NULL, use_bias = TRUE,
                         kernel_initializer = "glorot_uniform", bias_initializer = "zeros",
                         name = NULL) {
  .conv_layer(x, 1L, filters, kernel_size, strides, padding, dilation_rate, groups, activation,
              use_bias, kernel_initializer, bias_initializer, name, "conv1d", "Conv1D", "layer_conv1d")
}

#' @rdname layer_conv2d
#' @export
layer_conv2d_transpose <- function(x, filters, kernel_size, strides = 1, padding = "valid",
                                   output_padding = NULL, dilation_rate = 1, groups = 1,
                                   activation = NULL, use_bias = TRUE,
                                   kernel_initializer = "glorot_uniform",
                                   bias_initializer = "zeros", name = NULL) {
  .conv_layer(x, 2L, filters, kernel_size, strides, padding, dilation_rate, groups, activation,
              use_bias, kernel_initializer, bias_initializer, name, "conv2d_transpose",
              "Conv2DTranspose", "layer_conv2d_transpose", transposed = TRUE,
              output_padding = output_padding)
}

# ---- pooling ---------------------------------------------------------------------------------

.pool_layer <- function(x, op, pool_size, strides, padding, extra, name, prefix, type, fn,
                        call = parent.frame()) {
  x <- .layer_input(x, call = call)
  k <- .spatial_ints(pool_size, 2L, "pool_size", call = call)
  s <- if (is.null(strides)) k else .spatial_ints(strides, 2L, "strides", call = call)
  .check_spatial_input(x, 2L, fn, call = call)
  attrs <- c(list(kernel_shape = .ints_attr(k), strides = .ints_attr(s)),
             .padding_attrs(padding, 2L, k, c(1L, 1L), call = call), extra)
  if (!is.null(attrs$pads) && any(as.integer(attrs$pads) >= rep(k, 2))) {
    sym_abort("Explicit {.arg padding} must be smaller than {.arg pool_size}.", call = call)
  }
  nm <- .layer_name(prefix, type, name, call = call)
  .op(op, list(x), attrs, .nn(nm, op))
}

#' Pooling layers
#'
#' `layer_max_pool2d(x, pool_size)` takes the maximum and
#' `layer_avg_pool2d()` the mean over windows of `pool_size` of images
#' `[N, C, H, W]` (channels first), moving by `strides` (by default the
#' window size). `layer_global_avg_pool2d()` and
#' `layer_global_max_pool2d()` reduce each channel to one number: `[N, C]`
#' (or `[N, C, 1, 1]` with `keepdims = TRUE`).
#'
#' With `padding = "same"` the output has `ceil(input / stride)` positions
#' per dimension; padded positions never win a max and are not counted in
#' means (keras's convention).
#'
#' @inheritParams layer_conv2d
#' @param pool_size Window size (one number or two).
#' @param strides Step between windows; `NULL` for `pool_size`.
#' @param padding `"valid"`, `"same"` or explicit padding (see
#'   [layer_conv2d()]).
#' @param ceil_mode Whether output sizes round up (PyTorch's `ceil_mode`)
#'   with `"valid"` or explicit padding.
#' @param keepdims Keep the spatial dimensions (as size 1).
#' @return A symbol.
#' @family layers
#' @examples
#' x <- sym_var("x", c(NA, 1, 4, 4))
#' f <- sym_compile(list(max = layer_max_pool2d(x, 2), avg = layer_avg_pool2d(x, 2),
#'                       gap = layer_global_avg_pool2d(x)))
#' f(x = array(1:16, c(1, 1, 4, 4)))
#' @export
layer_max_pool2d <- function(x, pool_size = 2, strides = NULL, padding = "valid", ceil_mode = FALSE,
                             name = NULL) {
  ceil_mode <- .check_flag(ceil_mode, "ceil_mode")
  .pool_layer(x, "max_pool", pool_size, strides, padding, list(ceil_mode = as.integer(ceil_mode)),
              name, "max_pool2d", "MaxPool2D", "layer_max_pool2d")
}

#' @rdname layer_max_pool2d
#' @export
layer_avg_pool2d <- function(x, pool_size = 2, strides = NULL, padding = "valid", ceil_mode = FALSE,
                             name = NULL) {
  ceil_mode <- .check_flag(ceil_mode, "ceil_mode")
  .pool_layer(x, "avg_pool", pool_size, strides, padding,
              list(ceil_mode = as.integer(ceil_mode), count_include_pad = 0L),
              name, "avg_pool2d", "AvgPool2D", "layer_avg_pool2d")
}

.global_pool_layer <- function(x, op, keepdims, name, prefix, type, fn, call = parent.frame()) {
  x <- .layer_input(x, call = call)
  keepdims <- .check_flag(keepdims, "keepdims", call = call)
  .check_spatial_input(x, 2L, fn, call = call)
  nm <- .layer_name(prefix, type, name, call = call)
  y <- .op(op, list(x), name = .nn(nm, op))
  if (!keepdims) y <- .op("flatten", list(y), list(axis = 1L), .nn(nm, "flatten"))
  y
}

#' @rdname layer_max_pool2d
#' @export
layer_global_avg_pool2d <- function(x, keepdims = FALSE, name = NULL) {
  .global_pool_layer(x, "global_avg_pool", keepdims, name, "global_avg_pool2d", "GlobalAvgPool2D",
                     "layer_global_avg_pool2d")
}

#' @rdname layer_max_pool2d
#' @export
layer_global_max_pool2d <- function(x, keepdims = FALSE, name = NULL) {
  .global_pool_layer(x, "global_max_pool", keepdims, name, "global_max_pool2d", "GlobalMaxPool2D",
                     "layer_global_max_pool2d")
}
