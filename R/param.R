# Parameters (trainable shared variables) and their initializers.

# ---- initializers -----------------------------------------------------------------------

new_initializer <- function(name, fn, args = list(), seed = NULL) {
  structure(list(name = name, fn = fn, args = args, seed = seed), class = "symnet_initializer")
}

# Fans of a weight shape. Rank 2: a dense kernel [in, out]. Rank >= 3: a
# convolution weight [out, in / groups, k...] (conv_transpose weights
# [in, out / groups, k...] give the same numbers as keras's layout for them).
.fans <- function(shape) {
  shape <- as.double(shape)
  r <- length(shape)
  if (r == 0) return(c(1, 1))
  if (r == 1) return(c(shape, shape))
  if (r == 2) return(c(shape[1], shape[2]))
  rf <- prod(shape[-(1:2)])
  c(shape[2] * rf, shape[1] * rf)
}

# Normal draws truncated to two standard deviations (keras's truncated_normal).
.truncated_normal <- function(n, sd) {
  z <- stats::rnorm(n)
  bad <- abs(z) > 2
  while (any(bad)) {
    z[bad] <- stats::rnorm(sum(bad))
    bad <- abs(z) > 2
  }
  z * sd
}

# Runs `code` with R's RNG seeded by `seed` (restoring the caller's RNG state
# afterwards), or with the current RNG state when seed is NULL.
.with_seed <- function(seed, code) {
  if (is.null(seed)) return(force(code))
  genv <- globalenv()
  had <- exists(".Random.seed", envir = genv, inherits = FALSE)
  old <- if (had) get(".Random.seed", envir = genv, inherits = FALSE)
  on.exit({
    if (had) assign(".Random.seed", old, envir = genv)
    else if (exists(".Random.seed", envir = genv, inherits = FALSE)) rm(".Random.seed", envir = genv)
  }, add = TRUE)
  suppressWarnings(set.seed(seed, kind = "Mersenne-Twister", normal.kind = "Inversion",
                            sample.kind = "Rejection"))
  force(code)
}

.check_seed <- function(seed, arg = "seed", call = parent.frame()) {
  if (is.null(seed)) return(NULL)
  .check_int(seed, arg, call = call, min = 0)
}

#' Weight initializers
#'
#' Initializers give parameters ([sym_param()], the `*_initializer`
#' arguments of layers) their starting values. Each returns a
#' `symnet_initializer`; the layers and [sym_param()] also accept the names
#' as strings (`"glorot_uniform"`, `"glorot_normal"`, `"he_uniform"`,
#' `"he_normal"`, `"zeros"`, `"ones"`, `"random_normal"`,
#' `"random_uniform"`), a number (a constant), or an R function of the shape
#' returning an array.
#'
#' * Glorot (Xavier): uniform on `[-l, l]` with `l = sqrt(6 / (fan_in +
#'   fan_out))`, or a normal truncated at two standard deviations with
#'   standard deviation `sqrt(2 / (fan_in + fan_out)) / 0.8796`.
#' * He (Kaiming): uniform with `l = sqrt(6 / fan_in)`, or truncated
#'   normal with standard deviation `sqrt(2 / fan_in) / 0.8796`.
#' * Orthogonal (the recurrent kernels' default): the weight, read as a
#'   matrix with the last dimension as columns, has orthonormal rows or
#'   columns, times `gain`.
#'
#' Fans follow the weight layouts of symnet's layers: a dense kernel
#' `[in, out]` has `fan_in = in`, `fan_out = out`; a convolution weight
#' `[filters, channels / groups, k1, k2, ...]` has `fan_in = channels /
#' groups * prod(k)` and `fan_out = filters * prod(k)`. These are keras's
#' numbers.
#'
#' Values are drawn with R's random number generator: call [set.seed()]
#' before building a model for reproducible weights, or give `seed` here
#' (the caller's RNG state is then left untouched; note that a seeded
#' initializer gives the same values every time it is used).
#'
#' @param seed `NULL` (use R's RNG state) or a whole number.
#' @param value The constant.
#' @param mean,stddev Mean and standard deviation of the normal.
#' @param minval,maxval Bounds of the uniform.
#' @return A `symnet_initializer`.
#' @seealso [sym_param()]
#' @examples
#' init <- initializer_he_normal(seed = 1)
#' init
#' w <- sym_param("example/w", c(3, 4), init = init)
#' round(sym_value(w), 3)
#' sym_value(sym_param("example/b", 4, init = "zeros"))
#' @name initializers
NULL

#' @rdname initializers
#' @export
initializer_glorot_uniform <- function(seed = NULL) {
  new_initializer("glorot_uniform", function(shape) {
    f <- .fans(shape)
    l <- sqrt(6 / (f[1] + f[2]))
    stats::runif(prod(shape), -l, l)
  }, seed = .check_seed(seed))
}

#' @rdname initializers
#' @export
initializer_glorot_normal <- function(seed = NULL) {
  new_initializer("glorot_normal", function(shape) {
    f <- .fans(shape)
    .truncated_normal(prod(shape), sqrt(2 / (f[1] + f[2])) / 0.87962566103423978)
  }, seed = .check_seed(seed))
}

#' @rdname initializers
#' @export
initializer_he_uniform <- function(seed = NULL) {
  new_initializer("he_uniform", function(shape) {
    l <- sqrt(6 / .fans(shape)[1])
    stats::runif(prod(shape), -l, l)
  }, seed = .check_seed(seed))
}

#' @rdname initializers
#' @export
initializer_he_normal <- function(seed = NULL) {
  new_initializer("he_normal", function(shape) {
    .truncated_normal(prod(shape), sqrt(2 / .fans(shape)[1]) / 0.87962566103423978)
  }, seed = .check_seed(seed))
}

#' @rdname initializers
#' @export
initializer_zeros <- function() {
  new_initializer("zeros", function(shape) rep(0, prod(shape)))
}

#' @rdname initializers
#' @export
initializer_ones <- function() {
  new_initializer("ones", function(shape) rep(1, prod(shape)))
}

#' @rdname initializers
#' @export
initializer_constant <- function(value = 0) {
  value <- .check_number(value, "value", finite = TRUE)
  new_initializer("constant", function(shape) rep(value, prod(shape)), list(value = value))
}

#' @rdname initializers
#' @export
initializer_random_normal <- function(mean = 0, stddev = 0.05, seed = NULL) {
  mean <- .check_number(mean, "mean", finite = TRUE)
  stddev <- .check_number(stddev, "stddev", finite = TRUE)
  if (stddev < 0) sym_abort("{.arg stddev} must be >= 0.")
  new_initializer("random_normal", function(shape) stats::rnorm(prod(shape), mean, stddev),
                  list(mean = mean, stddev = stddev), seed = .check_seed(seed))
}

#' @rdname initializers
#' @export
initializer_random_uniform <- function(minval = -0.05, maxval = 0.05, seed = NULL) {
  minval <- .check_number(minval, "minval", finite = TRUE)
  maxval <- .check_number(maxval, "maxval", finite = TRUE)
  if (minval > maxval) sym_abort("{.arg minval} must be <= {.arg maxval}.")
  new_initializer("random_uniform", function(shape) stats::runif(prod(shape), minval, maxval),
                  list(minval = minval, maxval = maxval), seed = .check_seed(seed))
}

#' @rdname initializers
#' @param gain Multiplier of the orthogonal matrix.
#' @export
initializer_orthogonal <- function(gain = 1, seed = NULL) {
  gain <- .check_number(gain, "gain", finite = TRUE)
  new_initializer("orthogonal", function(shape) {
    # keras's construction: the Q of a normal matrix's QR decomposition, signs fixed by
    # R's diagonal so the distribution is uniform; the weight is read as a matrix
    # [prod(leading dims), last dim], transposed when it has fewer rows than columns.
    shape <- as.double(shape)
    cols <- if (length(shape)) shape[length(shape)] else 1
    rows <- prod(shape) / cols
    a <- matrix(stats::rnorm(rows * cols), max(rows, cols), min(rows, cols))
    d <- qr(a)
    q <- qr.Q(d) %*% diag(sign(diag(qr.R(d))), ncol(a))
    if (rows < cols) q <- t(q)
    gain * q
  }, list(gain = gain), seed = .check_seed(seed))
}

.initializer_names <- c("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "zeros",
                        "ones", "random_normal", "random_uniform", "orthogonal")

#' @export
format.symnet_initializer <- function(x, ...) {
  args <- x$args
  if (!is.null(x$seed)) args$seed <- x$seed
  a <- if (length(args)) paste0(names(args), " = ", vapply(args, format, character(1)), collapse = ", ") else ""
  sprintf("<initializer %s(%s)>", x$name, a)
}

#' @export
print.symnet_initializer <- function(x, ...) {
  cat(format(x), "\n", sep = "")
  invisible(x)
}

# Any accepted initializer spec -> symnet_initializer.
.as_initializer <- function(init, arg = "init", call = parent.frame()) {
  if (inherits(init, "symnet_initializer")) return(init)
  if (is.character(init) && length(init) == 1 && !is.na(init)) {
    key <- tolower(init)
    key <- switch(key, xavier_uniform = "glorot_uniform", xavier_normal = "glorot_normal",
                  kaiming_uniform = "he_uniform", kaiming_normal = "he_normal",
                  zero = "zeros", one = "ones", normal = "random_normal",
                  uniform = "random_uniform", key)
    if (!key %in% .initializer_names) {
      sym_abort(c("Unknown initializer {.val {init}} for {.arg {arg}}.",
                  i = "Use one of {.val {(.initializer_names)}}, an {.fn initializer_*} object, a number or a function of the shape."),
                call = call)
    }
    return(switch(key,
      glorot_uniform = initializer_glorot_uniform(), glorot_normal = initializer_glorot_normal(),
      he_uniform = initializer_he_uniform(), he_normal = initializer_he_normal(),
      zeros = initializer_zeros(), ones = initializer_ones(),
      random_normal = initializer_random_normal(), random_uniform = initializer_random_uniform(),
      orthogonal = initializer_orthogonal()))
  }
  if (is.numeric(init) && length(init) == 1 && is.null(dim(init))) {
    if (!is.finite(init)) sym_abort("{.arg {arg}} must be finite.", call = call)
    return(initializer_constant(init))
  }
  if (is.function(init)) {
    fn <- init
    return(new_initializer("custom", function(shape) {
      v <- fn(shape)
      ok <- (is.numeric(v) || is.logical(v)) && length(v) == prod(shape)
      if (!ok) {
        sym_abort("The initializer function must return {prod(shape)} number{?s} for shape {.val {shape}}.",
                  call = call)
      }
      v
    }))
  }
  sym_abort(c("{.arg {arg}} must be an initializer, not {.obj_type_friendly {init}}.",
              i = "Use a name such as {.val glorot_uniform}, an {.fn initializer_*} object, a number or a function of the shape."),
            call = call)
}

# Values (an R array of `shape`) from an initializer.
.init_values <- function(init, shape, seed = NULL, arg = "init", call = parent.frame()) {
  ini <- .as_initializer(init, arg, call)
  seed <- seed %||% ini$seed
  v <- .with_seed(seed, ini$fn(shape))
  v <- as.vector(v)
  if (length(shape) >= 1) dim(v) <- shape
  v
}

# ---- parameters ---------------------------------------------------------------------------

#' Create a parameter (a trainable weight)
#'
#' `sym_param(name, shape, init)` creates a shared variable ([sym_shared()])
#' holding a weight initialised by `init`, and returns it as a symbol to use
#' in a graph. Parameters are found by [sym_model()] by walking the graph,
#' so any R function of symbols that creates its weights with
#' `sym_param()` is a layer: it trains with [fit()][generics::fit] like the
#' built-in layers, its gradients are derived automatically, and it is
#' saved by [save_model()] and counted by `print(model)`.
#'
#' Name parameters `"<layer>/<what>"` (see [sym_layer_name()]): the prefix
#' groups them into a layer in `print(model)`; names must be unique within a
#' model. Non-trainable state (such as running statistics) is created with
#' `trainable = FALSE` and updated during training with [sym_with_update()].
#'
#' @param name Name of the variable (a single string).
#' @param shape Its shape (whole numbers, fully known).
#' @param init Initializer: a name such as `"glorot_uniform"` (default),
#'   `"he_normal"`, `"zeros"`; an `initializer_*()` object; a number; an R
#'   function of the shape returning the values; or an R array of the
#'   shape (used as is). See [initializers].
#' @param dtype Element type (`"float32"` by default).
#' @param trainable Whether optimizers update it.
#' @param seed `NULL` or a whole number: seed for the initializer (the
#'   caller's RNG state is then left as it was).
#' @return A `symnet_shared` symbol.
#' @seealso [initializers], [sym_layer_name()], [sym_model()].
#' @examples
#' # A user-written layer: a gated linear unit, GLU(x) = (x W + b) * sigmoid(x V + c)
#' layer_glu <- function(x, units, name = NULL) {
#'   name <- sym_layer_name("glu", name)
#'   d <- dim(x)[length(dim(x))]
#'   w <- sym_param(paste0(name, "/w"), c(d, units))
#'   b <- sym_param(paste0(name, "/b"), units, init = "zeros")
#'   v <- sym_param(paste0(name, "/v"), c(d, units))
#'   c <- sym_param(paste0(name, "/c"), units, init = "zeros")
#'   (x %*% w + b) * sym_sigmoid(x %*% v + c)
#' }
#'
#' set.seed(1)
#' x <- sym_var("x", c(NA, 4))
#' y <- x |> layer_glu(3) |> layer_dense(1)
#' model <- sym_model(x, y)
#' model
#'
#' # gradients flow into the custom layer's weights
#' loss <- sym_mean(y^2)
#' g <- sym_grad(loss, model$params)
#' str(sym_compile(g)(x = matrix(rnorm(8), 2, 4)))
#' @export
sym_param <- function(name, shape, init = "glorot_uniform", dtype = "float32", trainable = TRUE,
                      seed = NULL) {
  name <- .check_string(name, "name")
  if (!nzchar(name)) sym_abort("{.arg name} must not be empty.")
  shape <- .check_shape(shape, "shape", allow_unknown = FALSE)
  n <- prod(as.double(shape))
  if (n > .large_int) {
    sym_abort("{.arg shape} asks for {format(n, big.mark = ',')} elements; a parameter holds at most {format(.large_int, big.mark = ',')}.")
  }
  dtype <- .check_dtype(dtype)
  trainable <- .check_flag(trainable, "trainable")
  seed <- .check_seed(seed)
  if ((is.numeric(init) || is.logical(init)) && (length(init) > 1 || !is.null(dim(init)))) {
    d <- dim(init) %||% length(init)
    same <- length(d) == length(shape) && all(d == shape)
    if (!same && !(length(shape) == 1 && length(init) == shape)) {
      sym_abort("{.arg init} is an array of shape {.val {d}} but {.arg shape} is {.val {shape}}.",
                kind = "shape")
    }
    value <- init
  } else {
    value <- .init_values(init, shape, seed)
  }
  if (!length(shape)) value <- as.vector(value)[1]
  sym_shared(value, name = name, dtype = dtype, trainable = trainable)
}

# ---- state updates --------------------------------------------------------------------------
#
# A state update ("after each training step, shared variable `var` takes the value of the
# symbol `value`") travels with the symbols it was attached to: sym_with_update() stores it in
# the symbol's `updates` field, every op result carries the union of its inputs' updates
# (.op() calls .updates_of()), and sym_model() collects those of its outputs. The update thus
# lives exactly as long as a symbol or model that uses it. (It used to be kept in a
# process-wide registry, which kept every update -- and through it the whole graph and its
# weights -- alive for the session.) Batch normalisation needs no attached update: a model
# derives it from the batch-norm nodes of its graph (.graph_state_updates() in model.R).
#
# `updates` is a named list of list(var, value); the names (.update_key) identify the
# variable and the value node, so the same update reaching an op twice is kept once.

.update_key <- function(var, value) {
  info <- cpp_sym_info(.ptr(value))
  paste0(var$var_id, "<-", .id_str(info$id), ":", info$index)
}

.check_update <- function(var, value, call = parent.frame()) {
  .check_shared(var, "var", call = call)
  .check_symbol(value, "value", call = call)
  if (value$dtype != var$dtype) value <- sym_cast(value, var$dtype)
  vs <- value$shape
  ws <- var$shape
  if (length(vs) != length(ws) || any(!is.na(vs) & vs != ws)) {
    sym_abort("The update of {.val {var$name}} has shape {.val {vs}}, but the variable has shape {.val {ws}}.",
              kind = "shape", call = call)
  }
  # updates carried by the update's own symbols travel on beside it, not inside it
  inner <- .updates_of(list(var, value))
  value$updates <- NULL
  var$updates <- NULL
  list(var = var, value = value, inner = inner)
}

# Union of two `updates` lists (`a` first).
.merge_updates <- function(a, b) {
  nb <- names(b)[!names(b) %in% names(a)]
  if (length(nb)) c(a, b[nb]) else a
}

# The updates carried by a list of symbols, or NULL.
.updates_of <- function(syms) {
  ups <- NULL
  for (s in syms) {
    u <- s$updates
    if (length(u)) ups <- if (is.null(ups)) u else .merge_updates(ups, u)
  }
  ups
}

# `x` carrying `ups` (named list of updates) in addition to its own.
.carry_updates <- function(x, ups) {
  if (!length(ups)) return(x)
  x$updates <- if (length(x$updates)) .merge_updates(x$updates, ups) else ups
  x
}

#' Attach a state update to a symbol
#'
#' Layers with state that is not learnt by gradients (a running mean, a
#' counter) declare how the state changes in a training step:
#' `sym_with_update(x, var, value)` returns `x` carrying the update "after
#' each training step, the shared variable `var` takes the value of the
#' symbol `value`" (computed in training mode, from the same mini-batch).
#' Every symbol computed from the result carries the update too, and a model
#' built with [sym_model()] collects the updates its outputs carry (see
#' `model$aux_updates`); [fit()][generics::fit] applies them in the compiled
#' training step. A layer therefore returns the symbol that carries its
#' updates, as in the example.
#'
#' The update lives as long as a symbol or model that carries it: nothing is
#' kept for the session. [layer_batch_norm()] needs no attached update: a
#' model finds the running-statistics updates in its batch-norm nodes.
#' Compiled functions ([sym_compile()]) apply only the `updates` they are
#' given.
#'
#' @param x The symbol to carry the update (usually the layer's output).
#' @param var A shared variable (from [sym_param()] or [sym_shared()],
#'   usually with `trainable = FALSE`).
#' @param value A symbol of the same shape as `var` (cast to its type).
#' @return `x`, carrying the update.
#' @seealso [sym_param()], [sym_model()].
#' @examples
#' # a layer that tracks a running mean of its input (per feature)
#' layer_track_mean <- function(x, name = NULL) {
#'   name <- sym_layer_name("track_mean", name)
#'   m <- sym_param(paste0(name, "/mean"), dim(x)[2], init = "zeros", trainable = FALSE)
#'   sym_with_update(x, m, 0.9 * m + 0.1 * sym_mean(x, axis = 1))
#' }
#' x <- sym_var("x", c(NA, 2))
#' model <- sym_model(x, x |> layer_track_mean(name = "tm") |> layer_dense(1))
#' vapply(model$aux_updates, function(u) u$name, "")
#' fit(model, matrix(c(1, 2, 3, 4), 2), c(0, 1), loss = "mse", epochs = 1, verbose = 0)
#' get_weights(model)[["tm/mean"]]   # 0.1 * the column means
#' @export
sym_with_update <- function(x, var, value) {
  .check_symbol(x, "x")
  u <- .check_update(var, value)
  ups <- list(list(var = u$var, value = u$value))
  names(ups) <- .update_key(u$var, u$value)
  .carry_updates(x, if (length(u$inner)) .merge_updates(ups, u$inner) else ups)
}

# ---- deprecated: the session-wide registry -------------------------------------------------

.aux_state <- new.env(parent = emptyenv())
.aux_state$updates <- new.env(parent = emptyenv())  # var id -> list(var, value)

#' Register a state update for training (deprecated)
#'
#' **Deprecated.** `sym_aux_update()` is deprecated in
#' favour of [sym_with_update()]. It records the update in a registry for
#' the rest of the session, which keeps the update -- and through it the
#' graph and weights it uses -- alive even after every model using it is
#' gone. [sym_with_update()] attaches the update to a symbol instead, so it
#' lives exactly as long as the symbols and models that use it.
#'
#' `sym_aux_update(var, value)` still works as before: a model built with
#' [sym_model()] whose graph uses `var` collects the registered update.
#' Each call signals a warning of class `symnet_deprecated_warning`.
#'
#' @param var A shared variable (usually with `trainable = FALSE`).
#' @param value A symbol of the same shape as `var`.
#' @return `var`, invisibly.
#' @seealso [sym_with_update()], which replaces it.
#' @examples
#' x <- sym_var("x", c(NA, 2))
#' m <- sym_param("old_style/mean", 2, init = "zeros", trainable = FALSE)
#' # deprecated: sym_aux_update(m, 0.9 * m + 0.1 * sym_mean(x, axis = 1))
#' # instead, attach the update to the layer's output:
#' y <- sym_with_update(x, m, 0.9 * m + 0.1 * sym_mean(x, axis = 1))
#' length(sym_model(x, y)$aux_updates)
#' @keywords internal
#' @export
sym_aux_update <- function(var, value) {
  u <- .check_update(var, value)
  cli::cli_warn(c("{.fn sym_aux_update} is deprecated: it keeps the update of {.val {u$var$name}} (and the graph it uses) for the whole session.",
                  i = "Use {.code y <- sym_with_update(y, var, value)} on the layer's output instead."),
                class = c("symnet_deprecated_warning", "deprecatedWarning"))
  assign(u$var$var_id, list(var = u$var, value = u$value), envir = .aux_state$updates)
  invisible(var)
}

.aux_updates_for <- function(var_ids) {
  ids <- intersect(var_ids, ls(.aux_state$updates, all.names = TRUE))
  lapply(ids, function(id) get(id, envir = .aux_state$updates))
}
