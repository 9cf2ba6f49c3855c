# Core layers: dense, activation, flatten, reshape, dropout, embedding, add,
# concatenate. A layer is an R function of a symbol returning a symbol; it
# creates its weights with sym_param() and names its nodes "<layer>/<what>".

# ---- helpers shared by all layer files ------------------------------------------------------

.layer_input <- function(x, arg = "x", call = parent.frame()) {
  if (!is_symbol(x)) {
    sym_abort(c("{.arg {arg}} must be a symnet symbol, not {.obj_type_friendly {x}}.",
                i = "Layers take a symbol (e.g. from {.fn sym_var}) and return one: {.code sym_var(\"x\", c(NA, 4)) |> layer_dense(2)}."),
              call = call)
  }
  x
}

# Element type of a layer's weights: the float type of its input.
.float_input <- function(x, layer, call = parent.frame()) {
  if (!.is_float_dtype(x$dtype)) {
    sym_abort(c("{.fn {layer}} needs a float input, not {x$dtype}.",
                i = "Convert it first, e.g. {.code sym_cast(x, \"float32\")}."),
              kind = "dtype", call = call)
  }
  x$dtype
}

.check_units <- function(x, arg, call = parent.frame()) .check_int(x, arg, call = call, min = 1)

# Applies an activation given as NULL, a name or an R function of a symbol.
.activation_names <- c("linear", "relu", "tanh", "sigmoid", "softmax", "log_softmax", "elu", "selu",
                       "gelu", "softplus", "softsign", "swish", "silu", "leaky_relu", "exponential",
                       "hard_sigmoid")

.check_activation <- function(activation, arg = "activation", call = parent.frame()) {
  if (is.null(activation) || is.function(activation)) return(activation)
  if (is.character(activation) && length(activation) == 1 && !is.na(activation)) {
    a <- tolower(activation)
    if (a %in% .activation_names) return(a)
  }
  sym_abort(c("{.arg {arg}} must be {.code NULL}, an R function of a symbol, or one of {.val {(.activation_names)}}.",
              x = "Got {.obj_type_friendly {activation}}{if (is.character(activation)) paste0(' ', encodeString(activation[1], quote = '\"')) else ''}."),
            call = call)
}

.apply_activation <- function(y, activation, layer, call = parent.frame()) {
  if (is.null(activation)) return(y)
  if (is.function(activation)) {
    out <- activation(y)
    if (!is_symbol(out)) {
      sym_abort("The activation function must return a symbol, not {.obj_type_friendly {out}}.", call = call)
    }
    return(out)
  }
  nm <- .nn(layer, activation)
  switch(activation,
    linear = y,
    relu = sym_relu(y, name = nm),
    tanh = sym_tanh(y, name = nm),
    sigmoid = sym_sigmoid(y, name = nm),
    softmax = .op("softmax", list(y), list(axis = -1L), nm),
    log_softmax = .op("log_softmax", list(y), list(axis = -1L), nm),
    elu = sym_elu(y, name = nm),
    selu = sym_selu(y, name = nm),
    gelu = sym_gelu(y, name = nm),
    softplus = sym_softplus(y, name = nm),
    softsign = sym_softsign(y, name = nm),
    swish = , silu = .op("mul", list(y, sym_sigmoid(y, name = .nn(layer, "sigmoid"))), name = nm),
    leaky_relu = sym_leaky_relu(y, alpha = 0.2, name = nm),
    exponential = sym_exp(y, name = nm),
    hard_sigmoid = sym_hard_sigmoid(y, name = nm))
}

# ---- dense ---------------------------------------------------------------------------------

#' Dense (fully connected) layer
#'
#' `layer_dense(x, units)` computes `activation(x %*% kernel + bias)` with a
#' kernel `[d, units]` and a bias `[units]`, where `d` is the size of the
#' last axis of `x`. On inputs of rank > 2 (`[N, T, d]`, say) the same
#' weights apply along the last axis, giving `[N, T, units]`, as in keras.
#'
#' Parameters are named `"<name>/kernel"` and `"<name>/bias"`; they are
#' created when the layer is called, so build a model after [set.seed()]
#' (or pass seeded initializers) for reproducible weights.
#'
#' @param x Input symbol (its last dimension must be known).
#' @param units Number of output units.
#' @param activation `NULL` (linear), a name (`"relu"`, `"tanh"`,
#'   `"sigmoid"`, `"softmax"`, `"log_softmax"`, `"elu"`, `"selu"`,
#'   `"gelu"`, `"softplus"`, `"softsign"`, `"swish"`, `"leaky_relu"`,
#'   `"exponential"`, `"hard_sigmoid"`, `"linear"`), or an R function of a
#'   symbol.
#' @param use_bias Whether to add a bias.
#' @param kernel_initializer,bias_initializer Initializers (see
#'   [initializers]).
#' @param name Layer name; `NULL` for an auto name (`"dense_1"`, ...).
#' @return A symbol.
#' @family layers
#' @examples
#' set.seed(1)
#' x <- sym_var("x", c(NA, 4))
#' y <- x |> layer_dense(8, activation = "relu") |> layer_dense(2)
#' dim(y)
#' model <- sym_model(x, y)
#' model
#' sym_compile(y)(x = matrix(1, 3, 4))
#' @export
layer_dense <- function(x, units, activation = NULL, use_bias = TRUE,
                        kernel_initializer = "glorot_uniform", bias_initializer = "zeros",
                        name = NULL) {
  x <- .layer_input(x)
  units <- .check_units(units, "units")
  activation <- .check_activation(activation)
  use_bias <- .check_flag(use_bias, "use_bias")
  dt <- .float_input(x, "layer_dense")
  # The kernel is created now, [last dimension, units]: its size cannot wait
  # for the first feed (parameters are shared variables that exist, with
  # values, from the layer call on), so an unknown size is an error naming the
  # shape to declare.
  r <- length(x$shape)
  d <- if (r) x$shape[r] else NA_integer_
  if (r < 1 || is.na(d)) {
    shp <- .format_shape(x$shape)
    ex <- .declare_example(x, "c(NA, n_features)")
    sym_abort(c("{.fn layer_dense} needs an input whose last dimension is known, to size its kernel.",
                x = "The input has shape {shp}.",
                i = "Declare the input with its features, e.g. {.code {ex}}."),
              kind = "shape")
  }
  nm <- .layer_name("dense", "Dense", name)
  kernel <- sym_param(.nn(nm, "kernel"), c(d, units), kernel_initializer, dtype = dt)
  y <- .op("matmul", list(x, kernel), name = .nn(nm, "matmul"))
  if (use_bias) {
    bias <- sym_param(.nn(nm, "bias"), units, bias_initializer, dtype = dt)
    y <- .op("add", list(y, bias), name = .nn(nm, "bias_add"))
  }
  .apply_activation(y, activation, nm)
}

# ---- activation, flatten, reshape -------------------------------------------------------------

#' Activation layer
#'
#' `layer_activation(x, activation)` applies an activation function
#' elementwise (`"softmax"` and `"log_softmax"` along the last axis).
#'
#' @inheritParams layer_dense
#' @param activation A name (see [layer_dense()]) or an R function of a
#'   symbol.
#' @return A symbol of the shape of `x`.
#' @family layers
#' @examples
#' x <- sym_var("x", c(NA, 3))
#' y <- layer_activation(x, "softmax")
#' sym_compile(y)(x = rbind(c(1, 2, 3), c(0, 0, 0)))
#' @export
layer_activation <- function(x, activation, name = NULL) {
  if (missing(activation)) .missing_abort("activation", environment())
  x <- .layer_input(x)
  activation <- .check_activation(activation)
  if (is.null(activation)) activation <- "linear"
  .float_input(x, "layer_activation")
  nm <- .layer_name("activation", "Activation", name)
  y <- .apply_activation(x, activation, nm)
  if (identical(y, x) || is.function(activation)) y <- sym_identity(y, name = .nn(nm, "output"))
  y
}

#' Rescaling layer
#'
#' `layer_rescaling(x, scale, offset)` computes `x * scale + offset`, as
#' keras' `layer_rescaling()`. As the first layer of an image model it lets
#' you train on the raw integer pixels (`scale = 1 / 255`): `fit()`,
#' `evaluate()` and `predict()` then keep integer data of 0 to 255 as one
#' byte per value in engine memory instead of four, and R holds no
#' rescaled double copy (eight bytes per value) of the data set.
#'
#' @inheritParams layer_dense
#' @param scale,offset Numbers: the factor and the shift.
#' @return A symbol of the shape of `x`.
#' @family layers
#' @examples
#' x <- sym_var("x", c(NA, 4))
#' y <- layer_rescaling(x, 1 / 255)
#' sym_compile(y)(x = matrix(c(0L, 51L, 102L, 255L), 1))
#' @export
layer_rescaling <- function(x, scale, offset = 0, name = NULL) {
  x <- .layer_input(x)
  scale <- .check_number(scale, "scale", finite = TRUE)
  offset <- .check_number(offset, "offset", finite = TRUE)
  .float_input(x, "layer_rescaling")
  nm <- .layer_name("rescaling", "Rescaling", name)
  y <- sym_mul(x, scale, name = .nn(nm, "scale"))
  if (offset != 0) y <- sym_add(y, offset, name = .nn(nm, "offset"))
  y
}

#' Flatten and reshape layers
#'
#' `layer_flatten(x)` turns each example into a vector: `[N, d1, d2, ...]`
#' becomes `[N, d1 * d2 * ...]`. `layer_reshape(x, target_shape)` gives
#' each example the shape `target_shape` (the batch dimension is kept; one
#' entry may be `-1` or `NA`, inferred). Elements are taken in row-major
#' (C) order, as keras does (see [sym_reshape()]).
#'
#' @inheritParams layer_dense
#' @param target_shape Shape of one example (without the batch dimension).
#' @return A symbol.
#' @family layers
#' @examples
#' x <- sym_var("x", c(NA, 2, 3, 4))
#' dim(layer_flatten(x))
#' dim(layer_reshape(x, c(6, -1)))
#' @export
layer_flatten <- function(x, name = NULL) {
  x <- .layer_input(x)
  # an unknown rank is checked by the engine when fed
  if (identical(.rank(x), 0L)) sym_abort("{.fn layer_flatten} needs an input of rank >= 1 (batch first).", kind = "shape")
  nm <- .layer_name("flatten", "Flatten", name)
  .op("flatten", list(x), list(axis = 1L), .nn(nm, "flatten"))
}

#' @rdname layer_flatten
#' @export
layer_reshape <- function(x, target_shape, name = NULL) {
  x <- .layer_input(x)
  s <- .check_ints(target_shape, "target_shape", allow_na = TRUE)
  s[is.na(s)] <- -1L
  if (!length(s) || any(s == 0L | s < -1L) || sum(s == -1L) > 1) {
    sym_abort("{.arg target_shape} must be positive sizes with at most one {.code -1} (or {.code NA}) to infer.")
  }
  if (identical(.rank(x), 0L)) sym_abort("{.fn layer_reshape} needs an input of rank >= 1 (batch first).", kind = "shape")
  known <- x$shape[-1]
  if (!is.null(x$shape) && !anyNA(known) && all(s > 0) && prod(known) != prod(s)) {
    sym_abort("Cannot reshape examples of shape {.val {known}} ({prod(known)} values) to {.val {s}} ({prod(s)} values).",
              kind = "shape")
  }
  nm <- .layer_name("reshape", "Reshape", name)
  .op("reshape", list(x), list(shape = .ints_attr(c(0L, s))), .nn(nm, "reshape"))
}

# ---- dropout --------------------------------------------------------------------------------

#' Dropout layer
#'
#' `layer_dropout(x, rate)` sets each element to 0 with probability `rate`
#' and scales the others by `1 / (1 - rate)`, **only while training**: the
#' graph is built in inference mode (the identity), and
#' [fit()][generics::fit] compiles its training step in training mode,
#' which switches dropout on. Random numbers come from the engine's
#' counter-based generator, fresh at every step.
#'
#' @inheritParams layer_dense
#' @param rate Fraction of the inputs to drop, in `[0, 1)`.
#' @param seed `NULL` or a whole number fixing the random stream of this
#'   layer.
#' @return A symbol of the shape of `x`.
#' @family layers
#' @examples
#' x <- sym_var("x", c(NA, 4))
#' y <- layer_dropout(x, 0.5)
#' sym_compile(y)(x = matrix(1, 2, 4))       # inference: unchanged
#' @export
layer_dropout <- function(x, rate, seed = NULL, name = NULL) {
  x <- .layer_input(x)
  rate <- .check_number(rate, "rate", finite = TRUE)
  if (rate < 0 || rate >= 1) sym_abort("{.arg rate} must be in [0, 1), not {rate}.")
  seed <- .check_seed(seed)
  .float_input(x, "layer_dropout")
  nm <- .layer_name("dropout", "Dropout", name)
  attrs <- list(ratio = as.double(rate), training = 0L)
  if (!is.null(seed)) attrs$seed <- seed
  .op("dropout", list(x), attrs, .nn(nm, "dropout"), multi = TRUE)[[1]]
}

# ---- embedding -------------------------------------------------------------------------------

#' Embedding layer
#'
#' `layer_embedding(x, input_dim, output_dim)` looks up rows of a table
#' `[input_dim, output_dim]` (the parameter `"<name>/embeddings"`): an
#' integer input of shape `[N, T]` gives `[N, T, output_dim]`. Indices are
#' **0-based** (`0 .. input_dim - 1`), as in keras and as the datasets
#' store class labels, unless `x` carries another base
#' ([sym_index_base()]); a float input is converted to integers. An id
#' outside the table (a negative one included) is a `symnet_index_error`
#' when the model runs, never a wrapped-around row.
#'
#' @inheritParams layer_dense
#' @param x Integer input symbol of indices.
#' @param input_dim Size of the vocabulary.
#' @param output_dim Size of each embedding vector.
#' @param embeddings_initializer Initializer of the table (keras's default
#'   is uniform on `[-0.05, 0.05]`).
#' @param mask_zero If `TRUE`, id 0 is padding: the result carries the
#'   `[batch, steps]` mask ([sym_mask()]) that recurrent layers such as
#'   [layer_lstm()] use to skip those steps (keras's `mask_zero`; the
#'   padding value of [pad_sequences()]).
#' @return A float32 symbol.
#' @family layers
#' @examples
#' set.seed(1)
#' ids <- sym_var("ids", c(NA, 3), dtype = "int32")
#' e <- layer_embedding(ids, input_dim = 10, output_dim = 2)
#' dim(e)
#' sym_compile(e)(ids = matrix(c(0L, 1L, 9L), 1))
#' @export
layer_embedding <- function(x, input_dim, output_dim, embeddings_initializer = "random_uniform",
                            mask_zero = FALSE, name = NULL) {
  x <- .layer_input(x)
  input_dim <- .check_units(input_dim, "input_dim")
  output_dim <- .check_units(output_dim, "output_dim")
  mask_zero <- .check_flag(mask_zero, "mask_zero")
  if (x$dtype %in% c("bool")) {
    sym_abort("{.fn layer_embedding} needs integer indices, not {x$dtype}.", kind = "dtype")
  }
  nm <- .layer_name("embedding", "Embedding", name)
  base <- x$index_base %||% 0L
  if (!x$dtype %in% c("int32", "int64")) x <- sym_cast(x, "int32", name = .nn(nm, "cast"))
  table <- sym_param(.nn(nm, "embeddings"), c(input_dim, output_dim), embeddings_initializer)
  out <- .op("gather", list(table, x), list(axis = 0L, index_base = base), .nn(nm, "gather"))
  if (mask_zero) {
    # keras's convention: id 0 is padding (pad_sequences' value); [batch, steps] ids give
    # the [batch, steps] mask the recurrent layers read
    out$mask <- sym_cast(.op("not_equal", list(x, sym_const(0L, dtype = x$dtype)), name = .nn(nm, "nonzero")),
                         "float32", name = .nn(nm, "mask"))
  }
  out
}

# ---- merging ---------------------------------------------------------------------------------

.merge_inputs <- function(x, dots, fn, call = parent.frame()) {
  xs <- if (is.list(x) && !is_symbol(x)) c(x, dots) else c(list(x), dots)
  xs <- unname(xs)
  if (length(xs) < 2) sym_abort("{.fn {fn}} needs at least two inputs.", call = call)
  ok <- vapply(xs, is_symbol, logical(1))
  if (!all(ok)) {
    sym_abort("Every input of {.fn {fn}} must be a symbol; input {which(!ok)[1]} is {.obj_type_friendly {xs[[which(!ok)[1]]]}}.",
              call = call)
  }
  xs
}

#' Merge layers: add and concatenate
#'
#' `layer_add(x, y, ...)` adds symbols of the same shape elementwise (a
#' residual connection); `layer_concatenate(x, y, ..., axis)` joins them
#' along `axis` (default the last, as keras; use `axis = 2` for the channels
#' of NCHW feature maps). Inputs may be given as separate arguments (pipe
#' friendly: `x |> layer_add(shortcut)`) or as one list.
#'
#' @param x A symbol, or a list of symbols.
#' @param ... More symbols.
#' @param axis Axis to join along (1-based, negative from the end).
#' @param name Layer name; `NULL` for an auto name.
#' @return A symbol.
#' @family layers
#' @examples
#' a <- sym_var("a", c(NA, 2))
#' b <- sym_var("b", c(NA, 2))
#' f <- sym_compile(list(sum = layer_add(a, b), both = layer_concatenate(a, b)))
#' f(a = matrix(1, 1, 2), b = matrix(2, 1, 2))
#' @export
layer_add <- function(x, ..., name = NULL) {
  xs <- .merge_inputs(x, list(...), "layer_add")
  s <- xs[[1]]$shape
  for (k in seq_along(xs)[-1]) {
    t <- xs[[k]]$shape
    if (is.null(s) || is.null(t)) next  # an unknown rank: checked by the engine when fed
    if (length(t) != length(s) || any(!is.na(s) & !is.na(t) & s != t)) {
      s1 <- .format_shape(s)
      sk <- .format_shape(t)
      sym_abort(c("{.fn layer_add} needs inputs of one shape.",
                  x = "Input 1 is {s1}, input {k} is {sk}."),
                kind = "shape")
    }
  }
  nm <- .layer_name("add", "Add", name)
  y <- xs[[1]]
  for (k in seq_along(xs)[-1]) {
    y <- .op("add", list(y, xs[[k]]), name = .nn(nm, if (k == length(xs)) "add" else paste0("add_", k - 1)))
  }
  y
}

#' @rdname layer_add
#' @export
layer_concatenate <- function(x, ..., axis = -1, name = NULL) {
  xs <- .merge_inputs(x, list(...), "layer_concatenate")
  ranks <- vapply(xs, .rank, integer(1))
  r <- if (all(is.na(ranks))) NA_integer_ else ranks[!is.na(ranks)][1]
  if (any(!is.na(ranks) & ranks != r)) {
    sym_abort("{.fn layer_concatenate} needs inputs of one rank.", kind = "shape")
  }
  ax <- .axis0(axis, r)
  nm <- .layer_name("concatenate", "Concatenate", name)
  .op("concat", xs, list(axis = ax), .nn(nm, "concat"))
}
