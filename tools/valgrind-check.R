# A representative R session for tools/sanitize.sh --valgrind: build a graph, compile and run
# it, train a small conv net with fit(), save and load the model, read idx files. Kept small:
# under valgrind everything runs 20-50x slower.
suppressPackageStartupMessages(library(symnet))
set.seed(1)
# symbols, autodiff and a compiled update step
x <- sym_var("x", c(NA, 3))
w <- sym_shared(matrix(rnorm(6), 3, 2), name = "vg/w")
loss <- sym_mean((x %*% w)^2)
g <- sym_grad(loss, list(w = w))
step <- sym_compile(list(loss = loss), updates = list(list(w, w - 0.1 * g$w)))
X <- matrix(rnorm(30), 10, 3)
for (i in 1:5) l <- step(x = X)$loss
stopifnot(is.finite(l))
# a small conv net trained with fit(), then saved, loaded and used for prediction
xi <- sym_var("img", c(NA, 1, 6, 6))
out <- xi |> layer_conv2d(2, 3, activation = "relu") |> layer_max_pool2d(2) |> layer_flatten() |>
  layer_dense(3)
model <- sym_model(xi, out)
Xi <- array(runif(16 * 36), c(16, 1, 6, 6))
yi <- sample(0:2, 16, replace = TRUE)
h <- fit(model, Xi, yi, loss = loss_softmax_cross_entropy(), optimizer = optimizer_adam(0.01), epochs = 2,
         batch_size = 8, verbose = 0, seed = 1)
p1 <- predict(model, Xi)
f <- tempfile(fileext = ".symnet")
save_model(model, f)
m2 <- load_model(f)
stopifnot(isTRUE(all.equal(predict(m2, Xi), p1)))
# damaged model files are classed errors
b <- readBin(f, "raw", file.size(f))
writeBin(b[seq_len(length(b) - 7)], f)
stopifnot(inherits(tryCatch(load_model(f), error = identity), "symnet_error"))
# idx files, gzip and plain
fi <- tempfile(fileext = ".gz")
con <- gzfile(fi, "wb")
writeBin(as.raw(c(0, 0, 8, 3)), con)
writeBin(as.integer(c(2, 3, 4)), con, size = 4, endian = "big")
writeBin(as.raw(0:23), con)
close(con)
a <- read_idx(fi)
stopifnot(identical(dim(a), c(2L, 3L, 4L)), a[2, 3, 4] == 23L)
cat("valgrind-check: done\n")
