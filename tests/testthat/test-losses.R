z <- rbind(c(2, 0, -1), c(0.5, 1.5, 0), c(-1, 0, 3))

loss_value <- function(loss, pred, y, kind, ydtype = "float32") {
  p <- sym_var("p", c(NA, ncol(pred)))
  yshape <- if (is.null(dim(y))) NA else c(NA, ncol(y))
  t <- sym_var("t", yshape, dtype = ydtype)
  sym_compile(loss$build(p, t, kind))(p = pred, t = y)
}

test_that("softmax cross-entropy from class indices and from one-hot rows", {
  y <- c(0L, 1L, 2L)
  ref <- -mean(log(softmax_rows(z))[cbind(1:3, y + 1)])
  expect_close(loss_value(loss_softmax_cross_entropy(), z, y, "class", "int32"), ref)
  onehot <- diag(3)[y + 1, ]
  expect_close(loss_value(loss_softmax_cross_entropy(), z, onehot, "prob"), ref)
})

test_that("binary cross-entropy from logits and from probabilities", {
  pred <- matrix(c(-1, 0.5, 2), 3, 1)
  y <- matrix(c(0, 1, 1), 3, 1)
  p <- 1 / (1 + exp(-pred))
  ref <- -mean(y * log(p) + (1 - y) * log(1 - p))
  expect_close(loss_value(loss_binary_cross_entropy(), pred, y, "binary"), ref)
  expect_close(loss_value(loss_binary_cross_entropy(from_logits = FALSE), p, y, "binary"), ref)
})

test_that("regression losses: mse, mae, huber", {
  pred <- matrix(c(1, 2, 3, 4), 2, 2)
  y <- matrix(c(1.5, 0, 3, 6), 2, 2)
  d <- pred - y
  expect_close(loss_value(loss_mse(), pred, y, "target"), mean(d^2))
  expect_close(loss_value(loss_mae(), pred, y, "target"), mean(abs(d)))
  hub <- function(d, delta) ifelse(abs(d) <= delta, 0.5 * d^2, delta * (abs(d) - 0.5 * delta))
  expect_close(loss_value(loss_huber(), pred, y, "target"), mean(hub(d, 1)))
  expect_close(loss_value(loss_huber(delta = 1.5), pred, y, "target"), mean(hub(d, 1.5)))
  expect_error(loss_huber(delta = 0), class = "symnet_value_error")
})

test_that("losses are found by name, and functions become custom losses", {
  expect_identical(symnet:::.as_loss("sparse_categorical_crossentropy")$name, "softmax_cross_entropy")
  expect_identical(symnet:::.as_loss("MSE")$name, "mse")
  expect_identical(symnet:::.as_loss("binary_crossentropy")$name, "binary_cross_entropy")
  expect_error(symnet:::.as_loss("hinge"), class = "symnet_value_error")
  expect_error(symnet:::.as_loss(42), class = "symnet_value_error")
  custom <- symnet:::.as_loss(function(y_true, y_pred) sym_mean(sym_abs(y_pred - y_true)^3))
  pred <- matrix(c(1, 2), 2, 1)
  expect_close(loss_value(custom, pred, matrix(c(0, 0), 2, 1), "target"), mean(c(1, 8)))
  expect_output(print(loss_huber(2)), "huber\\(delta = 2\\)")
})

test_that("class labels are checked against the number of outputs", {
  cl <- symnet:::.class_labels
  s <- c(NA, 3L)
  expect_identical(cl(c(0, 2, 1), s)$value, c(0L, 2L, 1L))
  f <- cl(factor(c("b", "a", "c")), s)
  expect_identical(f$value, c(1L, 0L, 2L))
  expect_identical(f$levels, c("a", "b", "c"))
  expect_identical(cl(diag(3), s)$kind, "prob")
  expect_error(cl(c(0, 3), s), class = "symnet_value_error")
  expect_error(cl(c(1, 2, 3), s), "1-based")
  expect_error(cl(c(-1, 0), s), class = "symnet_value_error")
  expect_error(cl(c(0, NA), s), class = "symnet_value_error")
  expect_error(cl(c(0.5, 1), s), class = "symnet_value_error")
  expect_error(cl(factor(letters[1:4]), s), class = "symnet_value_error")
  expect_error(cl(matrix(0, 2, 4), s), class = "symnet_shape_error")
  expect_error(cl(integer(), s), class = "symnet_value_error")
  expect_error(cl("a", s), class = "symnet_dtype_error")
})

test_that("binary and regression targets take the output's shape", {
  b <- symnet:::.binary_labels(c(0, 1, 1), c(NA, 1L))
  expect_equal(dim(b$value), c(3L, 1L))
  expect_identical(symnet:::.binary_labels(factor(c("no", "yes")), c(NA, 1L))$value[, 1], c(0, 1))
  expect_error(symnet:::.binary_labels(c(0, 2), c(NA, 1L)), class = "symnet_value_error")
  expect_error(symnet:::.target_labels(1:3, c(NA, 2L)), class = "symnet_shape_error")
  expect_error(symnet:::.target_labels(matrix(1, 3, 3), c(NA, 2L)), class = "symnet_shape_error")
  expect_error(symnet:::.target_labels(c(1, Inf), c(NA, 1L)), class = "symnet_value_error")
  expect_equal(dim(symnet:::.target_labels(matrix(1, 3, 2), c(NA, 2L))$value), c(3L, 2L))
})
