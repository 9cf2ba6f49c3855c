# Compiles `y` in training mode (what fit() does) and runs it once.
run_training <- function(y, feeds, seed = 1) {
  f <- symnet:::cpp_compile(list(y$ptr), "y", list(), list(), list(training = TRUE, seed = seed))
  symnet:::cpp_function_run(f, feeds)[[1]]
}

test_that("layer_dense matches x %*% W + b, with activations", {
  set.seed(1)
  x <- sym_var("x", c(NA, 3))
  y <- layer_dense(x, 4, activation = "relu", name = "tlc_dense")
  expect_equal(dim(y), c(NA, 4L))
  m <- sym_model(x, y)
  w <- get_weights(m)
  expect_equal(names(w), c("tlc_dense/kernel", "tlc_dense/bias"))
  expect_equal(dim(w[["tlc_dense/kernel"]]), c(3, 4))
  w[["tlc_dense/bias"]] <- c(0.5, -0.5, 0.1, 0)
  set_weights(m, w)
  xv <- matrix(rnorm(6), 2, 3)
  ref <- pmax(xv %*% w[["tlc_dense/kernel"]] + matrix(w[["tlc_dense/bias"]], 2, 4, byrow = TRUE), 0)
  expect_close(sym_compile(y)(x = xv), ref, tolerance = 1e-5)
  # node names carry the layer prefix
  expect_match(sym_info(y)$name, "^tlc_dense/")
})

test_that("layer_dense applies to the last axis of rank-3 inputs; use_bias = FALSE", {
  set.seed(2)
  x <- sym_var("x", c(NA, 2, 3))
  y <- layer_dense(x, 5, use_bias = FALSE, name = "tlc_dense3")
  expect_equal(dim(y), c(NA, 2L, 5L))
  m <- sym_model(x, y)
  expect_equal(names(m$params), "tlc_dense3/kernel")
  k <- get_weights(m)[[1]]
  xv <- array(rnorm(12), c(2, 2, 3))
  out <- sym_compile(y)(x = xv)
  for (i in 1:2) expect_close(out[i, , ], xv[i, , ] %*% k, tolerance = 1e-5)
})

test_that("activations by name and as R functions", {
  x <- sym_var("x", c(NA, 3))
  xv <- rbind(c(-1, 0, 2), c(1, 2, 3))
  f <- sym_compile(list(
    sm = layer_activation(x, "softmax"), th = layer_activation(x, "tanh"),
    sg = layer_activation(x, "sigmoid"), sw = layer_activation(x, "swish"),
    fn = layer_activation(x, function(s) s * 2), lin = layer_activation(x, "linear")))
  r <- f(x = xv)
  expect_close(r$sm, softmax_rows(xv))
  expect_close(r$th, tanh(xv))
  expect_close(r$sg, 1 / (1 + exp(-xv)))
  expect_close(r$sw, xv / (1 + exp(-xv)))
  expect_close(r$fn, 2 * xv)
  expect_close(r$lin, xv)
  expect_error(layer_activation(x, "bogus"), class = "symnet_value_error")
  expect_error(layer_activation(x, function(s) 1), class = "symnet_value_error")
})

test_that("layer_dense validates its arguments with classed errors", {
  x <- sym_var("x", c(NA, 3))
  expect_error(layer_dense(x, 0), class = "symnet_value_error")
  expect_error(layer_dense(x, 2, activation = "nope"), class = "symnet_value_error")
  expect_error(layer_dense(sym_var("u", c(NA, NA)), 2), class = "symnet_shape_error")
  expect_error(layer_dense(sym_var("i", c(NA, 3), dtype = "int32"), 2), class = "symnet_dtype_error")
  expect_error(layer_dense(matrix(1, 2, 2), 2), class = "symnet_value_error")
  expect_error(layer_dense(x, 2, name = "a/b"), class = "symnet_value_error")
})

test_that("layer_rescaling computes x * scale + offset and checks its arguments", {
  x <- sym_var("x", c(NA, 3))
  f <- sym_compile(list(a = layer_rescaling(x, 1 / 255), b = layer_rescaling(x, 2, offset = -1)))
  v <- matrix(c(0L, 51L, 255L, 1L, 2L, 3L), 2, byrow = TRUE)
  r <- f(x = v)
  expect_equal(r$a, v / 255, tolerance = 1e-7)
  expect_equal(r$b, 2 * v - 1, tolerance = 1e-7)
  expect_error(layer_rescaling(x, NA), class = "symnet_value_error")
  expect_error(layer_rescaling(x, 1, offset = Inf), class = "symnet_value_error")
  expect_error(layer_rescaling(sym_var("i", 3, dtype = "int32"), 2), class = "symnet_dtype_error")
})

test_that("layer_flatten and layer_reshape are row-major", {
  x <- sym_var("x", c(NA, 2, 3, 2))
  fl <- layer_flatten(x)
  rs <- layer_reshape(x, c(3, -1))
  expect_equal(dim(fl), c(NA, 12L))
  expect_equal(dim(rs), c(NA, 3L, 4L))
  xv <- array(seq_len(24), c(2, 2, 3, 2))
  r <- sym_compile(list(fl = fl, rs = rs))(x = xv)
  for (i in 1:2) {
    expect_equal(r$fl[i, ], as.vector(aperm(xv[i, , , ])))
    expect_equal(r$rs[i, , ], rm_reshape(xv[i, , , ], c(3, 4)))
  }
  expect_error(layer_reshape(x, c(5, 5)), class = "symnet_shape_error")
  expect_error(layer_reshape(x, c(-1, -1)), class = "symnet_value_error")
})

test_that("layer_dropout is the identity in inference and drops in training", {
  x <- sym_var("x", c(NA, 50))
  y <- layer_dropout(x, 0.4, name = "tlc_drop")
  xv <- matrix(1, 20, 50)
  expect_equal(sym_compile(y)(x = xv), xv)
  tr <- run_training(y, list(x = xv))
  kept <- tr != 0
  expect_equal(mean(kept), 0.6, tolerance = 0.05)
  expect_equal(unique(tr[kept]), 1 / 0.6, tolerance = 1e-6)
  expect_error(layer_dropout(x, 1), class = "symnet_value_error")
  expect_error(layer_dropout(x, -0.1), class = "symnet_value_error")
})

test_that("layer_embedding looks up 0-based rows", {
  set.seed(4)
  ids <- sym_var("ids", c(NA, 3), dtype = "int32")
  e <- layer_embedding(ids, 10, 4, name = "tlc_emb")
  expect_equal(dim(e), c(NA, 3L, 4L))
  m <- sym_model(ids, e)
  tab <- get_weights(m)[["tlc_emb/embeddings"]]
  expect_equal(dim(tab), c(10, 4))
  expect_true(all(abs(tab) <= 0.05))
  iv <- matrix(c(0L, 9L, 3L, 3L, 1L, 0L), 2, 3)
  out <- sym_compile(e)(ids = iv)
  for (i in 1:2) for (j in 1:3) expect_close(out[i, j, ], tab[iv[i, j] + 1, ])
  expect_error(sym_compile(e)(ids = matrix(c(0L, 10L, 1L), 1)), class = "symnet_value_error")
  # float indices are converted
  fx <- sym_var("fx", c(NA, 2))
  fe <- layer_embedding(fx, 5, 2, embeddings_initializer = initializer_constant(1))
  expect_equal(sym_compile(fe)(fx = matrix(c(0, 4), 1)), array(1, c(1, 2, 2)))
  expect_error(layer_embedding(ids, 0, 2), class = "symnet_value_error")
})

test_that("layer_add and layer_concatenate", {
  a <- sym_var("a", c(NA, 2))
  b <- sym_var("b", c(NA, 2))
  c3 <- sym_var("c3", c(NA, 3))
  s <- layer_add(a, b, a)
  s2 <- layer_add(list(a, b))
  cc <- layer_concatenate(a, c3)
  cc1 <- layer_concatenate(list(a, b), axis = 1)
  expect_equal(dim(cc), c(NA, 5L))
  av <- matrix(1:4, 2)
  bv <- matrix(5:8, 2)
  cv <- matrix(9:14, 2)
  r <- sym_compile(list(s = s, s2 = s2, cc = cc, cc1 = cc1))(a = av, b = bv, c3 = cv)
  expect_close(r$s, 2 * av + bv)
  expect_close(r$s2, av + bv)
  expect_close(r$cc, cbind(av, cv))
  expect_close(r$cc1, rbind(av, bv))
  expect_error(layer_add(a), class = "symnet_value_error")
  expect_error(layer_add(a, c3), class = "symnet_shape_error")
  expect_error(layer_add(a, 1), class = "symnet_value_error")
  expect_error(layer_concatenate(a, sym_var("r3", c(NA, 2, 2))), class = "symnet_shape_error")
})

test_that("layers compose with pipes and auto names are unique", {
  x <- sym_var("x", c(NA, 4))
  y <- x |> layer_dense(3) |> layer_dense(2)
  m <- sym_model(x, y)
  nm <- model_layers(m)$name
  expect_equal(length(unique(nm)), length(nm))
  expect_true(all(grepl("^(x|dense_[0-9]+)$", nm)))
})

test_that("embedding ids outside the table are index errors", {
  ids <- sym_var("ids", c(NA, 2), dtype = "int32")
  e <- layer_embedding(ids, input_dim = 4, output_dim = 2, name = "emb_range")
  f <- sym_compile(e)
  expect_identical(dim(f(ids = matrix(c(0L, 3L), 1))), c(1L, 2L, 2L))
  expect_error(f(ids = matrix(c(0L, -1L), 1)), class = "symnet_index_error")
  expect_error(f(ids = matrix(c(4L, 0L), 1)), class = "symnet_index_error")
  ids1 <- sym_index_base(sym_var("ids1", c(NA, 2), dtype = "int32"), 1)
  f1 <- sym_compile(layer_embedding(ids1, input_dim = 4, output_dim = 2, name = "emb_one"))
  expect_error(f1(ids1 = matrix(c(0L, 1L), 1)), class = "symnet_index_error")
  expect_identical(dim(f1(ids1 = matrix(c(1L, 4L), 1))), c(1L, 2L, 2L))
})

test_that("layers on inputs of unknown rank or size: errors naming the shape, or any rank", {
  # Weights are created at the layer call, so their sizes must be declared.
  x <- sym_var("x")
  e <- expect_error(layer_dense(x, 3), class = "symnet_shape_error")
  expect_match(conditionMessage(e), 'sym_var("x", c(NA, n_features))', fixed = TRUE)
  e <- expect_error(layer_dense(sym_var("z", c(NA, NA)), 3), class = "symnet_shape_error")
  expect_match(conditionMessage(e), 'sym_var("z", c(NA, n_features))', fixed = TRUE)
  # a value computed from the shapeless input names that input
  e <- expect_error(layer_dense(sym_relu(x), 3), class = "symnet_shape_error")
  expect_match(conditionMessage(e), 'sym_var("x"', fixed = TRUE)
  expect_error(layer_layer_norm(x), class = "symnet_shape_error")

  # Layers without weights sized by the input take any rank.
  f <- sym_compile(list(flat = layer_flatten(x), act = layer_activation(x, "softmax")))
  a <- array(seq_len(12) / 12, c(2, 3, 2))
  r <- f(x = a)
  expect_identical(dim(r$flat), c(2L, 6L))
  expect_equal(apply(r$act, c(1, 2), sum), matrix(1, 2, 3), tolerance = 1e-6)
  m <- matrix(1:6 / 6, 2)
  expect_identical(dim(f(x = m)$flat), c(2L, 3L))

  # layer_embedding takes its sizes from its arguments: ids of any rank
  ids <- sym_var("ids", dtype = "int32")
  emb <- layer_embedding(ids, 6, 4, name = "anyrank_emb")
  expect_null(dim(emb))
  g <- sym_compile(emb)
  expect_identical(dim(g(ids = c(0L, 5L, 2L))), c(3L, 4L))
  expect_identical(dim(g(ids = matrix(0L, 2, 5))), c(2L, 5L, 4L))

  # layer_add / layer_concatenate leave shape checks of unknown ranks to the engine
  s <- sym_var("s", c(NA, 2))
  h <- sym_compile(list(add = layer_add(x, s), cat = layer_concatenate(x, s)))
  r <- h(x = matrix(1, 3, 2), s = matrix(2, 3, 2))
  expect_equal(r$add, matrix(3, 3, 2))
  expect_identical(dim(r$cat), c(3L, 4L))
  expect_error(h(x = matrix(1, 3, 5), s = matrix(2, 3, 2)), class = "symnet_error")
})
