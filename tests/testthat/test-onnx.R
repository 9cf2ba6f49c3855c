test_that("without protobuf, import_onnx() says how to enable it", {
  skip_if(onnx_available(), "symnet was installed with protobuf")
  f <- system.file("extdata", "onnx", "mlp.onnx", package = "symnet")
  e <- expect_error(import_onnx(f), class = "symnet_unsupported_error")
  expect_match(conditionMessage(e), "protobuf")
  expect_error(read_onnx_tensor(f), class = "symnet_unsupported_error")
})

skip_if_not(onnx_available(), "symnet was installed without protobuf")

fixture <- function(...) test_path("fixtures", "onnx", ...)

test_that("an MLP exported by PyTorch imports and predicts PyTorch's outputs", {
  f <- system.file("extdata", "onnx", "mlp.onnx", package = "symnet")
  m <- import_onnx(f)
  expect_s3_class(m, "symnet_model")
  x <- read_onnx_tensor(system.file("extdata", "onnx", "mlp_input_0.pb", package = "symnet"))
  y <- read_onnx_tensor(system.file("extdata", "onnx", "mlp_output_0.pb", package = "symnet"))
  expect_equal(dim(x), c(2, 4))
  expect_equal(predict(m, x), y, tolerance = 1e-5)
  expect_equal(m$onnx$opset, 13)
  # any batch size: the first input dimension is left free
  x5 <- matrix(runif(20), 5, 4)
  expect_equal(dim(predict(m, x5)), c(5, 3))
})

test_that("a CNN trained in PyTorch imports with trainable weights and running statistics", {
  m <- import_onnx(fixture("small_cnn.onnx"))
  x <- read_onnx_tensor(fixture("small_cnn_input_0.pb"))
  y <- read_onnx_tensor(fixture("small_cnn_output_0.pb"))
  expect_equal(predict(m, x), y, tolerance = 1e-4)
  w <- get_weights(m)
  expect_true(all(c("conv1.weight", "grouped.weight", "depthwise.weight", "fc.weight", "bn1.running_mean") %in% names(w)))
  expect_equal(dim(w[["depthwise.weight"]]), c(8, 1, 3, 3))
  info <- model_layers(m)
  expect_true(is.data.frame(info))
  # running statistics are state, not parameters
  s <- capture.output(print(m))
  expect_true(any(grepl("Non-trainable params: 16", s, fixed = TRUE)))
})

test_that("an imported CNN's batch norm is folded into its convolution and follows new statistics", {
  m <- import_onnx(fixture("small_cnn.onnx"))
  x <- read_onnx_tensor(fixture("small_cnn_input_0.pb"))
  n_op <- function(dot, op) lengths(regmatches(dot, gregexpr(paste0("label=\"", op, "\\\\n"), dot)))
  expect_equal(n_op(sym_dot(m), "batch_norm"), 1)
  expect_equal(n_op(sym_dot(m, optimized = TRUE), "batch_norm"), 0)
  plain <- sym_compile(m$outputs[[1]], optimize = FALSE)
  before <- predict(m, x)
  expect_equal(before, plain(input = x), tolerance = 1e-5)
  w <- get_weights(m)
  set_weights(m, list(bn1.running_mean = w[["bn1.running_mean"]] + 0.5,
                      bn1.running_var = w[["bn1.running_var"]] * 2))
  after <- predict(m, x)
  expect_false(isTRUE(all.equal(after, before)))
  expect_equal(after, plain(input = x), tolerance = 1e-5)
})

test_that("fine-tuning an imported model lowers its loss and updates batch-norm statistics", {
  m <- import_onnx(fixture("small_cnn.onnx"))
  set.seed(3)
  xs <- array(rnorm(64 * 3 * 16 * 16), c(64, 3, 16, 16))
  ys <- factor(sample(0:4, 64, TRUE), levels = 0:4)
  before <- get_weights(m)
  h <- fit(m, xs, ys, loss = "softmax_cross_entropy", optimizer = optimizer_sgd(0.05),
           epochs = 4, batch_size = 16, verbose = 0, seed = 1)
  loss <- h$metrics$loss
  expect_lt(loss[length(loss)], loss[1])
  after <- get_weights(m)
  expect_false(isTRUE(all.equal(before[["bn1.running_mean"]], after[["bn1.running_mean"]])))
  expect_false(isTRUE(all.equal(before[["fc.weight"]], after[["fc.weight"]])))
})

test_that("an imported model can be cut at any named tensor and saved", {
  m <- import_onnx(fixture("small_cnn.onnx"))
  x <- read_onnx_tensor(fixture("small_cnn_input_0.pb"))
  expect_true("/pool/MaxPool_output_0" %in% names(m$tensors))
  cut <- sym_model(m$inputs, m$tensors[["/pool/MaxPool_output_0"]])
  expect_equal(dim(predict(cut, x)), c(4, 8, 8, 8))
  f <- tempfile(fileext = ".symnet")
  on.exit(unlink(f))
  save_model(m, f)
  m2 <- load_model(f)
  expect_equal(predict(m2, x), predict(m, x))
  m3 <- unserialize(serialize(m, NULL))
  expect_equal(predict(m3, x), predict(m, x))
})

test_that("inputs can be reshaped and bound at import", {
  f <- system.file("extdata", "onnx", "mlp.onnx", package = "symnet")
  m <- import_onnx(f, input_shapes = list(input = c(7, 4)))
  expect_equal(dim(predict(m, matrix(0, 7, 4))), c(7, 3))
  expect_error(import_onnx(f, bind = list(input = matrix(0, 2, 4))), "no inputs left", class = "symnet_error")
  expect_error(import_onnx(f, bind = list(nope = 1)), "not an input", class = "symnet_value_error")
  expect_error(import_onnx(f, input_shapes = list(1)), "unique name", class = "symnet_value_error")
})

test_that("missing, malformed, truncated and unsupported files give classed errors", {
  expect_error(import_onnx(tempfile()), "does not exist", class = "symnet_io_error")
  expect_error(import_onnx(42), class = "symnet_error")
  good <- readBin(system.file("extdata", "onnx", "mlp.onnx", package = "symnet"), "raw", 1e6)
  write_bytes <- function(b) {
    f <- tempfile(fileext = ".onnx")
    writeBin(b, f)
    f
  }
  garbage <- write_bytes(as.raw(c(0xff, 0xff, 0xff, 0xff, 0x01, 0x02)))
  expect_error(import_onnx(garbage), class = "symnet_value_error")
  for (n in c(10, length(good) %/% 2, length(good) - 3)) {
    f <- write_bytes(good[seq_len(n)])
    expect_error(import_onnx(f), class = "symnet_error")
  }
  # the same file with its Tanh node's op_type (field 4: tag 0x22, length 4) renamed to
  # an operator that does not exist
  pos <- grepRaw(c(as.raw(c(0x22, 0x04)), charToRaw("Tanh")), good, fixed = TRUE)
  expect_length(pos, 1)
  bad <- good
  bad[pos + 5] <- charToRaw("x")
  e <- expect_error(import_onnx(write_bytes(bad)), class = "symnet_unsupported_error")
  expect_match(conditionMessage(e), "Tanx")
  expect_error(read_onnx_tensor(garbage), class = "symnet_value_error")
})
