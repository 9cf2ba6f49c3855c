# Using a trained RBM: hidden probabilities (transform/predict), Gibbs sampling of visible
# samples, and pictures of the learned filters.

#' Hidden-unit probabilities of an RBM
#'
#' `transform(rbm, x)` (and `predict(rbm, x)`) maps data to the hidden
#' units' means, `sigmoid(x %*% W + c)` for Bernoulli hidden units and
#' `max(0, x %*% W + c)` for ReLU units: the features an RBM learned, and
#' the input of the next layer of a [dbn()]. It runs batch by batch through
#' a compiled graph.
#'
#' `transform()` is a method of base R's `transform()` generic (whose first
#' argument is called `_data`), so attaching symnet masks nothing.
#'
#' @param _data,object A `symnet_rbm`.
#' @param x Data, as for [fit()][fit.symnet_rbm].
#' @param batch_size Examples per engine call.
#' @param ... Nothing (an unknown argument is an error).
#' @return A matrix `[n, n_hidden]`.
#' @seealso [rbm()], [sample_rbm()].
#' @examples
#' set.seed(1)
#' r <- rbm(4, 2)
#' x <- matrix(c(1, 1, 0, 0, 0, 0, 1, 1), 2, 4, byrow = TRUE)
#' transform(r, x)
#' predict(r, x)
#' @export
transform.symnet_rbm <- function(`_data`, x, batch_size = 256, ...) {
  .check_dots(list(...), c("x", "batch_size"), "transform")
  r <- .check_rbm(`_data`, "_data")
  if (missing(x)) sym_abort("{.arg x} is missing: give the data to transform.")
  .rbm_hidden_probs(r, .rbm_data(x, r, "x"), .check_int(batch_size, "batch_size", min = 1))
}

#' @rdname transform.symnet_rbm
#' @export
predict.symnet_rbm <- function(object, x, batch_size = 256, ...) {
  .check_dots(list(...), c("x", "batch_size"), "predict")
  r <- .check_rbm(object)
  if (missing(x)) sym_abort("{.arg x} is missing: give the data to transform.")
  .rbm_hidden_probs(r, .rbm_data(x, r, "x"), .check_int(batch_size, "batch_size", min = 1))
}

.rbm_hidden_probs <- function(r, x, batch_size) {
  fn <- r$cache$hidden
  if (is.null(fn) || !cpp_ptr_alive(.fn_state(fn)$ptr)) {
    v <- sym_var("v", c(NA, r$n_visible))
    fn <- sym_compile(.rbm_hidden_mean(r, .rbm_hidden_pre(r, v)))
    r$cache$hidden <- fn
  }
  n <- nrow(x)
  if (n <= batch_size) return(fn(v = x))
  feeds <- .as_tensors(list(v = x), "float32")
  on.exit(.rbm_release(feeds), add = TRUE)
  ptr <- .fn_state(fn)$ptr
  out <- matrix(0, n, r$n_hidden)
  for (s in seq(1L, n, by = batch_size)) {
    idx <- s:min(n, s + batch_size - 1L)
    out[idx, ] <- cpp_function_run(ptr, feeds, idx)[[1]]
  }
  out
}

#' Draw samples from an RBM by Gibbs sampling
#'
#' `sample_rbm(rbm, n)` runs `n` independent Gibbs chains for `n_steps`
#' alternating steps (hidden given visible, visible given hidden) and
#' returns the visible units' means at the end of each chain (for Bernoulli
#' visibles, the probabilities: smoother pictures than 0/1 samples). The
#' chains run inside one compiled graph ([sym_fori_loop()]) with the
#' engine's Philox random numbers: the same `seed` gives the same samples.
#'
#' @param object A `symnet_rbm`.
#' @param n Number of chains (samples).
#' @param n_steps Gibbs steps per chain.
#' @param init `NULL` (chains start from uniform random visible values in
#'   `[0, 1]` for Bernoulli units, standard normal ones for Gaussian units)
#'   or a matrix of `n` starting examples, such as test images.
#' @param seed `NULL` or a whole number.
#' @return A matrix `[n, n_visible]`.
#' @seealso [rbm()], [fit.symnet_rbm()].
#' @examples
#' set.seed(1)
#' r <- rbm(16, 8)
#' s <- sample_rbm(r, 3, n_steps = 10, seed = 1)
#' dim(s)
#' identical(s, sample_rbm(r, 3, n_steps = 10, seed = 1))
#' @export
sample_rbm <- function(object, n = 1, n_steps = 1000, init = NULL, seed = NULL) {
  r <- .check_rbm(object)
  n_steps <- .check_int(n_steps, "n_steps", min = 1)
  seed <- .check_seed_arg(seed)
  noise <- .philox_noise("sample_rbm")
  if (is.null(init)) {
    n <- .check_int(n, "n", min = 1)
    v0 <- if (r$visible == "bernoulli") noise$uniform(c(n, r$n_visible)) else noise$normal(c(n, r$n_visible))
  } else {
    init <- .rbm_data(init, r, "init")
    if (!missing(n) && .check_int(n, "n", min = 1) != nrow(init)) {
      sym_abort("{.arg n} ({n}) differs from the number of rows of {.arg init} ({nrow(init)}).", kind = "shape")
    }
    v0 <- sym_const(init, dtype = "float32")
  }
  p <- .rbm_params(r)
  step_h <- function(v) {
    pre <- .rbm_hidden_pre(r, v, p)
    .rbm_hidden_sample(r, pre, .rbm_hidden_mean(r, pre), noise)
  }
  h <- step_h(v0)
  if (n_steps > 1) {
    h <- .rbm_repeat(n_steps - 1, function(h) {
      step_h(.rbm_visible_draw(r, h, noise, p))
    }, h)
  }
  out <- sym_compile(.rbm_visible_mean(r, h, p), seed = seed)()
  matrix(out, nrow(out), ncol(out))
}

# 256 grey levels, black to white (without importing grDevices)
.grey_ramp <- sprintf("#%02X%02X%02X", 0:255, 0:255, 0:255)

#' Show an RBM's filters as image tiles
#'
#' `plot(rbm)` draws the weights of hidden units as images: one tile per
#' hidden unit, its `n_visible` incoming weights arranged as an image of
#' `dims` pixels, on a grey scale stretched per tile. Base graphics.
#'
#' The weights are laid out as [fit()][fit.symnet_rbm] flattens an array of
#' images `[n, height, width]`, column by column (`matrix(images, n)`); use
#' `byrow = TRUE` for images flattened row by row (as numpy or
#' `t(apply(images, 1, function(im) t(im)))` do).
#'
#' @param x A `symnet_rbm`.
#' @param units Which hidden units to show (default the first 64).
#' @param dims Image height and width; default a square
#'   (`sqrt(n_visible)` pixels a side), which must then be whole.
#' @param ncol Tiles per row.
#' @param byrow Whether each image was flattened row by row.
#' @param ... Passed to [graphics::image()].
#' @return `x`, invisibly.
#' @examples
#' set.seed(1)
#' r <- rbm(64, 16)
#' plot(r)
#' @export
plot.symnet_rbm <- function(x, units = seq_len(min(64, x$n_hidden)), dims = NULL, ncol = NULL, byrow = FALSE,
                            ...) {
  r <- .check_rbm(x, "x")
  byrow <- .check_flag(byrow, "byrow")
  units <- .check_ints(units, "units")
  if (!length(units) || any(units < 1 | units > r$n_hidden)) {
    sym_abort("{.arg units} must be hidden units between 1 and {r$n_hidden}.", kind = "index")
  }
  if (is.null(dims)) {
    s <- round(sqrt(r$n_visible))
    if (s * s != r$n_visible) {
      sym_abort("{r$n_visible} visible units do not make a square image: give {.arg dims} (height, width).",
                kind = "shape")
    }
    dims <- c(s, s)
  }
  dims <- .check_ints(dims, "dims")
  if (length(dims) != 2 || any(dims < 1) || prod(dims) != r$n_visible) {
    sym_abort("{.arg dims} must be a height and width whose product is {r$n_visible}.", kind = "shape")
  }
  ncol <- if (is.null(ncol)) ceiling(sqrt(length(units))) else .check_int(ncol, "ncol", min = 1)
  nrow <- ceiling(length(units) / ncol)
  w <- sym_value(r$weights)
  # one canvas with a 1-pixel gap between tiles; NA shows as background
  hh <- dims[1] + 1L
  ww <- dims[2] + 1L
  canvas <- matrix(NA_real_, nrow * hh, ncol * ww)
  for (j in seq_along(units)) {
    f <- w[, units[j]]
    rg <- range(f)
    f <- if (rg[2] > rg[1]) (f - rg[1]) / (rg[2] - rg[1]) else f * 0 + 0.5
    img <- matrix(f, dims[1], dims[2], byrow = byrow)
    i0 <- ((j - 1L) %/% ncol) * hh
    j0 <- ((j - 1L) %% ncol) * ww
    canvas[i0 + seq_len(dims[1]), j0 + seq_len(dims[2])] <- img
  }
  op <- graphics::par(mar = c(0.5, 0.5, 2, 0.5))
  on.exit(graphics::par(op), add = TRUE)
  # image() draws column 1 at the bottom: flip so row 1 is on top
  graphics::image(t(canvas[nrow(canvas):1, , drop = FALSE]), col = .grey_ramp,
                  axes = FALSE, useRaster = TRUE, main = sprintf("%s: filters of %d hidden units", r$name,
                                                                 length(units)), ...)
  invisible(x)
}

#' Evaluate an RBM on data
#'
#' `evaluate(rbm, x)` returns the monitoring figures of
#' [fit()][fit.symnet_rbm] on data `x`, means over its examples: the
#' reconstruction error, the pseudo-log-likelihood (scikit-learn's
#' definition, Bernoulli visibles only; one random unit flipped per
#' example) and the free energy.
#'
#' @param object A `symnet_rbm`.
#' @param x Data, as for [fit()][fit.symnet_rbm].
#' @param batch_size Examples per engine call.
#' @param seed `NULL` or a whole number fixing the random draws (hidden
#'   samples, flipped units).
#' @param ... Nothing (an unknown argument is an error).
#' @return A named numeric vector: `recon_error`, `pseudo_loglik` (Bernoulli
#'   visibles), `free_energy`.
#' @examples
#' set.seed(1)
#' r <- rbm(8, 4)
#' x <- matrix(rbinom(80, 1, 0.5), 10, 8)
#' evaluate(r, x, seed = 1)
#' @export
evaluate.symnet_rbm <- function(object, x, batch_size = 256, seed = NULL, ...) {
  .check_dots(list(...), c("x", "batch_size", "seed"), "evaluate")
  r <- .check_rbm(object)
  if (missing(x)) sym_abort("{.arg x} is missing: give the data to evaluate.")
  x <- .rbm_data(x, r, "x")
  batch_size <- .check_int(batch_size, "batch_size", min = 1)
  seed <- .check_seed_arg(seed)
  mon <- .rbm_monitor_function(r, seed)
  feeds <- .as_tensors(list(v = x), "float32")
  on.exit(.rbm_release(feeds), add = TRUE)
  .eval_pass(mon, .rbm_source(x, batch_size, FALSE, NULL), feeds)
}
