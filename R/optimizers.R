# Optimisers: update rules built from symbols. fit() compiles them together
# with the forward pass, the loss and the gradients into one graph, so each
# training step is one call into the engine and the weights and optimiser
# state never leave it.

#' Optimisers
#'
#' Optimiser objects for [fit()][fit.symnet_model]. An optimiser builds its
#' update rule from symbols: for every trainable parameter `p` with gradient
#' `g` it returns the new value of `p` (and of its state, kept in
#' non-trainable shared variables such as momentum buffers), and `fit()`
#' compiles these updates into the same graph as the forward pass and the
#' gradients. The learning rate is a scalar shared variable, so schedules
#' and callbacks change it between steps without recompiling.
#'
#' The update rules follow PyTorch's definitions (with `g` the gradient,
#' plus `weight_decay * p` when `weight_decay > 0`, and `t` the step
#' number, starting at 1):
#' * `optimizer_sgd()`: `v = momentum * v + g`; `p = p - lr * v`, or with
#'   Nesterov momentum `p = p - lr * (g + momentum * v)`; plain
#'   `p = p - lr * g` when `momentum = 0`.
#' * `optimizer_adam()`: `m = beta1 * m + (1 - beta1) * g`,
#'   `v = beta2 * v + (1 - beta2) * g^2`,
#'   `p = p - lr / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t)) + eps)`
#'   (with `amsgrad`, the running maximum of `v` is used).
#' * `optimizer_adamw()`: Adam with decoupled weight decay: first
#'   `p = p * (1 - lr * weight_decay)`, then the Adam step on the plain
#'   gradient.
#' * `optimizer_rmsprop()`: `s = rho * s + (1 - rho) * g^2`,
#'   `p = p - lr * g / (sqrt(s) + eps)`; `centered` subtracts the squared
#'   running mean of `g` from `s`; `momentum > 0` accumulates
#'   `b = momentum * b + g / (sqrt(s) + eps)` and steps `p = p - lr * b`.
#' * `optimizer_adagrad()`: `s = s + g^2`, `p = p - lr * g / (sqrt(s) + eps)`,
#'   with `s` starting at `initial_accumulator_value`.
#'
#' An optimiser object keeps its state (moments, step count, learning rate)
#' between `fit()` calls on the same model, so a second `fit()` continues
#' where the first stopped; use a new optimiser for a new model.
#'
#' `opt$build(params, grads, lr_var, step_var)` returns the update pairs
#' `list(list(variable, new_value), ...)` for [sym_compile()]'s `updates`:
#' `params` is a list of trainable shared variables, `grads` their gradient
#' symbols, `lr_var` the learning-rate variable and `step_var` a shared
#' counter of completed steps (updated by the caller).
#'
#' @param lr Learning rate: a number > 0, or a schedule such as
#'   [schedule_step()] (evaluated at the start of every epoch).
#' @param momentum Momentum factor (>= 0).
#' @param nesterov Use Nesterov momentum (needs `momentum > 0`).
#' @param weight_decay L2 penalty added to the gradient (decoupled from the
#'   gradient for `optimizer_adamw()`).
#' @param beta1,beta2 Decay rates of the first and second moment estimates.
#' @param eps Added to the denominator for numerical stability.
#' @param amsgrad Use the AMSGrad variant.
#' @param rho Decay rate of the squared-gradient average.
#' @param centered Normalise by the centred second moment (an estimate of
#'   the variance).
#' @param initial_accumulator_value Starting value of Adagrad's sums.
#' @return A `symnet_optimizer` object.
#' @seealso [fit.symnet_model()], [schedule_step()].
#' @examples
#' optimizer_sgd(lr = 0.05, momentum = 0.9)
#' optimizer_adam(lr = schedule_cosine(1e-3, epochs = 10))
#'
#' # the update rule is built from symbols; here one SGD step by hand
#' w <- sym_shared(c(1, 2), name = "w")
#' lr <- sym_shared(0.1, trainable = FALSE)
#' step <- sym_shared(0, trainable = FALSE)
#' loss <- sum(w^2)
#' ups <- optimizer_sgd(lr = 0.1)$build(list(w), list(sym_grad(loss, w)), lr, step)
#' f <- sym_compile(loss, updates = ups)
#' f()
#' sym_value(w)   # w - 0.1 * 2 * w
#' @name optimizers
NULL

.check_lr <- function(lr, call = parent.frame()) {
  if (inherits(lr, "symnet_schedule")) return(lr)
  lr <- .check_number(lr, "lr", call = call, finite = TRUE)
  if (lr <= 0) sym_abort("{.arg lr} must be > 0.", call = call)
  lr
}

.check_rate <- function(x, arg, lo = 0, hi = Inf, open_hi = FALSE, call = parent.frame()) {
  x <- .check_number(x, arg, call = call, finite = TRUE)
  if (x < lo || x > hi || (open_hi && x == hi)) {
    sym_abort("{.arg {arg}} must be in [{lo}, {hi}{if (open_hi) ')' else ']'}.", call = call)
  }
  x
}

# An optimiser is an environment (reference semantics: its state persists).
# `rule(p, g, slot, lr, t)` returns the new value of p, registering state
# updates through slot().
.new_optimizer <- function(name, lr, hyper, rule) {
  opt <- new.env(parent = emptyenv())
  opt$name <- name
  opt$lr <- lr
  opt$hyper <- hyper
  opt$slots <- list()
  opt$lr_var <- NULL
  opt$step_var <- NULL
  opt$id <- .next_id("optimizer")
  opt$build <- function(params, grads, lr_var, step_var) {
    .optimizer_build(opt, rule, params, grads, lr_var, step_var)
  }
  class(opt) <- "symnet_optimizer"
  opt
}

.next_id <- function(kind) {
  key <- paste0("counter_", kind)
  n <- (.symnet_state[[key]] %||% 0L) + 1L
  .symnet_state[[key]] <- n
  n
}

.zeros_like_value <- function(p, value = 0) {
  s <- p$shape
  if (!length(s)) value else array(value, dim = s)
}

.optimizer_build <- function(opt, rule, params, grads, lr_var, step_var) {
  if (!is.list(params) || !length(params) || !all(vapply(params, is_shared, logical(1)))) {
    sym_abort("{.arg params} must be a non-empty list of shared variables.")
  }
  if (!is.list(grads) || length(grads) != length(params) || !all(vapply(grads, is_symbol, logical(1)))) {
    sym_abort("{.arg grads} must be a list of symbols, one per parameter.")
  }
  .check_shared(lr_var, "lr_var")
  .check_shared(step_var, "step_var")
  t <- step_var + 1
  updates <- list()
  for (i in seq_along(params)) {
    p <- params[[i]]
    g <- grads[[i]]
    if (g$dtype != p$dtype) g <- sym_cast(g, p$dtype)
    lr <- if (lr_var$dtype != p$dtype) sym_cast(lr_var, p$dtype) else lr_var
    mult <- cpp_shared_info(p$var)$lr_mult  # set_lr_mult()
    if (!isTRUE(mult == 1)) lr <- lr * mult
    tt <- if (t$dtype != p$dtype) sym_cast(t, p$dtype) else t
    slot_updates <- list()
    slot <- function(what, init = 0) {
      key <- paste0(p$var_id, "/", what)
      v <- opt$slots[[key]]
      if (is.null(v)) {
        v <- sym_shared(.zeros_like_value(p, init), name = paste0(p$name, "/", opt$name, "_", what),
                        dtype = p$dtype, trainable = FALSE)
        opt$slots[[key]] <- v
      }
      v
    }
    set_slot <- function(v, value) {
      slot_updates[[length(slot_updates) + 1L]] <<- list(v, value)
      value
    }
    new_p <- rule(p, g, slot, set_slot, lr, tt)
    updates <- c(updates, slot_updates, list(list(p, new_p)))
  }
  updates
}

# The optimiser's learning-rate and step-counter variables (created once).
.optimizer_vars <- function(opt) {
  if (is.null(opt$lr_var)) {
    lr0 <- if (inherits(opt$lr, "symnet_schedule")) opt$lr(1) else opt$lr
    opt$lr_var <- sym_shared(lr0, name = paste0(opt$name, "/lr"), dtype = "float32", trainable = FALSE)
    opt$step_var <- sym_shared(0, name = paste0(opt$name, "/step"), dtype = "float32", trainable = FALSE)
  }
  list(lr = opt$lr_var, step = opt$step_var)
}

.optimizer_state_vars <- function(opt) {
  c(if (!is.null(opt$lr_var)) list(opt$lr_var, opt$step_var), unname(opt$slots))
}

#' @rdname optimizers
#' @export
optimizer_sgd <- function(lr = 0.01, momentum = 0, nesterov = FALSE, weight_decay = 0) {
  lr <- .check_lr(lr)
  momentum <- .check_rate(momentum, "momentum")
  nesterov <- .check_flag(nesterov, "nesterov")
  weight_decay <- .check_rate(weight_decay, "weight_decay")
  if (nesterov && momentum == 0) sym_abort("Nesterov momentum needs {.arg momentum} > 0.")
  .new_optimizer("sgd", lr, list(momentum = momentum, nesterov = nesterov, weight_decay = weight_decay),
                 function(p, g, slot, set_slot, lr, t) {
                   if (weight_decay > 0) g <- g + weight_decay * p
                   if (momentum == 0) return(p - lr * g)
                   v <- set_slot(slot("momentum"), momentum * slot("momentum") + g)
                   if (nesterov) p - lr * (g + momentum * v) else p - lr * v
                 })
}

.adam_rule <- function(beta1, beta2, eps, amsgrad, weight_decay, decoupled) {
  function(p, g, slot, set_slot, lr, t) {
    if (weight_decay > 0 && !decoupled) g <- g + weight_decay * p
    m <- set_slot(slot("m"), beta1 * slot("m") + (1 - beta1) * g)
    v <- set_slot(slot("v"), beta2 * slot("v") + (1 - beta2) * g * g)
    if (amsgrad) v <- set_slot(slot("vmax"), sym_maximum(slot("vmax"), v))
    bc1 <- 1 - beta1^t
    bc2 <- 1 - beta2^t
    step <- (lr / bc1) * m / (sqrt(v / bc2) + eps)
    base <- if (weight_decay > 0 && decoupled) p * (1 - lr * weight_decay) else p
    base - step
  }
}

#' @rdname optimizers
#' @export
optimizer_adam <- function(lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0,
                           amsgrad = FALSE) {
  .adam_optimizer("adam", decoupled = FALSE, lr, beta1, beta2, eps, weight_decay, amsgrad)
}

#' @rdname optimizers
#' @export
optimizer_adamw <- function(lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01,
                            amsgrad = FALSE) {
  .adam_optimizer("adamw", decoupled = TRUE, lr, beta1, beta2, eps, weight_decay, amsgrad)
}

# Adam and AdamW differ only in how weight decay enters (L2 gradient term vs decoupled).
.adam_optimizer <- function(name, decoupled, lr, beta1, beta2, eps, weight_decay, amsgrad,
                            call = parent.frame()) {
  lr <- .check_lr(lr, call = call)
  beta1 <- .check_rate(beta1, "beta1", 0, 1, open_hi = TRUE, call = call)
  beta2 <- .check_rate(beta2, "beta2", 0, 1, open_hi = TRUE, call = call)
  eps <- .check_rate(eps, "eps", call = call)
  weight_decay <- .check_rate(weight_decay, "weight_decay", call = call)
  amsgrad <- .check_flag(amsgrad, "amsgrad", call = call)
  .new_optimizer(name, lr, list(beta1 = beta1, beta2 = beta2, eps = eps, weight_decay = weight_decay,
                                amsgrad = amsgrad),
                 .adam_rule(beta1, beta2, eps, amsgrad, weight_decay, decoupled = decoupled))
}

#' @rdname optimizers
#' @export
optimizer_rmsprop <- function(lr = 0.001, rho = 0.9, momentum = 0, eps = 1e-7, centered = FALSE,
                              weight_decay = 0) {
  lr <- .check_lr(lr)
  rho <- .check_rate(rho, "rho", 0, 1, open_hi = TRUE)
  momentum <- .check_rate(momentum, "momentum")
  eps <- .check_rate(eps, "eps")
  centered <- .check_flag(centered, "centered")
  weight_decay <- .check_rate(weight_decay, "weight_decay")
  .new_optimizer("rmsprop", lr, list(rho = rho, momentum = momentum, eps = eps, centered = centered,
                                     weight_decay = weight_decay),
                 function(p, g, slot, set_slot, lr, t) {
                   if (weight_decay > 0) g <- g + weight_decay * p
                   s <- set_slot(slot("sq"), rho * slot("sq") + (1 - rho) * g * g)
                   if (centered) {
                     ga <- set_slot(slot("mean"), rho * slot("mean") + (1 - rho) * g)
                     s <- s - ga * ga
                   }
                   denom <- sqrt(s) + eps
                   if (momentum > 0) {
                     b <- set_slot(slot("momentum"), momentum * slot("momentum") + g / denom)
                     return(p - lr * b)
                   }
                   p - lr * g / denom
                 })
}

#' @rdname optimizers
#' @export
optimizer_adagrad <- function(lr = 0.01, initial_accumulator_value = 0.1, eps = 1e-7, weight_decay = 0) {
  lr <- .check_lr(lr)
  init <- .check_rate(initial_accumulator_value, "initial_accumulator_value")
  eps <- .check_rate(eps, "eps")
  weight_decay <- .check_rate(weight_decay, "weight_decay")
  .new_optimizer("adagrad", lr, list(initial_accumulator_value = init, eps = eps,
                                     weight_decay = weight_decay),
                 function(p, g, slot, set_slot, lr, t) {
                   if (weight_decay > 0) g <- g + weight_decay * p
                   s <- set_slot(slot("sum", init), slot("sum", init) + g * g)
                   p - lr * g / (sqrt(s) + eps)
                 })
}

#' @export
print.symnet_optimizer <- function(x, ...) {
  lr <- if (inherits(x$lr, "symnet_schedule")) format(x$lr) else format(x$lr)
  h <- x$hyper
  hs <- if (length(h)) paste0(", ", paste(names(h), vapply(h, format, character(1)), sep = " = ", collapse = ", ")) else ""
  cat("<symnet optimizer> ", x$name, "(lr = ", lr, hs, ")\n", sep = "")
  if (!is.null(x$step_var)) {
    cat("  steps taken: ", format(sym_value(x$step_var)), "; current lr: ",
        format(sym_value(x$lr_var), digits = 4), "\n", sep = "")
  }
  invisible(x)
}

.as_optimizer <- function(optimizer, call = parent.frame()) {
  if (inherits(optimizer, "symnet_optimizer")) return(optimizer)
  if (is.character(optimizer) && length(optimizer) == 1 && !is.na(optimizer)) {
    out <- switch(tolower(optimizer),
      sgd = optimizer_sgd(), adam = optimizer_adam(), adamw = optimizer_adamw(),
      rmsprop = optimizer_rmsprop(), adagrad = optimizer_adagrad(), NULL)
    if (!is.null(out)) return(out)
    sym_abort(c("Unknown optimizer {.val {optimizer}}.",
                i = "Use one of {.val {c('sgd', 'adam', 'adamw', 'rmsprop', 'adagrad')}} or an {.fn optimizer_sgd}-style object."),
              call = call)
  }
  sym_abort("{.arg optimizer} must be an optimizer object such as {.code optimizer_adam()}, not {.obj_type_friendly {optimizer}}.",
            call = call)
}
