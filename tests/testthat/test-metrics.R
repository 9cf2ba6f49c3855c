metric_value <- function(m, pred, y, ctx, ydtype = "int32") {
  p <- sym_var("p", c(NA, ncol(pred)))
  yshape <- if (is.null(dim(y))) NA else c(NA, ncol(y))
  t <- sym_var("t", yshape, dtype = ydtype)
  sym_compile(symnet:::.metric_symbol(m, t, p, ctx))(p = pred, t = y)
}

scores <- rbind(c(0.1, 0.7, 0.2), c(0.5, 0.1, 0.4), c(0.2, 0.3, 0.5), c(0.6, 0.3, 0.1))

test_that("accuracy for class labels, one-hot labels and binary outputs", {
  y <- c(1L, 2L, 2L, 0L)  # predictions 1, 0, 2, 0 -> 3 of 4 right
  expect_equal(metric_value(metric_accuracy(), scores, y, list(kind = "class")), 0.75)
  expect_equal(metric_value(metric_accuracy(), scores, diag(3)[y + 1, ], list(kind = "prob"), "float32"),
               0.75)
  logit <- matrix(c(-1, 2, 0.5, -0.2), 4, 1)
  yb <- matrix(c(0, 1, 0, 0), 4, 1)
  expect_equal(metric_value(metric_accuracy(), logit, yb, list(kind = "binary", from_logits = TRUE), "float32"),
               0.75)
  expect_equal(metric_value(metric_accuracy(), 1 / (1 + exp(-logit)), yb,
                            list(kind = "binary", from_logits = FALSE), "float32"), 0.75)
})

test_that("top-k accuracy counts labels among the k best scores", {
  y <- c(2L, 1L, 0L, 2L)
  # ranks of the label: 2nd, 3rd, 3rd, 3rd
  expect_equal(metric_value(metric_top_k_accuracy(1), scores, y, list(kind = "class")), 0)
  expect_equal(metric_value(metric_top_k_accuracy(2), scores, y, list(kind = "class")), 0.25)
  expect_equal(metric_value(metric_top_k_accuracy(3), scores, y, list(kind = "class")), 1)
  expect_identical(metric_top_k_accuracy(3)$name, "top_3_accuracy")
})

test_that("metrics are given as names, objects or R functions", {
  ms <- symnet:::.as_metrics(list("acc", top = metric_top_k_accuracy(2),
                                  mae = function(y_true, y_pred) abs(y_true - y_pred)))
  expect_named(ms, c("accuracy", "top", "mae"))
  expect_null(ms$mae$build)
  expect_error(symnet:::.as_metrics("auc"), class = "symnet_value_error")
  expect_error(symnet:::.as_metrics(list(a = "acc", a = "acc")), class = "symnet_value_error")
  expect_error(symnet:::.as_metrics(list(loss = "acc")), class = "symnet_value_error")
  expect_output(print(metric_accuracy()), "accuracy")
  # a function that works on symbols is compiled into the graph
  f <- symnet:::.new_metric("mae", fn = function(y_true, y_pred) sym_mean(abs(y_true - y_pred)))
  expect_equal(metric_value(f, matrix(c(1, 2), 2, 1), matrix(c(0, 0), 2, 1), list(kind = "target"), "float32"),
               1.5)
  # one that only works on R arrays runs in R
  g <- symnet:::.new_metric("med", fn = function(y_true, y_pred) median(abs(y_true - y_pred)))
  expect_null(symnet:::.metric_symbol(g, sym_var("a", NA), sym_var("b", NA), list(kind = "target")))
  expect_equal(symnet:::.metric_r_value(g, c(1, 2, 3), c(1, 1, 1)), 1)
})

test_that("mae and mse metrics by name and as objects", {
  set.seed(1)
  X <- matrix(rnorm(60), 30, 2)
  y <- X %*% c(1, -1) + 0.5
  x <- sym_var("x", c(NA, 2))
  m <- sym_model(x, layer_dense(x, 1))
  h <- fit(m, X, y, loss = "mse", metrics = c("mae", "mse"), optimizer = optimizer_sgd(0.05), epochs = 2,
           verbose = 0)
  expect_named(h$metrics, c("epoch", "loss", "mae", "mse", "lr"))
  expect_equal(h$metrics$mse, h$metrics$loss, tolerance = 1e-6)
  e <- evaluate(m, X, y, metrics = list(metric_mae(), "mean_squared_error"))
  p <- predict(m, X)
  expect_equal(unname(e[["mae"]]), mean(abs(p - y)), tolerance = 1e-5)
  expect_equal(unname(e[["mse"]]), mean((p - y)^2), tolerance = 1e-5)
  expect_output(print(metric_mse()), "mse")
  # not for class indices
  m2 <- sym_model(x, layer_dense(x, 2))
  expect_error(fit(m2, X, rep(0:1, 15), loss = "ce", metrics = "mae", verbose = 0), class = "symnet_value_error")
})
