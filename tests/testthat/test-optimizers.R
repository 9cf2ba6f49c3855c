# Each optimiser's compiled update rule against a hand computation in R, for 3
# steps on L(w) = sum(coef * w^2) / 2, whose gradient is coef * w.

coef <- c(1, -2, 0.5)
w0 <- c(0.5, -1, 2)

run_compiled <- function(opt, steps = 3) {
  w <- sym_shared(w0, name = "w")
  vars <- symnet:::.optimizer_vars(opt)
  loss <- sum(sym_const(coef) * w * w) / 2
  ups <- opt$build(list(w), list(sym_grad(loss, w)), vars$lr, vars$step)
  ups <- c(ups, list(list(vars$step, vars$step + 1)))
  f <- sym_compile(loss, updates = ups)
  out <- vector("list", steps)
  for (i in seq_len(steps)) {
    f()
    out[[i]] <- sym_value(w)
  }
  out
}

# R reference: rule(w, g, state, t) -> list(w, state)
run_reference <- function(rule, steps = 3) {
  w <- w0
  st <- list()
  out <- vector("list", steps)
  for (t in seq_len(steps)) {
    r <- rule(w, coef * w, st, t)
    w <- r$w
    st <- r$st
    out[[t]] <- w
  }
  out
}

expect_same_path <- function(opt, rule) {
  got <- run_compiled(opt)
  want <- run_reference(rule)
  for (i in seq_along(want)) expect_equal(got[[i]], want[[i]], tolerance = 1e-5, info = paste("step", i))
}

test_that("SGD: plain, momentum, Nesterov, weight decay", {
  expect_same_path(optimizer_sgd(lr = 0.1), function(w, g, st, t) list(w = w - 0.1 * g, st = st))
  mom <- function(nesterov, wd) {
    function(w, g, st, t) {
      g <- g + wd * w
      v <- 0.9 * (st$v %||% 0) + g
      w <- if (nesterov) w - 0.1 * (g + 0.9 * v) else w - 0.1 * v
      list(w = w, st = list(v = v))
    }
  }
  expect_same_path(optimizer_sgd(lr = 0.1, momentum = 0.9), mom(FALSE, 0))
  expect_same_path(optimizer_sgd(lr = 0.1, momentum = 0.9, nesterov = TRUE), mom(TRUE, 0))
  expect_same_path(optimizer_sgd(lr = 0.1, momentum = 0.9, weight_decay = 0.01), mom(FALSE, 0.01))
})

adam_ref <- function(lr, b1, b2, eps, wd = 0, decoupled = FALSE, amsgrad = FALSE) {
  function(w, g, st, t) {
    if (wd > 0 && !decoupled) g <- g + wd * w
    m <- b1 * (st$m %||% 0) + (1 - b1) * g
    v <- b2 * (st$v %||% 0) + (1 - b2) * g^2
    vh <- if (amsgrad) pmax(st$vmax %||% 0, v) else v
    base <- if (decoupled) w * (1 - lr * wd) else w
    w <- base - lr / (1 - b1^t) * m / (sqrt(vh / (1 - b2^t)) + eps)
    list(w = w, st = list(m = m, v = v, vmax = vh))
  }
}

test_that("Adam and AdamW follow PyTorch's update with bias correction", {
  expect_same_path(optimizer_adam(lr = 0.1), adam_ref(0.1, 0.9, 0.999, 1e-8))
  expect_same_path(optimizer_adam(lr = 0.05, beta1 = 0.8, beta2 = 0.99, weight_decay = 0.1),
                   adam_ref(0.05, 0.8, 0.99, 1e-8, wd = 0.1))
  expect_same_path(optimizer_adam(lr = 0.1, amsgrad = TRUE), adam_ref(0.1, 0.9, 0.999, 1e-8, amsgrad = TRUE))
  expect_same_path(optimizer_adamw(lr = 0.1, weight_decay = 0.1),
                   adam_ref(0.1, 0.9, 0.999, 1e-8, wd = 0.1, decoupled = TRUE))
})

test_that("RMSprop (plain, centred, momentum) and Adagrad", {
  rms <- function(centered, mom) {
    function(w, g, st, t) {
      s <- 0.9 * (st$s %||% 0) + 0.1 * g^2
      ga <- 0.9 * (st$ga %||% 0) + 0.1 * g
      d <- sqrt(if (centered) s - ga^2 else s) + 1e-7
      if (mom > 0) {
        b <- mom * (st$b %||% 0) + g / d
        w <- w - 0.01 * b
      } else {
        b <- 0
        w <- w - 0.01 * g / d
      }
      list(w = w, st = list(s = s, ga = ga, b = b))
    }
  }
  expect_same_path(optimizer_rmsprop(lr = 0.01), rms(FALSE, 0))
  expect_same_path(optimizer_rmsprop(lr = 0.01, centered = TRUE), rms(TRUE, 0))
  expect_same_path(optimizer_rmsprop(lr = 0.01, momentum = 0.5), rms(FALSE, 0.5))
  expect_same_path(optimizer_adagrad(lr = 0.1), function(w, g, st, t) {
    s <- (st$s %||% 0.1) + g^2
    list(w = w - 0.1 * g / (sqrt(s) + 1e-7), st = list(s = s))
  })
})

test_that("optimiser state persists in the object and the learning rate is a shared variable", {
  opt <- optimizer_adam(lr = 0.1)
  run_compiled(opt, steps = 2)
  vars <- symnet:::.optimizer_vars(opt)
  expect_equal(sym_value(vars$step), 2)
  expect_equal(sym_value(vars$lr), 0.1, tolerance = 1e-7)
  expect_length(opt$slots, 2)
  expect_false(any(vapply(opt$slots, function(v) v$trainable, logical(1))))
  expect_output(print(opt), "adam")
  expect_output(print(opt), "steps taken: 2")
  # a schedule as lr: the variable starts at the schedule's first value
  s <- optimizer_sgd(lr = schedule_step(0.5, 1, 0.1))
  expect_equal(sym_value(symnet:::.optimizer_vars(s)$lr), 0.5)
})

test_that("optimiser arguments are checked", {
  expect_error(optimizer_sgd(lr = -1), class = "symnet_value_error")
  expect_error(optimizer_sgd(lr = "a"), class = "symnet_value_error")
  expect_error(optimizer_sgd(nesterov = TRUE), class = "symnet_value_error")
  expect_error(optimizer_adam(beta1 = 1), class = "symnet_value_error")
  expect_error(optimizer_rmsprop(rho = -0.1), class = "symnet_value_error")
  expect_error(symnet:::.as_optimizer("lbfgs"), class = "symnet_value_error")
  expect_s3_class(symnet:::.as_optimizer("sgd"), "symnet_optimizer")
  opt <- optimizer_sgd()
  expect_error(opt$build(list(), list(), NULL, NULL), class = "symnet_value_error")
})
