# Deep belief networks (R/dbn.R) and saving RBMs/DBNs (R/rbm-save.R).

sigm <- function(z) 1 / (1 + exp(-z))

dbn_data <- function(n = 120, seed = 1) {
  set.seed(seed)
  proto <- matrix(rbinom(3 * 12, 1, 0.5), 3, 12)
  cls <- sample(3, n, replace = TRUE)
  x <- proto[cls, ]
  flip <- matrix(runif(n * 12) < 0.1, n, 12)
  x[flip] <- 1 - x[flip]
  list(x = x, y = cls - 1L)
}

test_that("dbn() stacks RBMs of the given sizes", {
  d <- dbn(c(12, 8, 5), name = "deep")
  expect_s3_class(d, "symnet_dbn")
  expect_equal(d$sizes, c(12, 8, 5))
  expect_length(d$rbms, 2)
  expect_equal(d$rbms[[1]]$name, "deep_rbm1")
  expect_equal(c(d$rbms[[2]]$n_visible, d$rbms[[2]]$n_hidden), c(8, 5))
  g <- dbn(c(4, 3, 2), visible = "gaussian", hidden = "relu")
  expect_equal(g$rbms[[1]]$visible, "gaussian")
  expect_equal(g$rbms[[2]]$visible, "bernoulli")
  expect_equal(g$rbms[[2]]$hidden, "relu")
  expect_output(print(d), "<symnet DBN deep> 12 -> 8 -> 5 \\(2 RBMs\\)")
  expect_error(dbn(10), class = "symnet_value_error")
  expect_error(dbn(c(10, 0)), class = "symnet_value_error")
})

test_that("fit() pretrains greedily: each RBM on the hidden probabilities of the one below", {
  x <- dbn_data()$x
  set.seed(5)
  d <- dbn(c(12, 8, 5))
  set.seed(5)
  e <- dbn(c(12, 8, 5))
  hs <- fit(d, x, epochs = c(3, 2), batch_size = 10, momentum = 0.5, verbose = 0, seed = 7)
  expect_length(hs, 2)
  expect_equal(names(hs), c(d$rbms[[1]]$name, d$rbms[[2]]$name))
  expect_equal(nrow(hs[[1]]$metrics), 3)
  expect_equal(nrow(hs[[2]]$metrics), 2)
  # the same by hand
  fit(e$rbms[[1]], x, epochs = 3, batch_size = 10, momentum = 0.5, verbose = 0, seed = 7)
  fit(e$rbms[[2]], transform(e$rbms[[1]], x), epochs = 2, batch_size = 10, momentum = 0.5, verbose = 0,
      seed = 8)
  expect_identical(get_weights(d$rbms[[1]]), get_weights(e$rbms[[1]]))
  expect_identical(get_weights(d$rbms[[2]]), get_weights(e$rbms[[2]]))
  expect_equal(transform(d, x), transform(d$rbms[[2]], transform(d$rbms[[1]], x)))
  expect_error(fit(d, x, epochs = c(1, 2, 3), verbose = 0), class = "symnet_value_error")
  expect_error(fit(d, x, epochs = 1, verbose = 0, learn_rate = 1), class = "symnet_unknown_argument_error")
  expect_error(fit(d, x[, 1:5], verbose = 0), class = "symnet_shape_error")
})

test_that("dbn_model() carries the pretrained weights and fine-tunes", {
  dd <- dbn_data(300)
  x <- dd$x
  set.seed(2)
  d <- dbn(c(12, 10, 6))
  fit(d, x, epochs = 5, batch_size = 10, verbose = 0, seed = 1)
  feat <- dbn_model(d, name = "feat")
  expect_s3_class(feat, "symnet_model")
  w <- get_weights(feat)
  expect_equal(names(w), c("feat_dense1/kernel", "feat_dense1/bias", "feat_dense2/kernel", "feat_dense2/bias"))
  expect_close(w[["feat_dense1/kernel"]], get_weights(d$rbms[[1]])$weights)
  expect_close(predict(feat, x), transform(d, x), tolerance = 1e-5)
  m <- dbn_model(d, output_units = 3, name = "clf")
  expect_equal(dim(get_weights(m)[["clf_output/kernel"]]), c(6L, 3L))
  h <- fit(m, x, dd$y, loss = "softmax_cross_entropy", optimizer = optimizer_adam(0.01), epochs = 15,
           batch_size = 20, metrics = "accuracy", verbose = 0, seed = 1)
  expect_lt(h$metrics$loss[15], h$metrics$loss[1])
  expect_gt(h$metrics$accuracy[15], 0.9)
  # fine-tuning changes the model, not the DBN
  expect_close(get_weights(d$rbms[[1]])$weights, w[["feat_dense1/kernel"]])
  expect_false(isTRUE(all.equal(get_weights(m)[["clf_dense1/kernel"]], w[["feat_dense1/kernel"]])))
})

test_that("initializer_rbm() builds the same stack from layers", {
  set.seed(3)
  r <- rbm(6, 4)
  fit(r, matrix(rbinom(60, 1, 0.5), 10, 6), epochs = 2, batch_size = 5, verbose = 0, seed = 1)
  x <- sym_var("x", c(NA, 6))
  h <- layer_dense(x, 4, activation = "sigmoid", kernel_initializer = initializer_rbm(r),
                   bias_initializer = initializer_rbm(r, "hidden_bias"), name = "from_rbm")
  m <- sym_model(x, h)
  xx <- matrix(runif(18), 3, 6)
  p <- get_weights(r)
  expect_close(predict(m, xx), sigm(sweep(xx %*% p$weights, 2, p$hidden_bias, "+")), tolerance = 1e-5)
  expect_error(layer_dense(x, 5, kernel_initializer = initializer_rbm(r)), class = "symnet_shape_error")
  expect_error(initializer_rbm(r, "visible"), class = "symnet_value_error")
  expect_error(initializer_rbm("r"), class = "symnet_value_error")
})

test_that("save_model()/load_model() and saveRDS() keep RBMs and DBNs", {
  x <- dbn_data()$x
  set.seed(4)
  r <- rbm(12, 5, visible = "bernoulli", hidden = "relu", name = "saved")
  fit(r, x, epochs = 2, batch_size = 10, learning_rate = 0.01, verbose = 0, seed = 1)
  path <- withr::local_tempfile(fileext = ".safetensors")
  save_model(r, path)
  r2 <- load_model(path)
  expect_s3_class(r2, "symnet_rbm")
  expect_equal(r2$name, "saved")
  expect_equal(r2$hidden, "relu")
  expect_identical(get_weights(r2), get_weights(r))
  expect_identical(transform(r2, x), transform(r, x))
  # the weights are plain safetensors tensors
  b <- readBin(path, "raw", n = file.size(path))
  n <- readBin(b[1:4], "integer", size = 4, endian = "little")
  hdr <- jsonlite::parse_json(rawToChar(b[9:(8 + n)]))
  expect_equal(hdr[["saved/weights"]]$shape, list(12L, 5L))
  expect_equal(hdr[["__metadata__"]]$format, "symnet-rbm")

  set.seed(5)
  d <- dbn(c(12, 6, 3), name = "stack")
  fit(d, x, epochs = 1, batch_size = 10, verbose = 0, seed = 1)
  save_model(d, path)
  d2 <- load_model(path)
  expect_s3_class(d2, "symnet_dbn")
  expect_equal(d2$sizes, c(12, 6, 3))
  expect_identical(transform(d2, x), transform(d, x))
  rds <- withr::local_tempfile(fileext = ".rds")
  saveRDS(d, rds)
  d3 <- readRDS(rds)
  expect_identical(get_weights(d3$rbms[[2]]), get_weights(d$rbms[[2]]))
  expect_identical(predict(dbn_model(d3), x), predict(dbn_model(d), x))

  # models still load as models; a damaged RBM file is a format error
  xs <- sym_var("x", c(NA, 2))
  mp <- withr::local_tempfile(fileext = ".safetensors")
  save_model(sym_model(xs, layer_dense(xs, 1)), mp)
  expect_s3_class(load_model(mp), "symnet_model")
  bad <- b
  txt <- rawToChar(b[9:(8 + n)])
  # (the metadata value is JSON text inside the JSON header: its quotes are escaped)
  txt2 <- sub('n_hidden\\":5', 'n_hidden\\":0', txt, fixed = TRUE)
  expect_false(identical(txt, txt2))
  bad[9:(8 + n)] <- charToRaw(txt2)
  bp <- withr::local_tempfile(fileext = ".safetensors")
  writeBin(bad, bp)
  expect_error(load_model(bp), class = "symnet_format_error")
})
