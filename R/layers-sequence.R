# Layers around recurrent ones: masking of padded steps, bidirectional wrappers and
# applying a layer to every step.

#' Mask padded steps
#'
#' `layer_masking(x, mask_value)` marks the steps of a sequence `[batch, steps,
#' ...]` whose features all equal `mask_value` as padding: the output is `x`
#' with those steps zeroed, carrying the mask `[batch, steps]` (1 = a real step)
#' that recurrent layers ([layer_lstm()] and friends) then use to skip them.
#' The mask is also available as `sym_mask(y)`.
#'
#' @inheritParams layer_dense
#' @param x A sequence symbol of rank 3 or more.
#' @param mask_value The padding value ([pad_sequences()]'s `value`).
#' @return A symbol like `x`, with its mask attached.
#' @family layers
#' @examples
#' x <- sym_var("x", c(NA, 4, 2))
#' y <- layer_masking(x)
#' xs <- array(c(0, 0, 1, 2, 0, 3, 4, 5, 0, 0, 6, 7, 0, 1, 8, 9), c(2, 4, 2))
#' sym_compile(sym_mask(y))(x = xs)
#' @export
layer_masking <- function(x, mask_value = 0, name = NULL) {
  x <- .layer_input(x)
  mask_value <- .check_number(mask_value, "mask_value")
  .float_input(x, "layer_masking")
  r <- .rank(x)
  if (is.na(r) || r < 3) {
    sym_abort(c("{.fn layer_masking} needs a sequence {.code [batch, steps, features]}.",
                x = "The input has shape {(.format_shape(x$shape))}."),
              kind = "shape")
  }
  nm <- .layer_name("masking", "Masking", name)
  keep <- sym_cast(x != mask_value, x$dtype)
  for (ax in rev(seq(3, r))) keep <- sym_max(keep, axis = ax)  # [batch, steps]
  mask <- sym_identity(keep, name = .nn(nm, "mask"))
  y <- x * sym_reshape(mask, c(-1, x$shape[2] %|NA|% -1, rep(1, r - 2)))
  y <- sym_identity(y, name = .nn(nm, "output"))
  y$mask <- mask
  y
}

`%|NA|%` <- function(a, b) if (is.na(a)) b else a

#' The mask attached to a symbol
#'
#' `sym_mask(x)` returns the `[batch, steps]` mask (1 = a real step, 0 =
#' padding) that [layer_masking()] attached to `x`, or `NULL`.
#'
#' @param x A symbol.
#' @return A symbol or `NULL`.
#' @examples
#' x <- sym_var("x", c(NA, 3, 1))
#' sym_mask(x)
#' sym_mask(layer_masking(x))
#' @export
sym_mask <- function(x) {
  .check_symbol(x)
  x$mask
}

#' Run a recurrent layer in both directions
#'
#' `layer_bidirectional(x, layer, ...)` applies a recurrent layer (such as
#' [layer_lstm()]) twice, once forward and once with `go_backwards = TRUE`,
#' each with its own weights (layers `"<name>_forward"` and
#' `"<name>_backward"`), and merges the results. With `return_sequences`, the
#' backward outputs are put back in step order before merging, so that step
#' `t` of the result has seen the whole sequence.
#'
#' @inheritParams layer_dense
#' @param x The input sequence.
#' @param layer A recurrent layer function taking `go_backwards` and `name`.
#' @param ... Arguments for `layer` (`units`, `return_sequences`, ...).
#' @param merge_mode How to merge: `"concat"` (last axis), `"sum"`, `"mul"`,
#'   `"ave"`, or `"none"` (a list of both).
#' @return A symbol; with `return_state = TRUE` a list: `output` and the
#'   forward then the backward states (`forward_h`, ..., `backward_h`, ...).
#' @family layers
#' @examples
#' set.seed(1)
#' x <- sym_var("x", c(NA, 5, 2))
#' y <- layer_bidirectional(x, layer_gru, units = 3, return_sequences = TRUE)
#' dim(y)
#' @export
layer_bidirectional <- function(x, layer, ..., merge_mode = c("concat", "sum", "mul", "ave", "none"),
                                name = NULL) {
  x <- .layer_input(x)
  if (missing(layer) || !is.function(layer) || !all(c("go_backwards", "name") %in% names(formals(layer)))) {
    sym_abort("{.arg layer} must be a recurrent layer function such as {.fn layer_lstm} (with {.arg go_backwards} and {.arg name}).")
  }
  merge_mode <- .match_arg(merge_mode, c("concat", "sum", "mul", "ave", "none"), "merge_mode")
  nm <- .layer_name("bidirectional", "Bidirectional", name)
  fw <- layer(x, ..., go_backwards = FALSE, name = paste0(nm, "_forward"))
  bw <- layer(x, ..., go_backwards = TRUE, name = paste0(nm, "_backward"))
  states <- is.list(fw) && !is_symbol(fw)
  fo <- if (states) fw[[1]] else fw
  bo <- if (states) bw[[1]] else bw
  if (identical(.rank(bo), 3L)) bo <- sym_slice(bo, NULL, NULL, axis = 2, step = -1)
  merged <- .nn(nm, "merge")
  out <- switch(merge_mode,
    concat = sym_concat(fo, bo, axis = -1, name = merged),
    sum = .op("add", list(fo, bo), name = merged),
    mul = .op("mul", list(fo, bo), name = merged),
    ave = .op("mul", list(.op("add", list(fo, bo), name = .nn(nm, "sum")), sym_const(0.5, dtype = fo$dtype)),
              name = merged),
    none = list(forward = fo, backward = bo))
  if (merge_mode != "none") out <- sym_identity(out, name = .nn(nm, "output"))
  if (!states) return(out)
  c(list(output = out), stats::setNames(fw[-1], paste0("forward_", names(fw)[-1])),
    stats::setNames(bw[-1], paste0("backward_", names(bw)[-1])))
}

#' Apply a layer to every step of a sequence
#'
#' `layer_time_distributed(x, layer, ...)` applies `layer` to each step of
#' `x` `[batch, steps, ...]` with the same weights, by folding the steps into
#' the batch: `layer` sees `[batch * steps, ...]`, and its result is unfolded to
#' `[batch, steps, ...]`. The number of steps must be known. `name`, if given,
#' names the wrapped layer (the wrapper has no weights of its own).
#'
#' @inheritParams layer_dense
#' @param x A sequence symbol.
#' @param layer A layer function (or any R function of a symbol).
#' @param ... Arguments for `layer`.
#' @return A symbol `[batch, steps, ...]`.
#' @family layers
#' @examples
#' set.seed(1)
#' x <- sym_var("x", c(NA, 6, 4))
#' y <- layer_time_distributed(x, layer_dense, units = 2)
#' dim(y)
#' @export
layer_time_distributed <- function(x, layer, ..., name = NULL) {
  x <- .layer_input(x)
  if (missing(layer) || !is.function(layer)) sym_abort("{.arg layer} must be a layer function.")
  r <- .rank(x)
  if (is.na(r) || r < 3 || is.na(x$shape[2]) || anyNA(x$shape[-(1:2)])) {
    sym_abort(c("{.fn layer_time_distributed} needs {.code [batch, steps, ...]} with every dimension but the batch known.",
                x = "The input has shape {(.format_shape(x$shape))}."),
              kind = "shape")
  }
  steps <- x$shape[2]
  folded <- sym_reshape(x, c(-1, x$shape[-(1:2)]))
  # The wrapper has no weights of its own: a given name goes to the wrapped layer, and the
  # unfolding joins whichever layer made the result.
  y <- if (!is.null(name) && "name" %in% names(formals(layer))) layer(folded, ..., name = name) else layer(folded, ...)
  if (!is_symbol(y) || is.na(.rank(y)) || .rank(y) < 1 || anyNA(y$shape[-1])) {
    sym_abort("{.arg layer} must return one symbol whose dimensions after the batch are known.")
  }
  made_by <- cpp_sym_info(y$ptr)$name
  unfold <- if (grepl("/", made_by, fixed = TRUE)) .nn(.group_key(made_by), "unfold") else NULL
  sym_reshape(y, c(-1, steps, y$shape[-1]), name = unfold)
}
