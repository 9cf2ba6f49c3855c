# Image preprocessing: bilinear resize, center crop, per-channel normalization, PNG/JPEG
# loading, and the ImageNet pipelines.

test_that("image_resize() interpolates bilinearly with half-pixel centers", {
  # upsampling [0, 1] to 4 pixels: sources -0.25 (clamped), 0.25, 0.75, 1.25 (clamped)
  expect_equal(image_resize(matrix(c(0, 1), 1, 2), c(1, 4)), matrix(c(0, 0.25, 0.75, 1), 1, 4))
  # halving averages neighbouring pairs (rows and columns)
  m <- matrix(as.double(1:16), 4, 4)
  half <- image_resize(m, c(2, 2))
  expect_equal(half[1, 1], mean(m[1:2, 1:2]))
  expect_equal(half[2, 1], mean(m[3:4, 1:2]))
  expect_equal(half[2, 2], mean(m[3:4, 3:4]))
  # the same size is the identity; a constant image stays constant
  expect_equal(image_resize(m, c(4, 4)), m)
  expect_equal(image_resize(matrix(0.3, 5, 7), c(11, 2)), matrix(0.3, 11, 2))
  # a linear ramp stays linear inside the image
  ramp <- matrix(rep(0:9, each = 3), 3, 10)
  r <- image_resize(ramp, c(3, 5))
  expect_equal(r[1, ], (seq_len(5) - 0.5) * 2 - 0.5)
})

test_that("image_resize() keeps the aspect ratio for one size and the layout it is given", {
  set.seed(1)
  img <- array(runif(40 * 60 * 3), c(40, 60, 3))
  expect_equal(dim(image_resize(img, 20)), c(20, 30, 3))
  expect_equal(dim(image_resize(aperm(img, c(2, 1, 3)), 20)), c(30, 20, 3))
  # HWC and NCHW agree plane by plane
  hwc <- image_resize(img, c(17, 23))
  for (k in 1:3) expect_equal(hwc[, , k], image_resize(img[, , k], c(17, 23)))
  batch <- array(0, c(2, 3, 40, 60))
  batch[1, , , ] <- aperm(img, c(3, 1, 2))
  batch[2, , , ] <- aperm(1 - img, c(3, 1, 2))
  out <- image_resize(batch, c(17, 23))
  expect_equal(dim(out), c(2, 3, 17, 23))
  expect_equal(out[1, , , ], aperm(hwc, c(3, 1, 2)))
  expect_equal(out[2, , , ], aperm(1 - hwc, c(3, 1, 2)))
})

test_that("image_center_crop() cuts the middle of each layout", {
  m <- matrix(1:30, 5, 6)
  expect_equal(image_center_crop(m, c(3, 2)), m[2:4, 3:4])
  expect_equal(image_center_crop(m, 4), m[1:4, 2:5])
  img <- array(seq_len(5 * 6 * 3), c(5, 6, 3))
  expect_equal(image_center_crop(img, 3), img[2:4, 3:5, , drop = FALSE])  # margin 1.5 rounds to 2
  b <- array(seq_len(2 * 3 * 5 * 6), c(2, 3, 5, 6))
  expect_equal(image_center_crop(b, c(1, 6)), b[, , 3, , drop = FALSE])
  expect_error(image_center_crop(m, 7), class = "symnet_shape_error")
  expect_error(image_center_crop(m, c(1, 2, 3)), class = "symnet_value_error")
  expect_error(image_center_crop(m, 0), class = "symnet_value_error")
  expect_error(image_center_crop(1:5, 2), class = "symnet_shape_error")
})

test_that("image_normalize() works per channel in both layouts", {
  set.seed(2)
  img <- array(runif(4 * 5 * 3), c(4, 5, 3))
  mu <- c(0.1, 0.2, 0.3)
  s <- c(0.5, 2, 4)
  out <- image_normalize(img, mu, s)
  for (k in 1:3) expect_equal(out[, , k], (img[, , k] - mu[k]) / s[k])
  b <- array(runif(2 * 3 * 4 * 5), c(2, 3, 4, 5))
  out <- image_normalize(b, mu, s)
  for (k in 1:3) expect_equal(out[, k, , ], (b[, k, , ] - mu[k]) / s[k])
  expect_equal(image_normalize(img[, , 1], 0.5, 2), (img[, , 1] - 0.5) / 2)
  expect_equal(image_normalize(img, 0.5, 1), img - 0.5)
  expect_error(image_normalize(img, c(1, 2), 1), class = "symnet_value_error")
  expect_error(image_normalize(img, 0, 0), class = "symnet_value_error")
  expect_error(image_normalize(img, NA, 1), class = "symnet_value_error")
  expect_error(image_normalize("a", 0, 1), class = "symnet_shape_error")
})

test_that("image_load() reads PNG and JPEG as [H, W, C] in [0, 1]", {
  skip_if_not_installed("png")
  set.seed(3)
  img <- array(round(runif(6 * 8 * 3) * 255) / 255, c(6, 8, 3))
  f <- withr::local_tempfile(fileext = ".png")
  png::writePNG(img, f)
  expect_equal(image_load(f), img)
  grey <- image_load(f, channels = 1)
  expect_equal(dim(grey), c(6, 8, 1))
  expect_equal(grey[, , 1], (img[, , 1] + img[, , 2] + img[, , 3]) / 3)
  # grey and alpha images
  g <- withr::local_tempfile(fileext = ".png")
  png::writePNG(img[, , 1], g)
  expect_equal(image_load(g), array(rep(img[, , 1], 3), c(6, 8, 3)))
  a <- withr::local_tempfile(fileext = ".png")
  png::writePNG(array(c(img, rep(1, 48)), c(6, 8, 4)), a)
  expect_equal(image_load(a), img)
  skip_if_not_installed("jpeg")
  j <- withr::local_tempfile(fileext = ".jpg")
  smooth <- array(rep(outer(seq(0, 1, length.out = 16), rep(1, 16)), 3), c(16, 16, 3))
  jpeg::writeJPEG(smooth, j, quality = 1)
  expect_lt(max(abs(image_load(j) - smooth)), 0.05)   # lossy
})

test_that("image_load() errors are classed", {
  f <- withr::local_tempfile(fileext = ".png")
  writeLines("not an image", f)
  expect_error(image_load(f), class = "symnet_format_error")
  expect_error(image_load(file.path(tempdir(), "missing.png")), class = "symnet_io_error")
  expect_error(image_load(f, channels = 2), class = "symnet_value_error")
  expect_error(image_load(NA_character_), class = "symnet_value_error")
  # a truncated PNG: right magic number, no data
  writeBin(as.raw(c(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0)), f)
  skip_if_not_installed("png")
  expect_error(image_load(f), class = "symnet_format_error")
})

test_that("preprocess_imagenet() makes [N, 3, 224, 224] in either style", {
  # a constant colour: every output pixel is the normalized colour
  col <- c(0.2, 0.5, 0.9)
  img <- array(rep(col, each = 300 * 400), c(300, 400, 3))
  tv <- preprocess_imagenet(img)
  expect_equal(dim(tv), c(1, 3, 224, 224))
  expect_equal(apply(tv, 2, range)[1, ], (col - c(0.485, 0.456, 0.406)) / c(0.229, 0.224, 0.225))
  expect_equal(apply(tv, 2, range)[2, ], (col - c(0.485, 0.456, 0.406)) / c(0.229, 0.224, 0.225))
  cf <- preprocess_imagenet(img, "caffe")
  expect_equal(dim(cf), c(1, 3, 224, 224))
  expect_equal(apply(cf, 2, max), rev(col) * 255 - c(104, 117, 123))   # B, G, R
  # it is resize(256) -> crop(224) -> normalize, on a batch too
  set.seed(4)
  x <- array(runif(2 * 3 * 60 * 50), c(2, 3, 60, 50))
  expect_equal(preprocess_imagenet(x),
               image_normalize(image_center_crop(image_resize(x, 256), 224),
                               c(0.485, 0.456, 0.406), c(0.229, 0.224, 0.225)))
  expect_error(preprocess_imagenet(img[, , 1:2]), class = "symnet_shape_error")
  expect_error(preprocess_imagenet(img, "keras"), class = "symnet_value_error")
  expect_error(preprocess_imagenet(character()), class = "symnet_value_error")
})

test_that("preprocess_imagenet() reads files into one batch", {
  skip_if_not_installed("png")
  set.seed(5)
  a <- array(runif(30 * 40 * 3), c(30, 40, 3))
  b <- array(runif(50 * 20 * 3), c(50, 20, 3))
  fa <- withr::local_tempfile(fileext = ".png")
  fb <- withr::local_tempfile(fileext = ".png")
  png::writePNG(a, fa)
  png::writePNG(b, fb)
  x <- preprocess_imagenet(c(fa, fb))
  expect_equal(dim(x), c(2, 3, 224, 224))
  expect_equal(x[1, , , ], preprocess_imagenet(image_load(fa))[1, , , ])
  expect_equal(x[2, , , ], preprocess_imagenet(image_load(fb))[1, , , ])
})

test_that("resize, crop and normalize match torchvision (antialias off) on a reference image", {
  # fixtures/images/make_resize_reference.py wrote these with torchvision
  lines <- readLines(test_path("fixtures", "images", "resize_reference.txt"))
  ref <- list()
  for (l in lines) {
    parts <- strsplit(l, " : ", fixed = TRUE)[[1]]
    head <- strsplit(parts[1], " ", fixed = TRUE)[[1]]
    d <- as.integer(head[-1])
    v <- as.double(strsplit(parts[2], " ", fixed = TRUE)[[1]])
    ref[[head[1]]] <- array(aperm(array(v, rev(d)), rev(seq_along(d))), c(1, d))  # [1, C, H, W]
  }
  x <- ref$image
  expect_equal(image_resize(x, c(11, 13)), ref$up_11x13, tolerance = 1e-12)
  expect_equal(image_resize(x, c(4, 6)), ref$down_4x6, tolerance = 1e-12)
  expect_equal(image_resize(x, 9), ref$short_9, tolerance = 1e-12)
  expect_equal(image_center_crop(x, c(4, 5)), ref$crop_4x5)
  expect_equal(image_normalize(x, c(0.485, 0.456, 0.406), c(0.229, 0.224, 0.225)), ref$normalize,
               tolerance = 1e-12)
  # the same through the [H, W, C] layout
  hwc <- aperm(x[1, , , , drop = TRUE], c(2, 3, 1))
  expect_equal(image_resize(hwc, c(4, 6)), aperm(ref$down_4x6[1, , , , drop = TRUE], c(2, 3, 1)),
               tolerance = 1e-12)
})
