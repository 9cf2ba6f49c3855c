# Learning-rate schedules: functions of the epoch number, evaluated by fit()
# at the start of every epoch (one write to the learning-rate variable per
# epoch; nothing per step).

#' Learning-rate schedules
#'
#' A schedule is a function of the epoch number (1, 2, ...) returning the
#' learning rate for that epoch. Give it as the `lr` of an optimiser
#' (`optimizer_sgd(lr = schedule_step(0.1, 10))`) or to
#' [callback_learning_rate_scheduler()]; `fit()` sets the optimiser's
#' learning-rate variable at the start of every epoch.
#'
#' * `schedule_step(lr, step_size, gamma)`: `lr * gamma^floor((epoch - 1) / step_size)`,
#'   i.e. multiplied by `gamma` every `step_size` epochs.
#' * `schedule_exponential(lr, decay_rate, decay_epochs, staircase)`:
#'   `lr * decay_rate^((epoch - 1) / decay_epochs)` (the exponent rounded
#'   down with `staircase = TRUE`).
#' * `schedule_cosine(lr, epochs, min_lr, warmup)`: linear warm-up over the
#'   first `warmup` epochs, then cosine annealing from `lr` over the
#'   remaining epochs: epoch `e` trains at
#'   `min_lr + (lr - min_lr) * (1 + cos(pi * (e - 1 - warmup) / (epochs - warmup))) / 2`,
#'   so the last epoch (`epochs`) still trains at a small positive rate and
#'   `min_lr` is reached just after it (epochs beyond `epochs` use `min_lr`),
#'   as PyTorch's `CosineAnnealingLR(T_max = epochs)` and keras'
#'   `CosineDecay`.
#'
#' Schedules are ordinary R functions: call them on epoch numbers to see
#' the rates.
#'
#' @param lr Initial learning rate (> 0).
#' @param step_size Epochs between decays.
#' @param gamma Multiplicative factor of each decay.
#' @param decay_rate Decay factor per `decay_epochs` epochs.
#' @param decay_epochs Epochs over which the rate decays by `decay_rate`.
#' @param staircase Decay in steps rather than continuously.
#' @param epochs Length of the schedule in epochs: the cosine reaches `min_lr`
#'   at the end of epoch `epochs`.
#' @param min_lr Final learning rate.
#' @param warmup Number of warm-up epochs (the rate rises linearly to `lr`).
#' @return A `symnet_schedule`: a function `f(epoch)`.
#' @seealso [optimizers], [callback_learning_rate_scheduler()].
#' @examples
#' s <- schedule_step(0.1, step_size = 2, gamma = 0.5)
#' s(1:6)
#' schedule_exponential(0.1, decay_rate = 0.9)(1:3)
#' cs <- schedule_cosine(0.1, epochs = 10, min_lr = 0.001)
#' round(cs(1:10), 4)
#' optimizer_sgd(lr = cs, momentum = 0.9)
#' @name schedules
NULL

.check_lr_number <- function(lr, call = parent.frame()) {
  lr <- .check_number(lr, "lr", call = call, finite = TRUE)
  if (lr <= 0) sym_abort("{.arg lr} must be > 0.", call = call)
  lr
}

.new_schedule <- function(fn, label) {
  f <- function(epoch) {
    if (!is.numeric(epoch) || anyNA(epoch) || any(epoch < 1)) {
      sym_abort("{.arg epoch} must be epoch numbers >= 1.")
    }
    fn(as.double(epoch))
  }
  structure(f, class = c("symnet_schedule", "function"), label = label)
}

#' @rdname schedules
#' @export
schedule_step <- function(lr, step_size, gamma = 0.1) {
  lr <- .check_lr_number(lr)
  step_size <- .check_int(step_size, "step_size", min = 1)
  gamma <- .check_rate(gamma, "gamma")
  .new_schedule(function(epoch) lr * gamma^floor((epoch - 1) / step_size),
                sprintf("step(lr = %g, step_size = %d, gamma = %g)", lr, step_size, gamma))
}

#' @rdname schedules
#' @export
schedule_exponential <- function(lr, decay_rate = 0.9, decay_epochs = 1, staircase = FALSE) {
  lr <- .check_lr_number(lr)
  decay_rate <- .check_rate(decay_rate, "decay_rate")
  decay_epochs <- .check_number(decay_epochs, "decay_epochs", finite = TRUE)
  if (decay_epochs <= 0) sym_abort("{.arg decay_epochs} must be > 0.")
  staircase <- .check_flag(staircase, "staircase")
  .new_schedule(function(epoch) {
    e <- (epoch - 1) / decay_epochs
    if (staircase) e <- floor(e)
    lr * decay_rate^e
  }, sprintf("exponential(lr = %g, decay_rate = %g, decay_epochs = %g%s)", lr, decay_rate,
             decay_epochs, if (staircase) ", staircase" else ""))
}

#' @rdname schedules
#' @export
schedule_cosine <- function(lr, epochs, min_lr = 0, warmup = 0) {
  lr <- .check_lr_number(lr)
  epochs <- .check_int(epochs, "epochs", min = 1)
  min_lr <- .check_rate(min_lr, "min_lr", 0, lr)
  warmup <- .check_int(warmup, "warmup", min = 0)
  if (warmup >= epochs) sym_abort("{.arg warmup} must be smaller than {.arg epochs}.")
  .new_schedule(function(epoch) {
    # epoch e trains at the rate of progress (e - 1 - warmup) / (epochs - warmup), as PyTorch's
    # CosineAnnealingLR and keras' CosineDecay: the last epoch still learns and `min_lr` is
    # reached just after it (and held there).
    span <- epochs - warmup
    prog <- pmin(pmax(epoch - 1 - warmup, 0), span) / span
    out <- min_lr + (lr - min_lr) * (1 + cos(pi * prog)) / 2
    if (warmup > 0) out <- ifelse(epoch <= warmup, lr * epoch / (warmup + 1), out)
    out
  }, sprintf("cosine(lr = %g, epochs = %d, min_lr = %g%s)", lr, epochs, min_lr,
             if (warmup > 0) sprintf(", warmup = %d", warmup) else ""))
}

#' @export
format.symnet_schedule <- function(x, ...) paste0("schedule_", attr(x, "label"))

#' @export
print.symnet_schedule <- function(x, ...) {
  cat("<symnet schedule> ", format(x), "\n", sep = "")
  e <- 1:5
  cat("  epochs 1-5: ", paste(format(x(e), digits = 4), collapse = " "), "\n", sep = "")
  invisible(x)
}
