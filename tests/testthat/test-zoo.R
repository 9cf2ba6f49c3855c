# The model zoo: registry, verified download into a cache (through a local file:// mirror,
# never the network), resuming, classed errors, the shipped LeNet, ImageNet labels.

sha256_ref <- function(path) {
  skip_if_not_installed("digest")
  digest::digest(file = path, algo = "sha256")
}

mlp_file <- function() system.file("extdata", "onnx", "mlp.onnx", package = "symnet")

# A mirror directory holding `files` (named: base name -> source path), and its file:// URL.
local_mirror <- function(files, env = parent.frame()) {
  dir <- withr::local_tempdir(.local_envir = env)
  for (k in names(files)) file.copy(files[[k]], file.path(dir, k))
  withr::local_options(symnet.zoo_mirror = paste0("file://", normalizePath(dir)), .local_envir = env)
  dir
}

# Registers a fake registry entry for the mlp fixture (removed when the test ends).
local_fake_entry <- function(name = "fake_mlp", sha256 = NULL, size = NULL, env = parent.frame()) {
  f <- mlp_file()
  entry <- list(name = name, title = "fake", file = paste0(name, ".onnx"),
                url = "https://example.invalid/never-used.onnx",
                sha256 = sha256 %||% sha256_ref(f), size = size %||% file.size(f),
                format = "onnx", input_shape = c(1, 4), preprocess = "none",
                preprocess_text = "none", labels = "none")
  symnet:::.zoo_register(entry)
  withr::defer(symnet:::.zoo_unregister(name), envir = env)
  entry
}

`%||%` <- function(a, b) if (is.null(a)) b else a

test_that("the engine's SHA-256 matches the FIPS 180-2 example and digest on a file", {
  expect_equal(symnet:::cpp_sha256_raw(charToRaw("abc")),
               "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  f <- mlp_file()
  expect_equal(symnet:::cpp_sha256_file(f), sha256_ref(f))
  expect_error(symnet:::cpp_sha256_file(file.path(tempdir(), "no-such-file")), class = "symnet_value_error")
})

test_that("pretrained_models() lists the registry with pinned URLs and checksums", {
  cache <- withr::local_tempdir()
  z <- pretrained_models(cache_dir = cache)
  expect_s3_class(z, "data.frame")
  expect_setequal(z$name, c("resnet18", "resnet50", "mobilenet_v2", "squeezenet1.1", "vgg16",
                            "googlenet", "alexnet", "caffenet", "lenet_fashion"))
  onnx <- z[z$name != "lenet_fashion", ]
  expect_true(all(grepl("^https://github.com/onnx/models/raw/[0-9a-f]{40}/vision/classification/.*\\.onnx$", onnx$url)))
  expect_true(all(onnx$size > 1e6))
  expect_true(all(onnx$input == "3x224x224"))
  expect_equal(sort(unique(onnx$preprocess)), c("caffe", "torchvision"))
  expect_false(any(onnx$cached))
  expect_true(z$cached[z$name == "lenet_fashion"])
  expect_equal(z$size[z$name == "lenet_fashion"],
               file.size(system.file("extdata", "lenet_fashion.symnet", package = "symnet")))
  reg <- symnet:::.zoo_builtin()
  for (e in reg[names(reg) != "lenet_fashion"]) {
    expect_match(e$sha256, "^[0-9a-f]{64}$")
    expect_equal(basename(e$url), e$file)
  }
  expect_error(pretrained_model("resnet1000"), class = "symnet_value_error")
  expect_error(pretrained_model(NA_character_), class = "symnet_value_error")
})

test_that("a model is downloaded once into the cache, verified, then used from it", {
  skip_if_not(onnx_available())
  entry <- local_fake_entry()
  mirror <- local_mirror(setNames(mlp_file(), entry$file))
  cache <- file.path(withr::local_tempdir(), "zoo")   # created on first use
  expect_false(pretrained_models(cache)$cached[pretrained_models(cache)$name == "fake_mlp"])
  m <- pretrained_model("fake_mlp", cache_dir = cache)
  cached <- file.path(cache, entry$file)
  expect_true(file.exists(cached))
  expect_false(file.exists(paste0(cached, ".part")))
  expect_equal(m$zoo$path, normalizePath(cached))
  expect_equal(m$zoo$sha256, entry$sha256)
  x <- read_onnx_tensor(system.file("extdata", "onnx", "mlp_input_0.pb", package = "symnet"))
  y <- read_onnx_tensor(system.file("extdata", "onnx", "mlp_output_0.pb", package = "symnet"))
  expect_equal(predict(m, x), y, tolerance = 1e-5)
  expect_true(pretrained_models(cache)$cached[pretrained_models(cache)$name == "fake_mlp"])
  # the mirror is gone: the second call can only have used the cache
  unlink(file.path(mirror, entry$file))
  m2 <- pretrained_model("fake_mlp", cache_dir = cache)
  expect_equal(predict(m2, x), y, tolerance = 1e-5)
  expect_equal(pretrained_model_file("fake_mlp", cache_dir = cache, download = FALSE), normalizePath(cached))
})

test_that("options(symnet.zoo_cache) sets the cache directory", {
  entry <- local_fake_entry()
  local_mirror(setNames(mlp_file(), entry$file))
  cache <- withr::local_tempdir()
  withr::local_options(symnet.zoo_cache = cache)
  p <- pretrained_model_file("fake_mlp")
  expect_equal(p, normalizePath(file.path(cache, entry$file)))
})

test_that("a size or checksum mismatch is a classed error and the bad file is removed", {
  f <- mlp_file()
  cache <- withr::local_tempdir()
  # wrong checksum
  entry <- local_fake_entry("fake_bad_sum", sha256 = strrep("0", 64))
  local_mirror(setNames(f, entry$file))
  e <- expect_error(pretrained_model_file("fake_bad_sum", cache_dir = cache), class = "symnet_checksum_error")
  expect_s3_class(e, "symnet_download_error")
  expect_s3_class(e, "symnet_io_error")
  expect_match(conditionMessage(e), "SHA-256")
  expect_equal(e$path, file.path(cache, entry$file))
  expect_length(list.files(cache, all.files = TRUE, no.. = TRUE), 0)
  # wrong size (the mirror's file is shorter than the registry says)
  entry <- local_fake_entry("fake_bad_size", size = file.size(f) + 10)
  local_mirror(setNames(f, entry$file))
  e <- expect_error(pretrained_model_file("fake_bad_size", cache_dir = cache), class = "symnet_checksum_error")
  expect_match(conditionMessage(e), "bytes")
  expect_length(list.files(cache, all.files = TRUE, no.. = TRUE), 0)
})

test_that("a real registry entry refuses a mirror file that is not the published one", {
  cache <- withr::local_tempdir()
  local_mirror(c(`squeezenet1.1-7.onnx` = mlp_file()))
  e <- expect_error(pretrained_model_file("squeezenet1.1", cache_dir = cache), class = "symnet_checksum_error")
  expect_match(conditionMessage(e), "9,165,684", fixed = TRUE)
  expect_false(file.exists(file.path(cache, "squeezenet1.1-7.onnx")))
})

test_that("a damaged cached file is removed and downloaded again", {
  entry <- local_fake_entry()
  local_mirror(setNames(mlp_file(), entry$file))
  cache <- withr::local_tempdir()
  writeBin(as.raw(rep(1, 10)), file.path(cache, entry$file))
  expect_message(p <- pretrained_model_file("fake_mlp", cache_dir = cache), "damaged")
  expect_equal(symnet:::cpp_sha256_file(p), entry$sha256)
})

test_that("an interrupted download resumes from the .part file", {
  skip_if_not_installed("curl")
  f <- mlp_file()
  entry <- local_fake_entry()
  good <- readBin(f, raw(), file.size(f))
  n <- 100
  # The mirror's copy has a damaged head and the right tail: only a download that keeps the
  # .part file's (correct) first bytes and fetches the rest yields the right checksum.
  bad_head <- good
  bad_head[seq_len(n)] <- as.raw(0)
  src <- withr::local_tempfile()
  writeBin(bad_head, src)
  local_mirror(setNames(src, entry$file))
  cache <- withr::local_tempdir()
  writeBin(good[seq_len(n)], file.path(cache, paste0(entry$file, ".part")))
  p <- pretrained_model_file("fake_mlp", cache_dir = cache)
  expect_equal(symnet:::cpp_sha256_file(p), entry$sha256)
  expect_false(file.exists(paste0(p, ".part")))
  # without a .part file the same mirror gives the damaged file, which is refused
  unlink(p)
  expect_error(pretrained_model_file("fake_mlp", cache_dir = cache), class = "symnet_checksum_error")
  # a .part file longer than the model is discarded, not resumed
  writeBin(c(good, good), file.path(cache, paste0(entry$file, ".part")))
  local_mirror(setNames(f, entry$file))
  expect_equal(symnet:::cpp_sha256_file(pretrained_model_file("fake_mlp", cache_dir = cache)), entry$sha256)
})

test_that("without curl, download.file() fetches the whole file", {
  f <- mlp_file()
  part <- withr::local_tempfile()
  writeBin(as.raw(1:5), part)   # cannot resume: replaced
  symnet:::.zoo_download_base(paste0("file://", normalizePath(f)), part)
  expect_equal(unname(tools::md5sum(part)), unname(tools::md5sum(f)))
  expect_error(suppressMessages(symnet:::.zoo_download_base("file:///no/such/dir/x.onnx", part)))
})

test_that("offline or unreachable: a classed error naming the URL and the cache path", {
  cache <- withr::local_tempdir()
  withr::local_options(symnet.zoo_mirror = NULL)
  withr::local_envvar(SYMNET_ZOO_MIRROR = "")
  e <- expect_error(pretrained_model_file("resnet18", cache_dir = cache, download = FALSE),
                    class = "symnet_offline_error")
  expect_s3_class(e, "symnet_download_error")
  url <- symnet:::.zoo_builtin()$resnet18$url
  expect_equal(e$url, url)
  msg <- cli::ansi_strip(conditionMessage(e))
  expect_match(msg, url, fixed = TRUE)
  expect_match(msg, file.path(cache, "resnet18-v1-7.onnx"), fixed = TRUE)
  # a mirror that does not answer
  withr::local_options(symnet.zoo_mirror = "file:///no/such/symnet/mirror/")
  e <- expect_error(pretrained_model_file("resnet18", cache_dir = cache), class = "symnet_download_error")
  msg <- cli::ansi_strip(conditionMessage(e))
  expect_match(msg, "file:///no/such/symnet/mirror/resnet18-v1-7.onnx", fixed = TRUE)
  expect_match(msg, file.path(cache, "resnet18-v1-7.onnx"), fixed = TRUE)
  expect_equal(e$path, file.path(cache, "resnet18-v1-7.onnx"))
  expect_false(file.exists(file.path(cache, "resnet18-v1-7.onnx")))
  # the environment variable works as the option does
  withr::local_options(symnet.zoo_mirror = NULL)
  withr::local_envvar(SYMNET_ZOO_MIRROR = "file:///no/such/env/mirror")
  e <- expect_error(pretrained_model_file("resnet18", cache_dir = cache), class = "symnet_download_error")
  expect_match(cli::ansi_strip(conditionMessage(e)), "file:///no/such/env/mirror/resnet18-v1-7.onnx", fixed = TRUE)
  expect_error(pretrained_model_file("resnet18", cache_dir = cache, download = NA), class = "symnet_value_error")
  expect_error(pretrained_model_file("resnet18", cache_dir = 3), class = "symnet_value_error")
})

test_that("the shipped LeNet loads offline and classifies Fashion-MNIST", {
  m <- pretrained_model("lenet_fashion")
  expect_s3_class(m, "symnet_model")
  expect_equal(m$zoo$labels, fashion_mnist_classes)
  expect_equal(m$zoo$input_shape, c(1, 1, 28, 28))
  expect_true(file.exists(m$zoo$path))
  expect_lt(file.size(m$zoo$path), 300 * 1024)
  expect_error(pretrained_model("lenet_fashion", input_shapes = list(image = c(1, 1, 28, 28))),
               class = "symnet_value_error")
  fm <- tryCatch(dataset_fashion_mnist(download = FALSE), symnet_error = function(e) NULL)
  skip_if(is.null(fm), "Fashion-MNIST is not available offline")
  x <- fm$test$x
  dim(x) <- c(dim(x)[1], 1, 28, 28)
  pred <- max.col(predict(m, x)) - 1L
  expect_gt(mean(pred == fm$test$y), 0.85)
})

test_that("imagenet_labels() gives the 1000 class names in class order", {
  l <- imagenet_labels()
  expect_type(l, "character")
  expect_length(l, 1000)
  expect_false(anyNA(l))
  expect_true(all(nzchar(l)))
  expect_equal(l[1], "tench")          # class 0
  expect_equal(l[207 + 1], "golden retriever")  # class 207
  expect_equal(l[1000], "toilet tissue")
})
