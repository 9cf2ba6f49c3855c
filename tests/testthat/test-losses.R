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

test_that("softmax cross-entropy from probabilities, and unreduced losses per element", {
  y <- c(0L, 1L, 2L)
  ref <- -mean(log(softmax_rows(z))[cbind(1:3, y + 1)])
  expect_close(loss_value(loss_softmax_cross_entropy(from_logits = FALSE), softmax_rows(z), y, "class", "int32"),
               ref)
  # probabilities that do not sum to 1 are normalised (as keras does)
  expect_close(loss_value(loss_softmax_cross_entropy(from_logits = FALSE), 2 * softmax_rows(z), y, "class",
                          "int32"), ref)
  expect_error(loss_softmax_cross_entropy(from_logits = NA), class = "symnet_value_error")
  p <- sym_var("p", c(NA, 3))
  t <- sym_var("t", NA, dtype = "int32")
  per <- sym_compile(loss_softmax_cross_entropy()$build(p, t, "class", reduction = "none"))(p = z, t = y)
  expect_close(per, -log(softmax_rows(z))[cbind(1:3, y + 1)])
  tt <- sym_var("tt", c(NA, 3))
  per <- sym_compile(loss_mse()$build(p, tt, "target", reduction = "none"))(p = z, tt = z + 1)
  expect_close(per, matrix(1, 3, 3))
})

test_that("custom losses get float labels unless they are class indices", {
  lab <- function(y, out_shape) symnet:::.custom_labels(y, out_shape)
  # integer targets of a regression: float32, so sym_mean(y_true) and y_pred - y_true work
  expect_identical(lab(1:5, c(NA, 1L))$dtype, "float32")
  expect_identical(lab(matrix(1:6, 3), c(NA, 2L))$dtype, "float32")
  expect_identical(lab(c(TRUE, FALSE), c(NA, 1L))$dtype, "float32")
  # a vector for an [n, 1] output is a column (no [n, n] broadcast in y_pred - y_true)
  expect_identical(lab(c(1.5, 2), c(NA, 1L))$shape, c(NA, 1L))
  expect_identical(dim(lab(1:3, c(NA, 1L))$value), c(3L, 1L))
  expect_identical(lab(c(1.5, 2), NA_integer_)$shape, NA_integer_)
  # class indices for a K-class output (and factors) stay int32
  expect_identical(lab(c(0L, 2L, 1L), c(NA, 3L))$dtype, "int32")
  expect_identical(lab(factor(c("a", "b")), c(NA, 2L))$dtype, "int32")
  expect_identical(lab(factor(c("a", "b")), c(NA, 2L))$value, c(0L, 1L))
  # end to end: a custom loss that averages y_true trains with integer targets
  set.seed(1)
  X <- matrix(rnorm(100), 50, 2)
  yi <- as.integer(round(3 * X[, 1] - X[, 2]))
  x <- sym_var("x", c(NA, 2))
  m <- sym_model(x, layer_dense(x, 1))
  closs <- function(y_true, y_pred) sym_mean(sym_square(y_pred - y_true)) + 0 * sym_mean(y_true)
  h <- fit(m, X, yi, loss = closs, optimizer = optimizer_adam(0.1), epochs = 30, verbose = 0, seed = 1)
  expect_lt(h$metrics$loss[30], 0.5 * h$metrics$loss[1])
})

test_that("weighted training needs per-example values from a custom loss", {
  set.seed(1)
  X <- matrix(rnorm(40), 20, 2)
  y <- X[, 1]
  x <- sym_var("x", c(NA, 2))
  m <- sym_model(x, layer_dense(x, 1))
  scalar_loss <- function(y_true, y_pred) sym_mean(sym_square(y_pred - y_true))
  expect_error(fit(m, X, y, loss = scalar_loss, verbose = 0, sample_weight = rep(1, 20)),
               class = "symnet_value_error")
  per_loss <- function(y_true, y_pred) sym_square(y_pred - y_true)
  fit(m, X, y, loss = per_loss, optimizer = optimizer_sgd(0.01), verbose = 0, sample_weight = rep(1, 20))
  w <- seq(0, 1, length.out = 20)
  p <- predict(m, X)
  expect_equal(unname(evaluate(m, X, y, loss = per_loss, sample_weight = w)[["loss"]]),
               mean(w * (p - y)^2), tolerance = 1e-5)
})

test_that("only a softmax over the class axis (a sigmoid for binary) counts as the output activation", {
  z <- sym_var("z", c(NA, 3, 5))
  ce <- loss_softmax_cross_entropy()
  li <- function(s, l = ce) symnet:::.loss_input(s, l, "out")
  expect_true(li(sym_softmax(z))$probabilities)
  expect_true(li(sym_softmax(z, axis = 3))$probabilities)
  expect_false(li(sym_softmax(z, axis = 2))$probabilities)
  expect_false(li(sym_relu(z))$probabilities)
  expect_false(li(sym_sigmoid(z))$probabilities)
  expect_true(li(sym_sigmoid(z), loss_binary_cross_entropy())$probabilities)
  expect_false(li(sym_softmax(z), loss_binary_cross_entropy())$probabilities)
  expect_false(li(sym_softmax(z), loss_mse())$probabilities)
  # the loss is then computed from the activation's input
  x <- sym_var("x", c(NA, 3))
  node_id <- function(s) symnet:::cpp_sym_info(symnet:::.ptr(s))$id
  expect_identical(node_id(li(sym_softmax(x))$pred), node_id(x))
})
