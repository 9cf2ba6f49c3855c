# symnet demo: train LeNet on Fashion-MNIST and print the test accuracy.
#
# The classic LeNet (conv 5x5x20 tanh, max-pool 2, conv 5x5x50 tanh, max-pool 2,
# dense 500 tanh, dense 10) is built from layers, and fit() compiles the forward
# pass, the softmax cross-entropy, the gradients and the SGD-with-momentum update
# into one graph: every mini-batch is a single call into the C++ engine.
#
# Data: the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist),
# options(symnet.data_dir = ...), the user cache, or a one-time download.
#
# Run with: Rscript inst/examples/demo.R   (or: sh tools/setup.sh demo)

suppressPackageStartupMessages(library(symnet))

epochs <- as.integer(Sys.getenv("SYMNET_DEMO_EPOCHS", "2"))

t_load <- proc.time()[[3]]
fm <- dataset_fashion_mnist()
x_train <- fm$train$x                             # grey levels 0..255, scaled in the model
x_test <- fm$test$x
y_train <- fm$train$y                             # integer labels 0..9
y_test <- fm$test$y
rm(fm)                                            # the arrays below are then changed in place
dim(x_train) <- c(dim(x_train)[1], 1, 28, 28)     # [n, channels, height, width]
dim(x_test) <- c(dim(x_test)[1], 1, 28, 28)
invisible(gc())
cat(sprintf("Fashion-MNIST: %d training and %d test images (loaded in %.1f s); %d threads\n",
            dim(x_train)[1], dim(x_test)[1], proc.time()[[3]] - t_load, symnet_threads()))

set.seed(42)
input <- sym_var("image", c(NA, 1, 28, 28))
logits <- input |>
  layer_rescaling(1 / 255) |>                     # integers in, one byte per pixel in the engine
  layer_conv2d(20, 5, activation = "tanh") |>
  layer_max_pool2d(2) |>
  layer_conv2d(50, 5, activation = "tanh") |>
  layer_max_pool2d(2) |>
  layer_flatten() |>
  layer_dense(500, activation = "tanh") |>
  layer_dense(10)
model <- sym_model(input, logits, name = "lenet")
print(model)

history <- fit(model, x_train, y_train,
               loss = loss_softmax_cross_entropy(),
               optimizer = optimizer_sgd(lr = 0.05, momentum = 0.9),
               epochs = epochs, batch_size = 128, metrics = "accuracy",
               verbose = if (interactive()) 1 else 2, seed = 1)
print(history)

t_eval <- proc.time()[[3]]
result <- evaluate(model, x_test, y_test)
t_eval <- proc.time()[[3]] - t_eval
cat(sprintf("\nevaluation: %.0f images/s\n", dim(x_test)[1] / t_eval))
cat(sprintf("test loss %.4f, test accuracy %.2f%%\n", result[["loss"]], 100 * result[["accuracy"]]))
