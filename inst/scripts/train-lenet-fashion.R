# Trains the small LeNet shipped as inst/extdata/lenet_fashion.symnet, the model that
# pretrained_model("lenet_fashion") loads without a download (examples and vignettes use it
# offline). Run from the package root with symnet installed:
#   Rscript inst/scripts/train-lenet-fashion.R
#
# LeNet-5 sized (conv 5x5x6 relu, max-pool 2, conv 5x5x16 relu, max-pool 2, dense 120 relu,
# dense 84 relu, dense 10: 44 426 parameters, about 180 KB as float32) rather than the
# 430 000-parameter LeNet of inst/examples/demo.R, to keep the package small. Input: grey
# levels 0..255 as [N, 1, 28, 28]; output: logits of the 10 classes of fashion_mnist_classes.
# Data: dataset_fashion_mnist() (Debian: dataset-fashion-mnist).

suppressPackageStartupMessages(library(symnet))

fm <- dataset_fashion_mnist()
x_train <- fm$train$x
x_test <- fm$test$x
dim(x_train) <- c(dim(x_train)[1], 1, 28, 28)
dim(x_test) <- c(dim(x_test)[1], 1, 28, 28)

set.seed(2026)
input <- sym_var("image", c(NA, 1, 28, 28))
logits <- input |>
  layer_rescaling(1 / 255) |>
  layer_conv2d(6, 5, activation = "relu") |>
  layer_max_pool2d(2) |>
  layer_conv2d(16, 5, activation = "relu") |>
  layer_max_pool2d(2) |>
  layer_flatten() |>
  layer_dense(120, activation = "relu") |>
  layer_dense(84, activation = "relu") |>
  layer_dense(10)
model <- sym_model(input, logits, name = "lenet_fashion")

history <- fit(model, x_train, fm$train$y,
               loss = loss_softmax_cross_entropy(),
               optimizer = optimizer_sgd(lr = 0.05, momentum = 0.9),
               epochs = 4, batch_size = 64, metrics = "accuracy", verbose = 2, seed = 1)
print(history)
result <- evaluate(model, x_test, fm$test$y)
cat(sprintf("test accuracy %.4f\n", result[["accuracy"]]))
stopifnot(result[["accuracy"]] > 0.85)

save_model(model, "inst/extdata/lenet_fashion.symnet")
cat(sprintf("wrote inst/extdata/lenet_fashion.symnet (%d bytes)\n",
            file.size("inst/extdata/lenet_fashion.symnet")))
