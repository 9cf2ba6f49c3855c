# torchvision classifiers exported by PyTorch (random weights) import and reproduce
# PyTorch's outputs. Needs Debian's python3-torch, python3-torchvision and python3-onnx.
skip_if_not(onnx_available(), "symnet was installed without protobuf")
skip_on_cran()

python <- Sys.getenv("SYMNET_TORCH_PYTHON", "/usr/bin/python3")
has_torchvision <- function() {
  file.exists(python) &&
    identical(suppressWarnings(system2(python, c("-c", shQuote("import torch, torchvision, onnx")),
                                       stdout = FALSE, stderr = FALSE)), 0L)
}

test_that("seven torchvision architectures import and match PyTorch within 1e-4", {
  skip_if_not(has_torchvision(), "PyTorch with torchvision and onnx not available")
  nets <- c("resnet18", "mobilenet_v2", "squeezenet1_1", "vgg11", "densenet121", "shufflenet_v2_x1_0", "googlenet")
  dir <- tempfile("torchvision")
  on.exit(unlink(dir, recursive = TRUE))
  status <- system2(python, c(test_path("fixtures", "onnx", "export_torchvision.py"), dir, nets),
                    stdout = FALSE, stderr = FALSE)
  expect_equal(status, 0L)
  for (n in nets) {
    m <- import_onnx(file.path(dir, paste0(n, ".onnx")))
    x <- read_onnx_tensor(file.path(dir, paste0(n, "_input_0.pb")))
    y <- read_onnx_tensor(file.path(dir, paste0(n, "_output_0.pb")))
    p <- predict(m, x)
    expect_equal(dim(p), dim(y), info = n)
    expect_lte(max(abs(p - y)), 1e-4 * max(1, max(abs(y))), label = paste(n, "max abs difference"))
  }
})
