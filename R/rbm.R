# Restricted Boltzmann machines: the object, its parameters and the energy
# functions every RBM graph (training step, monitoring, sampling) is built from.
# Training lives in rbm-fit.R, inference and sampling in rbm-infer.R.

# numbers default RBM names (rbm1, rbm2, ...)
.rbm_counter <- new.env(parent = emptyenv())
.rbm_counter$n <- 0L

#' Restricted Boltzmann machines
#'
#' `rbm(n_visible, n_hidden)` creates a restricted Boltzmann machine: a
#' layer of visible units and a layer of hidden units joined by a weight
#' matrix, with a bias per unit. Train it with
#' [fit()][fit.symnet_rbm] (contrastive divergence or persistent contrastive
#' divergence), map data to hidden probabilities with
#' [transform()][transform.symnet_rbm] or `predict()`, draw samples with
#' [sample_rbm()] and show the learned filters with
#' [plot()][plot.symnet_rbm].
#'
#' Unit types:
#' * visible `"bernoulli"`: binary units; the data must lie in `[0, 1]`
#'   (values between 0 and 1, such as grey levels, are taken as
#'   probabilities, as scikit-learn's `BernoulliRBM` does);
#'   `"gaussian"`: real-valued units with unit variance (standardise the
#'   data first); the mean is `h %*% t(W) + b`.
#' * hidden `"bernoulli"`: binary units, `p(h = 1 | v) = sigmoid(v %*% W + c)`;
#'   `"relu"`: noisy rectified linear units (Nair and Hinton, 2010), mean
#'   `max(0, x)` and samples `max(0, x + N(0, sigmoid(x)))` for
#'   `x = v %*% W + c`. Their free energy (and hence the pseudo-log-likelihood
#'   and the free-energy gap reported while training) uses the Bernoulli
#'   formula `-sum(softplus(x))`, an approximation for these units.
#'
#' The parameters are shared variables that live in the engine:
#' [get_weights()] returns `list(weights = <n_visible x n_hidden>,
#' visible_bias, hidden_bias)` and [set_weights()] takes the same list. The
#' weights start as `N(0, 0.01^2)` draws (from R's generator, so
#' `set.seed()` fixes them) and the biases at 0.
#'
#' An RBM changes in place (like a [sym_model()]); `saveRDS()`/`readRDS()`
#' and [save_model()]/[load_model()] keep its parameters.
#'
#' @param n_visible,n_hidden Numbers of visible and hidden units.
#' @param visible,hidden Unit types (see Details).
#' @param name Name, used as prefix of the parameters' names.
#' @return A `symnet_rbm` object.
#' @seealso [fit.symnet_rbm()], [transform.symnet_rbm()], [sample_rbm()],
#'   [dbn()].
#' @examples
#' set.seed(1)
#' r <- rbm(6, 3)
#' r
#' str(get_weights(r))
#' @export
rbm <- function(n_visible, n_hidden, visible = c("bernoulli", "gaussian"), hidden = c("bernoulli", "relu"),
                name = NULL) {
  n_visible <- .check_int(n_visible, "n_visible", min = 1)
  n_hidden <- .check_int(n_hidden, "n_hidden", min = 1)
  visible <- .match_arg(visible, c("bernoulli", "gaussian"), "visible")
  hidden <- .match_arg(hidden, c("bernoulli", "relu"), "hidden")
  if (is.null(name)) {
    .rbm_counter$n <- .rbm_counter$n + 1L
    name <- paste0("rbm", .rbm_counter$n)
  }
  name <- .check_string(name, "name")
  if (!nzchar(name)) sym_abort("{.arg name} must not be empty.")
  w <- matrix(stats::rnorm(n_visible * n_hidden, sd = 0.01), n_visible, n_hidden)
  .new_rbm(name, visible, hidden, w, numeric(n_visible), numeric(n_hidden))
}

# An RBM environment around new shared variables holding these values.
.new_rbm <- function(name, visible, hidden, weights, visible_bias, hidden_bias) {
  r <- new.env(parent = emptyenv())
  r$name <- name
  r$visible <- visible
  r$hidden <- hidden
  r$n_visible <- nrow(weights)
  r$n_hidden <- ncol(weights)
  r$weights <- sym_shared(weights, name = paste0(name, "/weights"))
  r$visible_bias <- sym_shared(as.double(visible_bias), name = paste0(name, "/visible_bias"))
  r$hidden_bias <- sym_shared(as.double(hidden_bias), name = paste0(name, "/hidden_bias"))
  r$velocity <- NULL   # momentum state, created by the first fit() with momentum
  r$chain <- NULL      # persistent chains (hidden states), created by the first PCD fit()
  r$epochs <- 0L
  r$cache <- new.env(parent = emptyenv())
  class(r) <- "symnet_rbm"
  r
}

.check_rbm <- function(x, arg = "object", call = parent.frame()) {
  if (!inherits(x, "symnet_rbm") || !is.environment(x)) {
    sym_abort("{.arg {arg}} must be an RBM from {.fn rbm}, not {.obj_type_friendly {x}}.", call = call)
  }
  x
}

#' @export
format.symnet_rbm <- function(x, ...) {
  sprintf("<symnet RBM %s> %d %s visible x %d %s hidden units (%s parameters)%s", x$name, x$n_visible,
          x$visible, x$n_hidden, x$hidden,
          .format_count(x$n_visible * x$n_hidden + x$n_visible + x$n_hidden),
          if (x$epochs > 0) sprintf(", trained %d epoch%s", x$epochs, if (x$epochs == 1) "" else "s") else "")
}

#' @export
print.symnet_rbm <- function(x, ...) {
  cat(format(x), "\n", sep = "")
  invisible(x)
}

# ---- weights ----------------------------------------------------------------------------------

#' @rdname get_weights
#' @export
get_weights.symnet_rbm <- function(model, ...) {
  list(weights = sym_value(model$weights), visible_bias = as.vector(sym_value(model$visible_bias)),
       hidden_bias = as.vector(sym_value(model$hidden_bias)))
}

#' @rdname get_weights
#' @export
set_weights.symnet_rbm <- function(model, weights, ...) {
  .rbm_check_weights(weights, model$n_visible, model$n_hidden)
  sym_value(model$weights) <- matrix(as.double(weights$weights), model$n_visible, model$n_hidden)
  sym_value(model$visible_bias) <- as.double(weights$visible_bias)
  sym_value(model$hidden_bias) <- as.double(weights$hidden_bias)
  invisible(model)
}

.rbm_check_weights <- function(weights, nv, nh, call = parent.frame()) {
  need <- c("weights", "visible_bias", "hidden_bias")
  if (!is.list(weights) || is.data.frame(weights) || !all(need %in% names(weights))) {
    sym_abort("{.arg weights} must be a list with elements {.val {need}}, as {.fn get_weights} returns.",
              call = call)
  }
  unknown <- setdiff(names(weights), need)
  if (length(unknown)) sym_abort("{.arg weights} has unknown element{?s} {.val {unknown}}.", call = call)
  want <- list(weights = c(nv, nh), visible_bias = nv, hidden_bias = nh)
  for (nm in need) {
    v <- weights[[nm]]
    if (!is.numeric(v) || is.factor(v)) {
      sym_abort("{.field {nm}} must be numeric, not {.obj_type_friendly {v}}.", kind = "dtype", call = call)
    }
    d <- dim(v) %||% length(v)
    if (nm != "weights") d <- length(v)
    if (length(d) != length(want[[nm]]) || any(d != want[[nm]])) {
      got <- .format_shape(d)
      need_shape <- .format_shape(want[[nm]])
      sym_abort("{.field {nm}} has shape {got}, but the RBM needs {need_shape}.",
                kind = "shape", call = call)
    }
    if (anyNA(v) || any(!is.finite(v))) sym_abort("{.field {nm}} must be finite (no NA, NaN or Inf).", call = call)
  }
  invisible(weights)
}

# ---- data checks ------------------------------------------------------------------------------

# Data as a plain double matrix [n, n_visible]: arrays [n, ...] are flattened per
# example (images), data frames become matrices. Bernoulli visibles must lie in [0, 1].
.rbm_data <- function(x, r, arg = "x", call = parent.frame()) {
  if (is.data.frame(x)) x <- as.matrix(x)
  if (!(is.numeric(x) || is.logical(x)) || is.factor(x)) {
    sym_abort("{.arg {arg}} must be a numeric matrix, not {.obj_type_friendly {x}}.", kind = "dtype", call = call)
  }
  d <- dim(x)
  if (is.null(d)) {
    if (length(x) != r$n_visible) {
      sym_abort(c("{.arg {arg}} has {length(x)} value{?s}, but the RBM has {r$n_visible} visible unit{?s}.",
                  i = "Give one example per row of a matrix."), kind = "shape", call = call)
    }
    d <- c(1L, length(x))
  }
  width <- prod(d[-1])
  if (length(d) < 2 || width != r$n_visible) {
    sym_abort(c("{.arg {arg}} has {width} value{?s} per example, but the RBM has {r$n_visible} visible unit{?s}.",
                i = "{.arg {arg}} must have one example per row and {r$n_visible} column{?s}."),
              kind = "shape", call = call)
  }
  if (d[1] < 1) sym_abort("{.arg {arg}} has no examples.", call = call)
  # datasets are big: copy only when the shape or type must change, and check in one pass
  if (!is.double(x) || length(d) != 2 || !identical(names(attributes(x)), "dim")) {
    x <- matrix(as.double(x), d[1], width)
  }
  rg <- range(x)
  if (anyNA(rg)) sym_abort("{.arg {arg}} contains NA or NaN values.", call = call)
  if (any(!is.finite(rg))) sym_abort("{.arg {arg}} contains infinite values.", call = call)
  if (r$visible == "bernoulli") {
    if (rg[1] < 0 || rg[2] > 1) {
      sym_abort(c("The RBM has Bernoulli visible units, so {.arg {arg}} must lie in [0, 1]; its values range from {signif(rg[1], 4)} to {signif(rg[2], 4)}.",
                  i = "Scale the data (e.g. pixels / 255), or use {.code visible = \"gaussian\"} for real-valued data."),
                call = call)
    }
  }
  x
}

# ---- graph pieces -----------------------------------------------------------------------------
# All take symbols. `noise` supplies the random numbers: uniform(like) and normal(like)
# return symbols shaped like `like`. The engine's Philox ops by default; tests feed fixed
# numbers instead, to check updates against hand computations. The engine keys a random
# node's stream by the function's seed and the node's name, so the draws get fixed names
# (numbered in the order the graph is built): the same seed gives the same samples each
# time the graph is built anew.

.philox_noise <- function(prefix = "rbm_noise") {
  n <- 0L
  nm <- function() {
    n <<- n + 1L
    paste0(prefix, "/draw", n)
  }
  list(uniform = function(like) sym_random_uniform(like, name = nm()),
       normal = function(like) sym_random_normal(like, name = nm()))
}

# `n` applications of fn to a state inside the graph, by sym_fori_loop() (whose random ops draw
# anew at every iteration). One step (CD-1, the common case) is applied directly: no loop
# machinery for a single iteration.
.rbm_repeat <- function(n, fn, init) {
  if (n == 1) return(fn(init))
  sym_fori_loop(1, n, function(i, h) fn(h), init = init)
}

.rbm_params <- function(r) list(w = r$weights, b = r$visible_bias, c = r$hidden_bias)

# Hidden pre-activation and mean given visible values.
.rbm_hidden_pre <- function(r, v, p = .rbm_params(r)) sym_gemm(v, p$w, c = p$c)

# The logistic function as 1 / (1 + exp(-x)): the engine fuses it with the sampling comparison
# that follows, which measured faster than its sigmoid op on [64, 784] (0.26 against 0.4 ms).
# exp(-x) overflowing to Inf gives 0, the right limit.
.rbm_logistic <- function(x) 1 / (1 + sym_exp(-x))

.rbm_hidden_mean <- function(r, pre) if (r$hidden == "bernoulli") .rbm_logistic(pre) else sym_relu(pre)

.rbm_hidden_sample <- function(r, pre, mean, noise) {
  # the uniforms take their shape from `pre`, so that `mean` has the comparison as its only
  # consumer where it is not needed elsewhere, and the two fuse into one kernel
  if (r$hidden == "bernoulli") return(sym_cast(noise$uniform(pre) < mean, "float32"))
  # noisy ReLU: max(0, x + N(0, sigmoid(x)))
  sym_relu(pre + noise$normal(pre) * sqrt(sym_sigmoid(pre)))
}

.rbm_visible_pre <- function(r, h, p = .rbm_params(r)) sym_gemm(h, p$w, c = p$b, trans_b = TRUE)

.rbm_visible_act <- function(r, pre) if (r$visible == "bernoulli") .rbm_logistic(pre) else pre

.rbm_visible_mean <- function(r, h, p = .rbm_params(r)) .rbm_visible_act(r, .rbm_visible_pre(r, h, p))

# `like`: a symbol of the same shape for the draws to take theirs from (see .rbm_hidden_sample()).
.rbm_visible_sample <- function(r, mean, noise, like = mean) {
  if (r$visible == "bernoulli") return(sym_cast(noise$uniform(like) < mean, "float32"))
  mean + noise$normal(like)
}

# Visible samples given hidden states.
.rbm_visible_draw <- function(r, h, noise, p = .rbm_params(r)) {
  pre <- .rbm_visible_pre(r, h, p)
  .rbm_visible_sample(r, .rbm_visible_act(r, pre), noise, like = pre)
}

# Free energy per example ([n]) from v and its hidden pre-activation.
.rbm_free_energy <- function(r, v, pre, p = .rbm_params(r)) {
  hid <- sym_sum(sym_softplus(pre), axis = 2)
  if (r$visible == "bernoulli") return(-sym_matmul(v, sym_reshape(p$b, c(r$n_visible, 1L)))[, 1] - hid)
  d <- v - p$b
  0.5 * sym_sum(d * d, axis = 2) - hid
}

# Pseudo-log-likelihood per example, scikit-learn's definition: flip one random visible unit
# per example (v_i -> 1 - v_i) and take n_visible * log(sigmoid(F(v') - F(v))). The flipped
# pre-activation is pre + (1 - 2 v_i) W[i, ]: one row gathered, no second product.
.rbm_pll <- function(r, v, pre, noise, p = .rbm_params(r)) {
  nv <- r$n_visible
  u <- noise$uniform(sym_sum(v, axis = 2, keepdims = TRUE))         # [n, 1]
  idx <- sym_minimum(sym_cast(sym_floor(u * nv), "int32"), nv - 1L)  # 0-based unit per example
  vi <- sym_gather_elements(v, idx, axis = 2, index_base = 0)       # [n, 1]
  s <- 1 - 2 * vi
  flat <- sym_reshape(idx, -1L)
  pre2 <- pre + s * sym_gather(p$w, flat, axis = 1, index_base = 0)
  bi <- sym_reshape(sym_gather(p$b, flat, axis = 1, index_base = 0), c(-1L, 1L))
  # F(v') - F(v) = -s * b_i - sum(softplus(pre') - softplus(pre))
  diff <- -(s * bi)[, 1] - sym_sum(sym_softplus(pre2) - sym_softplus(pre), axis = 2)
  nv * -sym_softplus(-diff)
}
