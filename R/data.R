# Data for fit(), evaluate() and predict(): R arrays are checked once against
# the model's inputs, converted once into engine-resident tensors, and
# mini-batches are gathered from them in C++ by row indices.

#' Mini-batch data iterators
#'
#' `data_iterator(x, y)` wraps in-memory data for [fit()][fit.symnet_model]
#' with its own batch size, shuffling and seed: `fit(model, data_iterator(x,
#' y, batch_size = 64, seed = 1))`. The data are converted once into
#' engine-resident tensors (in row-major order), and every mini-batch is
#' gathered from them in C++ by row numbers, so no R copy is made per step.
#' The last batch of an epoch holds the remaining examples (it may be
#' smaller).
#'
#' `fit()` also takes a *user-defined iterator*: an R function of no
#' arguments that returns the next mini-batch as `list(x = , y = )` (with
#' `x` an array or a named list of arrays, as for `fit()`), or `NULL` at the
#' end of the epoch; the next call then starts the next epoch. Such batches
#' are checked and fed to the engine as they come (one call per step).
#'
#' @param x An array (examples on the first axis) or a named list of arrays
#'   for models with several inputs; data frames are converted with
#'   [as.matrix()].
#' @param y Labels or targets: a vector, factor or array, or a named list
#'   for several outputs; `NULL` for prediction.
#' @param batch_size Examples per mini-batch.
#' @param shuffle Shuffle the examples at the start of every epoch.
#' @param seed `NULL` (shuffle with R's RNG) or a whole number: the
#'   sequence of shuffles is then reproducible, and R's RNG state is left
#'   untouched.
#' @return A `symnet_data_iterator`; `length()` gives the number of batches
#'   per epoch.
#' @seealso [fit.symnet_model()]
#' @examples
#' it <- data_iterator(matrix(runif(20), 10, 2), rep(0:1, 5), batch_size = 4, seed = 1)
#' it
#' length(it)
#'
#' # a user-defined iterator: 3 batches of 8 random examples per epoch
#' make_batches <- function() {
#'   i <- 0
#'   function() {
#'     i <<- i + 1
#'     if (i > 3) {
#'       i <<- 0
#'       return(NULL)
#'     }
#'     list(x = matrix(rnorm(16), 8, 2), y = rbinom(8, 1, 0.5))
#'   }
#' }
#' next_batch <- make_batches()
#' str(next_batch())
#' @export
data_iterator <- function(x, y = NULL, batch_size = 32, shuffle = TRUE, seed = NULL) {
  batch_size <- .check_int(batch_size, "batch_size", min = 1)
  shuffle <- .check_flag(shuffle, "shuffle")
  seed <- .check_seed_arg(seed)
  xs <- .as_array_list(x, "x")
  n <- .common_rows(xs, "x")
  if (!is.null(y)) {
    ys <- .as_array_list(y, "y", labels = TRUE)
    ny <- .common_rows(ys, "y")
    if (ny != n) {
      sym_abort("{.arg x} has {n} example{?s} but {.arg y} has {ny}.", kind = "value")
    }
  }
  it <- new.env(parent = emptyenv())
  it$x <- x
  it$y <- y
  it$n <- n
  it$batch_size <- batch_size
  it$shuffle <- shuffle
  it$seed <- seed
  it$rng <- .rng_stream(seed)
  it$tensors <- list()
  class(it) <- "symnet_data_iterator"
  it
}

#' @export
length.symnet_data_iterator <- function(x) as.integer(ceiling(x$n / x$batch_size))

#' @export
print.symnet_data_iterator <- function(x, ...) {
  cat(sprintf("<symnet data iterator> %d examples in %d batch%s of %d%s%s\n", x$n, length(x),
              if (length(x) == 1) "" else "es", x$batch_size,
              if (x$shuffle) ", shuffled" else "", if (!is.null(x$seed)) sprintf(" (seed %d)", x$seed) else ""))
  invisible(x)
}

.check_seed_arg <- function(seed, call = parent.frame()) {
  if (is.null(seed)) return(NULL)
  .check_int(seed, "seed", call = call, min = 0)
}

# A private random stream: shuffles from a seed without touching R's global
# RNG state; with seed = NULL, R's own RNG is used.
.rng_stream <- function(seed) {
  st <- new.env(parent = emptyenv())
  st$seed <- seed
  st$state <- NULL
  st$perm <- function(n) {
    if (is.null(st$seed)) return(sample.int(n))
    genv <- globalenv()
    had <- exists(".Random.seed", envir = genv, inherits = FALSE)
    old <- if (had) get(".Random.seed", envir = genv, inherits = FALSE)
    kinds <- RNGkind()
    on.exit({
      suppressWarnings(RNGkind(kinds[1], kinds[2], kinds[3]))
      if (had) assign(".Random.seed", old, envir = genv)
      else if (exists(".Random.seed", envir = genv, inherits = FALSE)) rm(".Random.seed", envir = genv)
    }, add = TRUE)
    if (is.null(st$state)) {
      suppressWarnings(set.seed(st$seed, kind = "Mersenne-Twister", normal.kind = "Inversion",
                                sample.kind = "Rejection"))
    } else {
      suppressWarnings(RNGkind("Mersenne-Twister", "Inversion", "Rejection"))
      assign(".Random.seed", st$state, envir = genv)
    }
    p <- sample.int(n)
    st$state <- get(".Random.seed", envir = genv, inherits = FALSE)
    p
  }
  st
}

# ---- checking arrays ---------------------------------------------------------------------

# x (array, data frame or list of them) -> list of arrays (names kept).
.as_array_list <- function(x, arg, labels = FALSE, call = parent.frame()) {
  if (is.null(x)) sym_abort("{.arg {arg}} is missing.", kind = "value", call = call)
  lst <- if (is.list(x) && !is.data.frame(x)) x else list(x)
  if (!length(lst)) sym_abort("{.arg {arg}} is an empty list.", kind = "value", call = call)
  for (i in seq_along(lst)) {
    v <- lst[[i]]
    if (is.data.frame(v)) {
      v <- as.matrix(v)
      lst[[i]] <- v
    }
    ok <- is.numeric(v) || is.logical(v) || (labels && is.factor(v))
    if (!ok) {
      what <- .data_what(arg, lst, i)
      sym_abort("{what} must be a numeric or logical array{if (labels) ' or a factor' else ''}, not {.obj_type_friendly {v}}.",
                kind = "dtype", call = call)
    }
  }
  lst
}

.data_what <- function(arg, lst, i) {
  nm <- names(lst)[i]
  if (length(lst) == 1) paste0("`", arg, "`") else if (!is.null(nm) && nzchar(nm)) {
    sprintf("`%s$%s`", arg, nm)
  } else {
    sprintf("`%s[[%d]]`", arg, i)
  }
}

.rows <- function(v) if (is.null(dim(v))) length(v) else dim(v)[1]

.common_rows <- function(lst, arg, call = parent.frame()) {
  ns <- vapply(lst, .rows, numeric(1))
  if (any(ns == 0)) {
    sym_abort("{.arg {arg}} has no examples (empty data).", kind = "value", call = call)
  }
  if (length(unique(ns)) > 1) {
    sym_abort("The arrays in {.arg {arg}} have different numbers of examples: {ns}.", kind = "value",
              call = call)
  }
  ns[[1]]
}

# Matches user data to the model's inputs (names(model inputs) are what users
# write) and validates each: rank, known sizes, NA, emptiness.
# `inputs`: named list of input symbols. Returns arrays named by input.
.match_inputs <- function(x, inputs, arg = "x", call = parent.frame()) {
  lst <- .as_array_list(x, arg, call = call)
  nin <- length(inputs)
  in_names <- names(inputs)
  single <- !(is.list(x) && !is.data.frame(x))
  if (single && nin > 1) {
    sym_abort(c("The model has {nin} inputs but {.arg {arg}} is a single array.",
                i = "Give a named list: {.code list({paste(in_names, '= ...', collapse = ', ')})}."),
              kind = "value", call = call)
  }
  nms <- names(lst)
  if (is.null(nms) || all(!nzchar(nms))) {
    if (length(lst) != nin) {
      sym_abort("The model has {nin} input{?s} but {.arg {arg}} has {length(lst)} array{?s}.",
                kind = "value", call = call)
    }
    names(lst) <- in_names
  } else {
    # the engine's input names are accepted as well
    feed <- .input_feed_names(inputs)
    alias <- !nms %in% in_names & nms %in% feed
    nms[alias] <- in_names[match(nms[alias], feed)]
    names(lst) <- nms
    unknown <- setdiff(nms, in_names)
    if (length(unknown)) {
      sym_abort(c("{.arg {arg}} names unknown input{?s} {.val {unknown}}.",
                  i = "The model's inputs are {.val {in_names}}."),
                kind = "value", call = call)
    }
    missing <- setdiff(in_names, nms)
    if (length(missing)) {
      sym_abort("{.arg {arg}} lacks the model input{?s} {.val {missing}}.", kind = "value", call = call)
    }
    lst <- lst[in_names]
  }
  for (nm in in_names) {
    v <- lst[[nm]]
    what <- if (nin == 1) paste0("`", arg, "`") else sprintf("`%s$%s`", arg, nm)
    s <- inputs[[nm]]$shape
    if (is.null(s)) next  # declared without a shape: any rank
    d <- dim(v)
    r <- if (is.null(d)) 1L else length(d)
    if (r != length(s)) {
      want <- .format_shape(s)
      got <- .format_shape(if (is.null(d)) length(v) else d)
      hint <- if (length(s) == r + 1 && identical(s[2], 1L)) {
        c(i = "Add the channel axis: {.code dim(x) <- c(dim(x)[1], 1, dim(x)[-1])}.")
      } else {
        character()
      }
      sym_abort(c("{what} has rank {r} ({got}) but the model input {.val {nm}} has rank {length(s)} ({want}).",
                  hint),
                kind = "shape", call = call)
    }
    if (r > 1) {
      bad <- !is.na(s[-1]) & s[-1] != d[-1]
      if (any(bad)) {
        want <- .format_shape(s)
        got <- .format_shape(d)
        sym_abort("{what} has shape {got} but the model input {.val {nm}} is {want}.",
                  kind = "shape", call = call)
      }
    } else if (!is.na(s[1]) && s[1] != length(v)) {
      sym_abort("{what} has {length(v)} examples but the model input {.val {nm}} has a fixed batch of {s[1]}.",
                kind = "shape", call = call)
    }
    if (!.rows(v)) sym_abort("{what} has no examples (empty data).", kind = "value", call = call)
    if (anyNA(v)) {
      sym_abort(c("{what} contains NA (first at position {which(is.na(v))[1]}).",
                  i = "Remove or impute missing values first."),
                kind = "value", call = call)
    }
  }
  n <- .common_rows(lst, arg, call = call)
  lst
}

# The names the engine knows the inputs by (what cpp_function_run() feeds).
.input_feed_names <- function(inputs) {
  vapply(inputs, function(s) {
    info <- cpp_sym_info(.ptr(s))
    a <- info$attrs$name
    if (is.null(a) || !nzchar(a)) return(info$name)
    tryCatch(as.character(jsonlite::fromJSON(a)), error = function(e) info$name)
  }, character(1))
}

# Matches labels to the model's outputs and prepares them with the losses.
# Returns a list (per output) of prepared labels (see .class_labels()).
.match_labels <- function(y, outputs, losses, arg = "y", call = parent.frame()) {
  nout <- length(outputs)
  out_names <- names(outputs)
  if (is.null(y)) sym_abort("{.arg {arg}} is missing: give the labels or targets.", kind = "value", call = call)
  single <- !(is.list(y) && !is.data.frame(y))
  lst <- if (single) list(y) else y
  if (single && nout > 1) {
    sym_abort(c("The model has {nout} outputs but {.arg {arg}} is a single array.",
                i = "Give a named list: {.code list({paste(out_names, '= ...', collapse = ', ')})}."),
              kind = "value", call = call)
  }
  nms <- names(lst)
  if (is.null(nms) || all(!nzchar(nms))) {
    if (length(lst) != nout) {
      sym_abort("The model has {nout} output{?s} but {.arg {arg}} has {length(lst)} element{?s}.",
                kind = "value", call = call)
    }
    names(lst) <- out_names
  } else {
    unknown <- setdiff(nms, out_names)
    if (length(unknown)) {
      sym_abort(c("{.arg {arg}} names unknown output{?s} {.val {unknown}}.",
                  i = "The model's outputs are {.val {out_names}}."),
                kind = "value", call = call)
    }
    missing <- setdiff(out_names, nms)
    if (length(missing)) {
      sym_abort("{.arg {arg}} lacks labels for the output{?s} {.val {missing}}.", kind = "value", call = call)
    }
    lst <- lst[out_names]
  }
  res <- list()
  for (nm in out_names) {
    what <- if (nout == 1) paste0("`", arg, "`") else sprintf("`%s$%s`", arg, nm)
    # labels are checked against the output's declared shape: it needs a rank
    .need_rank(outputs[[nm]], "Training (to check the labels against the model output)", call = call)
    res[[nm]] <- losses[[nm]]$labels(lst[[nm]], outputs[[nm]]$shape, what = what, call = call)
  }
  res
}

.check_same_rows <- function(xs, ys, call = parent.frame()) {
  nx <- .rows(xs[[1]])
  ny <- vapply(ys, function(l) .rows(l$value), numeric(1))
  if (any(ny != nx)) {
    sym_abort(c("{.arg x} has {nx} example{?s} but {.arg y} has {ny[ny != nx][1]}.",
                i = "x and y must have the same number of rows (examples)."),
              kind = "value", call = call)
  }
  invisible(nx)
}

# Rows `idx` of an R array along the first axis (any rank).
.take_rows <- function(v, idx) {
  d <- dim(v)
  if (is.null(d)) return(v[idx])
  if (length(d) == 2) return(v[idx, , drop = FALSE])
  p <- prod(d[-1])
  m <- v
  dim(m) <- c(d[1], p)
  out <- m[idx, , drop = FALSE]
  dim(out) <- c(length(idx), d[-1])
  out
}

# Combines batch outputs (arrays with the batch on the first axis).
.bind_rows <- function(parts) {
  if (length(parts) == 1) return(parts[[1]])
  d1 <- dim(parts[[1]])
  if (is.null(d1)) return(unlist(parts, use.names = FALSE))
  rest <- d1[-1]
  mats <- lapply(parts, function(p) {
    d <- dim(p)
    dim(p) <- c(d[1], prod(rest))
    p
  })
  out <- do.call(rbind, mats)
  dim(out) <- c(nrow(out), rest)
  out
}

# Engine-resident tensors for arrays (converted once per fit/evaluate). With `compact`,
# integer arrays of 0..255 (pixels) are kept as bytes and converted batch by batch.
.as_tensors <- function(arrays, dtypes, compact = FALSE) {
  out <- vector("list", length(arrays))
  names(out) <- names(arrays)
  for (k in seq_along(arrays)) {
    v <- arrays[[k]]
    # only copy when there is something to drop (names, classes): datasets are big
    extra <- setdiff(names(attributes(v)), "dim")
    if (length(extra) || is.logical(v)) v <- .strip(v)
    out[[k]] <- cpp_tensor_new(v, dtypes[[k]], compact)
  }
  out
}

# Batch boundaries for an epoch over n examples.
.batch_index <- function(n, batch_size, shuffle, rng) {
  order <- if (shuffle) rng$perm(n) else seq_len(n)
  starts <- seq(1L, n, by = batch_size)
  list(order = order, starts = starts, size = batch_size, n = n)
}

.batch_rows <- function(bi, k) {
  s <- bi$starts[k]
  bi$order[s:min(bi$n, s + bi$size - 1L)]
}
