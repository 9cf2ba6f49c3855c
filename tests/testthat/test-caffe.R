test_that("without protobuf, import_caffe() says how to enable it", {
  skip_if(onnx_available(), "symnet was installed with protobuf")
  p <- system.file("extdata", "caffe", "tiny.prototxt", package = "symnet")
  w <- system.file("extdata", "caffe", "tiny.caffemodel", package = "symnet")
  e <- expect_error(import_caffe(p, w), class = "symnet_unsupported_error")
  expect_match(conditionMessage(e), "protobuf")
})

skip_if_not(onnx_available(), "symnet was installed without protobuf")

fixture <- function(...) test_path("fixtures", "caffe", ...)
tiny <- function(f) system.file("extdata", "caffe", f, package = "symnet")
write_text <- function(lines) {
  f <- tempfile(fileext = ".prototxt")
  writeLines(lines, f)
  f
}

test_that("the shipped tiny Caffe model predicts PyTorch's outputs with any batch size", {
  m <- import_caffe(tiny("tiny.prototxt"), tiny("tiny.caffemodel"))
  expect_s3_class(m, "symnet_model")
  x <- read_onnx_tensor(fixture("tiny_input.pb"))
  expect_equal(dim(x), c(2, 1, 8, 8))
  expect_equal(predict(m, x), read_onnx_tensor(fixture("tiny_output.pb")), tolerance = 1e-4)
  expect_equal(dim(predict(m, array(0, c(5, 1, 8, 8)))), c(5, 3))
  expect_equal(m$name, "tiny")
  # the model table groups nodes by Caffe layer, with the layer types
  info <- model_layers(m)
  expect_equal(info$name, c("data", "conv", "relu", "pool", "fc", "prob"))
  expect_equal(info$type[info$name == "conv"], "Convolution")
  expect_equal(info$params[info$name == "fc"], 3 * 36 + 3)
  expect_equal(import_caffe(tiny("tiny.prototxt"), tiny("tiny.caffemodel"), name = "other")$name, "other")
})

test_that("every converted layer type matches PyTorch on the zoo network", {
  m <- import_caffe(fixture("zoo.prototxt"), fixture("zoo.caffemodel"))
  x <- read_onnx_tensor(fixture("zoo_input.pb"))
  y <- read_onnx_tensor(fixture("zoo_output.pb"))
  p <- predict(m, x)
  expect_equal(dim(p), c(2, 2, 5))
  expect_lt(max(abs(p - y)), 1e-4)
  w <- get_weights(m)
  expect_setequal(names(w), c("conv1/weight", "conv1/bias", "bn1/mean", "bn1/variance", "conv2/weight",
                              "conv2/bias", "bn2/mean", "bn2/variance", "scale2/weight", "scale2/bias",
                              "scale3/weight", "fc/weight", "fc/bias"))
  expect_equal(dim(w[["conv2/weight"]]), c(8, 4, 3, 1))  # grouped: 4 input channels per group
  expect_equal(dim(w[["fc/weight"]]), c(10, 384))
  # BatchNorm statistics are running state (divided by Caffe's moving-average factor)
  s <- capture.output(print(m))
  expect_true(any(grepl("Non-trainable params: 32", s, fixed = TRUE)))
  # the TRAIN-only loss layer is left out; every blob is a tensor to cut at
  expect_false("loss" %in% names(m$tensors))
  cut <- sym_model(m$inputs, m$tensors[["pool1"]])
  expect_equal(dim(predict(cut, x)), c(2, 8, 6, 6))
})

test_that("a V1-format network with legacy blob shapes imports", {
  m <- import_caffe(fixture("v1.prototxt"), fixture("v1.caffemodel"))
  x <- read_onnx_tensor(fixture("v1_input.pb"))
  expect_equal(predict(m, x), read_onnx_tensor(fixture("v1_output.pb")), tolerance = 1e-4)
  expect_equal(dim(get_weights(m)[["ip/weight"]]), c(5, 16))
})

test_that("fine-tuning an imported Caffe model lowers its loss and updates batch-norm statistics", {
  m <- import_caffe(fixture("zoo.prototxt"), fixture("zoo.caffemodel"))
  logits <- sym_model(m$inputs, m$tensors[["fc"]])
  set.seed(5)
  xs <- array(rnorm(48 * 3 * 12 * 12), c(48, 3, 12, 12))
  ys <- factor(sample(0:9, 48, TRUE), levels = 0:9)
  before <- get_weights(logits)
  h <- fit(logits, xs, ys, loss = "softmax_cross_entropy", optimizer = optimizer_sgd(0.05),
           epochs = 5, batch_size = 16, verbose = 0, seed = 1)
  loss <- h$metrics$loss
  expect_lt(loss[length(loss)], loss[1])
  after <- get_weights(logits)
  expect_false(isTRUE(all.equal(before[["bn1/mean"]], after[["bn1/mean"]])))
  expect_false(isTRUE(all.equal(before[["conv1/weight"]], after[["conv1/weight"]])))
})

test_that("an imported Caffe model saves and loads", {
  m <- import_caffe(fixture("v1.prototxt"), fixture("v1.caffemodel"))
  x <- read_onnx_tensor(fixture("v1_input.pb"))
  f <- tempfile(fileext = ".symnet")
  on.exit(unlink(f))
  save_model(m, f)
  expect_equal(predict(load_model(f), x), predict(m, x))
})

test_that("malformed and hostile Caffe files give classed value errors", {
  p <- tiny("tiny.prototxt")
  expect_error(import_caffe(tempfile(), tiny("tiny.caffemodel")), "does not exist", class = "symnet_io_error")
  expect_error(import_caffe(p, tempfile()), "does not exist", class = "symnet_io_error")
  expect_error(import_caffe(42, p), class = "symnet_error")
  e <- expect_error(import_caffe(p, fixture("bad_count.caffemodel")), class = "symnet_value_error")
  expect_match(conditionMessage(e), "35 values")
  e <- expect_error(import_caffe(p, fixture("huge_dims.caffemodel")), class = "symnet_value_error")
  expect_match(conditionMessage(e), "more values than any file")
  e <- expect_error(import_caffe(p, fixture("missing_blob.caffemodel")), class = "symnet_value_error")
  expect_match(conditionMessage(e), "missing")
  good <- readBin(tiny("tiny.caffemodel"), "raw", 1e6)
  for (n in c(7, length(good) %/% 2, length(good) - 3)) {
    f <- tempfile(fileext = ".caffemodel")
    writeBin(good[seq_len(n)], f)
    expect_error(import_caffe(p, f), class = "symnet_value_error")
  }
  # the weights given as the network and the other way round
  expect_error(import_caffe(tiny("tiny.caffemodel"), tiny("tiny.caffemodel")), class = "symnet_value_error")
  expect_error(import_caffe(write_text("layer { name: 'a' type: "), tiny("tiny.caffemodel")),
               "line", class = "symnet_value_error")
  expect_error(import_caffe(write_text(c("input: 'x' input_dim: 1 input_dim: 2 input_dim: 99999999999",
                                         "input_dim: 99999999999", "layer { name: 'r' type: 'ReLU' bottom: 'x' top: 'y' }")),
                            tiny("tiny.caffemodel")), class = "symnet_value_error")
})

test_that("unsupported Caffe layers and parameters are refused by name", {
  w <- tiny("tiny.caffemodel")
  head <- "input: 'x' input_shape { dim: 1 dim: 2 dim: 6 dim: 6 }"
  e <- expect_error(import_caffe(write_text(c(head, "layer { name: 'p' type: 'PReLU' bottom: 'x' top: 'y' }")), w),
                    class = "symnet_unsupported_error")
  expect_match(conditionMessage(e), "PReLU")
  e <- expect_error(import_caffe(write_text(c(head, "layer { name: 'n' type: 'LRN' bottom: 'x' top: 'y'",
                                              "lrn_param { norm_region: WITHIN_CHANNEL } }")), w),
                    class = "symnet_unsupported_error")
  expect_match(conditionMessage(e), "ACROSS_CHANNELS")
  # a field of another Caffe fork inside a converted layer's parameters
  e <- expect_error(import_caffe(write_text(c(head, "layer { name: 'c' type: 'Convolution' bottom: 'x' top: 'y'",
                                              "convolution_param { num_output: 2 kernel_size: 1 fuse_type: 1 } }")), w),
                    class = "symnet_unsupported_error")
  expect_match(conditionMessage(e), "fuse_type")
  # pooling whose last window Caffe starts past the input
  e <- expect_error(import_caffe(write_text(c(head, "layer { name: 'p' type: 'Pooling' bottom: 'x' top: 'y'",
                                              "pooling_param { kernel_size: 1 stride: 4 } }")), w),
                    class = "symnet_unsupported_error")
  expect_match(conditionMessage(e), "past the input")
})
