hist_fixture <- function() {
  set.seed(1)
  X <- matrix(rnorm(200), 100, 2)
  y <- as.integer(X[, 1] > 0)
  x <- sym_var("x", c(NA, 2))
  m <- sym_model(x, layer_dense(x, 2))
  fit(m, X, y, loss = "ce", optimizer = optimizer_sgd(0.3), epochs = 4, metrics = "accuracy",
      validation_split = 0.2, verbose = 0)
}

test_that("history prints a summary and the last epochs", {
  h <- hist_fixture()
  out <- capture.output(print(h))
  expect_match(out[1], "4 of 4 epochs; 80 examples \\(20 validation\\), batch size 32")
  expect_match(out[2], "loss: softmax_cross_entropy; optimizer: sgd; metrics: accuracy")
  expect_true(any(grepl("val_accuracy", out)))
  expect_length(capture.output(print(h, n = 2)), 2 + 1 + 1 + 2)
  expect_identical(as.data.frame(h), h$metrics)
})

test_that("history plots with ggplot2 and with base graphics", {
  h <- hist_fixture()
  skip_if_not_installed("ggplot2")
  p <- plot(h)
  expect_s3_class(p, "ggplot")
  f <- withr::local_tempfile(fileext = ".png")
  grDevices::png(f, width = 500, height = 600)
  print(p)
  plot(h, method = "base")
  plot(h, metrics = "loss", method = "base")
  grDevices::dev.off()
  expect_gt(file.size(f), 1000)
  expect_error(plot(h, metrics = "auc"), class = "symnet_value_error")
  long <- symnet:::.history_long(h$metrics, NULL)
  expect_identical(levels(long$metric), c("loss", "accuracy"))
  expect_identical(nrow(long), 16L)
})

test_that("an empty history cannot be plotted", {
  h <- symnet:::.new_history(data.frame(epoch = integer()), list(epochs = 1))
  expect_error(plot(h), class = "symnet_value_error")
  expect_output(print(h), "0 of 1 epoch")
})
