test_that("sym_dot returns Graphviz text", {
  x <- sym_var("x", c(NA, 3))
  y <- sym_relu(x * 2 + 1, name = "act")
  d <- sym_dot(y)
  expect_s3_class(d, "symnet_dot")
  expect_match(d, "digraph")
  expect_match(d, "act")
  expect_match(sym_dot(y, optimized = TRUE), "digraph")
  expect_match(sym_dot(list(y, sum(x))), "digraph")
  expect_output(print(d), "digraph")
  f <- sym_compile(y)
  expect_match(sym_dot(f), "digraph")
  f(x = matrix(1, 2, 3))
  expect_match(sym_dot(f), "digraph")
  expect_error(sym_dot(1), class = "symnet_value_error")
})

test_that("plot renders with Graphviz when it is installed", {
  x <- sym_var("x", 3)
  y <- sym_exp(x) + 1
  if (nzchar(Sys.which("dot"))) {
    file <- tempfile(fileext = ".svg")
    out <- plot(y, file = file)
    expect_identical(out, file)
    expect_true(file.exists(file))
    expect_match(paste(readLines(file), collapse = ""), "<svg")
    png <- plot(sym_compile(y), file = tempfile(fileext = ".png"))
    expect_true(file.exists(png))
    expect_error(plot(y, file = tempfile(fileext = ".gif")), class = "symnet_value_error")
  } else {
    expect_message(plot(y), "Graphviz")
  }
})

test_that("plot explains how to get Graphviz when it is missing", {
  withr::local_envvar(PATH = tempdir())
  skip_if(nzchar(Sys.which("dot")))
  x <- sym_var("x", 3)
  expect_message(out <- plot(x + 1), "Install Graphviz")
  expect_null(out)
})

test_that("sym_json describes the graph", {
  x <- sym_var("x", 2)
  js <- sym_json(list(y = x + 1))
  parsed <- jsonlite::fromJSON(js, simplifyVector = FALSE)
  expect_type(parsed, "list")
  expect_match(js, "\"add\"")
  expect_error(sym_json("x"), class = "symnet_value_error")
})

test_that("models have sym_dot and plot methods", {
  x <- sym_var("x", c(NA, 4))
  m <- sym_model(x, layer_dense(x, 2, activation = "relu", name = "dd"))
  d <- sym_dot(m)
  expect_s3_class(d, "symnet_dot")
  expect_match(d, "dd")
  expect_identical(unclass(d), unclass(sym_dot(m$outputs)))
  if (nzchar(Sys.which("dot"))) {
    file <- tempfile(fileext = ".svg")
    expect_identical(plot(m, file = file), file)
    expect_match(paste(readLines(file), collapse = ""), "<svg")
  } else {
    expect_message(plot(m), "Graphviz")
  }
})
