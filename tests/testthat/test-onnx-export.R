# export_onnx(): symnet -> ONNX -> symnet round trips predict identically; the files pass
# onnx.checker (Debian's python3-onnx, through /usr/bin/python3) and ONNX Runtime (npm
# onnxruntime-node, run by tests/testthat/ort/run-ort.js) computes the same outputs.
#
# ONNX Runtime lives outside the package: install it once with
#   cd /work/ort && npm install --ignore-scripts onnxruntime-node
# and point SYMNET_ORT_MODULES at that node_modules folder if it is elsewhere (default:
# /work/ort/node_modules). The ORT tests skip when node or the package is missing.

test_that("without protobuf, export_onnx() says how to enable it", {
  skip_if(onnx_available(), "symnet was installed with protobuf")
  x <- sym_var("x", c(NA, 2))
  m <- sym_model(x, layer_dense(x, 1))
  expect_error(export_onnx(m, tempfile(fileext = ".onnx")), class = "symnet_unsupported_error")
})

skip_if_not(onnx_available(), "symnet was installed without protobuf")

fixture <- function(...) test_path("fixtures", "onnx", ...)

# Exports, imports back and returns the imported model (and the file).
round_trip <- function(m, opset = 17) {
  f <- tempfile(fileext = ".onnx")
  expect_identical(export_onnx(m, f, opset = opset), f)
  list(model = import_onnx(f), path = f)
}

python_onnx <- function() {
  py <- "/usr/bin/python3"
  file.exists(py) && identical(suppressWarnings(system2(py, c("-c", shQuote("import onnx")), stdout = FALSE,
                                                        stderr = FALSE)), 0L)
}

# onnx.checker.check_model with full checks (the shape inference included); "" when it
# passes, else the checker's message.
onnx_check <- function(path) {
  code <- sprintf("import onnx, sys\nm = onnx.load(%s)\nonnx.checker.check_model(m, full_check=True)\nprint('ok')",
                  encodeString(path, quote = "'"))
  out <- suppressWarnings(system2("/usr/bin/python3", c("-c", shQuote(code)), stdout = TRUE, stderr = TRUE))
  paste(out, collapse = "\n")
}

ort_dir <- function() file.path(Sys.getenv("SYMNET_ORT_MODULES", "/work/ort/node_modules"), "onnxruntime-node")

skip_if_no_ort <- function() {
  skip_if(!nzchar(Sys.which("node")), "node is not installed")
  skip_if(!dir.exists(ort_dir()), paste("onnxruntime-node is not installed in", dirname(ort_dir()),
                                        "(set SYMNET_ORT_MODULES)"))
}

# R arrays (symnet's layout: dims as given, filled column-major) to row-major vectors and back.
row_major <- function(x) {
  d <- dim(x)
  if (is.null(d) || length(d) < 2) return(as.vector(x))
  as.vector(aperm(x, rev(seq_along(d))))
}
from_row_major <- function(v, d) {
  if (length(d) < 2) return(v)
  aperm(array(v, rev(d)), rev(seq_along(d)))
}

# Runs the model file in ONNX Runtime on named inputs; returns the named outputs.
ort_run <- function(path, inputs) {
  spec <- vapply(names(inputs), function(nm) {
    x <- inputs[[nm]]
    d <- if (is.null(dim(x))) length(x) else dim(x)
    type <- if (is.integer(x)) "int32" else "float32"
    sprintf("%s: {\"type\": \"%s\", \"dims\": [%s], \"data\": [%s]}", encodeString(nm, quote = "\""), type,
            paste(d, collapse = ","), paste(format(row_major(x), digits = 17, scientific = TRUE, trim = TRUE),
                                            collapse = ","))
  }, character(1))
  jf <- tempfile(fileext = ".json")
  writeLines(paste0("{", paste(spec, collapse = ", "), "}"), jf)
  script <- test_path("ort", "run-ort.js")
  out <- suppressWarnings(system2("node", c(shQuote(script), shQuote(ort_dir()), shQuote(path), shQuote(jf)),
                                  stdout = TRUE, stderr = TRUE))
  status <- attr(out, "status")
  if (!is.null(status) && status != 0) stop("ONNX Runtime failed: ", paste(out, collapse = "\n"))
  res <- list()
  for (line in out) {
    parts <- strsplit(line, "\t", fixed = TRUE)[[1]]
    d <- as.integer(strsplit(parts[2], ",", fixed = TRUE)[[1]])
    v <- as.numeric(strsplit(parts[3], " ", fixed = TRUE)[[1]])
    res[[parts[1]]] <- from_row_major(v, d)
  }
  res
}

mlp <- function() {
  x <- sym_var("x", c(NA, 4))
  y <- x |> layer_dense(16, activation = "relu") |> layer_dense(8, activation = "tanh") |> layer_dense(3) |>
    sym_softmax()
  sym_model(x, y, name = "mlp")
}

cnn <- function() {
  x <- sym_var("img", c(NA, 1, 8, 8))
  y <- x |>
    layer_conv2d(4, 3, padding = "same") |>
    layer_batch_norm() |>
    sym_relu() |>
    layer_max_pool2d(2) |>
    layer_dropout(0.3) |>
    layer_flatten() |>
    layer_dense(5)
  sym_model(x, y, name = "cnn")
}

# A model that has been fitted a little, so the batch norm statistics are not the defaults.
fitted_cnn <- function() {
  set.seed(7)
  m <- cnn()
  xs <- array(rnorm(16 * 64), c(16, 1, 8, 8))
  ys <- matrix(rnorm(16 * 5), 16, 5)
  fit(m, xs, ys, loss = "mse", optimizer = "sgd", epochs = 2, batch_size = 8, verbose = 0)
  m
}

rnn_model <- function(kind) {
  x <- sym_var("seq", c(NA, 5, 3))
  h <- if (kind == "lstm") layer_lstm(x, 6, return_sequences = TRUE) else layer_gru(x, 6, return_sequences = TRUE)
  y <- h |> layer_lstm(4) |> layer_dense(2)
  sym_model(x, y, name = kind)
}

test_that("an MLP round-trips symnet -> ONNX -> symnet with identical predictions", {
  set.seed(1)
  m <- mlp()
  rt <- round_trip(m)
  xs <- matrix(rnorm(40), 10, 4)
  expect_identical(predict(rt$model, xs), predict(m, xs))
  expect_setequal(names(get_weights(rt$model)), names(get_weights(m)))
  expect_identical(names(rt$model$inputs), "x")
  expect_identical(names(rt$model$outputs), "output")
})

test_that("a CNN with conv, batch norm, pooling and dropout round-trips in inference mode", {
  m <- fitted_cnn()
  rt <- round_trip(m)
  xs <- array(rnorm(3 * 64), c(3, 1, 8, 8))
  expect_identical(predict(rt$model, xs), predict(m, xs))
  # running statistics come back as state, parameters as parameters
  w <- get_weights(m)
  w2 <- get_weights(rt$model)
  for (k in names(w)) expect_identical(w2[[k]], w[[k]])
  expect_identical(length(rt$model$params), length(m$params))
})

test_that("LSTM and GRU models built with symnet layers round-trip", {
  for (kind in c("lstm", "gru")) {
    set.seed(3)
    m <- rnn_model(kind)
    rt <- round_trip(m)
    xs <- array(rnorm(2 * 15), c(2, 5, 3))
    expect_identical(predict(rt$model, xs), predict(m, xs), label = kind)
  }
})

# Small models over the other layers: each returns list(model, input).
layer_zoo <- function() {
  set.seed(5)
  list(
    conv1d = local({
      x <- sym_var("x", c(NA, 2, 10))
      y <- x |> layer_conv1d(3, 3, padding = "same", activation = "elu") |> layer_flatten() |>
        layer_dense(2, activation = "sigmoid")
      list(model = sym_model(x, y), x = array(rnorm(40), c(2, 2, 10)))
    }),
    conv_transpose = local({
      x <- sym_var("img", c(NA, 1, 6, 6))
      y <- x |> layer_conv2d(3, 3, strides = 2, padding = "same", activation = "gelu") |>
        layer_conv2d_transpose(2, 3, strides = 2, padding = "same") |> layer_avg_pool2d(2) |>
        layer_global_max_pool2d() |> layer_dense(2, activation = "softmax")
      list(model = sym_model(x, y), x = array(rnorm(72), c(2, 1, 6, 6)))
    }),
    embedding = local({
      x <- sym_var("ids", c(NA, 5), "int32")
      y <- x |> layer_embedding(10, 4) |> layer_lstm(3) |> layer_dense(1)
      list(model = sym_model(x, y), x = matrix(sample(0:9, 10, TRUE), 2, 5))
    }),
    bidirectional = local({
      x <- sym_var("s", c(NA, 4, 3))
      y <- x |> layer_bidirectional(layer_gru, 3, return_sequences = TRUE) |>
        layer_simple_rnn(2, go_backwards = TRUE) |> layer_dense(2)
      list(model = sym_model(x, y), x = array(rnorm(24), c(2, 4, 3)))
    }),
    merge = local({
      x <- sym_var("v", c(NA, 6))
      a <- x |> layer_dense(4) |> layer_layer_norm()
      b <- x |> layer_dense(4, activation = "swish")
      y <- layer_concatenate(layer_add(a, b), layer_rescaling(a, 2, 1)) |> layer_reshape(c(2, 4)) |>
        layer_time_distributed(layer_dense, 3) |> layer_flatten()
      list(model = sym_model(x, y), x = matrix(rnorm(12), 2, 6))
    })
  )
}

test_that("the other layers round-trip too: conv1d, transposed conv, pooling, embedding, bidirectional, merges", {
  for (nm in names(zoo <- layer_zoo())) {
    z <- zoo[[nm]]
    rt <- round_trip(z$model)
    expect_identical(predict(rt$model, z$x), predict(z$model, z$x), label = nm)
  }
})

test_that("an imported ONNX model exports and imports again with the same outputs", {
  m <- import_onnx(fixture("small_cnn.onnx"))
  x <- read_onnx_tensor(fixture("small_cnn_input_0.pb"))
  rt <- round_trip(m)
  expect_identical(predict(rt$model, x), predict(m, x))
  expect_equal(predict(rt$model, x), read_onnx_tensor(fixture("small_cnn_output_0.pb")), tolerance = 1e-4)
})

test_that("older opsets export too (layer norm composed before 17)", {
  x <- sym_var("x", c(NA, 6))
  y <- x |> layer_dense(6) |> layer_layer_norm() |> layer_dense(2)
  m <- sym_model(x, y)
  xs <- matrix(rnorm(18), 3, 6)
  for (opset in c(13, 15)) {
    rt <- round_trip(m, opset = opset)
    expect_equal(predict(rt$model, xs), predict(m, xs), tolerance = 1e-6)
    expect_equal(rt$model$onnx$opset, opset)
  }
})

test_that("exported files pass onnx.checker", {
  skip_if_not(python_onnx(), "python3-onnx is not installed (/usr/bin/python3 -c 'import onnx')")
  models <- c(list(mlp = mlp(), cnn = fitted_cnn(), lstm = rnn_model("lstm"), gru = rnn_model("gru"),
                   small_cnn = import_onnx(fixture("small_cnn.onnx"))),
              lapply(layer_zoo(), `[[`, "model"))
  for (nm in names(models)) {
    f <- tempfile(fileext = ".onnx")
    export_onnx(models[[nm]], f)
    expect_identical(onnx_check(f), "ok", label = nm)
  }
  f <- tempfile(fileext = ".onnx")
  export_onnx(mlp(), f, opset = 13)
  expect_identical(onnx_check(f), "ok")
})

test_that("ONNX Runtime computes what symnet computes from the exported files", {
  skip_if_no_ort()
  set.seed(11)
  cases <- list(
    list(model = mlp(), x = matrix(rnorm(20), 5, 4)),
    list(model = fitted_cnn(), x = array(rnorm(2 * 64), c(2, 1, 8, 8))),
    list(model = rnn_model("lstm"), x = array(rnorm(2 * 15), c(2, 5, 3))),
    list(model = rnn_model("gru"), x = array(rnorm(2 * 15), c(2, 5, 3))),
    list(model = import_onnx(fixture("small_cnn.onnx")), x = read_onnx_tensor(fixture("small_cnn_input_0.pb")))
  )
  cases <- c(cases, unname(layer_zoo()))
  for (case in cases) {
    m <- case$model
    f <- tempfile(fileext = ".onnx")
    export_onnx(m, f)
    inputs <- stats::setNames(list(case$x), names(m$inputs))
    got <- ort_run(f, inputs)
    want <- predict(m, case$x)
    expect_identical(names(got), names(m$outputs))
    expect_identical(dim(got[[1]]), dim(want))
    expect_lt(max(abs(got[[1]] - want)), 1e-5)
  }
})

test_that("bad arguments and ops without an ONNX equivalent are classed errors; nothing is written", {
  m <- mlp()
  f <- tempfile(fileext = ".onnx")
  expect_error(export_onnx(m, f, opset = 12), class = "symnet_value_error")
  expect_error(export_onnx(m, f, opset = 18), class = "symnet_value_error")
  expect_error(export_onnx(m, c(f, f)), class = "symnet_value_error")
  expect_error(export_onnx("m", f), class = "symnet_value_error")
  expect_error(export_onnx(m, file.path(tempfile(), "none", "m.onnx")), class = "symnet_io_error")
  expect_false(file.exists(f))
  # a while loop that fails at its bound has no ONNX form: refused, naming the op
  x <- sym_var("x", c(4, 3))
  s <- sym_while_loop(function(s) sym_sum(s) < 100, function(s) s * 2, x, max_iterations = 20, on_max = "error")
  ms <- sym_model(x, s)
  e <- expect_error(export_onnx(ms, f), class = "symnet_unsupported_error")
  expect_match(conditionMessage(e), "while_loop")
  expect_false(file.exists(f))
  # an existing file is left alone by a failed export and replaced by a good one
  writeLines("old", f)
  expect_error(export_onnx(ms, f), class = "symnet_unsupported_error")
  expect_identical(readLines(f), "old")
  export_onnx(m, f)
  expect_gt(file.size(f), 100)
  expect_length(list.files(dirname(f), pattern = paste0("^\\.", basename(f))), 0)
})

test_that("sym_cond(), sym_scan() and sym_while_loop() export as If, Scan and Loop that ONNX Runtime runs", {
  skip_if_no_ort()
  set.seed(13)
  x <- sym_var("x", c(NA, 3))
  w <- sym_param("w", c(3, 3))
  mc <- sym_model(x, sym_cond(sym_sum(x) > 0, function() sym_matmul(x, w) * 2, function() -x))
  s <- sym_var("s", c(5, 2, 3))
  v <- sym_param("v", 3)
  step <- function(x_t, h) list(h * v + x_t, sym_tanh(h + x_t))
  fwd <- sym_scan(step, sequences = s, init = sym_zeros(c(2, 3)))
  rev <- sym_scan(step, sequences = s, init = sym_zeros(c(2, 3)), reverse = TRUE)
  ms <- sym_model(s, list(final = fwd$state, steps = fwd$outputs[[1]], rfinal = rev$state, rsteps = rev$outputs[[1]]))
  fc <- tempfile(fileext = ".onnx")
  fs <- tempfile(fileext = ".onnx")
  export_onnx(mc, fc)
  export_onnx(ms, fs)
  if (python_onnx()) {
    expect_identical(onnx_check(fc), "ok")
    expect_identical(onnx_check(fs), "ok")
  }
  for (xs in list(matrix(rnorm(6) + 2, 2, 3), matrix(rnorm(6) - 2, 2, 3))) {
    expect_lt(max(abs(ort_run(fc, list(x = xs))$output - predict(mc, xs))), 1e-5)
  }
  xs <- array(rnorm(30), c(5, 2, 3))
  got <- ort_run(fs, list(s = xs))
  want <- predict(ms, xs)
  for (k in names(want)) expect_lt(max(abs(got[[k]] - want[[k]])), 1e-5, label = k)
  # a loop whose trip count depends on the data, bounded or not
  z <- sym_var("z", c(2, 3))
  k <- sym_param("k", 3)
  bounded <- sym_while_loop(function(s) sym_sum(sym_abs(s)) < 50, function(s) s * 1.5 + k, z, max_iterations = 6)
  free <- sym_while_loop(function(s) sym_sum(sym_abs(s)) < 50, function(s) s * 1.5 + k, z)
  ml <- sym_model(z, list(bounded = bounded, free = free))
  fl <- tempfile(fileext = ".onnx")
  export_onnx(ml, fl)
  if (python_onnx()) expect_identical(onnx_check(fl), "ok")
  for (zs in list(matrix(0.1, 2, 3), matrix(3, 2, 3), matrix(60, 2, 3))) {
    got <- ort_run(fl, list(z = zs))
    want <- predict(ml, zs)
    for (nm in names(want)) expect_lt(max(abs(got[[nm]] - want[[nm]])), 1e-4, label = nm)
  }
})

test_that("sym_cond() and sym_scan() models come back through import_onnx() as If and Scan", {
  skip_if_not(onnx_available())
  set.seed(14)
  x <- sym_var("x", c(NA, 3))
  w <- sym_param("w", c(3, 3))
  mc <- sym_model(x, sym_cond(sym_sum(x) > 0, function() sym_matmul(x, w) * 2, function() -x))
  s <- sym_var("s", c(5, 2, 3))
  v <- sym_param("v", 3)
  step <- function(x_t, h) list(h * v + x_t, sym_tanh(h + x_t))
  fwd <- sym_scan(step, sequences = s, init = sym_zeros(c(2, 3)))
  ms <- sym_model(s, list(final = fwd$state, steps = fwd$outputs[[1]]))
  fc <- tempfile(fileext = ".onnx")
  fs <- tempfile(fileext = ".onnx")
  export_onnx(mc, fc)
  export_onnx(ms, fs)
  mc2 <- import_onnx(fc)
  ms2 <- import_onnx(fs)
  for (xs in list(matrix(rnorm(6) + 2, 2, 3), matrix(rnorm(6) - 2, 2, 3))) {
    expect_equal(unname(predict(mc2, xs)), unname(predict(mc, xs)), tolerance = 1e-6)
  }
  xs <- array(rnorm(30), c(5, 2, 3))
  got <- predict(ms2, xs)
  want <- predict(ms, xs)
  expect_equal(unname(got), unname(want), tolerance = 1e-6)
})
