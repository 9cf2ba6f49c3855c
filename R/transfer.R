# Transfer learning: freezing layers, per-layer learning-rate multipliers, layer lookup
# and cutting a model at a layer's output.

#' Freeze and unfreeze layers
#'
#' `freeze_weights()` stops [fit()] from changing the weights of the selected layers:
#' their parameters get no gradients (the training step neither computes nor stores
#' them, so a frozen base costs no gradient memory) and their batch-norm layers keep
#' running in inference mode, normalizing with their running statistics, which stay as
#' they are (as keras does for a frozen `BatchNormalization`). `unfreeze_weights()`
#' undoes it. Both change the model in place: its variables are shared with every model
#' built from the same symbols, which see the same frozen state.
#'
#' Layers are the rows of [model_layers()]: select them with `from` and `to` (names or
#' row numbers, both included; default: the first and the last row), or with `which`
#' (names or row numbers). Without any, every layer is selected. For a model imported
#' with [import_onnx()], each initializer is a row of its own, named as in the file.
#'
#' @param model A `symnet_model`.
#' @param from,to First and last layer of a range (name or row number).
#' @param which Layers to select (names or row numbers), instead of a range.
#' @return `model`, invisibly (changed in place).
#' @seealso [set_lr_mult()], [get_layer_output()], [model_layers()].
#' @examples
#' set.seed(1)
#' x <- sym_var("x", c(NA, 4))
#' h <- layer_dense(x, 8, activation = "relu", name = "base")
#' m <- sym_model(x, layer_dense(h, 2, name = "head"))
#' freeze_weights(m, to = "base")
#' model_layers(m)
#' unfreeze_weights(m)
#' @export
freeze_weights <- function(model, from = NULL, to = NULL, which = NULL) {
  .check_model(model)
  .set_frozen(model, .selected_variables(model, from, to, which), TRUE)
}

#' @rdname freeze_weights
#' @export
unfreeze_weights <- function(model, from = NULL, to = NULL, which = NULL) {
  .check_model(model)
  .set_frozen(model, .selected_variables(model, from, to, which), FALSE)
}

#' Per-layer learning-rate multipliers
#'
#' Multiplies the learning rate [fit()]'s optimizer uses for the parameters of the
#' selected layers by `mult` (as Caffe's `lr_mult`): a pretrained base can learn ten
#' times slower than a new head, for example. `mult = 0` leaves the parameters unchanged
#' by the optimizer's step (their gradients are still computed; use
#' [freeze_weights()] to save that work). Layers are selected as in
#' [freeze_weights()].
#'
#' @inheritParams freeze_weights
#' @param mult A number >= 0.
#' @return `model`, invisibly (changed in place).
#' @examples
#' set.seed(1)
#' x <- sym_var("x", c(NA, 4))
#' h <- layer_dense(x, 8, activation = "relu", name = "base")
#' m <- sym_model(x, layer_dense(h, 2, name = "head"))
#' set_lr_mult(m, 0.1, which = "base")
#' @export
set_lr_mult <- function(model, mult, from = NULL, to = NULL, which = NULL) {
  .check_model(model)
  mult <- .check_number(mult, "mult", finite = TRUE)
  if (mult < 0) sym_abort("{.arg mult} must be >= 0.")
  for (v in .selected_variables(model, from, to, which)) cpp_shared_set_lr_mult(v$var, mult)
  .invalidate_training(model)
  invisible(model)
}

#' Look up a layer, or cut a model at one
#'
#' `get_layer()` returns a layer of a model, by name or row number of
#' [model_layers()]: its name, type, output symbol and weights (shared variables).
#' `get_layer_output()` returns just the output symbol, to build a new head on a
#' pretrained base: `sym_model(base$inputs, layer_dense(get_layer_output(base, "fc1"), 10))`.
#' For a model from [import_onnx()], any tensor name of the ONNX graph works too.
#'
#' @inheritParams freeze_weights
#' @param layer A layer name or row number (or, for imported models, an ONNX tensor
#'   name).
#' @return `get_layer()`: a list with `name`, `type`, `output` (a symbol; `NULL` for a
#'   row that is a variable) and `weights` (named list of shared variables).
#'   `get_layer_output()`: a symbol.
#' @examples
#' set.seed(1)
#' x <- sym_var("x", c(NA, 4))
#' h <- layer_dense(x, 8, activation = "relu", name = "base")
#' m <- sym_model(x, layer_dense(h, 2, name = "head"))
#' get_layer(m, "base")$type
#' features <- get_layer_output(m, "base")
#' m2 <- sym_model(m$inputs, layer_dense(features, 3, name = "new_head"))
#' @export
get_layer <- function(model, layer) {
  .check_model(model)
  tab <- .model_get(model, "layers")
  row <- .layer_row(tab, layer, "layer")
  key <- tab$name[row]
  vnames <- attr(tab, "variables")[[key]] %||% character()
  vars <- .model_get(model, "variables")
  list(name = key, type = tab$type[row], output = .layer_output_symbol(model, key),
       weights = vars[intersect(vnames, names(vars))])
}

#' @rdname get_layer
#' @export
get_layer_output <- function(model, layer) {
  .check_model(model)
  tensors <- .model_get(model, "tensors")
  if (is.character(layer) && length(layer) == 1 && !is.null(tensors[[layer]])) return(tensors[[layer]])
  tab <- .model_get(model, "layers")
  key <- tab$name[.layer_row(tab, layer, "layer")]
  out <- .layer_output_symbol(model, key)
  if (is.null(out)) sym_abort("Layer {.val {key}} is a variable, not a computation: it has no output to cut at.")
  out
}

# ---- internals ---------------------------------------------------------------------------------

# Row index of a layer given by name or row number.
.layer_row <- function(tab, layer, arg, call = parent.frame()) {
  if (is.character(layer) && length(layer) == 1 && !is.na(layer)) {
    r <- match(layer, tab$name)
    if (is.na(r)) {
      sym_abort(c("The model has no layer {.val {layer}}.", i = "See {.fn model_layers} for its layers."),
                call = call)
    }
    return(r)
  }
  if (is.numeric(layer) && length(layer) == 1 && !is.na(layer) && layer == round(layer)) {
    if (layer < 1 || layer > nrow(tab)) {
      sym_abort("{.arg {arg}} = {layer} is out of range: the model has {nrow(tab)} layer{?s}.", kind = "index",
                call = call)
    }
    return(as.integer(layer))
  }
  sym_abort("{.arg {arg}} must be a layer name or a row number of {.fn model_layers}.", call = call)
}

# The variables (symnet_shared) of the selected layers.
.selected_variables <- function(model, from, to, which, call = parent.frame()) {
  tab <- .model_get(model, "layers")
  if (!is.null(which) && (!is.null(from) || !is.null(to))) {
    sym_abort("Give {.arg which} or a range ({.arg from}, {.arg to}), not both.", call = call)
  }
  rows <- if (!is.null(which)) {
    if (!(is.character(which) || is.numeric(which)) || !length(which)) {
      sym_abort("{.arg which} must be layer names or row numbers.", call = call)
    }
    vapply(as.list(which), function(w) .layer_row(tab, w, "which", call = call), integer(1))
  } else {
    lo <- if (is.null(from)) 1L else .layer_row(tab, from, "from", call = call)
    hi <- if (is.null(to)) nrow(tab) else .layer_row(tab, to, "to", call = call)
    if (lo > hi) sym_abort("{.arg from} comes after {.arg to} in the model's layers.", call = call)
    seq.int(lo, hi)
  }
  vn <- unique(unlist(attr(tab, "variables")[tab$name[rows]]))
  vars <- .model_get(model, "variables")
  unname(vars[intersect(names(vars), vn)])
}

.set_frozen <- function(model, vars, frozen) {
  for (v in vars) cpp_shared_set_frozen(v$var, frozen)
  .invalidate_training(model)
  invisible(model)
}

# Compiled training steps depend on what is frozen and on the multipliers.
.invalidate_training <- function(model) {
  cache <- .model_get(model, "cache")
  if (!is.null(cache)) cache$train <- NULL
}

.is_frozen <- function(v) isTRUE(cpp_shared_info(v$var)$frozen)

# Signature of the frozen set and the multipliers, for the training-step cache key.
.transfer_key <- function(model) {
  vars <- .model_get(model, "variables")
  if (!length(vars)) return("")
  info <- lapply(vars, function(v) cpp_shared_info(v$var))
  paste0(vapply(info, function(i) if (isTRUE(i$frozen)) "F" else "-", character(1)), collapse = "") |>
    paste(paste(vapply(info, function(i) format(i$lr_mult), character(1)), collapse = ","))
}

# The output symbol of a layer row: the last computation of its group in graph order.
.layer_output_symbol <- function(model, key) {
  nodes <- .graph_walk(lapply(unname(.model_get(model, "outputs")), .ptr))
  hit <- NULL
  for (rec in nodes) {
    if (isTRUE(rec$in_body) || rec$op %in% c("variable", "constant")) next
    k <- if (grepl("/", rec$name, fixed = TRUE)) .group_key(rec$name) else rec$name
    if (identical(k, key)) hit <- rec
  }
  if (is.null(hit)) return(NULL)
  new_symbol(cpp_sym_output(hit$ptr, 0L))
}
