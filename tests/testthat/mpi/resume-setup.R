# The model, data and optimizer of resume.R, shared with the one-process resumption in
# test-distributed.R. Plain SGD: its update has no state, which checkpoints do not hold.
resume_data <- local({
  set.seed(4)
  list(x = matrix(rnorm(60 * 5), 60, 5), y = sample(0:2, 60, replace = TRUE))
})
resume_model <- function() {
  set.seed(8)
  inp <- sym_var("x", c(NA, 5))
  sym_model(inp, layer_dense(layer_dense(inp, 7, activation = "tanh", name = "h"), 3, name = "out"))
}
resume_optimizer <- function() optimizer_sgd(0.2)
