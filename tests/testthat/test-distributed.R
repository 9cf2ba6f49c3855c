# Distributed runs. In this process (never dist_init()ed) the group is one process; the
# multi-process behaviour runs under `mpirun -np 2` (mpi/collectives.R), skipped with the
# reason where MPI is absent.

test_that("a process without dist_init() is a group of one", {
  expect_identical(dist_rank(), 0L)
  expect_identical(dist_size(), 1L)
  info <- dist_info()
  expect_false(info$distributed)
  expect_identical(info$description, "single process")
  expect_equal(dist_allreduce(matrix(1:4, 2), "mean"), matrix(as.double(1:4), 2))
  expect_identical(dist_broadcast(list(a = 1)), list(a = 1))
  expect_null(dist_barrier())
})

test_that("bad arguments to the distributed helpers are classed errors", {
  expect_error(dist_allreduce("a"), class = "symnet_value_error")
  expect_error(dist_allreduce(1, "prod"), class = "symnet_value_error")
  expect_error(dist_broadcast(1, root = 1), class = "symnet_value_error")
  expect_error(dist_broadcast(1, root = -1), class = "symnet_value_error")
  expect_error(dist_init(timeout = -1), class = "symnet_value_error")
  expect_error(dist_init(library = file.path(tempdir(), "no-such-library.so")),
               class = "symnet_unsupported_error")
  not_a_lib <- tempfile(fileext = ".so")
  writeLines("not a shared library", not_a_lib)
  expect_error(dist_init(library = not_a_lib), class = "symnet_unsupported_error")
  expect_false(dist_info()$distributed)
})

test_that("collective ops are the identity in one process and differentiate", {
  x <- sym_var("x", c(2, 3))
  f <- sym_compile(list(s = sym_allreduce(x), m = sym_allreduce(x, "mean"), g = sym_allgather(x),
                        r = sym_reduce_scatter(x, "mean"), b = sym_broadcast(x), k = sym_comm_rank()))
  v <- matrix(c(1, -2, 3, 4, 5, -6), 2)
  out <- f(x = v)
  for (k in c("s", "m", "g", "r", "b")) expect_equal(out[[k]], v)
  expect_equal(out$k, 0)
  y <- sym_sum(sym_allreduce(x * x, "mean") * 3)
  g <- sym_compile(sym_grad(y, list(x = x)))(x = v)
  expect_equal(g$x, 6 * v)
})

test_that("collective ops check their arguments", {
  x <- sym_var("x", c(4, 2))
  expect_error(sym_allreduce(x, "prod"), class = "symnet_value_error")
  expect_error(sym_reduce_scatter(x, "max"), class = "symnet_value_error")
  expect_error(sym_allgather(x, world_size = 0), class = "symnet_value_error")
  expect_error(sym_broadcast(x, root = -1), class = "symnet_value_error")
  expect_error(sym_allreduce(sym_var("i", c(2), dtype = "int32"), "mean"), class = "symnet_dtype_error")
  expect_error(sym_reduce_scatter(sym_var("z", c(3, 2)), world_size = 2), class = "symnet_shape_error")
  # a graph built for two processes, run in one: refused, not silently wrong
  f <- sym_compile(sym_allgather(x, world_size = 2))
  expect_error(f(x = matrix(0, 4, 2)), class = "symnet_comm_error")
})

# Runs tests/testthat/mpi/<script> on two MPI processes; returns the results of `ranks`
# (<prefix><rank>.rds) with the output folder as attribute "dir" (and mpirun's output as
# "log"), or skips with the reason.
run_mpi <- function(script, prefix, ranks = 0:1, mpirun_args = character()) {
  skip_on_cran()
  skip_if_not(dist_available(), "symnet was installed without MPI")
  mpirun <- Sys.which("mpirun")
  skip_if(!nzchar(mpirun), "mpirun is not on the PATH")
  out <- tempfile("mpi")
  dir.create(out)
  args <- c(if (identical(Sys.info()[["effective_user"]], "root")) "--allow-run-as-root",
            "--oversubscribe", mpirun_args, "-np", "2", file.path(R.home("bin"), "Rscript"), test_path("mpi", script),
            out)
  log <- suppressWarnings(system2(mpirun, args, stdout = TRUE, stderr = TRUE, timeout = 240,
                                  env = paste0("R_LIBS=", paste(.libPaths(), collapse = .Platform$path.sep))))
  files <- file.path(out, sprintf("%s%d.rds", prefix, ranks))
  if (!all(file.exists(files))) stop(paste(c("mpirun did not finish:", utils::tail(log, 20)), collapse = "\n"), call. = FALSE)
  structure(lapply(files, readRDS), dir = out, log = log)
}

test_that("two MPI processes reduce, gather and share gradients", {
  res <- run_mpi("collectives.R", "rank")
  a <- res[[1]]
  b <- res[[2]]
  expect_identical(c(a$rank, b$rank), 0:1)
  expect_identical(c(a$size, b$size), c(2L, 2L))
  expect_true(a$info$distributed)
  expect_match(a$info$description, "MPI")
  expect_equal(a$sum, c(3, 6))
  expect_equal(b$mean, matrix(0.5, 2, 2))
  expect_equal(a$max, 1)
  expect_identical(b$bcast, list(from = "rank 1", v = 1:3))
  x0 <- matrix(1:6, 2, 3)
  x1 <- x0 + 10
  for (r in list(a, b)) {
    expect_equal(r$graph$total, x0 + x1)
    expect_equal(r$graph$avg, (x0 + x1) / 2)
    expect_equal(r$graph$all, rbind(x0, x1))
    expect_equal(r$graph$root, x0)
  }
  expect_equal(a$graph$part, (x0 + x1)[1, , drop = FALSE])
  expect_equal(b$graph$part, (x0 + x1)[2, , drop = FALSE])
  expect_equal(c(a$graph$rank, b$graph$rank), c(0, 1))
  # half a batch per rank, gradients averaged: the whole batch's gradient
  expect_equal(a$grad_shared, a$grad_whole, tolerance = 1e-5)
  expect_equal(b$grad_shared, a$grad_shared)
  # through the collective: d/dx_r of both ranks' sum(allreduce(x * x)) is 4 x_r
  expect_equal(a$grad_through$xv, 4 * c(1, 2, 3))
  expect_equal(b$grad_through$xv, 4 * c(2, 4, 6))
})

test_that("fit() with strategy_data_parallel() on two processes equals one process", {
  res <- run_mpi("fit.R", "fit")
  a <- res[[1]]
  b <- res[[2]]
  expect_identical(c(a$rank, b$rank), 0:1)
  for (opt in c("sgd", "adam")) {
    # the ranks hold identical weights (rank 1 started from other ones: broadcast at start)
    expect_identical(a[[opt]]$weights, b[[opt]]$weights)
    # and they equal one process training on the whole batches, up to float32 rounding
    expect_equal(a[[opt]]$weights, a[[paste0(opt, "_alone")]]$weights, tolerance = 1e-5)
    # the epoch figures cover every rank's examples: the same as alone, on every rank
    expect_equal(a[[opt]]$history$loss, a[[paste0(opt, "_alone")]]$history$loss, tolerance = 1e-5)
    expect_equal(b[[opt]]$history$loss, a[[opt]]$history$loss)
  }
  # with batch norm the ranks still agree, running statistics included
  expect_identical(names(a$bn), names(b$bn))
  expect_equal(a$bn, b$bn, tolerance = 1e-6)
  expect_true(all(c("bn/moving_mean", "bn/moving_variance") %in% names(a$bn)))
  expect_false(isTRUE(all.equal(a$bn[["bn/moving_mean"]], rep(0, 8))))  # they did move
  # synchronized batch norm: two ranks with half batches equal one process with whole ones,
  # running statistics included
  for (opt in c("sgd", "adam")) {
    sync <- a[[paste0("sync_", opt)]]
    alone <- a[[paste0("sync_", opt, "_alone")]]
    expect_identical(sync$weights, b[[paste0("sync_", opt)]]$weights)
    expect_identical(names(sync$weights), names(alone$weights))
    expect_true(all(c("bn/moving_mean", "bn/moving_variance") %in% names(sync$weights)))
    for (nm in names(alone$weights)) {
      expect_equal(sync$weights[[nm]], alone$weights[[nm]], tolerance = 1e-5, label = paste(opt, nm))
    }
    expect_equal(sync$history$loss, alone$history$loss, tolerance = 1e-5)
  }
})

test_that("strategy_data_parallel() checks its argument and is inert in one process", {
  expect_error(strategy_data_parallel(0), class = "symnet_value_error")
  expect_error(strategy_data_parallel("a"), class = "symnet_value_error")
  expect_error(strategy_data_parallel(sync_batch_norm = NA), class = "symnet_value_error")
  expect_output(print(strategy_data_parallel(2)), "data parallel")
  expect_output(print(strategy_data_parallel(sync_batch_norm = TRUE)), "synchronized batch norm")
  x <- sym_var("x", c(NA, 3))
  set.seed(1)
  m1 <- sym_model(x, layer_dense(x, 2, name = "d"))
  set.seed(1)
  m2 <- sym_model(x, layer_dense(x, 2, name = "d"))
  xx <- matrix(runif(60), 20)
  yy <- runif(20 * 2)
  dim(yy) <- c(20, 2)
  fit(m1, xx, yy, loss = "mse", epochs = 2, batch_size = 5, seed = 1, verbose = 0)
  fit(m2, xx, yy, loss = "mse", epochs = 2, batch_size = 5, seed = 1, verbose = 0,
      strategy = strategy_data_parallel())
  expect_identical(get_weights(m1), get_weights(m2))
  expect_error(fit(m2, xx, yy, loss = "mse", strategy = "dp", verbose = 0), class = "symnet_value_error")
})

test_that("a collective that another rank never joins fails after the timeout", {
  res <- run_mpi("timeout.R", "timeout")
  r0 <- res[[1]]
  expect_true("symnet_comm_error" %in% r0$class)
  expect_match(r0$message, "did not complete within 1 s")
  expect_gt(r0$waited, 0.9)
  expect_lt(r0$waited, 30)
})

test_that("predict() and evaluate() share the rows out over two processes", {
  res <- run_mpi("infer.R", "infer")
  a <- res[[1]]
  b <- res[[2]]
  # every rank returns all the predictions, in the order of x, as one process computes them
  expect_equal(dim(a$pred), c(37L, 3L))
  expect_equal(a$pred, a$pred_alone, tolerance = 1e-6)
  expect_identical(b$pred, a$pred)
  expect_named(a$pred2, c("logits", "score"))
  expect_equal(a$pred2, a$pred2_alone, tolerance = 1e-6)
  expect_identical(b$pred2, a$pred2)
  expect_equal(a$pred_one_row, a$pred_one_row_alone, tolerance = 1e-6)
  expect_identical(b$pred_one_row, a$pred_one_row)
  # figures over all rows, weighted by each rank's examples
  expect_equal(a$eval, a$eval_alone, tolerance = 1e-6)
  expect_identical(b$eval, a$eval)
  expect_named(a$eval, c("loss", "acc"))
  expect_identical(b$eval_weighted, a$eval_weighted)
})

test_that("a rank that fails makes the others stop at once, naming it and its error", {
  res <- run_mpi("fault.R", "fault")
  r0 <- res[[1]]
  r1 <- res[[2]]
  # rank 1 met its own error
  expect_match(r1$message, "the disk of rank 1 is full")
  expect_null(r1$failed_rank)
  # rank 0 a classed communication error naming rank 1 and its message
  expect_true("symnet_comm_error" %in% r0$class)
  expect_identical(r0$failed_rank, 1L)
  expect_match(r0$failed_message, "the disk of rank 1 is full")
  expect_match(r0$message, "rank 1 failed: the disk of\\s+rank 1 is full")
  # within seconds of rank 1's error, not after the 60 s timeout
  expect_lt(r0$at - r1$at, 10)
  expect_gt(r0$at - r1$at, -1)
  # the communicator is broken on both ranks: later collectives fail at once
  expect_true("symnet_comm_error" %in% r0$later_class)
  expect_true("symnet_comm_error" %in% r1$later_class)
  expect_lt(r0$later_waited, 5)
})

test_that("a checkpoint written on two ranks resumes training on two ranks and on one", {
  res <- run_mpi("resume.R", "resume")
  a <- res[[1]]
  b <- res[[2]]
  # rank 0 alone wrote one checkpoint per epoch
  expect_identical(a$files, c("ckpt-001.safetensors", "ckpt-002.safetensors"))
  # on two ranks: the uninterrupted run's weights (plain SGD: no optimizer state is lost)
  expect_identical(a$resumed, b$resumed)
  expect_equal(a$resumed, a$ref, tolerance = 1e-5)
  expect_false(isTRUE(all.equal(a$first, a$ref, tolerance = 1e-5)))
  # on one process, from the same file
  skip_if(is.null(attr(res, "dir")), "no checkpoint directory")
  source(test_path("mpi", "resume-setup.R"), local = TRUE)
  m <- load_model(file.path(attr(res, "dir"), "ckpt-002.safetensors"))
  expect_equal(get_weights(m), a$first, tolerance = 1e-7)
  fit(m, resume_data$x, resume_data$y, optimizer = resume_optimizer(), batch_size = 10, epochs = 4,
      initial_epoch = 2, seed = 9, verbose = 0)
  expect_equal(get_weights(m), a$ref, tolerance = 1e-5)
})

test_that("a rank that is killed ends the job or, where the job lives on, times out naming it", {
  mpirun <- Sys.which("mpirun")
  skip_if(!nzchar(mpirun), "mpirun is not on the PATH")
  version <- suppressWarnings(system2(mpirun, "--version", stdout = TRUE, stderr = TRUE))
  skip_if_not(any(grepl("Open MPI", version)), "the killed-rank checks use Open MPI's mpirun options and messages")
  # plain mpirun ends the whole job at once and names the killed rank
  t0 <- Sys.time()
  res <- run_mpi("killed.R", "killed", ranks = integer(0))
  expect_lt(as.double(difftime(Sys.time(), t0, units = "secs")), 60)
  expect_true(any(grepl("rank 1 .*signal 9", attr(res, "log"))))
  expect_false(file.exists(file.path(attr(res, "dir"), "killed1.rds")))
  # with --enable-recovery rank 0 lives on: its all-reduce fails after the 3 s timeout,
  # naming rank 1 as the rank that never reached it
  res <- run_mpi("killed.R", "killed", ranks = 0L, mpirun_args = "--enable-recovery")
  r0 <- res[[1]]
  expect_true("symnet_comm_error" %in% r0$class)
  expect_match(r0$message, "did not complete within 3 s")
  expect_match(r0$message, "rank\\(s\\) 1 never reached it")
  expect_gt(r0$waited, 2.5)
  expect_lt(r0$waited, 30)
})

