# Recurrent layers: simple RNN, LSTM and GRU over batch-first sequences [batch, steps,
# features], with keras's arguments and weight layouts (kernel [features, gates * units],
# recurrent_kernel [units, gates * units], gates in keras's order). Each layer is built
# either as one fused engine op or through sym_scan() (the reference, and the way for
# what the fused op does not cover, such as recurrent dropout); both give the same numbers.

#' Recurrent layers: simple RNN, LSTM, GRU
#'
#' `layer_simple_rnn()`, `layer_lstm()` and `layer_gru()` run a recurrent cell
#' over the steps of a batch-first sequence `[batch, steps, features]`, with
#' keras's arguments, equations and weight layouts: `"<name>/kernel"`
#' `[features, gates * units]`, `"<name>/recurrent_kernel"`
#' `[units, gates * units]` and `"<name>/bias"` (gates in keras's order: LSTM
#' `i, f, c, o`; GRU `z, r, h`, whose bias is `[2, 3 * units]` with
#' `reset_after = TRUE`, the input and the recurrent bias).
#'
#' The whole sequence is one node of the graph. Where it can, the layer uses a
#' fused kernel (the input projections of all steps as one matrix product, one
#' recurrent product per step, the gate arithmetic fused); otherwise (recurrent
#' dropout, activations the fused kernel lacks, or `implementation = "scan"`)
#' it is built with [sym_scan()]. Both give the same numbers and gradients.
#'
#' **Masks.** Padded steps are skipped when a mask is given (`mask`, or the
#' mask [layer_masking()] attached to `x`): a masked step leaves the state
#' as it was, and its output in `return_sequences` is zero. Steps may be
#' masked anywhere (pre-padding, as [pad_sequences()] does by default, works).
#'
#' **Dropout** (training only) multiplies the inputs (`dropout`) or the
#' state entering the recurrent product (`recurrent_dropout`) by a mask drawn
#' once per sequence and used at every step, as keras does.
#'
#' @inheritParams layer_dense
#' @param x Input symbol `[batch, steps, features]` (features known).
#' @param units Size of the state.
#' @param activation Activation of the candidate state and output (a name of
#'   [layer_dense()]'s list or an R function of a symbol).
#' @param recurrent_activation Activation of the gates.
#' @param return_sequences If `TRUE`, return the output of every step
#'   `[batch, steps, units]`; otherwise the last step's `[batch, units]`.
#' @param return_state If `TRUE`, return a list: `output` and the final
#'   states (`h`, and `c` for an LSTM).
#' @param go_backwards If `TRUE`, process the steps from the last to the first
#'   and (with `return_sequences`) return the outputs in that order.
#' @param dropout,recurrent_dropout Fractions in `[0, 1)` dropped from the
#'   inputs and from the recurrent state while training.
#' @param initial_state `NULL` (zeros) or the initial state(s) `[batch,
#'   units]`: one symbol, or a list `(h, c)` for an LSTM.
#' @param mask `NULL`, or a `[batch, steps]` bool or 0/1 symbol: `FALSE`/0
#'   skips a step. Defaults to the mask attached by [layer_masking()].
#' @param recurrent_initializer Initializer of the recurrent kernel.
#' @param unit_forget_bias LSTM: start the forget gate's bias at 1.
#' @param reset_after GRU: apply the reset gate after the recurrent product
#'   (keras's default, and cuDNN's and ONNX's `linear_before_reset`).
#' @param implementation `"auto"` (the fused kernel where it applies),
#'   `"fused"` (an error where it does not) or `"scan"`.
#' @param seed `NULL` or a whole number fixing the dropout masks' stream.
#' @return A symbol, or with `return_state` a list of symbols.
#' @family layers
#' @seealso [layer_bidirectional()], [layer_masking()], [pad_sequences()],
#'   [sym_scan()].
#' @examples
#' set.seed(1)
#' x <- sym_var("x", c(NA, 10, 3))
#' h <- layer_lstm(x, 8)
#' y <- layer_dense(h, 1)
#' m <- sym_model(x, y)
#' m
#' xs <- array(rnorm(4 * 10 * 3), c(4, 10, 3))
#' predict(m, xs)
#'
#' # every step's output, and the final states
#' s <- layer_gru(x, 4, return_sequences = TRUE, return_state = TRUE)
#' str(sym_compile(s)(x = xs))
#' @export
layer_lstm <- function(x, units, activation = "tanh", recurrent_activation = "sigmoid", use_bias = TRUE,
                       return_sequences = FALSE, return_state = FALSE, go_backwards = FALSE,
                       dropout = 0, recurrent_dropout = 0, initial_state = NULL, mask = NULL,
                       kernel_initializer = "glorot_uniform", recurrent_initializer = "orthogonal",
                       bias_initializer = "zeros", unit_forget_bias = TRUE,
                       implementation = c("auto", "fused", "scan"), seed = NULL, name = NULL) {
  .recurrent_layer("lstm", environment())
}

#' @rdname layer_lstm
#' @export
layer_gru <- function(x, units, activation = "tanh", recurrent_activation = "sigmoid", use_bias = TRUE,
                      return_sequences = FALSE, return_state = FALSE, go_backwards = FALSE,
                      dropout = 0, recurrent_dropout = 0, initial_state = NULL, mask = NULL,
                      kernel_initializer = "glorot_uniform", recurrent_initializer = "orthogonal",
                      bias_initializer = "zeros", reset_after = TRUE,
                      implementation = c("auto", "fused", "scan"), seed = NULL, name = NULL) {
  .recurrent_layer("gru", environment())
}

#' @rdname layer_lstm
#' @export
layer_simple_rnn <- function(x, units, activation = "tanh", use_bias = TRUE,
                             return_sequences = FALSE, return_state = FALSE, go_backwards = FALSE,
                             dropout = 0, recurrent_dropout = 0, initial_state = NULL, mask = NULL,
                             kernel_initializer = "glorot_uniform", recurrent_initializer = "orthogonal",
                             bias_initializer = "zeros",
                             implementation = c("auto", "fused", "scan"), seed = NULL, name = NULL) {
  .recurrent_layer("simple_rnn", environment())
}

# Per cell kind: keras's layer type, the number of gates and of states.
.rnn_cells <- list(
  simple_rnn = list(type = "SimpleRNN", gates = 1L, states = "h"),
  lstm = list(type = "LSTM", gates = 4L, states = c("h", "c")),
  gru = list(type = "GRU", gates = 3L, states = "h")
)

# Builds a recurrent layer of `kind` from the arguments in the layer function's frame `a`.
.recurrent_layer <- function(kind, a, call = parent.frame()) {
  cell <- .rnn_cells[[kind]]
  for (arg in c("x", "units")) if (eval(call("missing", as.name(arg)), a)) .missing_abort(arg, call)
  x <- .layer_input(a$x, call = call)
  units <- .check_units(a$units, "units", call = call)
  dt <- .float_input(x, paste0("layer_", kind), call = call)
  if (!identical(.rank(x), 3L) || is.na(x$shape[3])) {
    sym_abort(c("{.fn layer_{kind}} needs a sequence {.code [batch, steps, features]} with known features.",
                x = "The input has shape {(.format_shape(x$shape))}.",
                i = "Declare it as e.g. {.code sym_var(\"x\", c(NA, steps, features))}."),
              kind = "shape", call = call)
  }
  act <- .check_activation(a$activation, call = call) %||% "linear"
  rec_act <- if (kind == "simple_rnn") NULL else .check_activation(a$recurrent_activation, "recurrent_activation", call = call) %||% "linear"
  p <- list(
    kind = kind, cell = cell, units = units, activation = act, recurrent_activation = rec_act,
    use_bias = .check_flag(a$use_bias, "use_bias", call = call),
    return_sequences = .check_flag(a$return_sequences, "return_sequences", call = call),
    return_state = .check_flag(a$return_state, "return_state", call = call),
    go_backwards = .check_flag(a$go_backwards, "go_backwards", call = call),
    dropout = .check_rate(a$dropout, "dropout", 0, 1, open_hi = TRUE, call = call),
    recurrent_dropout = .check_rate(a$recurrent_dropout, "recurrent_dropout", 0, 1, open_hi = TRUE, call = call),
    reset_after = if (kind == "gru") .check_flag(a$reset_after, "reset_after", call = call) else FALSE,
    seed = .check_seed(a$seed, call = call),
    implementation = .match_arg(a$implementation, c("auto", "fused", "scan"), "implementation", call = call)
  )
  mask <- a$mask %||% x$mask
  p$mask <- if (is.null(mask)) NULL else .check_rnn_mask(mask, x, call)
  nm <- .layer_name(kind, cell$type, a$name, call = call)
  # the initial states are checked before any weight exists, so a mistake leaves nothing behind
  p$initial <- .rnn_initial_state(a$initial_state, cell, x, units, nm, call)
  p$initial_given <- !is.null(a$initial_state)
  f <- x$shape[3]
  g <- cell$gates * units
  p$kernel <- sym_param(.nn(nm, "kernel"), c(f, g), a$kernel_initializer, dtype = dt)
  p$recurrent_kernel <- sym_param(.nn(nm, "recurrent_kernel"), c(units, g), a$recurrent_initializer, dtype = dt)
  if (p$use_bias) {
    p$bias <- sym_param(.nn(nm, "bias"), if (p$reset_after) c(2, g) else g,
                        .rnn_bias_values(kind, units, a$bias_initializer, isTRUE(a$unit_forget_bias),
                                         p$reset_after, call),
                        dtype = dt)
  }
  p$name <- nm
  x <- .rnn_input_dropout(x, p)
  why_not <- .rnn_fused_refusal(p)
  if (p$implementation == "fused" && !is.null(why_not)) {
    sym_abort(c("{.fn layer_{kind}} cannot use the fused kernel: {why_not}.",
                i = "Use {.code implementation = \"auto\"} or {.code \"scan\"}."),
              kind = "unsupported", call = call)
  }
  res <- if (p$implementation != "scan" && is.null(why_not)) .rnn_fused(x, p) else .rnn_scan(x, p)
  out <- if (p$return_sequences) res$sequence else res$h
  if (!p$return_state) return(out)
  c(list(output = out), res[cell$states])
}

# A mask as a [batch, steps] symbol of the input's float type (1 = use the step).
.check_rnn_mask <- function(mask, x, call) {
  mask <- as_symbol(mask)
  ok <- identical(.rank(mask), 2L) && all(is.na(mask$shape) | is.na(x$shape[1:2]) | mask$shape == x$shape[1:2])
  if (!ok) {
    sym_abort(c("{.arg mask} must be {.code [batch, steps]} like the input's first two dimensions.",
                x = "The mask has shape {(.format_shape(mask$shape))}; the input {(.format_shape(x$shape))}."),
              kind = "shape", call = call)
  }
  if (mask$dtype != x$dtype) mask <- sym_cast(mask, x$dtype)
  mask
}

# The bias's initial values: keras starts an LSTM's forget gate at 1 (unit_forget_bias).
.rnn_bias_values <- function(kind, units, init, unit_forget_bias, reset_after, call) {
  n <- .rnn_cells[[kind]]$gates * units
  if (reset_after) return(.init_values(init, c(2, n), arg = "bias_initializer", call = call))
  if (kind != "lstm" || !unit_forget_bias) return(.init_values(init, n, arg = "bias_initializer", call = call))
  v <- .init_values(init, n, arg = "bias_initializer", call = call)
  v[units + seq_len(units)] <- 1
  v
}

# The initial states, one [batch, units] symbol per state (zeros when not given).
.rnn_initial_state <- function(init, cell, x, units, layer, call) {
  n <- length(cell$states)
  if (is.null(init)) {
    # zeros [batch, units] whatever the batch: a slice of the input times 0, broadcast
    z <- sym_zeros_like(sym_slice(x, c(1, 1), c(1, 1), axis = c(2, 3), name = .nn(layer, "first")),
                        name = .nn(layer, "zero"))
    z <- .op("mul", list(sym_reshape(z, c(-1, 1), name = .nn(layer, "zero_column")),
                         sym_zeros(units, dtype = x$dtype, name = .nn(layer, "zero_row"))),
             name = .nn(layer, "initial_state"))
    return(stats::setNames(rep(list(z), n), cell$states))
  }
  l <- if (is_symbol(init) || !is.list(init)) list(init) else init
  if (length(l) != n) {
    sym_abort("{.arg initial_state} must hold {n} state{?s} ({.val {cell$states}}), not {length(l)}.", call = call)
  }
  stats::setNames(lapply(l, function(s) {
    s <- as_symbol(s, dtype = x$dtype)
    if (!identical(.rank(s), 2L) || (!is.na(s$shape[2]) && s$shape[2] != units)) {
      sym_abort("Each initial state must be {.code [batch, {units}]}, not {(.format_shape(s$shape))}.",
                kind = "shape", call = call)
    }
    s
  }), cell$states)
}

# Input dropout: one mask per sequence [batch, 1, features], used at every step (training
# only: the dropout op is the identity in inference).
.rnn_input_dropout <- function(x, p) {
  if (p$dropout == 0) return(x)
  ones <- sym_ones_like(sym_slice(x, 1, 1, axis = 2))
  x * .rnn_dropout_mask(ones, p$dropout, p$seed, .nn(p$name, "dropout"))
}

.rnn_dropout_mask <- function(ones, rate, seed, name) {
  attrs <- list(ratio = as.double(rate), training = 0L)
  if (!is.null(seed)) attrs$seed <- seed
  .op("dropout", list(ones), attrs, name, multi = TRUE)[[1]]
}

# The column block `k` (1-based) of `gates` equal blocks of the last axis of `z`.
.gate <- function(z, k, units) sym_slice(z, (k - 1) * units + 1, k * units, axis = length(z$shape))

# The layer through sym_scan(): input projections of all steps as one product, then a
# scan over the steps (time-major) with the recurrent product and the gate arithmetic.
.rnn_scan <- function(x, p) {
  u <- p$units
  xp <- sym_matmul(x, p$kernel)                       # [batch, steps, gates * units]
  bias_in <- bias_rec <- NULL
  if (p$use_bias) {
    if (p$reset_after) {
      bias_in <- p$bias[1, ]
      bias_rec <- p$bias[2, ]
    } else {
      bias_in <- p$bias
    }
    xp <- xp + bias_in
  }
  seqs <- list(sym_transpose(xp, c(2, 1, 3)))         # [steps, batch, gates * units]
  if (!is.null(p$mask)) seqs[[2]] <- sym_unsqueeze(sym_transpose(p$mask, c(2, 1)), 3)  # [steps, batch, 1]
  rmask <- if (p$recurrent_dropout > 0) {
    .rnn_dropout_mask(sym_ones_like(p$initial[[1]]), p$recurrent_dropout, p$seed, .nn(p$name, "recurrent_dropout"))
  }
  act <- function(v) .apply_activation(v, p$activation, p$name)
  gate <- function(v) .apply_activation(v, p$recurrent_activation, p$name)
  rk <- p$recurrent_kernel
  step <- function(xp_t, ...) {
    a <- list(...)
    m_t <- if (is.null(p$mask)) NULL else a[[1]]
    st <- if (is.null(p$mask)) a else a[-1]
    h <- st[[1]]
    hr <- if (is.null(rmask)) h else h * rmask
    new <- switch(p$kind,
      simple_rnn = list(h = act(xp_t + sym_matmul(hr, rk))),
      lstm = {
        z <- xp_t + sym_matmul(hr, rk)
        c_new <- gate(.gate(z, 2, u)) * st[[2]] + gate(.gate(z, 1, u)) * act(.gate(z, 3, u))
        list(h = gate(.gate(z, 4, u)) * act(c_new), c = c_new)
      },
      gru = {
        if (p$reset_after) {
          r_all <- sym_matmul(hr, rk)
          if (!is.null(bias_rec)) r_all <- r_all + bias_rec
          zg <- gate(.gate(xp_t, 1, u) + .gate(r_all, 1, u))
          rg <- gate(.gate(xp_t, 2, u) + .gate(r_all, 2, u))
          hh <- act(.gate(xp_t, 3, u) + rg * .gate(r_all, 3, u))
        } else {
          zg <- gate(.gate(xp_t, 1, u) + sym_matmul(hr, .gate(rk, 1, u)))
          rg <- gate(.gate(xp_t, 2, u) + sym_matmul(hr, .gate(rk, 2, u)))
          hh <- act(.gate(xp_t, 3, u) + sym_matmul(rg * hr, .gate(rk, 3, u)))
        }
        list(h = zg * h + (1 - zg) * hh)
      })
    out <- new$h
    if (!is.null(m_t)) {
      new <- lapply(seq_along(new), function(k) m_t * new[[k]] + (1 - m_t) * st[[k]])
      out <- out * m_t
    }
    if (p$return_sequences) c(unname(new), list(out)) else unname(new)
  }
  res <- sym_scan(step, sequences = seqs, init = unname(p$initial), reverse = p$go_backwards,
                  name = .nn(p$name, "scan"))
  states <- stats::setNames(res$state, p$cell$states)
  out <- states
  if (p$return_sequences) {
    s <- sym_transpose(res$outputs[[1]], c(2, 1, 3))  # [batch, steps, units]
    if (p$go_backwards) s <- sym_slice(s, NULL, NULL, axis = 2, step = -1)
    out$sequence <- s
  }
  out
}

# Why the fused kernel cannot build this layer (NULL when it can).
.rnn_fused_refusal <- function(p) {
  op <- .rnn_fused_op[[p$kind]]
  if (!op %in% cpp_op_names()) return(paste0("the engine has no ", op, " op"))
  if (p$recurrent_dropout > 0) return("it has no recurrent dropout")
  for (a in list(p$activation, p$recurrent_activation)) {
    if (is.function(a)) return("it takes named activations only, not R functions")
    if (!is.null(a) && !a %in% names(.onnx_activation)) {
      return(paste0("it has no \"", a, "\" activation"))
    }
  }
  NULL
}

.rnn_fused_op <- c(simple_rnn = "rnn", lstm = "lstm", gru = "gru")

# The fused kernels' names (ONNX's) of the activations they share with keras's.
.onnx_activation <- c(tanh = "Tanh", sigmoid = "Sigmoid", relu = "Relu", hard_sigmoid = "HardSigmoid",
                      softsign = "Softsign", softplus = "Softplus", elu = "Elu")

# keras's gate blocks -> ONNX's: LSTM i, f, c, o -> i, o, f, c; GRU and RNN keep theirs.
.onnx_gate_order <- list(simple_rnn = 1L, lstm = c(1L, 4L, 2L, 3L), gru = 1:3)

# A keras weight [rows, gates * units] as ONNX's [1, gates * units, rows], gates reordered.
.onnx_weight <- function(w, kind, units, name) {
  wt <- sym_transpose(w)
  order <- .onnx_gate_order[[kind]]
  if (!identical(order, seq_along(order))) {
    wt <- sym_concat(lapply(order, function(k) sym_slice(wt, (k - 1) * units + 1, k * units, axis = 1)), axis = 1)
  }
  sym_unsqueeze(wt, 1, name = name)
}

# The layer as one fused engine op (ops/rnn.cpp: ONNX's RNN/LSTM/GRU, batch-first layout).
.rnn_fused <- function(x, p) {
  u <- p$units
  nm <- p$name
  kind <- p$kind
  ins <- list(x, .onnx_weight(p$kernel, kind, u, .nn(nm, "W")),
              .onnx_weight(p$recurrent_kernel, kind, u, .nn(nm, "R")))
  attrs <- list(hidden_size = as.integer(u), layout = 1L,
                direction = if (p$go_backwards) "reverse" else "forward",
                has_bias = as.integer(p$use_bias), has_sequence_lens = 0L,
                has_initial_h = as.integer(p$initial_given), has_mask = as.integer(!is.null(p$mask)))
  if (p$use_bias) {
    order <- .onnx_gate_order[[kind]]
    blocks <- function(b) if (identical(order, seq_along(order))) b else sym_concat(lapply(order, function(k) .gate(b, k, u)))
    if (p$reset_after) {
      b <- sym_concat(p$bias[1, ], p$bias[2, ])
    } else {
      b <- sym_concat(blocks(p$bias), sym_zeros_like(p$bias))
    }
    ins[[length(ins) + 1]] <- sym_unsqueeze(b, 1, name = .nn(nm, "B"))
  }
  if (p$initial_given) ins[[length(ins) + 1]] <- sym_unsqueeze(p$initial$h, 2)
  if (kind == "lstm") {
    attrs$has_initial_c <- as.integer(p$initial_given)
    attrs$has_peepholes <- 0L
    if (p$initial_given) ins[[length(ins) + 1]] <- sym_unsqueeze(p$initial$c, 2)
  }
  if (kind == "gru") attrs$linear_before_reset <- as.integer(p$reset_after)
  if (!is.null(p$mask)) ins[[length(ins) + 1]] <- p$mask
  acts <- .onnx_activation[c(if (kind != "simple_rnn") p$recurrent_activation, p$activation,
                             if (kind == "lstm") p$activation)]
  attrs$activations <- I(unname(acts))
  outs <- .op(.rnn_fused_op[[kind]], ins, attrs, .nn(nm, kind), multi = TRUE)
  squeeze <- function(v, axis, what) sym_squeeze(v, axis, name = .nn(nm, what))
  res <- list(h = squeeze(outs[[2]], 2, "h"))
  if (kind == "lstm") res$c <- squeeze(outs[[3]], 2, "c")
  if (p$return_sequences) {
    s <- squeeze(outs[[1]], 3, "sequence")  # [batch, steps, units]
    if (p$go_backwards) s <- sym_slice(s, NULL, NULL, axis = 2, step = -1)
    res$sequence <- s
  }
  res
}
