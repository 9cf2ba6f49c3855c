# Restricted Boltzmann machines: R/rbm.R, R/rbm-fit.R, R/rbm-infer.R.

sigm <- function(z) 1 / (1 + exp(-z))
softplus <- function(z) log1p(exp(z))

# Bars and stripes: 4x4 binary images with two full rows or two full columns.
bars_data <- function(n, seed = 1) {
  set.seed(seed)
  t(replicate(n, {
    m <- matrix(0, 4, 4)
    if (runif(1) < 0.5) m[sample(4, 2), ] <- 1 else m[, sample(4, 2)] <- 1
    as.vector(m)
  }))
}

# Random numbers as graph inputs u1, u2, ... (in the order the graph draws them), so that a
# step can be checked against a hand computation with the same numbers.
fed_noise <- function() {
  n <- 0L
  mk <- function(like) {
    n <<- n + 1L
    sym_var(paste0("u", n), c(NA, NA))
  }
  list(uniform = mk, normal = mk)
}

# A small RBM with given parameters.
tiny_rbm <- function(nv = 5, nh = 3, seed = 1, ...) {
  set.seed(seed)
  r <- rbm(nv, nh, ...)
  set_weights(r, list(weights = matrix(rnorm(nv * nh, sd = 0.5), nv, nh), visible_bias = rnorm(nv, sd = 0.2),
                      hidden_bias = rnorm(nh, sd = 0.2)))
  r
}

cfg_of <- function(...) {
  a <- list(epochs = 1, batch_size = 4, learning_rate = 0.1, k = 1, persistent = FALSE, momentum = 0,
            weight_decay = 0, sparsity_target = NULL, sparsity_cost = 0.1)
  b <- list(...)
  a[names(b)] <- b
  do.call(symnet:::.rbm_fit_config, a)
}

# Uniforms kept away from the sampling thresholds so float32 and double agree on every draw.
safe_uniform <- function(p, seed) {
  set.seed(seed)
  u <- matrix(runif(length(p)), nrow(p))
  near <- abs(u - p) < 1e-3
  u[near] <- pmin(1 - 1e-6, p[near] + 0.01)
  u
}

free_energy_r <- function(v, w, b, c) -drop(v %*% b) - rowSums(softplus(sweep(v %*% w, 2, c, "+")))

pll_r <- function(v, w, b, c, u) {
  idx <- pmin(floor(u * ncol(v)), ncol(v) - 1) + 1
  v2 <- v
  v2[cbind(seq_len(nrow(v)), idx)] <- 1 - v2[cbind(seq_len(nrow(v)), idx)]
  ncol(v) * log(sigm(free_energy_r(v2, w, b, c) - free_energy_r(v, w, b, c)))
}

test_that("a CD-1 step matches a hand computation with the same random numbers", {
  r <- tiny_rbm()
  p0 <- get_weights(r)
  cfg <- cfg_of(learning_rate = 0.3)
  g <- symnet:::.rbm_step_graph(r, cfg, noise = fed_noise())
  f <- sym_compile(g$outputs, updates = g$updates)
  set.seed(2)
  v <- matrix(rbinom(4 * 5, 1, 0.5), 4, 5)
  w <- p0$weights; b <- p0$visible_bias; c <- p0$hidden_bias
  ph0 <- sigm(sweep(v %*% w, 2, c, "+"))
  u1 <- safe_uniform(ph0, 3)
  h0 <- (u1 < ph0) * 1
  pv1 <- sigm(sweep(h0 %*% t(w), 2, b, "+"))
  u2 <- safe_uniform(pv1, 4)
  v1 <- (u2 < pv1) * 1
  ph1 <- sigm(sweep(v1 %*% w, 2, c, "+"))
  out <- f(v = v, u1 = u1, u2 = u2)
  expect_length(out, 0)   # a step computes the updates only
  lr <- 0.3
  expect_close(sym_value(r$weights), w + lr * (t(v) %*% ph0 - t(v1) %*% ph1) / 4, tolerance = 1e-5)
  expect_close(sym_value(r$visible_bias), b + lr * colMeans(v - v1), tolerance = 1e-5)
  expect_close(sym_value(r$hidden_bias), c + lr * colMeans(ph0 - ph1), tolerance = 1e-5)
})

test_that("the monitoring figures match a hand computation with the same random numbers", {
  r <- tiny_rbm(seed = 3)
  p <- get_weights(r)
  mon <- symnet:::.rbm_monitor_function(r, noise = fed_noise())
  set.seed(6)
  v <- matrix(rbinom(4 * 5, 1, 0.5), 4, 5)
  v[1, 1] <- 0.4   # probabilities are valid data too
  w <- p$weights; b <- p$visible_bias; c <- p$hidden_bias
  ph <- sigm(sweep(v %*% w, 2, c, "+"))
  u1 <- safe_uniform(ph, 7)
  pv <- sigm(sweep(((u1 < ph) * 1) %*% t(w), 2, b, "+"))
  u2 <- matrix(c(0.05, 0.3, 0.55, 0.97), 4, 1)
  out <- mon$fn(v = v, u1 = u1, u2 = u2)
  expect_close(out$recon_error, mean(rowSums((v - pv)^2)), tolerance = 1e-5)
  expect_close(out$pseudo_loglik, mean(pll_r(v, w, b, c, u2)), tolerance = 1e-4)
  expect_close(out$free_energy, mean(free_energy_r(v, w, b, c)), tolerance = 1e-5)
})

test_that("momentum, weight decay and the sparsity penalty follow the documented update", {
  r <- tiny_rbm(seed = 5)
  p0 <- get_weights(r)
  cfg <- cfg_of(learning_rate = 0.2, momentum = 0.5, weight_decay = 0.01, sparsity_target = 0.1,
                sparsity_cost = 0.3)
  symnet:::.rbm_prepare_state(r, cfg)
  g <- symnet:::.rbm_step_graph(r, cfg, noise = fed_noise())
  f <- sym_compile(g$outputs, updates = g$updates)
  w <- p0$weights; b <- p0$visible_bias; c <- p0$hidden_bias
  vw <- matrix(0, 5, 3); vb <- numeric(5); vc <- numeric(3)
  for (step in 1:2) {
    set.seed(10 + step)
    v <- matrix(rbinom(4 * 5, 1, 0.5), 4, 5)
    ph0 <- sigm(sweep(v %*% w, 2, c, "+"))
    u1 <- safe_uniform(ph0, 20 + step)
    h0 <- (u1 < ph0) * 1
    pv1 <- sigm(sweep(h0 %*% t(w), 2, b, "+"))
    u2 <- safe_uniform(pv1, 30 + step)
    v1 <- (u2 < pv1) * 1
    ph1 <- sigm(sweep(v1 %*% w, 2, c, "+"))
    f(v = v, u1 = u1, u2 = u2)
    q <- colMeans(ph0)
    vw <- 0.5 * vw + 0.2 * ((t(v) %*% ph0 - t(v1) %*% ph1) / 4 - 0.01 * w)
    vb <- 0.5 * vb + 0.2 * colMeans(v - v1)
    vc <- 0.5 * vc + 0.2 * (colMeans(ph0 - ph1) + 0.3 * (0.1 - q))
    w <- w + vw; b <- b + vb; c <- c + vc
    expect_close(sym_value(r$weights), w, tolerance = 1e-5)
    expect_close(sym_value(r$velocity$w), vw, tolerance = 1e-5)
    expect_close(sym_value(r$visible_bias), b, tolerance = 1e-5)
    expect_close(sym_value(r$hidden_bias), c, tolerance = 1e-5)
  }
})

test_that("PCD chains persist across batches (hand computation of two steps)", {
  r <- tiny_rbm(seed = 7)
  p0 <- get_weights(r)
  cfg <- cfg_of(learning_rate = 0.1, persistent = TRUE, batch_size = 3)
  symnet:::.rbm_prepare_state(r, cfg)
  expect_equal(dim(sym_value(r$chain)), c(3L, 3L))
  expect_true(all(sym_value(r$chain) == 0))
  g <- symnet:::.rbm_step_graph(r, cfg, noise = fed_noise())
  f <- sym_compile(g$outputs, updates = g$updates)
  w <- p0$weights; b <- p0$visible_bias; c <- p0$hidden_bias
  chain <- matrix(0, 3, 3)
  for (step in 1:2) {
    set.seed(40 + step)
    v <- matrix(rbinom(2 * 5, 1, 0.5), 2, 5)   # a batch of 2 against 3 chains
    ph0 <- sigm(sweep(v %*% w, 2, c, "+"))
    pvc <- sigm(sweep(chain %*% t(w), 2, b, "+"))
    u1 <- safe_uniform(pvc, 60 + step)
    vn <- (u1 < pvc) * 1
    phn <- sigm(sweep(vn %*% w, 2, c, "+"))
    u2 <- safe_uniform(phn, 70 + step)
    f(v = v, u1 = u1, u2 = u2)
    w <- w + 0.1 * (t(v) %*% ph0 / 2 - t(vn) %*% phn / 3)
    b <- b + 0.1 * (colMeans(v) - colMeans(vn))
    c <- c + 0.1 * (colMeans(ph0) - colMeans(phn))
    chain <- (u2 < phn) * 1
    # the next step starts from this chain: it is state of the RBM, not of the batch
    expect_close(sym_value(r$chain), chain)
    expect_close(sym_value(r$weights), w, tolerance = 1e-5)
    expect_close(sym_value(r$hidden_bias), c, tolerance = 1e-5)
  }
  # fit() keeps the same chains across batches, epochs and calls
  x <- bars_data(40)
  r2 <- rbm(16, 6)
  fit(r2, x, epochs = 1, batch_size = 8, persistent = TRUE, verbose = 0, seed = 1)
  ch <- r2$chain
  c1 <- sym_value(ch)
  expect_equal(dim(c1), c(8L, 6L))
  expect_false(all(c1 == 0))
  fit(r2, x, epochs = 1, batch_size = 8, persistent = TRUE, verbose = 0, seed = 2)
  expect_identical(r2$chain$var_id, ch$var_id)
  # a different number of chains makes new ones
  fit(r2, x, epochs = 1, batch_size = 5, persistent = TRUE, verbose = 0, seed = 2)
  expect_equal(dim(sym_value(r2$chain)), c(5L, 6L))
})

test_that("the free-energy gradient agrees with finite differences and the positive statistics", {
  r <- tiny_rbm(nv = 4, nh = 3, seed = 9)
  p <- get_weights(r)
  set.seed(3)
  v <- matrix(runif(5 * 4), 5, 4)
  vs <- sym_var("v", c(NA, 4))
  fe <- sym_mean(symnet:::.rbm_free_energy(r, vs, symnet:::.rbm_hidden_pre(r, vs)))
  f <- sym_compile(list(fe = fe, gw = sym_grad(fe, r$weights), gb = sym_grad(fe, r$visible_bias),
                        gc = sym_grad(fe, r$hidden_bias)))
  out <- f(v = v)
  fe_r <- function(w, b, c) mean(free_energy_r(v, w, b, c))
  expect_close(out$fe, fe_r(p$weights, p$visible_bias, p$hidden_bias), tolerance = 1e-5)
  gw <- fd_grad(function(w) fe_r(w, p$visible_bias, p$hidden_bias), p$weights)
  gb <- fd_grad(function(b) fe_r(p$weights, b, p$hidden_bias), p$visible_bias)
  gc <- fd_grad(function(c) fe_r(p$weights, p$visible_bias, c), p$hidden_bias)
  expect_close(out$gw, gw, tolerance = 1e-4)
  expect_close(out$gb, gb, tolerance = 1e-4)
  expect_close(out$gc, gc, tolerance = 1e-4)
  # the positive phase of CD is -dF/dtheta
  ph <- sigm(sweep(v %*% p$weights, 2, p$hidden_bias, "+"))
  expect_close(-gw, t(v) %*% ph / 5, tolerance = 1e-4)
  expect_close(-gc, colMeans(ph), tolerance = 1e-4)
})

test_that("training on bars and stripes lowers the reconstruction error and raises the PLL", {
  x <- bars_data(300)
  set.seed(1)
  r <- rbm(16, 12)
  h <- fit(r, x, epochs = 30, batch_size = 10, learning_rate = 0.1, momentum = 0.5, verbose = 0, seed = 1)
  expect_s3_class(h, "symnet_history")
  m <- h$metrics
  expect_equal(m$epoch, 1:30)
  expect_equal(names(m), c("epoch", "recon_error", "pseudo_loglik"))
  expect_lt(mean(utils::tail(m$recon_error, 3)), 0.5 * m$recon_error[1])
  expect_gt(mean(utils::tail(m$pseudo_loglik, 3)), m$pseudo_loglik[1] + 2)
  expect_equal(h$params$loss, "CD-1")
  expect_equal(r$epochs, 30L)
  ev <- evaluate(r, x, seed = 1)
  expect_named(ev, c("recon_error", "pseudo_loglik", "free_energy"))
  expect_lt(ev[["recon_error"]], m$recon_error[1])
  fe <- free_energy_r(x, sym_value(r$weights), as.vector(sym_value(r$visible_bias)),
                      as.vector(sym_value(r$hidden_bias)))
  expect_close(ev[["free_energy"]], mean(fe), tolerance = 1e-4)
})

test_that("validation data adds validation figures and the free-energy gap", {
  x <- bars_data(120)
  r <- rbm(16, 8)
  h <- fit(r, x[1:80, ], epochs = 3, batch_size = 10, persistent = TRUE, k = 3,
           validation_data = x[81:120, ], verbose = 0, seed = 3)
  m <- h$metrics
  expect_equal(names(m), c("epoch", "recon_error", "pseudo_loglik", "val_recon_error", "val_pseudo_loglik",
                           "free_energy_gap"))
  expect_true(all(is.finite(as.matrix(m))))
  expect_equal(h$params$validation_samples, 40L)
  expect_equal(h$params$loss, "PCD-3")
})

test_that("the same seed gives the same training; another seed another", {
  x <- bars_data(60)
  run <- function(seed, ...) {
    set.seed(4)
    r <- rbm(16, 6)
    h <- fit(r, x, epochs = 2, batch_size = 8, verbose = 0, seed = seed, ...)
    list(w = get_weights(r), h = h$metrics)
  }
  a <- run(11)
  expect_identical(a, run(11))
  expect_false(identical(a$w, run(12)$w))
  expect_identical(run(11, k = 3, persistent = TRUE), run(11, k = 3, persistent = TRUE))
})

test_that("transform() and predict() give the hidden means, batch by batch", {
  r <- tiny_rbm(nv = 6, nh = 4, seed = 2)
  p <- get_weights(r)
  set.seed(1)
  x <- matrix(runif(30 * 6), 30, 6)
  want <- sigm(sweep(x %*% p$weights, 2, p$hidden_bias, "+"))
  expect_close(transform(r, x), want, tolerance = 1e-5)
  expect_close(predict(r, x), want, tolerance = 1e-5)
  expect_close(transform(r, x, batch_size = 7), want, tolerance = 1e-5)
  # images [n, h, w] are flattened per example, as matrix(x, n) does
  img <- array(x[, 1:4], c(30, 2, 2))
  r4 <- tiny_rbm(nv = 4, nh = 2, seed = 3)
  expect_close(transform(r4, img), transform(r4, matrix(img, 30)))
  rl <- tiny_rbm(nv = 6, nh = 4, seed = 2, hidden = "relu")
  pl <- get_weights(rl)
  expect_close(transform(rl, x), pmax(0, sweep(x %*% pl$weights, 2, pl$hidden_bias, "+")), tolerance = 1e-5)
  expect_error(transform(r, x, batch_sise = 3), class = "symnet_unknown_argument_error")
})

test_that("sample_rbm() runs reproducible Gibbs chains", {
  x <- bars_data(200)
  set.seed(2)
  r <- rbm(16, 10)
  fit(r, x, epochs = 20, batch_size = 10, momentum = 0.5, verbose = 0, seed = 1)
  s <- sample_rbm(r, 50, n_steps = 200, seed = 3)
  expect_equal(dim(s), c(50L, 16L))
  expect_true(all(s >= 0 & s <= 1))
  expect_identical(s, sample_rbm(r, 50, n_steps = 200, seed = 3))
  expect_false(identical(s, sample_rbm(r, 50, n_steps = 200, seed = 4)))
  # the model learned bars: sampled images are mostly whole rows or columns (rows of a
  # 4x4 image are constant or its columns are)
  bin <- s > 0.5
  is_bar <- apply(bin, 1, function(v) {
    m <- matrix(v, 4, 4)
    all(apply(m, 1, function(z) length(unique(z)) == 1)) || all(apply(m, 2, function(z) length(unique(z)) == 1))
  })
  expect_gt(mean(is_bar), 0.25)   # random 0/1 images almost never are
  s2 <- sample_rbm(r, init = x[1:3, ], n_steps = 2, seed = 1)
  expect_equal(dim(s2), c(3L, 16L))
  expect_equal(dim(sample_rbm(r, 2, n_steps = 1, seed = 1)), c(2L, 16L))
  expect_error(sample_rbm(r, 2, init = x[1:3, ]), class = "symnet_shape_error")
})

test_that("Gaussian visibles and ReLU hiddens train", {
  set.seed(3)
  z <- matrix(rnorm(200 * 2), 200, 2)
  x <- cbind(z, z %*% matrix(c(1, 0.5, -0.5, 1), 2) + rnorm(400, sd = 0.1), rnorm(200))
  r <- rbm(5, 4, visible = "gaussian", hidden = "relu")
  h <- fit(r, x, epochs = 15, batch_size = 20, learning_rate = 0.01, verbose = 0, seed = 1,
           validation_data = x[1:50, ])
  m <- h$metrics
  expect_equal(names(m), c("epoch", "recon_error", "val_recon_error", "free_energy_gap"))
  expect_true(all(is.finite(as.matrix(m))))
  expect_lt(m$recon_error[15], m$recon_error[1])
  s <- sample_rbm(r, 4, n_steps = 5, seed = 1)
  expect_true(all(is.finite(s)))
  expect_true(any(s < 0))   # real values, not probabilities
})

test_that("bad inputs give classed errors", {
  r <- rbm(4, 2)
  ok <- matrix(c(0, 1, 0.5, 1), 3, 4, byrow = TRUE)
  expect_error(fit(r, ok * 2, verbose = 0), class = "symnet_value_error")
  expect_error(fit(r, ok - 1, verbose = 0), regexp = "\\[0, 1\\]")
  expect_error(fit(r, matrix(0, 3, 5), verbose = 0), class = "symnet_shape_error")
  expect_error(fit(r, array(0, c(3, 2, 3)), verbose = 0), class = "symnet_shape_error")
  na <- ok
  na[2, 2] <- NA
  expect_error(fit(r, na, verbose = 0), class = "symnet_value_error")
  expect_error(fit(r, matrix("a", 3, 4), verbose = 0), class = "symnet_dtype_error")
  expect_error(fit(r, ok, validation_data = matrix(0, 2, 3), verbose = 0), class = "symnet_shape_error")
  expect_error(fit(r, ok, k = 0, verbose = 0), class = "symnet_value_error")
  expect_error(fit(r, ok, momentum = 1, verbose = 0), class = "symnet_value_error")
  expect_error(fit(r, ok, sparsity_target = 1.5, verbose = 0), class = "symnet_value_error")
  expect_error(fit(r, ok, learning_rate = -1, verbose = 0), class = "symnet_value_error")
  expect_error(fit(r, ok, n_epochs = 2, verbose = 0), class = "symnet_unknown_argument_error")
  expect_error(fit(r, verbose = 0), class = "symnet_value_error")
  expect_error(transform(r, matrix(0, 2, 3)), class = "symnet_shape_error")
  expect_error(rbm(0, 3), class = "symnet_value_error")
  expect_error(rbm(3, 2, visible = "poisson"), class = "symnet_value_error")
  expect_error(set_weights(r, list(weights = matrix(0, 2, 4), visible_bias = numeric(4), hidden_bias = numeric(2))),
               class = "symnet_shape_error")
  expect_error(set_weights(r, list(weights = matrix(0, 4, 2))), class = "symnet_value_error")
  expect_error(sample_rbm("r"), class = "symnet_value_error")
  # rejected calls changed nothing
  expect_equal(r$epochs, 0L)
})

test_that("get_weights()/set_weights() round trip; saveRDS keeps the parameters", {
  r <- tiny_rbm(nv = 5, nh = 3, seed = 4)
  w <- get_weights(r)
  expect_named(w, c("weights", "visible_bias", "hidden_bias"))
  expect_equal(dim(w$weights), c(5L, 3L))
  w2 <- lapply(w, function(a) a * 2)
  set_weights(r, w2)
  expect_close(get_weights(r)$weights, w2$weights)
  x <- bars_data(30)[, 1:5]
  fit(r, x, epochs = 2, batch_size = 5, persistent = TRUE, momentum = 0.5, verbose = 0, seed = 1)
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(r, path)
  r2 <- readRDS(path)
  expect_s3_class(r2, "symnet_rbm")
  expect_identical(get_weights(r2), get_weights(r))
  expect_identical(transform(r2, x), transform(r, x))
  expect_identical(sym_value(r2$chain), sym_value(r$chain))
  # the copy trains on its own
  fit(r2, x, epochs = 1, batch_size = 5, verbose = 0, seed = 2)
  expect_false(identical(get_weights(r2), get_weights(r)))
})

test_that("print() and plot() work", {
  r <- rbm(16, 5, name = "bars")
  expect_output(print(r), "<symnet RBM bars> 16 bernoulli visible x 5 bernoulli hidden units")
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off(), add = TRUE)
  expect_identical(plot(r), r)
  expect_identical(plot(r, units = 2:3, dims = c(2, 8), ncol = 1), r)
  expect_error(plot(r, units = 6), class = "symnet_index_error")
  expect_error(plot(rbm(10, 2)), class = "symnet_shape_error")
  expect_error(plot(r, dims = c(3, 5)), class = "symnet_shape_error")
})
