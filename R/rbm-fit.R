# Training RBMs: contrastive divergence (CD-k) and persistent contrastive divergence (PCD).
# A whole training step -- the positive phase, the k Gibbs steps of the negative phase, the
# statistics, momentum, weight decay, the sparsity penalty and the parameter (and chain)
# updates -- is ONE compiled graph, run by one engine call per mini-batch on rows of the data
# converted once into engine memory (the same loop as fit() for models, .train_epoch()).

#' Train a restricted Boltzmann machine
#'
#' `fit(rbm, x)` trains an [rbm()] in place by stochastic approximation of
#' the log-likelihood gradient on mini-batches:
#' * contrastive divergence CD-k (`persistent = FALSE`): the negative phase
#'   starts a Gibbs chain at the hidden states sampled from each
#'   mini-batch and runs `k` alternating steps;
#' * persistent contrastive divergence (`persistent = TRUE`, Tieleman
#'   2008): `batch_size` chains (fantasy particles) continue from where the
#'   previous mini-batch left them, across batches, epochs and `fit()`
#'   calls (they start at hidden states 0, as in scikit-learn's
#'   `BernoulliRBM`, which always trains this way with `k = 1`).
#'
#' With data `v` (B examples), positive hidden probabilities `p(h|v)`,
#' chain end `v_k` and its hidden probabilities (M chains), the update is
#' `dW = v'p(h|v)/B - v_k'p(h|v_k)/M - weight_decay * W` (visible and hidden
#' biases likewise, without decay); the sparsity penalty adds
#' `sparsity_cost * (sparsity_target - q)` to the hidden biases' step, `q`
#' being the mean hidden probability on the batch; with momentum `m`,
#' `velocity <- m * velocity + learning_rate * d` and the parameters move by
#' the velocity (which persists across `fit()` calls). Chains sample the
#' visible units too (as scikit-learn does).
#'
#' The whole step is one compiled graph (engine's Philox random numbers:
#' the same `seed` gives the same samples, shuffles and results, whatever
#' the thread count); one engine call per mini-batch.
#'
#' Figures per epoch (in the history and the line printed per epoch), with
#' the weights reached at the end of the epoch, on a fixed random subset of
#' the training data (at most `monitor_size` examples, drawn once) -- as
#' scikit-learn reports its pseudo-likelihood after each pass -- so that the
#' training steps themselves compute nothing but the updates:
#' * `recon_error`: squared reconstruction error per example,
#'   `sum((v - E[v | h])^2)` with `h` sampled from `p(h | v)`;
#' * `pseudo_loglik`: scikit-learn's pseudo-log-likelihood per example
#'   (`score_samples()`: one random visible unit flipped per example,
#'   `n_visible * log(sigmoid(F(v_flipped) - F(v)))`; Bernoulli visibles
#'   only);
#' * with `validation_data`: `val_recon_error`, `val_pseudo_loglik` (on all
#'   the validation data), and `free_energy_gap`, the mean free energy of
#'   the validation data minus that of the training subset; a growing gap
#'   signals overfitting (Hinton's practical guide, section 6).
#' The progress bar shows the throughput. [evaluate()][evaluate.symnet_rbm]
#' gives the same figures on any data.
#'
#' @param object A `symnet_rbm` from [rbm()].
#' @param x Training data: a matrix with one example per row and
#'   `n_visible` columns (an array `[n, ...]`, such as images, is flattened
#'   per example; a data frame is converted). For Bernoulli visible units
#'   all values must lie in `[0, 1]`.
#' @param epochs Number of passes over the data.
#' @param batch_size Examples per mini-batch (and number of persistent chains).
#' @param learning_rate Step size.
#' @param k Number of Gibbs steps in the negative phase.
#' @param persistent `TRUE` for PCD, `FALSE` for CD-k.
#' @param momentum Momentum in `[0, 1)`.
#' @param weight_decay L2 penalty on the weights (`>= 0`).
#' @param sparsity_target `NULL` (no penalty) or the target mean activation
#'   of the hidden units, in `(0, 1)`.
#' @param sparsity_cost Weight of the sparsity penalty.
#' @param validation_data `NULL` or a matrix of held-out examples, shaped
#'   like `x`.
#' @param monitor_size Size of the training subset the per-epoch figures
#'   are computed on.
#' @param shuffle Shuffle the examples every epoch.
#' @param verbose 0, 1 (progress bar and a line per epoch) or 2 (lines), as
#'   for [fit()][fit.symnet_model].
#' @param seed `NULL` or a whole number making shuffling and sampling
#'   reproducible (without touching R's random number generator).
#' @param ... Nothing: an unknown argument is an error of class
#'   `symnet_unknown_argument_error`.
#' @return A `symnet_history` (invisibly when `verbose > 0`); the RBM is
#'   changed in place.
#' @seealso [rbm()], [transform.symnet_rbm()], [sample_rbm()].
#' @examples
#' # bars and stripes: 4x4 binary images
#' set.seed(1)
#' bars <- t(replicate(200, {
#'   m <- matrix(0, 4, 4)
#'   if (runif(1) < 0.5) m[sample(4, 2), ] <- 1 else m[, sample(4, 2)] <- 1
#'   as.vector(m)
#' }))
#' r <- rbm(16, 8)
#' h <- fit(r, bars, epochs = 20, batch_size = 10, learning_rate = 0.1, momentum = 0.5,
#'          verbose = 0, seed = 1)
#' h
#' # persistent chains, with validation figures
#' h2 <- fit(r, bars[1:150, ], epochs = 2, persistent = TRUE,
#'           validation_data = bars[151:200, ], verbose = 0, seed = 2)
#' h2$metrics
#' @export
fit.symnet_rbm <- function(object, x, epochs = 10, batch_size = 64, learning_rate = 0.1, k = 1,
                           persistent = FALSE, momentum = 0, weight_decay = 0, sparsity_target = NULL,
                           sparsity_cost = 0.1, validation_data = NULL, monitor_size = 2048, shuffle = TRUE,
                           verbose = getOption("symnet.verbose", 1), seed = NULL, ...) {
  .check_dots(list(...), names(formals(fit.symnet_rbm)), "fit")
  r <- .check_rbm(object)
  cfg <- .rbm_fit_config(epochs, batch_size, learning_rate, k, persistent, momentum, weight_decay,
                         sparsity_target, sparsity_cost)
  shuffle <- .check_flag(shuffle, "shuffle")
  monitor_size <- .check_int(monitor_size, "monitor_size", min = 1)
  verbose <- .check_verbose(verbose)
  seed <- .check_seed_arg(seed)
  if (missing(x)) sym_abort("{.arg x} is missing: give the training data.")
  x <- .rbm_data(x, r, "x")
  vx <- if (!is.null(validation_data)) .rbm_data(validation_data, r, "validation_data")
  .rbm_prepare_state(r, cfg)
  step <- .rbm_step_function(r, cfg, seed)
  mon <- .rbm_monitor_function(r, seed)
  .rbm_run(r, x, vx, step, mon, cfg, shuffle, verbose, seed, monitor_size)
}

.rbm_fit_config <- function(epochs, batch_size, learning_rate, k, persistent, momentum, weight_decay,
                            sparsity_target, sparsity_cost, call = parent.frame()) {
  cfg <- list(
    epochs = .check_int(epochs, "epochs", call = call, min = 1),
    batch_size = .check_int(batch_size, "batch_size", call = call, min = 1),
    learning_rate = .check_number(learning_rate, "learning_rate", call = call, finite = TRUE),
    k = .check_int(k, "k", call = call, min = 1, max = 10000),
    persistent = .check_flag(persistent, "persistent", call = call),
    momentum = .check_number(momentum, "momentum", call = call, finite = TRUE),
    weight_decay = .check_number(weight_decay, "weight_decay", call = call, finite = TRUE),
    sparsity_cost = .check_number(sparsity_cost, "sparsity_cost", call = call, finite = TRUE)
  )
  if (cfg$learning_rate < 0) sym_abort("{.arg learning_rate} must be >= 0.", call = call)
  if (cfg$momentum < 0 || cfg$momentum >= 1) sym_abort("{.arg momentum} must be in [0, 1).", call = call)
  if (cfg$weight_decay < 0) sym_abort("{.arg weight_decay} must be >= 0.", call = call)
  if (cfg$sparsity_cost < 0) sym_abort("{.arg sparsity_cost} must be >= 0.", call = call)
  if (!is.null(sparsity_target)) {
    sparsity_target <- .check_number(sparsity_target, "sparsity_target", call = call, finite = TRUE)
    if (sparsity_target <= 0 || sparsity_target >= 1) {
      sym_abort("{.arg sparsity_target} must be in (0, 1).", call = call)
    }
  }
  cfg$sparsity_target <- sparsity_target
  cfg
}

# Momentum velocities and persistent chains live in the RBM, so they carry over between
# fit() calls; chains are (re)made when the number of chains changes.
.rbm_prepare_state <- function(r, cfg) {
  if (cfg$momentum > 0 && is.null(r$velocity)) {
    r$velocity <- list(
      w = sym_shared(matrix(0, r$n_visible, r$n_hidden), name = paste0(r$name, "/velocity_weights"),
                     trainable = FALSE),
      b = sym_shared(numeric(r$n_visible), name = paste0(r$name, "/velocity_visible_bias"), trainable = FALSE),
      c = sym_shared(numeric(r$n_hidden), name = paste0(r$name, "/velocity_hidden_bias"), trainable = FALSE))
  }
  if (cfg$persistent && (is.null(r$chain) || r$chain$shape[1] != cfg$batch_size)) {
    r$chain <- sym_shared(matrix(0, cfg$batch_size, r$n_hidden), name = paste0(r$name, "/chain"),
                          trainable = FALSE)
  }
  invisible(r)
}

# The graph of one training step: no outputs, the list of updates.
# `noise` supplies the random numbers (tests feed fixed ones).
.rbm_step_graph <- function(r, cfg, noise = .philox_noise()) {
  p <- .rbm_params(r)
  v0 <- sym_var("v", c(NA, r$n_visible))
  pre0 <- .rbm_hidden_pre(r, v0, p)
  ph0 <- .rbm_hidden_mean(r, pre0)
  gibbs <- function(h) {
    v <- .rbm_visible_draw(r, h, noise, p)
    pre <- .rbm_hidden_pre(r, v, p)
    list(v = v, pre = pre, mean = .rbm_hidden_mean(r, pre))
  }
  # CD starts the chain at hidden states sampled from the data, PCD where the last step left it
  h <- if (cfg$persistent) r$chain else .rbm_hidden_sample(r, pre0, ph0, noise)
  if (cfg$k > 1) {
    # k - 1 full steps in a loop (its random ops draw anew at every iteration), then the last
    h <- .rbm_repeat(cfg$k - 1, function(h) {
      g <- gibbs(h)
      .rbm_hidden_sample(r, g$pre, g$mean, noise)
    }, h)
  }
  neg <- gibbs(h)
  # Both statistics in ONE accumulating product, so the weights' size is read and written
  # once per step (the product is short, K = 2B, and bound by that traffic):
  # W + lr * (v0'ph0 / B - vk'phk / M) = gemm([v0; vk], [ph0 * lr/B; phk * -lr/M], c = W).
  inv_b <- 1 / sym_sum(sym_fill_like(pre0[, 1], 1))
  inv_m <- if (cfg$persistent) 1 / cfg$batch_size else inv_b
  lr <- cfg$learning_rate
  mom <- cfg$momentum > 0
  base_w <- if (mom) cfg$momentum * r$velocity$w else p$w
  if (cfg$weight_decay > 0) base_w <- base_w - (lr * cfg$weight_decay) * p$w
  step_w <- sym_gemm(sym_concat(v0, neg$v, axis = 1),
                     sym_concat(ph0 * (lr * inv_b), neg$mean * (-lr * inv_m), axis = 1),
                     trans_a = TRUE, c = base_w)
  gb <- sym_mean(v0, axis = 1) - sym_mean(neg$v, axis = 1)
  q <- sym_mean(ph0, axis = 1)
  gc <- q - sym_mean(neg$mean, axis = 1)
  if (!is.null(cfg$sparsity_target)) gc <- gc + cfg$sparsity_cost * (cfg$sparsity_target - q)
  ups <- list()
  if (mom) {
    new_vb <- cfg$momentum * r$velocity$b + lr * gb
    new_vc <- cfg$momentum * r$velocity$c + lr * gc
    ups <- list(list(r$velocity$w, step_w), list(p$w, p$w + step_w),
                list(r$velocity$b, new_vb), list(p$b, p$b + new_vb),
                list(r$velocity$c, new_vc), list(p$c, p$c + new_vc))
  } else {
    ups <- list(list(p$w, step_w), list(p$b, p$b + lr * gb), list(p$c, p$c + lr * gc))
  }
  if (cfg$persistent) {
    ups[[length(ups) + 1L]] <- list(r$chain, .rbm_hidden_sample(r, neg$pre, neg$mean, noise))
  }
  list(outputs = list(), updates = ups)
}

# The compiled step with what .train_epoch() needs. Cached per configuration; with a seed,
# compiled anew so that the same seed gives the same samples.
.rbm_step_function <- function(r, cfg, seed) {
  key <- paste(unlist(cfg[setdiff(names(cfg), "epochs")]), collapse = "|")
  key <- paste(key, is.null(cfg$sparsity_target))
  hit <- r$cache$step
  if (is.null(seed) && !is.null(hit) && identical(hit$key, key) && cpp_ptr_alive(hit$ptr)) return(hit)
  g <- .rbm_step_graph(r, cfg)
  fn <- sym_compile(g$outputs, updates = g$updates, seed = seed)
  entry <- list(key = key, fn = fn, ptr = .fn_state(fn)$ptr, output_names = character(),
                scalar = logical(), rmetrics = list(), guard = FALSE)
  if (is.null(seed)) r$cache$step <- entry
  entry
}

# Per-example monitoring figures summed into batch means: reconstruction error,
# pseudo-log-likelihood and free energy.
.rbm_monitor_function <- function(r, seed = NULL, noise = .philox_noise("rbm_monitor")) {
  v <- sym_var("v", c(NA, r$n_visible))
  pre <- .rbm_hidden_pre(r, v)
  h <- .rbm_hidden_sample(r, pre, .rbm_hidden_mean(r, pre), noise)
  d <- v - .rbm_visible_mean(r, h)
  outs <- list(recon_error = sym_mean(sym_sum(d * d, axis = 2)))
  if (r$visible == "bernoulli") outs$pseudo_loglik <- sym_mean(.rbm_pll(r, v, pre, noise))
  outs$free_energy <- sym_mean(.rbm_free_energy(r, v, pre))
  fn <- sym_compile(outs, seed = seed)
  list(fn = fn, ptr = .fn_state(fn)$ptr, output_names = names(outs), scalar = rep(TRUE, length(outs)),
       rmetrics = list())
}

.rbm_source <- function(x, batch_size, shuffle, seed) {
  n <- nrow(x)
  list(type = "arrays", n = n, batch_size = batch_size, shuffle = shuffle, rng = .rng_stream(seed),
       iterator = NULL, steps = as.integer(ceiling(n / batch_size)), steps_per_epoch = NULL)
}

.rbm_release <- function(feeds) for (f in feeds) if (inherits(f, "symnet_tensor_ptr")) cpp_tensor_release(f)

.rbm_run <- function(r, x, vx, step, mon, cfg, shuffle, verbose, seed, monitor_size) {
  train <- .rbm_source(x, cfg$batch_size, shuffle, seed)
  feeds <- .as_tensors(list(v = x), "float32")
  on.exit(.rbm_release(feeds), add = TRUE)
  # a fixed random subset of the training data for the per-epoch figures
  m <- min(nrow(x), monitor_size)
  sub <- if (m < nrow(x)) sort(.rng_stream(seed)$perm(nrow(x))[seq_len(m)]) else seq_len(m)
  sub_src <- .rbm_source(x[sub, , drop = FALSE], 256L, FALSE, NULL)
  sub_feeds <- .as_tensors(list(v = x[sub, , drop = FALSE]), "float32")
  on.exit(.rbm_release(sub_feeds), add = TRUE)
  if (!is.null(vx)) {
    val <- .rbm_source(vx, 256L, FALSE, NULL)
    val_feeds <- .as_tensors(list(v = vx), "float32")
    on.exit(.rbm_release(val_feeds), add = TRUE)
  }
  params <- list(epochs = cfg$epochs, initial_epoch = 0L, batch_size = cfg$batch_size, samples = nrow(x),
                 steps = train$steps, validation_samples = if (is.null(vx)) 0L else nrow(vx),
                 loss = if (cfg$persistent) sprintf("PCD-%d", cfg$k) else sprintf("CD-%d", cfg$k),
                 optimizer = sprintf("sgd (learning rate %s, momentum %s)", format(cfg$learning_rate),
                                     format(cfg$momentum)),
                 metrics = setdiff(mon$output_names, "free_energy"), monitor_size = m, verbose = verbose)
  state <- new.env(parent = emptyenv())
  state$stop_training <- FALSE
  state$rate_unit <- "samples/s"
  rows <- list()
  interrupted <- FALSE
  res <- tryCatch({
    for (epoch in seq_len(cfg$epochs)) {
      state$epoch <- epoch
      ep <- .train_epoch(state, train, feeds, step, list(), epoch, cfg$epochs, verbose)
      tl <- .eval_pass(mon, sub_src, sub_feeds)
      logs <- tl[names(tl) != "free_energy"]
      if (!is.null(vx)) {
        vl <- .eval_pass(mon, val, val_feeds)
        vfe <- vl[["free_energy"]]
        vl <- vl[names(vl) != "free_energy"]
        names(vl) <- paste0("val_", names(vl))
        logs <- c(logs, vl, free_energy_gap = vfe - tl[["free_energy"]])
      }
      rows[[length(rows) + 1L]] <- c(epoch = epoch, logs)
      r$epochs <- r$epochs + 1L
      if (verbose > 0) .print_epoch_line(epoch, cfg$epochs, ep, logs, state$rate_unit)
    }
    NULL
  }, interrupt = function(e) e, symnet_interrupt_error = function(e) e)
  if (!is.null(res)) {
    interrupted <- TRUE
    cli::cli_inform(c("!" = "Training interrupted during epoch {state$epoch}: {length(rows)} epoch{?s} completed.",
                      i = "The RBM keeps the weights reached; the history holds the completed epochs."))
  }
  h <- .new_history(.history_df(rows), params, interrupted = interrupted)
  if (verbose > 0) invisible(h) else h
}
