# symnet example: train a small neural network from symbols (no layers).
#
# A 2-layer MLP classifies points of three interleaved spirals. The graph is
# built from symbols, differentiated with sym_grad(), and compiled into one
# training step whose SGD-with-momentum updates run in place in the engine:
# the weights never travel between R and C++ during training.
#
# Run with: Rscript inst/examples/symbols-mlp.R

suppressPackageStartupMessages(library(symnet))
set.seed(1)

# ---- data: three spirals, 300 points each ---------------------------------------------
n_per <- 300
k <- 3
spiral <- function(cls) {
  r <- seq(0, 1, length.out = n_per)
  theta <- seq((cls - 1) * 4, cls * 4, length.out = n_per) + rnorm(n_per, sd = 0.2)
  cbind(r * sin(theta), r * cos(theta))
}
X <- do.call(rbind, lapply(1:k, spiral))
y <- rep(1:k, each = n_per)                 # 1-based class labels, as R factors give
n <- nrow(X)
cat(sprintf("data: %d points, %d features, %d classes\n", n, ncol(X), k))

# ---- model: 2 -> 64 -> 3 -------------------------------------------------------------
hidden <- 64
init <- function(fan_in, fan_out) matrix(rnorm(fan_in * fan_out, sd = sqrt(2 / fan_in)), fan_in, fan_out)
W1 <- sym_shared(init(2, hidden), name = "W1")
b1 <- sym_shared(rep(0, hidden), name = "b1")
W2 <- sym_shared(init(hidden, k), name = "W2")
b2 <- sym_shared(rep(0, k), name = "b2")
params <- list(W1 = W1, b1 = b1, W2 = W2, b2 = b2)

x <- sym_var("x", c(NA, 2))                  # batch size known only at run time
labels <- sym_var("y", NA, dtype = "int32")
logits <- sym_relu(x %*% W1 + b1) %*% W2 + b2
loss <- sym_softmax_cross_entropy(logits, labels)
accuracy <- mean(sym_argmax(logits) == sym_cast(labels, "int64"))

# ---- training step: SGD with momentum, updated in place --------------------------------
lr <- 0.2
mu <- 0.9
grads <- sym_grad(loss, params)
velocity <- lapply(params, function(p) sym_shared(array(0, dim(p)), name = paste0("v_", p$name),
                                                  trainable = FALSE))
updates <- list()
for (nm in names(params)) {
  v_new <- mu * velocity[[nm]] - lr * grads[[nm]]
  updates[[length(updates) + 1]] <- list(velocity[[nm]], v_new)
  updates[[length(updates) + 1]] <- list(params[[nm]], params[[nm]] + v_new)
}
train_step <- sym_compile(list(loss = loss, acc = accuracy), updates = updates)
evaluate <- sym_compile(list(loss = loss, acc = accuracy))
print(train_step)

# ---- train ----------------------------------------------------------------------------
batch <- 90
epochs <- 40
t0 <- Sys.time()
for (epoch in seq_len(epochs)) {
  idx <- sample(n)
  for (b in seq(1, n, by = batch)) {
    rows <- idx[b:min(n, b + batch - 1)]
    train_step(x = X[rows, , drop = FALSE], y = y[rows])
  }
  if (epoch %% 5 == 0 || epoch == 1) {
    r <- evaluate(x = X, y = y)
    cat(sprintf("epoch %2d  loss %.4f  accuracy %.3f\n", epoch, r$loss, r$acc))
  }
}
elapsed <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
final <- evaluate(x = X, y = y)
cat(sprintf("trained %d epochs (%d steps) in %.2f s\n", epochs, epochs * ceiling(n / batch), elapsed))
cat(sprintf("final loss %.4f, final accuracy %.1f%%\n", final$loss, 100 * final$acc))

# ---- what compilation did --------------------------------------------------------------
cat("\nsummary of the training step (last batch shape):\n")
print(summary(train_step))
