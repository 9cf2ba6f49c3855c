# The data and the model of the LeNet / Fashion-MNIST benchmarks (lenet.R,
# distributed-lenet.R), sourced by both so that they measure the same thing.

# Fashion-MNIST as the loader gives it: [N, 28, 28] images, integer pixels (scale = "graph":
# the model scales them) or doubles in [0, 1] (scale = "r"). `note` reports memory after
# loading. The caller gives the images their channel axis at top level,
#   x_train <- d$x_train; rm(d); dim(x_train) <- c(dim(x_train)[1], 1L, 28L, 28L)
# where dim<- changes the array in place: inside a function R copies it (the loader's list
# still counts as a reference), which added the 188 MB of a copy to the benchmark's peak RSS.
lenet_data <- function(path, scale = c("graph", "r"), note = function(ds) NULL) {
  scale <- match.arg(scale)
  ds <- dataset_fashion_mnist(path = path, download = FALSE)
  note(ds)
  list(x_train = if (scale == "r") ds$train$x / 255 else ds$train$x,
       x_test = if (scale == "r") ds$test$x / 255 else ds$test$x,
       y_train = ds$train$y, y_test = ds$test$y)
}

# conv 5x5x20 tanh, max-pool 2, conv 5x5x50 tanh, max-pool 2, dense 500 tanh, dense 10 (logits);
# the seed fixes the initial weights, so that runs of one build give one accuracy.
lenet_model <- function(scale = c("graph", "r"), seed = 42L) {
  scale <- match.arg(scale)
  set.seed(seed)
  x <- sym_var("x", c(NA, 1, 28, 28))
  h <- if (scale == "graph") layer_rescaling(x, 1 / 255) else x
  out <- h |>
    layer_conv2d(20, 5, activation = "tanh") |>
    layer_max_pool2d(2) |>
    layer_conv2d(50, 5, activation = "tanh") |>
    layer_max_pool2d(2) |>
    layer_flatten() |>
    layer_dense(500, activation = "tanh") |>
    layer_dense(10)
  sym_model(x, out)
}

