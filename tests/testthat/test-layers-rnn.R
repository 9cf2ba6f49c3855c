# keras's recurrent equations in plain R: x [batch, steps, features], weights as the
# layers store them; masked steps keep the state and output zeros.
ref_rnn <- function(kind, x, w, units, mask = NULL, backwards = FALSE, reset_after = TRUE) {
  sig <- function(v) 1 / (1 + exp(-v))
  n <- dim(x)[1]
  steps <- dim(x)[2]
  h <- matrix(0, n, units)
  c <- matrix(0, n, units)
  seq_out <- array(0, c(n, steps, units))
  blk <- function(m, k) m[, (k - 1) * units + seq_len(units), drop = FALSE]
  order <- if (backwards) rev(seq_len(steps)) else seq_len(steps)
  for (t in order) {
    xt <- matrix(x[, t, ], n)
    if (kind == "gru" && reset_after) {
      xp <- xt %*% w$kernel + matrix(w$bias[1, ], n, 3 * units, byrow = TRUE)
      rp <- h %*% w$recurrent_kernel + matrix(w$bias[2, ], n, 3 * units, byrow = TRUE)
      z <- sig(blk(xp, 1) + blk(rp, 1))
      r <- sig(blk(xp, 2) + blk(rp, 2))
      hn <- z * h + (1 - z) * tanh(blk(xp, 3) + r * blk(rp, 3))
      cn <- c
    } else {
      xp <- xt %*% w$kernel + matrix(w$bias, n, length(w$bias), byrow = TRUE)
      rp <- h %*% w$recurrent_kernel
      if (kind == "lstm") {
        zz <- xp + rp
        cn <- sig(blk(zz, 2)) * c + sig(blk(zz, 1)) * tanh(blk(zz, 3))
        hn <- sig(blk(zz, 4)) * tanh(cn)
      } else if (kind == "gru") {
        z <- sig(blk(xp, 1) + h %*% blk(w$recurrent_kernel, 1))
        r <- sig(blk(xp, 2) + h %*% blk(w$recurrent_kernel, 2))
        hn <- z * h + (1 - z) * tanh(blk(xp, 3) + (r * h) %*% blk(w$recurrent_kernel, 3))
        cn <- c
      } else {
        hn <- tanh(xp + rp)
        cn <- c
      }
    }
    m <- if (is.null(mask)) rep(1, n) else mask[, t]
    h <- m * hn + (1 - m) * h
    c <- m * cn + (1 - m) * c
    seq_out[, t, ] <- m * hn
  }
  if (backwards) seq_out <- seq_out[, rev(seq_len(steps)), , drop = FALSE]
  list(h = h, c = c, seq = seq_out)
}

layer_weights <- function(m, layer) {
  w <- get_weights(m)
  nms <- names(w)[startsWith(names(w), paste0(layer, "/"))]
  stats::setNames(w[nms], sub(".*/", "", nms))
}

rnn_layer_fn <- list(simple_rnn = layer_simple_rnn, lstm = layer_lstm, gru = layer_gru)

test_that("recurrent layers compute keras's equations, with masks and backwards", {
  set.seed(4)
  xs <- array(rnorm(3 * 5 * 2), c(3, 5, 2))
  mask <- rbind(c(1, 1, 1, 1, 1), c(0, 0, 1, 1, 1), c(1, 0, 1, 1, 0))
  for (kind in names(rnn_layer_fn)) for (backwards in c(FALSE, TRUE)) for (masked in c(FALSE, TRUE)) {
    x <- sym_var("x", c(NA, 5, 2))
    mk <- sym_var("mk", c(NA, 5))
    out <- rnn_layer_fn[[kind]](x, 4, return_sequences = TRUE, return_state = TRUE, go_backwards = backwards,
                                mask = if (masked) mk else NULL, bias_initializer = "random_normal",
                                name = paste0("r_", kind))
    m <- sym_model(if (masked) list(x = x, mk = mk) else x, out[[1]])
    w <- layer_weights(m, paste0("r_", kind))
    feeds <- list(x = xs, mk = mask)
    r <- do.call(sym_compile(out), feeds[c("x", if (masked) "mk")])
    want <- ref_rnn(kind, xs, w, 4, mask = if (masked) mask, backwards = backwards)
    expect_close(r$output, want$seq, tolerance = 1e-5)
    expect_close(r$h, want$h, tolerance = 1e-5)
    if (kind == "lstm") expect_close(r$c, want$c, tolerance = 1e-5)
  }
})

test_that("a GRU without reset_after and an LSTM's forget bias follow keras", {
  set.seed(5)
  x <- sym_var("x", c(NA, 4, 3))
  g <- layer_gru(x, 2, reset_after = FALSE, name = "g0", bias_initializer = "random_normal")
  l <- layer_lstm(x, 2, name = "l0")
  m <- sym_model(x, list(g, l))
  expect_equal(as.vector(get_weights(m)[["l0/bias"]]), c(0, 0, 1, 1, 0, 0, 0, 0))
  expect_length(get_weights(m)[["g0/bias"]], 6)
  xs <- array(rnorm(2 * 4 * 3), c(2, 4, 3))
  r <- sym_compile(g)(x = xs)
  expect_close(r, ref_rnn("gru", xs, layer_weights(m, "g0"), 2, reset_after = FALSE)$h, tolerance = 1e-5)
})

test_that("gradients of recurrent layers match finite differences", {
  set.seed(6)
  for (kind in names(rnn_layer_fn)) {
    x <- sym_var("x", c(2, 3, 2))
    out <- rnn_layer_fn[[kind]](x, 3, return_sequences = TRUE, name = paste0("g_", kind))
    loss <- sym_sum(out * sym_const(array(seq(-1, 1, length.out = 18), c(2, 3, 3))))
    m <- sym_model(x, out)
    w <- layer_weights(m, paste0("g_", kind))
    params <- m$params[paste0("g_", kind, "/", c("kernel", "recurrent_kernel"))]
    f <- sym_compile(sym_grad(loss, c(list(x = x), params)))
    xs <- array(rnorm(12), c(2, 3, 2))
    r <- f(x = xs)
    lossw <- array(seq(-1, 1, length.out = 18), c(2, 3, 3))
    r_loss <- function(xs, w) sum(ref_rnn(kind, xs, w, 3)$seq * lossw)
    expect_close(r$x, fd_grad(function(v) r_loss(v, w), xs), tolerance = 1e-3)
    for (k in c("kernel", "recurrent_kernel")) {
      expect_close(r[[paste0("g_", kind, "/", k)]],
                   fd_grad(function(v) { w[[k]] <- v; r_loss(xs, w) }, w[[k]]), tolerance = 1e-3)
    }
  }
})

test_that("dropout masks are drawn in training only and held across steps", {
  set.seed(7)
  x <- sym_var("x", c(NA, 6, 3))
  y <- layer_lstm(x, 4, dropout = 0.5, recurrent_dropout = 0.5, return_sequences = TRUE, seed = 3, name = "dl")
  m <- sym_model(x, y)
  xs <- array(rnorm(2 * 6 * 3), c(2, 6, 3))
  plain <- ref_rnn("lstm", xs, layer_weights(m, "dl"), 4)$seq
  expect_close(predict(m, xs), plain, tolerance = 1e-5)  # inference: no dropout
  train_fn <- symnet:::.compile_graph(list(y = y), list(), training = TRUE, seed = 1)
  r1 <- train_fn(x = xs)
  r1 <- if (is.list(r1)) r1[[1]] else r1
  expect_false(isTRUE(all.equal(as.vector(r1), as.vector(plain), tolerance = 1e-3)))
})

test_that("bidirectional, time-distributed and masking layers", {
  set.seed(8)
  x <- sym_var("x", c(NA, 5, 2))
  b <- layer_bidirectional(x, layer_gru, units = 3, return_sequences = TRUE, name = "bi")
  m <- sym_model(x, b)
  expect_setequal(names(get_weights(m)), paste0(rep(c("bi_forward/", "bi_backward/"), each = 3),
                                                c("kernel", "recurrent_kernel", "bias")))
  xs <- array(rnorm(2 * 5 * 2), c(2, 5, 2))
  fw <- ref_rnn("gru", xs, layer_weights(m, "bi_forward"), 3)$seq
  bw <- ref_rnn("gru", xs, layer_weights(m, "bi_backward"), 3, backwards = TRUE)$seq
  r <- predict(m, xs)
  expect_close(r[, , 1:3], fw, tolerance = 1e-5)
  expect_close(r[, , 4:6], bw[, 5:1, ], tolerance = 1e-5)  # back in step order
  s <- layer_bidirectional(x, layer_lstm, units = 2, return_state = TRUE, merge_mode = "sum")
  expect_named(s, c("output", "forward_h", "forward_c", "backward_h", "backward_c"))

  td <- layer_time_distributed(x, layer_dense, units = 4, name = "td")
  expect_equal(dim(td), c(NA, 5, 4))
  k <- get_weights(sym_model(x, td))[["td/kernel"]]
  rt <- sym_compile(td)(x = xs)
  expect_close(rt[2, 3, ], as.vector(xs[2, 3, ] %*% k) + get_weights(sym_model(x, td))[["td/bias"]],
               tolerance = 1e-5)
  expect_error(layer_time_distributed(sym_var("q", c(NA, NA, 2)), layer_dense, units = 1), class = "symnet_shape_error")

  z <- sym_var("z", c(NA, 4, 2))
  mz <- layer_masking(z, mask_value = -1)
  zs <- array(c(-1, 2, -1, 3, -1, 4, 5, 6, -1, 2, -1, 1, -1, 3, 7, 8), c(2, 4, 2))
  expect_equal(sym_compile(sym_mask(mz))(z = zs), rbind(c(0, 0, 0, 1), c(1, 1, 1, 1)))
  # the LSTM on a masked input skips the padding like an explicit mask
  a <- layer_lstm(mz, 3, name = "ma")
  mm <- sym_model(z, a)
  zero_padded <- zs
  zero_padded[1, 1:3, ] <- 0
  expect_close(predict(mm, zs), ref_rnn("lstm", zero_padded, layer_weights(mm, "ma"), 3,
                                        mask = rbind(c(0, 0, 0, 1), c(1, 1, 1, 1)))$h, tolerance = 1e-5)
})

test_that("pad_sequences pads and truncates like keras", {
  expect_equal(pad_sequences(list(1:3, 4:5, 6)), rbind(1:3, c(0L, 4:5), c(0L, 0L, 6L)))
  expect_equal(pad_sequences(list(1:3, 4:5, 6), maxlen = 2, padding = "post"),
               rbind(2:3, 4:5, c(6L, 0L)))
  expect_equal(pad_sequences(list(1:3, 4:5), maxlen = 2, truncating = "post"), rbind(1:2, 4:5))
  p <- pad_sequences(list(matrix(1, 2, 3), matrix(2, 1, 3)), dtype = "float32", value = -1)
  expect_equal(dim(p), c(2L, 2L, 3L))
  expect_equal(p[2, , 1], c(-1, 2))
  expect_type(p, "double")
  expect_equal(dim(pad_sequences(list(integer(), 1))), c(2L, 1L))
  expect_error(pad_sequences(1:3), class = "symnet_value_error")
  expect_error(pad_sequences(list(matrix(1, 2, 3), matrix(1, 2, 2))), "features", class = "symnet_value_error")
  expect_error(pad_sequences(list("a")), class = "symnet_value_error")
  expect_error(pad_sequences(list(c(1, NA))), "missing", class = "symnet_value_error")
  expect_error(pad_sequences(list(1), dtype = "bool"), class = "symnet_dtype_error")
  expect_error(pad_sequences(list(c(1, 2.5))), "whole", class = "symnet_value_error")
  expect_equal(pad_sequences(list(c(1, 2.5)), dtype = "float32"), rbind(c(1, 2.5)))
})

test_that("recurrent layers refuse bad arguments with classed errors", {
  x <- sym_var("x", c(NA, 5, 2))
  expect_error(layer_lstm(x), "units", class = "symnet_value_error")
  expect_error(layer_lstm(sym_var("v", c(NA, 2)), 3), class = "symnet_shape_error")
  expect_error(layer_lstm(sym_var("w", c(NA, 5, NA)), 3), class = "symnet_shape_error")
  expect_error(layer_gru(x, 3, dropout = 1), class = "symnet_value_error")
  expect_error(layer_gru(x, 3, activation = "nope"), class = "symnet_value_error")
  expect_error(layer_lstm(x, 3, initial_state = sym_zeros(c(1, 3))), "2 states", class = "symnet_value_error")
  expect_error(layer_simple_rnn(x, 3, initial_state = sym_zeros(c(1, 4))), class = "symnet_shape_error")
  expect_error(layer_simple_rnn(x, 3, mask = sym_var("m3", c(NA, 4))), class = "symnet_shape_error")
  expect_error(layer_lstm(sym_var("i", c(NA, 5, 2), dtype = "int32"), 3), class = "symnet_dtype_error")
  expect_error(layer_bidirectional(x, layer_dense, units = 2), class = "symnet_value_error")
})

test_that("an LSTM classifier learns with fit() and survives saving", {
  set.seed(9)
  n <- 96
  xs <- array(rnorm(n * 8 * 1), c(n, 8, 1))
  y <- as.integer(apply(xs[, , 1], 1, function(r) sum(r[1:3]) > 0))  # early steps decide
  x <- sym_var("x", c(NA, 8, 1))
  out <- x |> layer_lstm(8) |> layer_dense(2)
  m <- sym_model(x, out)
  fit(m, xs, y, loss = "sparse_categorical_crossentropy", optimizer = optimizer_adam(0.02),
      epochs = 30, batch_size = 32, verbose = 0, seed = 1)
  acc <- mean(max.col(predict(m, xs)) - 1 == y)
  expect_gt(acc, 0.8)
  path <- withr::local_tempfile(fileext = ".symnet")
  save_model(m, path)
  expect_equal(predict(load_model(path), xs[1:4, , , drop = FALSE]), predict(m, xs[1:4, , , drop = FALSE]))
})

test_that("the fused kernel and the scan-built layer give the same numbers and gradients", {
  set.seed(10)
  xs <- array(rnorm(3 * 6 * 2), c(3, 6, 2))
  mask <- rbind(rep(1, 6), c(0, 0, 1, 1, 1, 1), c(1, 1, 0, 1, 1, 0))
  h0 <- matrix(rnorm(3 * 4), 3, 4)
  c0 <- matrix(rnorm(3 * 4), 3, 4)
  cases <- list(list(), list(go_backwards = TRUE), list(masked = TRUE), list(init = TRUE),
                list(use_bias = FALSE), list(activation = "relu"))
  for (kind in names(rnn_layer_fn)) for (cs in cases) for (reset_after in if (kind == "gru") c(TRUE, FALSE) else TRUE) {
    build <- function(impl) {
      x <- sym_var("x", c(NA, 6, 2))
      mk <- sym_var("mk", c(NA, 6))
      h <- sym_var("h", c(NA, 4))
      cc <- sym_var("cc", c(NA, 4))
      args <- list(x, 4, return_sequences = TRUE, return_state = TRUE, go_backwards = isTRUE(cs$go_backwards),
                   mask = if (isTRUE(cs$masked)) mk, use_bias = !isFALSE(cs$use_bias),
                   activation = cs$activation %||% "tanh", bias_initializer = "random_normal",
                   kernel_initializer = initializer_glorot_uniform(seed = 1),
                   recurrent_initializer = initializer_orthogonal(seed = 2),
                   implementation = impl, name = paste0("cmp_", kind, "_", impl))
      if (isTRUE(cs$init)) args$initial_state <- if (kind == "lstm") list(h, cc) else h
      if (kind == "gru") args$reset_after <- reset_after
      set.seed(3)
      out <- do.call(rnn_layer_fn[[kind]], args)
      used <- c(list(x = x), if (isTRUE(cs$masked)) list(mk = mk), if (isTRUE(cs$init)) list(h = h),
                if (isTRUE(cs$init) && kind == "lstm") list(cc = cc))
      w <- sym_model(used, out$h)$params
      loss <- sym_sum(out$output * sym_const(array(seq(-1, 1, length.out = 72), c(3, 6, 4)))) + sym_sum(out$h^2)
      wrt <- c(list(x = x), if (isTRUE(cs$init)) list(h = h), stats::setNames(w, sub(".*/", "", names(w))))
      grads <- sym_grad(loss, wrt)
      f <- sym_compile(c(out, stats::setNames(grads, paste0("d_", names(grads)))))
      feeds <- list(x = xs, mk = mask, h = h0, cc = c0)
      needed <- c("x", if (isTRUE(cs$masked)) "mk", if (isTRUE(cs$init)) "h",
                  if (isTRUE(cs$init) && kind == "lstm") "cc")
      list(res = do.call(f, feeds[needed]), ops = vapply(symnet:::.graph_walk(list(out$h$ptr)), `[[`, "", "op"))
    }
    fused <- build("fused")
    scan <- build("scan")
    label <- paste(kind, names(cs), reset_after)
    expect_true(symnet:::.rnn_fused_op[[kind]] %in% fused$ops, info = label)
    expect_false(symnet:::.rnn_fused_op[[kind]] %in% scan$ops, info = label)
    expect_setequal(names(fused$res), names(scan$res))
    for (nm in names(scan$res)) expect_close(fused$res[[nm]], scan$res[[nm]], tolerance = 1e-4)
  }
})

test_that("auto picks the fused kernel where it applies and the scan otherwise", {
  x <- sym_var("x", c(NA, 5, 2))
  ops_of <- function(y) vapply(symnet:::.graph_walk(list(y$ptr)), `[[`, "", "op")
  expect_true("lstm" %in% ops_of(layer_lstm(x, 3)))
  expect_true("gru" %in% ops_of(layer_gru(x, 3, dropout = 0.2)))
  expect_true("scan" %in% ops_of(layer_gru(x, 3, recurrent_dropout = 0.2)))
  expect_true("scan" %in% ops_of(layer_simple_rnn(x, 3, activation = function(v) v * 2)))
  expect_error(layer_lstm(x, 3, recurrent_dropout = 0.1, implementation = "fused"), "recurrent dropout",
               class = "symnet_unsupported_error")
})

test_that("gradients through masked, bidirectional and return_state layers match finite differences", {
  set.seed(11)
  xs <- array(rnorm(2 * 4 * 2), c(2, 4, 2))
  mask <- rbind(c(0, 1, 1, 1), c(1, 0, 1, 0))
  wl <- array(seq(-1, 1, length.out = 2 * 4 * 6), c(2, 4, 6))
  x <- sym_var("x", c(2, 4, 2))
  mk <- sym_var("mk", c(2, 4))
  out <- layer_bidirectional(x, layer_lstm, units = 3, return_sequences = TRUE, return_state = TRUE,
                             mask = mk, name = "fdb")
  loss <- sym_sum(out$output * sym_const(wl)) + sym_sum(out$forward_c * 0.5) + sym_sum(out$backward_h^2)
  m <- sym_model(list(x = x, mk = mk), out$output)
  wf <- layer_weights(m, "fdb_forward")
  wb <- layer_weights(m, "fdb_backward")
  r_loss <- function(xs, wf, wb) {
    f <- ref_rnn("lstm", xs, wf, 3, mask = mask)
    b <- ref_rnn("lstm", xs, wb, 3, mask = mask, backwards = TRUE)
    seq_out <- array(0, c(2, 4, 6))
    seq_out[, , 1:3] <- f$seq
    seq_out[, , 4:6] <- b$seq[, 4:1, ]  # the backward outputs back in step order
    sum(seq_out * wl) + sum(f$c * 0.5) + sum(b$h^2)
  }
  params <- m$params[c("fdb_forward/kernel", "fdb_backward/recurrent_kernel")]
  f <- sym_compile(c(list(loss = loss), sym_grad(loss, c(list(x = x), params))))
  r <- f(x = xs, mk = mask)
  expect_equal(r$loss, r_loss(xs, wf, wb), tolerance = 1e-5)
  expect_close(r$x, fd_grad(function(v) r_loss(v, wf, wb), xs), tolerance = 1e-3)
  expect_close(r[["fdb_forward/kernel"]],
               fd_grad(function(v) { wf$kernel <- v; r_loss(xs, wf, wb) }, wf$kernel), tolerance = 1e-3)
  expect_close(r[["fdb_backward/recurrent_kernel"]],
               fd_grad(function(v) { wb$recurrent_kernel <- v; r_loss(xs, wf, wb) }, wb$recurrent_kernel),
               tolerance = 1e-3)
})

test_that("layer_embedding(mask_zero = TRUE) masks padded ids for the recurrent layer", {
  set.seed(12)
  ids <- sym_var("ids", c(NA, 5), dtype = "int32")
  e <- layer_embedding(ids, 6, 3, mask_zero = TRUE, name = "mz_emb")
  expect_false(is.null(sym_mask(e)))
  h <- layer_gru(e, 2, name = "mz_gru")
  m <- sym_model(ids, h)
  padded <- pad_sequences(list(c(3L, 1L), c(5L, 2L, 4L, 1L, 2L)), maxlen = 5)
  tab <- get_weights(m)[["mz_emb/embeddings"]]
  xs <- array(0, c(2, 5, 3))
  for (b in 1:2) for (t in 1:5) xs[b, t, ] <- tab[padded[b, t] + 1, ]
  want <- ref_rnn("gru", xs, layer_weights(m, "mz_gru"), 2, mask = (padded != 0) * 1)$h
  expect_close(predict(m, padded), want, tolerance = 1e-5)
  # the short sequence's result does not depend on where its padding is
  post <- pad_sequences(list(c(3L, 1L), c(5L, 2L, 4L, 1L, 2L)), maxlen = 5, padding = "post")
  expect_close(predict(m, post), predict(m, padded), tolerance = 1e-5)
  expect_null(sym_mask(layer_embedding(ids, 6, 3)))
  expect_error(layer_embedding(ids, 6, 3, mask_zero = NA), class = "symnet_value_error")
})
