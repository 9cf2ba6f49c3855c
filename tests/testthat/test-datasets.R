# A tiny idx file written here, in the format of the (Fashion-)MNIST files.
write_idx <- function(path, dims, values, type = 0x08, gz = TRUE, magic = NULL) {
  con <- if (gz) gzfile(path, "wb") else file(path, "wb")
  on.exit(close(con))
  writeBin(as.raw(c(0, 0, type, length(dims))), con)
  if (!is.null(magic)) {
    writeBin(as.raw(magic), con)
  }
  writeBin(as.integer(dims), con, size = 4, endian = "big")
  writeBin(as.raw(values), con)
}

test_that("read_idx reads row-major idx data into R arrays, gzipped or not", {
  f <- withr::local_tempfile(fileext = ".gz")
  # 2 images of 2 x 3: image k has pixel (r, c) = 100 k + 10 r + c
  vals <- c(111, 112, 113, 121, 122, 123, 211, 212, 213, 221, 222, 223) - 100
  write_idx(f, c(2, 2, 3), vals)
  a <- read_idx(f)
  expect_identical(dim(a), c(2L, 2L, 3L))
  expect_type(a, "integer")
  expect_identical(a[1, 2, 3], 23L)
  expect_identical(a[2, 1, 2], 112L)
  g <- withr::local_tempfile()
  write_idx(g, 4, c(3, 1, 4, 1), gz = FALSE)
  expect_identical(read_idx(g), c(3L, 1L, 4L, 1L))
})

test_that("damaged idx files give symnet_data_error", {
  bad_magic <- withr::local_tempfile(fileext = ".gz")
  con <- gzfile(bad_magic, "wb")
  writeBin(as.raw(c(1, 2, 8, 1, 0, 0, 0, 1, 5)), con)
  close(con)
  expect_error(read_idx(bad_magic), class = "symnet_data_error")
  short <- withr::local_tempfile(fileext = ".gz")
  write_idx(short, c(10, 28, 28), 1:100)      # far fewer pixels than the header says
  expect_error(read_idx(short), "truncated", class = "symnet_data_error")
  # gzip data cut in the middle
  full <- withr::local_tempfile(fileext = ".gz")
  write_idx(full, c(50, 28, 28), rep(1:255, length.out = 50 * 784) %% 256)
  bytes <- readBin(full, "raw", file.size(full))
  cut <- withr::local_tempfile(fileext = ".gz")
  writeBin(bytes[seq_len(length(bytes) %/% 2)], cut)
  expect_error(read_idx(cut), class = "symnet_data_error")
  garbage <- withr::local_tempfile(fileext = ".gz")
  writeBin(as.raw(c(0x1f, 0x8b, 8, 0, 1:40)), garbage)
  expect_error(read_idx(garbage), class = "symnet_data_error")
  expect_error(read_idx(tempfile()), class = "symnet_data_error")
})

test_that("a dataset is read from an explicit path, and a missing one is a classed error", {
  d <- withr::local_tempdir()
  write_idx(file.path(d, "train-images-idx3-ubyte.gz"), c(3, 28, 28), rep(7, 3 * 784))
  write_idx(file.path(d, "train-labels-idx1-ubyte.gz"), 3, c(0, 9, 4), type = 0x08)
  write_idx(file.path(d, "t10k-images-idx3-ubyte"), c(2, 28, 28), rep(1, 2 * 784), gz = FALSE)
  write_idx(file.path(d, "t10k-labels-idx1-ubyte.gz"), 2, c(1, 2))
  ds <- dataset_fashion_mnist(path = d)
  expect_named(ds, c("train", "test"))
  expect_identical(dim(ds$train$x), c(3L, 28L, 28L))
  expect_identical(ds$train$y, c(0L, 9L, 4L))
  expect_identical(ds$test$y, c(1L, 2L))
  # found through the option too
  withr::with_options(list(symnet.data_dir = d), {
    expect_identical(symnet:::.locate_dataset(symnet:::.dataset_specs$mnist, download = FALSE), d)
  })
  empty <- withr::local_tempdir()
  expect_error(dataset_fashion_mnist(path = empty), class = "symnet_data_error")
  err <- tryCatch(symnet:::.locate_dataset(symnet:::.dataset_specs$fashion_mnist, dirs = empty,
                                           download = FALSE),
                  error = identity)
  expect_s3_class(err, "symnet_data_error")
  expect_match(conditionMessage(err), "dataset-fashion-mnist")
  # mismatched image and label counts
  write_idx(file.path(d, "train-labels-idx1-ubyte.gz"), 2, c(0, 1))
  expect_error(dataset_fashion_mnist(path = d), class = "symnet_data_error")
})

test_that("the Debian Fashion-MNIST files are read as keras does", {
  skip_if_not(dir.exists("/usr/share/datasets/fashion-mnist"),
              "Fashion-MNIST not installed (Debian package dataset-fashion-mnist)")
  ds <- dataset_fashion_mnist(download = FALSE)
  expect_identical(dim(ds$train$x), c(60000L, 28L, 28L))
  expect_identical(dim(ds$test$x), c(10000L, 28L, 28L))
  expect_type(ds$train$x, "integer")
  expect_identical(range(ds$train$x), c(0L, 255L))
  expect_identical(sort(unique(ds$train$y)), 0:9)
  expect_identical(as.vector(table(ds$test$y)), rep(1000L, 10))
  expect_identical(ds$train$y[1:5], c(9L, 0L, 0L, 3L, 0L))   # ankle boot, T-shirt, T-shirt, dress, T-shirt
  expect_length(fashion_mnist_classes, 10)
})

test_that("downloads are checked against their checksums and land in the cache", {
  src <- withr::local_tempdir()
  spec <- symnet:::.dataset_specs$fashion_mnist
  write_idx(file.path(src, spec$files[["train_x"]]), c(2, 28, 28), rep(3, 2 * 784))
  write_idx(file.path(src, spec$files[["train_y"]]), 2, c(5, 6))
  write_idx(file.path(src, spec$files[["test_x"]]), c(1, 28, 28), rep(4, 784))
  write_idx(file.path(src, spec$files[["test_y"]]), 1, 7)
  spec$urls <- c("file:///nonexistent-symnet-mirror/", paste0("file://", src, "/"))
  spec$md5 <- vapply(spec$files, function(f) unname(tools::md5sum(file.path(src, f))), character(1))
  cache <- file.path(withr::local_tempdir(), "cache")
  out <- NULL
  capture.output(out <- suppressMessages(symnet:::.locate_dataset(spec, dirs = character(), cache = cache)),
                 type = "message")
  expect_identical(out, cache)
  expect_setequal(list.files(cache), unname(spec$files))
  # a checksum mismatch is refused, leaving no partial file
  spec$md5[["test_y"]] <- "00000000000000000000000000000000"
  cache2 <- file.path(withr::local_tempdir(), "cache")
  capture.output(err <- tryCatch(suppressMessages(symnet:::.locate_dataset(spec, dirs = character(),
                                                                           cache = cache2)),
                                 error = identity), type = "message")
  expect_s3_class(err, "symnet_data_error")
  expect_match(conditionMessage(err), "checksum")
  expect_false(file.exists(file.path(cache2, spec$files[["test_y"]])))
  expect_length(list.files(cache2, pattern = "\\.part$"), 0)
})

test_that("read_idx reads every element type and rejects hostile headers without allocating", {
  f <- withr::local_tempfile()
  con <- file(f, "wb")
  writeBin(as.raw(c(0, 0, 0x0D, 2)), con)
  writeBin(as.integer(c(2, 3)), con, size = 4, endian = "big")
  writeBin(c(1.5, -2, 3, 4, 5, 6.25), con, size = 4, endian = "big")
  close(con)
  a <- read_idx(f)
  expect_type(a, "double")
  expect_identical(a, matrix(c(1.5, -2, 3, 4, 5, 6.25), 2, 3, byrow = TRUE))
  g <- withr::local_tempfile()
  con <- file(g, "wb")
  writeBin(as.raw(c(0, 0, 0x0B, 1)), con)
  writeBin(3L, con, size = 4, endian = "big")
  writeBin(c(-2L, 258L, 7L), con, size = 2, endian = "big")
  close(con)
  expect_identical(read_idx(g), c(-2L, 258L, 7L))
  # an unknown element type, a negative dimension, an implausible rank
  write_idx(f, 3, 1:3, type = 0x0A, gz = FALSE)
  expect_error(read_idx(f), "unknown element type 0x0A", class = "symnet_data_error")
  write_idx(f, -5, 1:3, gz = FALSE)
  expect_error(read_idx(f), "dimension 1 is negative", class = "symnet_data_error")
  writeBin(as.raw(c(0, 0, 8, 12, 0, 0)), f)
  expect_error(read_idx(f), "implausible rank 12", class = "symnet_data_error")
  # a header declaring 2^31^8 doubles in a 36-byte file: a truncation error, found without
  # trying to allocate the declared size
  writeBin(c(as.raw(c(0, 0, 0x0E, 8)), rep(as.raw(c(0x7f, 0xff, 0xff, 0xff)), 8)), f)
  expect_error(read_idx(f), "0 of 4.52313e\\+74 elements present \\(truncated\\)", class = "symnet_data_error")
  # a large declared size with a short gzip payload is read in chunks, not preallocated
  write_idx(f, c(60000, 28, 28), 1:10)
  expect_error(read_idx(f), "10 of 47040000 elements", class = "symnet_data_error")
})
