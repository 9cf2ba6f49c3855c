save_test_model <- function() {
  x <- sym_var("x", c(NA, 1, 8, 8))
  y <- x |>
    layer_conv2d(3, 3, padding = "same", activation = "relu", name = "ts_c1") |>
    layer_batch_norm(name = "ts_bn") |>
    layer_max_pool2d(2, name = "ts_p1") |>
    layer_dropout(0.3, name = "ts_dr") |>
    layer_flatten(name = "ts_fl") |>
    layer_dense(4, name = "ts_d1")
  sym_model(x, list(logits = y, probs = layer_activation(y, "softmax", name = "ts_sm")), name = "saver")
}

read_header <- function(path) {
  b <- readBin(path, "raw", n = file.size(path))
  n <- readBin(b[1:4], "integer", size = 4, endian = "little")
  list(n = n, hi = readBin(b[5:8], "integer", size = 4, endian = "little"),
       json = jsonlite::parse_json(rawToChar(b[9:(8 + n)])), bytes = b)
}

test_that("save_model / load_model round trip gives identical predictions", {
  set.seed(1)
  m <- save_test_model()
  set_weights(m, list(`ts_bn/moving_mean` = c(0.1, -0.2, 0.3), `ts_bn/moving_variance` = c(2, 3, 4)))
  path <- withr::local_tempfile(fileext = ".safetensors")
  expect_identical(save_model(m, path), path)
  expect_true(file.exists(path))
  m2 <- load_model(path)
  expect_s3_class(m2, "symnet_model")
  expect_equal(m2$name, "saver")
  expect_equal(names(m2$outputs), c("logits", "probs"))
  expect_equal(names(m2$inputs), "x")
  expect_equal(get_weights(m2), get_weights(m))
  expect_equal(names(m2$params), names(m$params))
  expect_false(m2$variables[["ts_bn/moving_mean"]]$trainable)
  expect_equal(vapply(m2$aux_updates, function(u) u$name, ""), c("ts_bn/moving_mean", "ts_bn/moving_variance"))
  xv <- array(rnorm(2 * 64), c(2, 1, 8, 8))
  f1 <- sym_compile(m$outputs)
  f2 <- sym_compile(m2$outputs)
  expect_identical(f2(x = xv), f1(x = xv))
  expect_identical(capture.output(print(m2)), capture.output(print(m)))
  # loading twice gives independent models
  m3 <- load_model(path)
  set_weights(m3, list(`ts_d1/bias` = c(9, 9, 9, 9)))
  expect_identical(f2(x = xv), f1(x = xv))
})

test_that("the file is a safetensors file with the documented metadata", {
  set.seed(2)
  m <- save_test_model()
  path <- withr::local_tempfile(fileext = ".safetensors")
  save_model(m, path)
  h <- read_header(path)
  expect_equal(h$hi, 0L)
  expect_equal(h$n %% 8, 0)
  meta <- h$json[["__metadata__"]]
  expect_true(all(vapply(meta, is.character, logical(1))))
  expect_equal(meta$format, "symnet-model")
  expect_equal(meta$version, "1")
  expect_equal(jsonlite::parse_json(meta$inputs), list("x"))
  expect_equal(unlist(jsonlite::parse_json(meta$outputs)), c("logits", "probs"))
  expect_equal(jsonlite::parse_json(meta$aux_updates)[["ts_bn/moving_mean"]], "__aux__/ts_bn/moving_mean")
  expect_false("ts_bn/moving_mean" %in% unlist(jsonlite::parse_json(meta$trainable)))
  expect_equal(jsonlite::parse_json(meta$layers)[["ts_c1"]], "Conv2D")
  g <- jsonlite::parse_json(meta$graph)
  expect_equal(g$format, "symnet-graph")
  expect_null(g$variables[[1]]$data)
  k <- h$json[["ts_c1/kernel"]]
  expect_equal(k$dtype, "F32")
  expect_equal(unlist(k$shape), c(3, 1, 3, 3))
  off <- unlist(k$data_offsets)
  expect_equal(off[2] - off[1], 27 * 4)
  raw_k <- h$bytes[(8 + h$n + off[1] + 1):(8 + h$n + off[2])]
  vals <- readBin(raw_k, "numeric", size = 4, n = 27, endian = "little")
  expect_equal(vals, as.vector(aperm(get_weights(m)[["ts_c1/kernel"]])), tolerance = 1e-7)
  # offsets are contiguous and cover the data buffer
  ends <- sort(vapply(h$json[names(h$json) != "__metadata__"], function(e) unlist(e$data_offsets)[2], 0))
  expect_equal(max(ends), length(h$bytes) - 8 - h$n)
})

test_that("other dtypes round trip", {
  x <- sym_var("x", c(NA, 2), dtype = "float64")
  w <- sym_param("td/w", c(2, 2), init = matrix(c(1.5, 2, 3, 4.25), 2), dtype = "float64")
  cnt <- sym_shared(7L, name = "td/count", trainable = FALSE)
  y <- x %*% w + sym_cast(cnt, "float64")
  m <- sym_model(x, y)
  path <- withr::local_tempfile(fileext = ".safetensors")
  save_model(m, path)
  h <- read_header(path)
  expect_equal(h$json[["td/w"]]$dtype, "F64")
  expect_equal(h$json[["td/count"]]$dtype, "I32")
  expect_equal(length(h$json[["td/count"]]$shape), 0)
  m2 <- load_model(path)
  expect_equal(get_weights(m2), get_weights(m))
  xv <- matrix(c(1, 2, 3, 4), 2)
  expect_identical(sym_compile(m2$outputs[[1]])(x = xv), sym_compile(y)(x = xv))
})

test_that("corrupted, truncated or foreign files give classed errors", {
  set.seed(3)
  m <- save_test_model()
  path <- withr::local_tempfile(fileext = ".safetensors")
  save_model(m, path)
  b <- readBin(path, "raw", n = file.size(path))
  bad <- withr::local_tempfile(fileext = ".safetensors")

  writeBin(b[1:(length(b) - 10)], bad)
  expect_error(load_model(bad), class = "symnet_format_error")
  writeBin(b[1:100], bad)
  expect_error(load_model(bad), class = "symnet_format_error")
  writeBin(b[1:5], bad)
  expect_error(load_model(bad), class = "symnet_format_error")
  writeBin(raw(), bad)
  expect_error(load_model(bad), class = "symnet_format_error")
  set.seed(9)
  writeBin(as.raw(sample(0:255, 500, replace = TRUE)), bad)
  expect_error(load_model(bad), class = "symnet_format_error")
  # garbage in the header
  b2 <- b
  b2[20:40] <- as.raw(0x7b)
  writeBin(b2, bad)
  expect_error(load_model(bad), class = "symnet_error")
  # a valid safetensors file that is not a model
  hdr <- charToRaw('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}')
  writeBin(c(writeBin(length(hdr), raw(), size = 4, endian = "little"), raw(4), hdr, raw(4)), bad)
  expect_error(load_model(bad), class = "symnet_format_error")
  # a corrupted graph in the metadata
  h <- read_header(path)
  txt <- rawToChar(b[9:(8 + h$n)])
  txt2 <- sub("\"op\\\\\": \\\\\"conv\\\\\"", "\"op\\\\\": \\\\\"no_such_op\\\\\"", txt)
  expect_false(identical(txt, txt2))
  hb <- charToRaw(txt2)
  writeBin(c(writeBin(length(hb), raw(), size = 4, endian = "little"), raw(4), hb,
             b[(9 + h$n):length(b)]), bad)
  expect_error(load_model(bad), class = "symnet_format_error")
  # errors are also value errors, and an absent file is an I/O error
  expect_error(load_model(bad), class = "symnet_value_error")
  expect_error(load_model(file.path(tempdir(), "does-not-exist.safetensors")), class = "symnet_io_error")
  # the original still loads
  expect_s3_class(load_model(path), "symnet_model")
})

test_that("writes are atomic: a failure leaves the old file intact", {
  dir <- withr::local_tempdir()
  path <- file.path(dir, "ckpt.safetensors")
  set.seed(4)
  m <- save_test_model()
  save_model(m, path)
  good <- readBin(path, "raw", n = file.size(path))
  # a write that fails half way (after some bytes are out)
  expect_error(symnet:::.write_atomic(path, list(good[1:100], function() stop("disk full"))),
               class = "symnet_io_error")
  expect_identical(readBin(path, "raw", n = file.size(path) + 1), good)
  expect_equal(list.files(dir, all.files = TRUE, no.. = TRUE), "ckpt.safetensors")
  # a successful save replaces the file, leaving no temporary file either
  set_weights(m, list(`ts_d1/bias` = c(1, 2, 3, 4)))
  save_model(m, path)
  expect_equal(list.files(dir, all.files = TRUE, no.. = TRUE), "ckpt.safetensors")
  expect_equal(as.vector(get_weights(load_model(path))[["ts_d1/bias"]]), c(1, 2, 3, 4))
  # argument and I/O errors
  expect_error(save_model(m, path, overwrite = FALSE), class = "symnet_io_error")
  expect_error(save_model(m, file.path(dir, "nope", "m.safetensors")), class = "symnet_io_error")
  expect_error(save_model(m, dir), class = "symnet_io_error")
  expect_error(save_model(list(), path), class = "symnet_value_error")
  expect_error(save_model(m, 1), class = "symnet_value_error")
})

test_that("saveRDS() after changing weights in the engine writes the new weights", {
  set.seed(5)
  m <- save_test_model()
  sym_value(m$variables[["ts_d1/bias"]]) <- c(3, 3, 3, 3)
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(m, path)
  m2 <- readRDS(path)
  expect_equal(as.vector(get_weights(m2)[["ts_d1/bias"]]), c(3, 3, 3, 3))
  path2 <- withr::local_tempfile(fileext = ".safetensors")
  save_model(m2, path2)
  expect_equal(get_weights(load_model(path2)), get_weights(m2))
})

test_that("a loaded model remembers the loss and metrics it was trained with", {
  set.seed(6)
  x <- sym_var("x", c(NA, 3))
  m <- sym_model(x, x |> layer_dense(3, name = "tl_d"))
  X <- matrix(rnorm(60), 20, 3)
  y <- as.integer(max.col(X) - 1)
  fit(m, X, y, loss = "ce", metrics = "accuracy", epochs = 1, verbose = 0)
  path <- withr::local_tempfile(fileext = ".safetensors")
  save_model(m, path)
  m2 <- load_model(path)
  e <- evaluate(m2, X, y)
  expect_named(e, c("loss", "accuracy"))
  expect_equal(e, evaluate(m, X, y), tolerance = 1e-6)
  # arguments of built-in losses come back too
  fit(m, X, X, loss = loss_huber(delta = 0.5), metrics = character(), epochs = 1, verbose = 0)
  save_model(m, path)
  expect_equal(m$cache$fit_config$loss$args$delta, 0.5)
  expect_equal(load_model(path)$cache$fit_config$loss$args$delta, 0.5)
  # a custom loss cannot be stored: the error says so
  fit(m, X, X, loss = function(y_true, y_pred) sym_mean((y_true - y_pred)^2), epochs = 1, verbose = 0)
  save_model(m, path)
  expect_error(evaluate(load_model(path), X, X), "custom loss")
})

test_that("hostile safetensors headers are format errors, checked before allocating", {
  bad <- withr::local_tempfile(fileext = ".safetensors")
  st_file <- function(hdr, data = raw(), len = length(charToRaw(hdr))) {
    h <- charToRaw(hdr)
    c(writeBin(as.integer(len), raw(), size = 4, endian = "little"), raw(4), h, data)
  }
  # a header length beyond the file, and one near 2^64
  writeBin(st_file("{}", len = 1000), bad)
  expect_error(load_model(bad), "header length \\(1000\\) does not fit", class = "symnet_format_error")
  writeBin(c(as.raw(rep(0xff, 8)), charToRaw("{}")), bad)
  expect_error(load_model(bad), "18446744073709551615", class = "symnet_format_error")
  # offsets past the end, and a shape whose byte size overflows 64 bits
  writeBin(st_file('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,9999999999]}}', raw(4)), bad)
  expect_error(load_model(bad), "beyond the end of the file", class = "symnet_format_error")
  writeBin(st_file('{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}'), bad)
  expect_error(load_model(bad), "has 0 bytes, not the 7.3787e\\+19", class = "symnet_format_error")
  writeBin(st_file('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,4]}}', raw(4)), bad)
  expect_error(load_model(bad), "has 4 bytes, not the 12", class = "symnet_format_error")
  writeBin(st_file('{"__metadata__":{"format":1}}'), bad)
  expect_error(load_model(bad), "not a string", class = "symnet_format_error")
  writeBin(st_file('{"w":{},"w":{}}'), bad)
  expect_error(load_model(bad), "twice", class = "symnet_format_error")
})

test_that("a model whose graph declares variables larger than the file is refused", {
  x <- sym_var("x", c(NA, 2))
  m <- sym_model(x, layer_dense(x, 3, name = "hv"))
  path <- withr::local_tempfile(fileext = ".safetensors")
  save_model(m, path)
  b <- readBin(path, "raw", n = file.size(path))
  n <- readBin(b[1:4], "integer", size = 4, endian = "little")
  txt <- rawToChar(b[9:(8 + n)])
  # the kernel [2, 3] becomes [200000, 300000] in the graph (240 GB of float32)
  txt2 <- sub("\\[2, 3\\]", "[200000, 300000]", txt)
  expect_false(identical(txt, txt2))
  hb <- charToRaw(txt2)
  writeBin(c(writeBin(length(hb), raw(), size = 4, endian = "little"), raw(4), hb, b[(9 + n):length(b)]), path)
  expect_error(load_model(path), class = "symnet_format_error")
  err <- tryCatch(load_model(path), error = identity)
  expect_match(conditionMessage(err$parent), "would take 240000000000 bytes")
})
