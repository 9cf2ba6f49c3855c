# Naive base-R references (NCHW). pads = c(begin_h, begin_w, end_h, end_w).
conv2d_ref <- function(x, w, b = NULL, s = c(1, 1), pads = c(0, 0, 0, 0), d = c(1, 1), g = 1) {
  N <- dim(x)[1]; C <- dim(x)[2]; H <- dim(x)[3]; W <- dim(x)[4]
  Fo <- dim(w)[1]; kh <- dim(w)[3]; kw <- dim(w)[4]
  Ho <- (H + pads[1] + pads[3] - ((kh - 1) * d[1] + 1)) %/% s[1] + 1
  Wo <- (W + pads[2] + pads[4] - ((kw - 1) * d[2] + 1)) %/% s[2] + 1
  cpg <- C / g
  fpg <- Fo / g
  out <- array(0, c(N, Fo, Ho, Wo))
  for (n in 1:N) for (f in 1:Fo) for (i in 1:Ho) for (j in 1:Wo) {
    grp <- (f - 1) %/% fpg
    acc <- 0
    for (c in 1:cpg) for (u in 1:kh) for (v in 1:kw) {
      hi <- (i - 1) * s[1] + (u - 1) * d[1] - pads[1] + 1
      wi <- (j - 1) * s[2] + (v - 1) * d[2] - pads[2] + 1
      if (hi >= 1 && hi <= H && wi >= 1 && wi <= W) acc <- acc + x[n, grp * cpg + c, hi, wi] * w[f, c, u, v]
    }
    out[n, f, i, j] <- acc + if (is.null(b)) 0 else b[f]
  }
  out
}

conv2d_transpose_ref <- function(x, w, b = NULL, s = c(1, 1), pads = c(0, 0, 0, 0), d = c(1, 1), op = c(0, 0)) {
  N <- dim(x)[1]; Ci <- dim(x)[2]; H <- dim(x)[3]; W <- dim(x)[4]
  Fo <- dim(w)[2]; kh <- dim(w)[3]; kw <- dim(w)[4]
  Hf <- (H - 1) * s[1] + (kh - 1) * d[1] + 1 + op[1]
  Wf <- (W - 1) * s[2] + (kw - 1) * d[2] + 1 + op[2]
  full <- array(0, c(N, Fo, Hf, Wf))
  for (n in 1:N) for (ci in 1:Ci) for (p in 1:H) for (q in 1:W) for (f in 1:Fo) for (u in 1:kh) for (v in 1:kw) {
    hi <- (p - 1) * s[1] + (u - 1) * d[1] + 1
    wi <- (q - 1) * s[2] + (v - 1) * d[2] + 1
    full[n, f, hi, wi] <- full[n, f, hi, wi] + x[n, ci, p, q] * w[ci, f, u, v]
  }
  out <- full[, , (pads[1] + 1):(Hf - pads[3]), (pads[2] + 1):(Wf - pads[4]), drop = FALSE]
  if (!is.null(b)) for (f in 1:Fo) out[, f, , ] <- out[, f, , ] + b[f]
  out
}

pool2d_ref <- function(x, k, s, pads = c(0, 0, 0, 0), fun = max) {
  N <- dim(x)[1]; C <- dim(x)[2]; H <- dim(x)[3]; W <- dim(x)[4]
  Ho <- (H + pads[1] + pads[3] - k[1]) %/% s[1] + 1
  Wo <- (W + pads[2] + pads[4] - k[2]) %/% s[2] + 1
  out <- array(0, c(N, C, Ho, Wo))
  for (n in 1:N) for (c in 1:C) for (i in 1:Ho) for (j in 1:Wo) {
    hs <- (i - 1) * s[1] - pads[1] + seq_len(k[1])
    ws <- (j - 1) * s[2] - pads[2] + seq_len(k[2])
    hs <- hs[hs >= 1 & hs <= H]
    ws <- ws[ws >= 1 & ws <= W]
    out[n, c, i, j] <- fun(x[n, c, hs, ws])
  }
  out
}

weights_of <- function(y, x) get_weights(sym_model(x, y))

test_that("layer_conv2d (valid) matches a naive convolution", {
  set.seed(1)
  x <- sym_var("x", c(NA, 3, 6, 5))
  y <- layer_conv2d(x, 4, c(3, 2), name = "tcv_a", bias_initializer = "random_normal")
  expect_equal(dim(y), c(NA, 4L, 4L, 4L))
  w <- weights_of(y, x)
  expect_equal(dim(w[["tcv_a/kernel"]]), c(4, 3, 3, 2))
  xv <- array(rnorm(2 * 3 * 6 * 5), c(2, 3, 6, 5))
  expect_close(sym_compile(y)(x = xv), conv2d_ref(xv, w[["tcv_a/kernel"]], w[["tcv_a/bias"]]),
               tolerance = 1e-5)
})

test_that("layer_conv2d with same padding, strides, dilation and groups", {
  set.seed(2)
  x <- sym_var("x", c(NA, 4, 7, 6))
  xv <- array(rnorm(2 * 4 * 7 * 6), c(2, 4, 7, 6))
  # same, stride 2: output ceil(in / 2); total pad 3 - 1 = 2 (h: (4-1)*2+3-7 = 2 -> 1/1; w: (3-1)*2+3-6=1 -> 0/1)
  y1 <- layer_conv2d(x, 2, 3, strides = 2, padding = "same", name = "tcv_b", activation = "relu")
  expect_equal(dim(y1), c(NA, 2L, 4L, 3L))
  w1 <- weights_of(y1, x)
  ref1 <- pmax(conv2d_ref(xv, w1[["tcv_b/kernel"]], w1[["tcv_b/bias"]], s = c(2, 2), pads = c(1, 0, 1, 1)), 0)
  expect_close(sym_compile(y1)(x = xv), ref1, tolerance = 1e-5)

  y2 <- layer_conv2d(x, 6, 2, dilation_rate = 2, groups = 2, name = "tcv_c", use_bias = FALSE)
  w2 <- weights_of(y2, x)
  expect_equal(dim(w2[["tcv_c/kernel"]]), c(6, 2, 2, 2))
  expect_close(sym_compile(y2)(x = xv), conv2d_ref(xv, w2[["tcv_c/kernel"]], d = c(2, 2), g = 2),
               tolerance = 1e-5)

  y3 <- layer_conv2d(x, 3, 3, padding = c(1, 2), name = "tcv_d")
  expect_equal(dim(y3), c(NA, 3L, 7L, 8L))
  w3 <- weights_of(y3, x)
  expect_close(sym_compile(y3)(x = xv),
               conv2d_ref(xv, w3[["tcv_d/kernel"]], w3[["tcv_d/bias"]], pads = c(1, 2, 1, 2)), tolerance = 1e-5)
})

test_that("layer_conv1d, including causal padding", {
  set.seed(3)
  x <- sym_var("x", c(NA, 2, 8))
  y <- layer_conv1d(x, 3, 3, padding = "causal", dilation_rate = 2, name = "tcv_1d")
  expect_equal(dim(y), c(NA, 3L, 8L))
  w <- weights_of(y, x)
  xv <- array(rnorm(2 * 2 * 8), c(2, 2, 8))
  # as a 2-d convolution of height 1
  x4 <- array(xv, c(2, 2, 1, 8))
  k <- w[["tcv_1d/kernel"]]
  k4 <- array(k, c(3, 2, 1, 3))
  ref <- conv2d_ref(x4, k4, w[["tcv_1d/bias"]], d = c(1, 2), pads = c(0, 4, 0, 0))
  expect_close(sym_compile(y)(x = xv), array(ref, c(2, 3, 8)), tolerance = 1e-5)
  expect_equal(dim(layer_conv1d(x, 4, 3)), c(NA, 4L, 6L))
})

test_that("layer_conv2d_transpose matches a naive transposed convolution", {
  set.seed(4)
  x <- sym_var("x", c(NA, 3, 3, 4))
  xv <- array(rnorm(2 * 3 * 3 * 4), c(2, 3, 3, 4))
  y <- layer_conv2d_transpose(x, 2, c(3, 2), strides = 2, name = "tcv_t", bias_initializer = "ones")
  expect_equal(dim(y), c(NA, 2L, 7L, 8L))
  w <- weights_of(y, x)
  expect_equal(dim(w[["tcv_t/kernel"]]), c(3, 2, 3, 2))
  expect_close(sym_compile(y)(x = xv),
               conv2d_transpose_ref(xv, w[["tcv_t/kernel"]], w[["tcv_t/bias"]], s = c(2, 2)), tolerance = 1e-5)
  y2 <- layer_conv2d_transpose(x, 2, 3, strides = 2, padding = "same", name = "tcv_t2")
  expect_equal(dim(y2), c(NA, 2L, 6L, 8L))
  y3 <- layer_conv2d_transpose(x, 2, 3, strides = 2, padding = 1, output_padding = 1, name = "tcv_t3")
  w3 <- weights_of(y3, x)
  expect_close(sym_compile(y3)(x = xv),
               conv2d_transpose_ref(xv, w3[["tcv_t3/kernel"]], w3[["tcv_t3/bias"]], s = c(2, 2),
                                    pads = c(1, 1, 1, 1), op = c(1, 1)), tolerance = 1e-5)
})

test_that("pooling layers match base R", {
  set.seed(5)
  x <- sym_var("x", c(NA, 2, 5, 6))
  xv <- array(rnorm(2 * 2 * 5 * 6), c(2, 2, 5, 6))
  f <- sym_compile(list(
    mx = layer_max_pool2d(x, 2),
    av = layer_avg_pool2d(x, c(2, 3), strides = 1),
    mxs = layer_max_pool2d(x, 3, strides = 2, padding = "same"),
    avs = layer_avg_pool2d(x, 2, padding = "same"),
    gap = layer_global_avg_pool2d(x),
    gapk = layer_global_avg_pool2d(x, keepdims = TRUE),
    gmp = layer_global_max_pool2d(x)))
  r <- f(x = xv)
  expect_close(r$mx, pool2d_ref(xv, c(2, 2), c(2, 2)))
  expect_close(r$av, pool2d_ref(xv, c(2, 3), c(1, 1), fun = mean))
  # same, k 3, s 2: h out 3, total (3-1)*2+3-5 = 2 -> 1/1; w out 3, total (3-1)*2+3-6 = 1 -> 0/1
  expect_close(r$mxs, pool2d_ref(xv, c(3, 3), c(2, 2), pads = c(1, 0, 1, 1)))
  # same, k 2, s 2: h out 3, total 1 -> 0/1; w out 3, total 0
  expect_close(r$avs, pool2d_ref(xv, c(2, 2), c(2, 2), pads = c(0, 0, 1, 0), fun = mean))
  expect_close(r$gap, apply(xv, c(1, 2), mean))
  expect_equal(dim(r$gapk), c(2, 2, 1, 1))
  expect_close(r$gmp, apply(xv, c(1, 2), max))
  expect_equal(dim(layer_max_pool2d(x, 2)), c(NA, 2L, 2L, 3L))
  expect_equal(dim(layer_max_pool2d(x, 2, ceil_mode = TRUE)), c(NA, 2L, 3L, 3L))
})

test_that("conv and pooling layers raise classed errors", {
  x <- sym_var("x", c(NA, 3, 8, 8))
  expect_error(layer_conv2d(sym_var("flat", c(NA, 64)), 4, 3), class = "symnet_shape_error")
  expect_error(layer_conv2d(sym_var("noc", c(NA, NA, 8, 8)), 4, 3), class = "symnet_shape_error")
  expect_error(layer_conv2d(x, 4, 3, groups = 2), class = "symnet_shape_error")
  expect_error(layer_conv2d(x, 4, c(3, 3, 3)), class = "symnet_value_error")
  expect_error(layer_conv2d(x, 4, 3, padding = "full"), class = "symnet_value_error")
  expect_error(layer_conv2d(x, 4, 3, padding = "causal"), class = "symnet_value_error")
  expect_error(layer_conv2d(x, 0, 3), class = "symnet_value_error")
  expect_error(layer_conv2d(x, 4, 9), class = "symnet_shape_error")
  expect_error(layer_conv2d_transpose(x, 4, 3, strides = 2, output_padding = 2), class = "symnet_value_error")
  expect_error(layer_max_pool2d(sym_var("r3", c(NA, 3, 8)), 2), class = "symnet_shape_error")
  expect_error(layer_max_pool2d(x, 2, padding = 2), class = "symnet_value_error")
  expect_error(layer_conv1d(x, 2, 3), class = "symnet_shape_error")
  expect_error(layer_conv2d(sym_var("ix", c(NA, 3, 8, 8), dtype = "int32"), 2, 3), class = "symnet_dtype_error")
})

test_that("a LeNet stack has the classic shapes", {
  x <- sym_var("x", c(NA, 1, 28, 28))
  y <- x |>
    layer_conv2d(20, 5, activation = "tanh") |>
    layer_max_pool2d(2) |>
    layer_conv2d(50, 5, activation = "tanh") |>
    layer_max_pool2d(2) |>
    layer_flatten() |>
    layer_dense(500, activation = "tanh") |>
    layer_dense(10)
  expect_equal(dim(y), c(NA, 10L))
  m <- sym_model(x, y)
  expect_equal(sum(model_layers(m)$params), 431080)
})

test_that("large inference batches run conv stacks chunk by chunk with the same results", {
  set.seed(7)
  x <- sym_var("x", c(NA, 1, 28, 28))
  y <- x |> layer_rescaling(1 / 255) |> layer_conv2d(8, 3, activation = "tanh") |>
    layer_max_pool2d(2) |> layer_conv2d(4, 3, activation = "relu") |> layer_avg_pool2d(2) |>
    layer_flatten() |> layer_dense(3)
  m <- sym_model(x, y)
  xs <- array(sample(0:255, 300 * 28 * 28, replace = TRUE), c(300, 1, 28, 28))
  f <- sym_compile(y)
  big <- f(x = xs)                       # 300 x 8 x 26 x 26 floats: fused per sample
  line <- grep("per_sample", capture.output(summary(f)), value = TRUE)
  nodes <- as.integer(regmatches(line, gregexpr("[0-9]+(?= nodes| ->)", line, perl = TRUE))[[1]])
  expect_lt(nodes[2], nodes[1])          # the chain became one node
  small <- do.call(rbind, lapply(split(seq_len(300), rep(1:30, each = 10)), function(i) f(x = xs[i, , , , drop = FALSE])))
  expect_equal(big, small, tolerance = 1e-5)
  expect_equal(predict(m, xs, batch_size = 300), predict(m, xs, batch_size = 7), tolerance = 1e-5)
})

test_that("training a conv net twice with one seed gives the same bits on several threads", {
  old <- symnet_threads(2)
  on.exit(symnet_threads(old), add = TRUE)
  set.seed(1)
  x <- array(sample(0:255, 96 * 144, TRUE), c(96, 1, 12, 12))
  y <- sample(0:4, 96, TRUE)
  run <- function() {
    xs <- sym_var("x", c(NA, 1, 12, 12))
    out <- xs |> layer_rescaling(1 / 255) |> layer_conv2d(6, 3, activation = "tanh", name = "c") |>
      layer_max_pool2d(2) |> layer_flatten() |> layer_dense(5, name = "d")
    m <- sym_model(xs, out)
    set_weights(m, lapply(get_weights(m), function(w) {
      w[] <- seq(-0.1, 0.1, length.out = length(w))
      w
    }))
    fit(m, x, y, loss = loss_softmax_cross_entropy(), optimizer = optimizer_sgd(0.05, momentum = 0.9),
        batch_size = 48, epochs = 2, verbose = 0, seed = 3)
    get_weights(m)
  }
  expect_identical(run(), run())
})

test_that("channels-last inputs to conv layers get a layout hint", {
  # a square image with few channels last: refused up front, though the engine could run it
  for (shp in list(c(NA, 28, 28, 1), c(NA, 32, 32, 3))) {
    e <- expect_error(layer_conv2d(sym_var("img", shp), 8, 3, padding = "same"), class = "symnet_shape_error")
    expect_s3_class(e, "symnet_error")
    expect_match(conditionMessage(e), "channels-last")
    expect_match(conditionMessage(e), "aperm(x, c(1, 4, 2, 3))", fixed = TRUE)
  }
  # non-square, or 1-d: hint only when the engine cannot run it
  e <- expect_error(layer_conv2d(sym_var("img", c(NA, 30, 20, 1)), 8, 3), class = "symnet_shape_error")
  expect_match(conditionMessage(e), "channels-last")
  e <- expect_error(layer_conv1d(sym_var("seq", c(NA, 50, 2)), 4, 3), class = "symnet_shape_error")
  expect_match(conditionMessage(e), "channels-last")
  # channels-first inputs are untouched, including small images with many channels
  expect_equal(dim(layer_conv2d(sym_var("ok", c(NA, 3, 28, 28)), 8, 3)), c(NA, 8L, 26L, 26L))
  expect_equal(dim(layer_conv2d(sym_var("ok2", c(NA, 64, 4, 4)), 8, 3)), c(NA, 8L, 2L, 2L))
  expect_equal(dim(layer_conv1d(sym_var("ok3", c(NA, 2, 50)), 4, 3)), c(NA, 4L, 48L))
})

test_that("conv and pooling layers on a shapeless input name the shape to declare", {
  img <- sym_var("img")
  e <- expect_error(layer_conv2d(img, 4, 3), class = "symnet_shape_error")
  expect_match(conditionMessage(e), 'sym_var("img", c(NA, channels, NA, NA))', fixed = TRUE)
  expect_error(layer_conv1d(img, 4, 3), class = "symnet_shape_error")
  expect_error(layer_max_pool2d(img), class = "symnet_shape_error")
  e <- expect_error(layer_conv2d(sym_var("c", c(NA, NA, 8, 8)), 4, 3), class = "symnet_shape_error")
  expect_match(conditionMessage(e), 'sym_var("c", c(NA, channels, NA, NA))', fixed = TRUE)
})
