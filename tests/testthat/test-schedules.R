test_that("step, exponential and cosine schedules give the documented rates", {
  s <- schedule_step(0.1, step_size = 2, gamma = 0.5)
  expect_s3_class(s, "symnet_schedule")
  expect_equal(s(1:6), 0.1 * c(1, 1, 0.5, 0.5, 0.25, 0.25))
  e <- schedule_exponential(0.1, decay_rate = 0.5, decay_epochs = 2)
  expect_equal(e(1:3), 0.1 * 0.5^c(0, 0.5, 1))
  es <- schedule_exponential(0.1, decay_rate = 0.5, decay_epochs = 2, staircase = TRUE)
  expect_equal(es(1:4), 0.1 * c(1, 1, 0.5, 0.5))
  cs <- schedule_cosine(1, epochs = 5, min_lr = 0)
  expect_equal(cs(1:7), c((1 + cos(pi * (0:4) / 5)) / 2, 0, 0))
  cw <- schedule_cosine(1, epochs = 6, warmup = 1)
  expect_equal(cw(1), 0.5)
  expect_equal(cw(2), 1)
  expect_equal(cw(6), (1 + cos(pi * 4 / 5)) / 2)
  expect_equal(cw(7), 0)
})

test_that("cosine annealing trains every epoch at a positive rate and reaches min_lr after the last", {
  # PyTorch's CosineAnnealingLR(T_max = E) rates for epochs 0..E-1, shifted to 1-based epochs
  for (E in c(1, 2, 3, 10, 50)) {
    cs <- schedule_cosine(0.1, epochs = E, min_lr = 0.001)
    torch_rates <- 0.001 + (0.1 - 0.001) * (1 + cos(pi * (0:(E - 1)) / E)) / 2
    expect_equal(cs(seq_len(E)), torch_rates)
    expect_true(all(cs(seq_len(E)) > 0.001))
    expect_equal(cs(E + 1), 0.001)
    expect_true(all(diff(cs(seq_len(E + 1))) < 0))
  }
  expect_equal(schedule_cosine(0.1, epochs = 1)(1), 0.1)
  cw <- schedule_cosine(0.1, epochs = 4, min_lr = 0, warmup = 2)
  expect_true(all(cw(1:4) > 0))
  expect_equal(cw(5), 0)
})

test_that("schedules print and check their arguments", {
  expect_output(print(schedule_step(0.1, 3)), "schedule_step")
  expect_match(format(schedule_cosine(0.1, 10)), "cosine")
  expect_error(schedule_step(0.1, 0), class = "symnet_value_error")
  expect_error(schedule_step(-1, 2), class = "symnet_value_error")
  expect_error(schedule_cosine(0.1, 10, min_lr = 1), class = "symnet_value_error")
  expect_error(schedule_cosine(0.1, 3, warmup = 3), class = "symnet_value_error")
  expect_error(schedule_step(0.1, 2)(0), class = "symnet_value_error")
})
