# Shape manipulation: reshape, flatten, transpose, squeeze/unsqueeze, expand,
# slice (and x[i, j]), concat, split, stack, tile, pad.

#' Reshape a symbol (row-major)
#'
#' `sym_reshape(x, shape)` gives `x` a new shape with the same elements in
#' **row-major (C) order** -- the last index varies fastest -- because the
#' engine stores tensors row-major. This differs from R's `dim<-`, which
#' refills column-major: for `m <- matrix(1:6, 2, 3)`, `dim(m) <- c(3, 2)`
#' gives rows `(1, 4), (2, 5), (3, 6)`, while `sym_reshape()` to `c(3, 2)`
#' gives rows `(1, 3), (5, 2), (4, 6)` (reading `m` row by row: 1 3 5 2 4 6).
#' Base R's equivalent is `aperm(array(aperm(m), rev(shape)))`.
#'
#' One entry may be `-1` (or `NA`): its size is inferred. An entry `0`
#' copies the input's size at that position (useful to keep an unknown
#' batch dimension: `sym_reshape(x, c(0, -1))`).
#'
#' `sym_flatten(x, axis)` reshapes to a matrix: the dimensions before
#' `axis` multiply into rows and the rest into columns; the default `axis =
#' 2` keeps the batch dimension and flattens each example.
#'
#' @param x A symbol.
#' @param shape The new shape.
#' @param axis For `sym_flatten()`, the first axis (1-based, up to
#'   `rank + 1`) that goes into the columns.
#' @param name Optional node name.
#' @return A symbol.
#' @examples
#' x <- sym_var("x", c(2, 3))
#' f <- sym_compile(sym_reshape(x, c(3, 2)))
#' m <- matrix(1:6, 2, 3)
#' f(x = m)                    # row-major: rows (1, 3), (5, 2), (4, 6)
#' aperm(array(aperm(m), c(2, 3)))   # the same in base R
#' x4 <- sym_var("img", c(NA, 2, 2, 3))
#' dim(sym_flatten(x4))
#' @export
sym_reshape <- function(x, shape, name = NULL) {
  x <- as_symbol(x)
  s <- .check_ints(shape, "shape", allow_na = TRUE)
  .check_shape_size(s, "shape", environment())
  s[is.na(s)] <- -1L
  if (any(s < -1L)) sym_abort("{.arg shape} entries must be sizes, 0 (copy) or -1/NA (infer).")
  if (sum(s == -1L) > 1) sym_abort("{.arg shape} may contain only one -1 or NA.")
  .op("reshape", list(x), list(shape = .ints_attr(s)), name)
}

#' @rdname sym_reshape
#' @export
sym_flatten <- function(x, axis = 2, name = NULL) {
  x <- as_symbol(x)
  r <- .rank(x)
  axis <- .check_int(axis, "axis", min = 1)
  # an unknown rank: the engine checks the axis once the input is fed
  if (!is.na(r) && axis > r + 1) sym_abort("{.arg axis} must be between 1 and {r + 1} for a symbol of rank {r}.")
  .op("flatten", list(x), list(axis = axis - 1L), name)
}

#' Permute axes
#'
#' `sym_transpose(x, perm)` reorders the axes of `x` so that axis `k` of the
#' result is axis `perm[k]` of `x` (as [aperm()]); the default reverses
#' them, which for a matrix is [t()].
#'
#' @param x A symbol.
#' @param perm A permutation of `1:rank` (or `NULL`).
#' @param name Optional node name.
#' @return A symbol.
#' @examples
#' x <- sym_var("x", c(2, 3, 4))
#' dim(sym_transpose(x))
#' dim(sym_transpose(x, c(1, 3, 2)))
#' @export
sym_transpose <- function(x, perm = NULL, name = NULL) {
  x <- as_symbol(x)
  r <- .rank(x)
  if (is.null(perm)) {
    # an empty perm reverses the axes, whatever the rank turns out to be
    p <- if (is.na(r)) integer() else rev(seq_len(r)) - 1L
  } else {
    p <- .check_ints(perm, "perm")
    if (is.na(r)) r <- length(p)  # the rank must then be length(perm); the engine checks it when fed
    if (length(p) != r || !setequal(p, seq_len(r))) {
      sym_abort("{.arg perm} must be a permutation of 1..{r}, not {.val {perm}}.")
    }
    p <- p - 1L
  }
  .op("transpose", list(x), list(perm = .ints_attr(p)), name)
}

#' Remove or insert axes of size 1
#'
#' `sym_squeeze(x, axis)` drops axes of size 1 (all of them when `axis` is
#' `NULL`, which needs known sizes). `sym_unsqueeze(x, axis)` inserts axes
#' of size 1 at positions `axis` of the result.
#'
#' @param x A symbol.
#' @param axis Axes (1-based, negative from the end). For
#'   `sym_unsqueeze()` they refer to the result's axes.
#' @param name Optional node name.
#' @return A symbol.
#' @examples
#' x <- sym_var("x", c(3, 1, 2))
#' dim(sym_squeeze(x))
#' dim(sym_unsqueeze(x, 1))
#' dim(sym_unsqueeze(x, -1))
#' @export
sym_squeeze <- function(x, axis = NULL, name = NULL) {
  x <- as_symbol(x)
  axes <- .axes0(axis, .rank(x))
  .op("squeeze", list(x), list(axes = .ints_attr(axes)), name)
}

#' @rdname sym_squeeze
#' @export
sym_unsqueeze <- function(x, axis, name = NULL) {
  if (missing(axis)) .missing_abort("axis", environment())
  x <- as_symbol(x)
  if (is.null(axis) || !length(axis)) sym_abort("{.arg axis} must name at least one axis.")
  axes <- .axes0(axis, .rank(x) + length(axis))
  .op("unsqueeze", list(x), list(axes = .ints_attr(axes)), name)
}

#' Broadcast to a shape
#'
#' `sym_expand(x, shape)` broadcasts `x` to `shape` (NumPy rules: sizes of
#' 1 stretch, and `shape` may add leading axes). A size 1 in `shape` keeps
#' the size of `x`.
#'
#' @param x A symbol.
#' @param shape Target shape (whole numbers >= 0).
#' @param name Optional node name.
#' @return A symbol.
#' @examples
#' x <- sym_var("x", c(1, 3))
#' sym_compile(sym_expand(x, c(2, 3)))(x = matrix(1:3, 1))
#' @export
sym_expand <- function(x, shape, name = NULL) {
  x <- as_symbol(x)
  s <- .check_shape(shape, "shape", allow_unknown = FALSE)
  .op("expand", list(x), list(shape = .ints_attr(s)), name)
}

#' Slices and indexing
#'
#' `sym_slice(x, begin, end, axis, step)` takes a regular slice of some
#' axes, R style: `begin` and `end` are **1-based and inclusive**, negative
#' values count from the end (`-1` is the last element), and `step` may be
#' negative to walk backwards. `NULL` (or `NA`) for `begin`/`end` means the
#' start/end of the axis in the direction of `step`. Positions past the end
#' are clamped. `axis` defaults to the first `length(begin)` axes.
#'
#' Indexing with `[` works too: `x[i, j, ...]` takes one index per axis,
#' where an index is missing (the whole axis), a positive vector (a regular
#' sequence such as `2:5` or `seq(1, 9, by = 2)` becomes a slice, other
#' vectors a [sym_gather()]), a negative vector (positions to leave out,
#' which needs a known size), a logical vector of the axis' length, or a
#' symbol of 1-based positions. Single positions drop their axis unless
#' `drop = FALSE`.
#'
#' @param x A symbol.
#' @param begin,end First and last positions (1-based, inclusive).
#' @param axis Axes to slice (1-based).
#' @param step Steps (non-zero; default 1).
#' @param name Optional node name.
#' @return A symbol.
#' @examples
#' x <- sym_var("x", c(4, 5))
#' f <- sym_compile(list(a = sym_slice(x, 2, 3),           # rows 2..3
#'                       b = sym_slice(x, -2, NULL, axis = 2),  # last 2 columns
#'                       c = sym_slice(x, NULL, NULL, step = -1), # rows reversed
#'                       d = x[1:2, c(1, 3, 5)],
#'                       e = x[-1, 2]))
#' f(x = matrix(1:20, 4, 5))
#' @export
sym_slice <- function(x, begin = NULL, end = NULL, axis = NULL, step = NULL, name = NULL) {
  x <- as_symbol(x)
  r <- .rank(x)
  n <- max(length(begin), length(end), length(axis), length(step))
  if (n == 0) return(x)
  fill <- function(v, arg) {
    if (is.null(v)) return(rep(NA_integer_, n))
    v <- .check_ints(v, arg, allow_na = TRUE)
    if (length(v) == 1) v <- rep(v, n)
    if (length(v) != n) sym_abort("{.arg {arg}} must have length 1 or {n}.", call = parent.frame(2))
    v
  }
  b <- fill(begin, "begin")
  e <- fill(end, "end")
  s <- fill(step, "step")
  s[is.na(s)] <- 1L
  if (any(s == 0L)) sym_abort("{.arg step} must not contain 0.")
  if (any(b == 0L, na.rm = TRUE) || any(e == 0L, na.rm = TRUE)) {
    sym_abort(c("Positions count from 1; {.arg begin} and {.arg end} must not be 0.",
                i = "Negative positions count from the end ({.code -1} is the last)."))
  }
  axes <- if (is.null(axis)) {
    if (!is.na(r) && n > r) sym_abort("{n} slice{?s} given for a symbol of rank {r}.")
    seq_len(n) - 1L
  } else {
    a <- fill(axis, "axis")
    .axes0(a, r)
  }
  big <- .large_int
  starts <- ifelse(is.na(b), ifelse(s > 0, 0L, -1L), ifelse(b > 0, b - 1L, b))
  ends <- ifelse(is.na(e), ifelse(s > 0, big, -big),
          ifelse(s > 0,
                 ifelse(e > 0, e, ifelse(e == -1L, big, e + 1L)),
                 ifelse(e > 0, ifelse(e == 1L, -big, e - 2L), e - 1L)))
  .op("slice", list(x),
      list(starts = .ints_attr(starts), ends = .ints_attr(ends),
           axes = .ints_attr(axes), steps = .ints_attr(s)), name)
}

#' @rdname sym_slice
#' @param ... For `[`: one index per axis.
#' @param drop For `[`: drop axes indexed by a single position.
#' @export
`[.symnet_symbol` <- function(x, ..., drop = TRUE) {
  nd <- ...length()
  if (nd == 0) return(x)
  # R indexing has one index per axis; without a rank a missing one cannot be told apart
  .need_rank(x, "{.code x[...]}")
  r <- length(x$shape)
  if (nd == 1 && r != 1 && eval(quote(missing(..1)))) return(x)
  if (nd != r) {
    sym_abort(c("A symbol of rank {r} needs {r} ind{?ex/ices} in {.code x[...]}, not {nd}.",
                i = "Leave an index empty to keep the whole axis: {.code x[, 1]}."))
  }
  sl_b <- sl_e <- sl_s <- sl_a <- integer()
  gathers <- list()
  dropped <- integer()
  for (k in seq_len(nd)) {
    missing_k <- eval(call("missing", as.name(paste0("..", k))))
    if (missing_k) next
    i <- ...elt(k)
    if (is.null(i)) next
    d <- x$shape[k]
    if (is_symbol(i)) {
      gathers[[length(gathers) + 1]] <- list(axis = k, idx = i)
      next
    }
    if (is.logical(i)) {
      if (is.na(d) || length(i) != d || anyNA(i)) {
        sym_abort("A logical index needs one TRUE/FALSE per element of axis {k} (of size {if (is.na(d)) 'unknown' else d}).")
      }
      i <- which(i)
    }
    if (!is.numeric(i) || anyNA(i) || !.is_whole(i)) {
      sym_abort("Index {k} must contain whole positions (or be a logical vector or a symbol).")
    }
    i <- i[i != 0]
    if (length(i) && all(i < 0)) {
      if (is.na(d)) sym_abort("Negative indices (to leave out) need a known size, but axis {k} has an unknown size.")
      i <- setdiff(seq_len(d), -i)
    } else if (any(i < 0)) {
      sym_abort("Index {k} mixes positive and negative positions.")
    }
    if (!length(i)) sym_abort("Index {k} selects no elements; empty selections are not supported.")
    if (!is.na(d) && any(i > d)) {
      sym_abort("Index {k} is out of bounds: position {max(i)} of an axis of size {d}.")
    }
    i <- as.integer(i)
    if (length(i) == 1) {
      sl_b <- c(sl_b, i); sl_e <- c(sl_e, i); sl_s <- c(sl_s, 1L); sl_a <- c(sl_a, k)
      if (drop) dropped <- c(dropped, k)
    } else {
      st <- unique(diff(i))
      if (length(st) == 1 && st != 0) {
        sl_b <- c(sl_b, i[1]); sl_e <- c(sl_e, i[length(i)]); sl_s <- c(sl_s, st); sl_a <- c(sl_a, k)
      } else {
        gathers[[length(gathers) + 1]] <- list(axis = k, idx = i)
      }
    }
  }
  y <- x
  if (length(sl_a)) y <- sym_slice(y, sl_b, sl_e, axis = sl_a, step = sl_s)
  for (g in gathers) {
    idx <- g$idx
    if (!is_symbol(idx)) idx <- sym_const(as.integer(idx), dtype = "int64")
    if (!identical(.rank(idx), 1L)) {
      sym_abort("A symbol index in {.code x[...]} must be a vector (rank 1).")
    }
    y <- sym_gather(y, idx, axis = g$axis)
  }
  if (length(dropped)) y <- sym_squeeze(y, axis = dropped)
  y
}

.dots_symbols <- function(dots, what, call = parent.frame()) {
  if (length(dots) == 1 && is.list(dots[[1]]) && !is_symbol(dots[[1]])) dots <- dots[[1]]
  if (!length(dots)) sym_abort("{what} needs at least one input.", call = call)
  .as_inputs(unname(dots), call = call)
}

#' Join symbols along an axis
#'
#' `sym_concat()` joins symbols along an existing axis (as [rbind()] does
#' for `axis = 1` and [cbind()] for `axis = 2` on matrices); all other sizes
#' must agree. `sym_stack()` stacks symbols of one shape along a new axis at
#' position `axis` of the result.
#'
#' @param ... Symbols, or a single list of symbols. R values are converted
#'   to the type of the first symbol.
#' @param axis The axis (1-based, negative from the end).
#' @param name Optional node name.
#' @return A symbol.
#' @examples
#' a <- sym_var("a", c(2, 3))
#' b <- sym_var("b", c(1, 3))
#' f <- sym_compile(list(rows = sym_concat(a, b, axis = 1),
#'                       stacked = sym_stack(a, a + 1, axis = 1)))
#' f(a = matrix(1:6, 2, 3), b = matrix(7:9, 1, 3))
#' @export
sym_concat <- function(..., axis = 1, name = NULL) {
  xs <- .dots_symbols(list(...), "sym_concat()")
  ax <- .axis0(axis, .rank(xs[[1]]))
  .op("concat", xs, list(axis = ax), name)
}

#' @rdname sym_concat
#' @export
sym_stack <- function(..., axis = 1, name = NULL) {
  xs <- .dots_symbols(list(...), "sym_stack()")
  ax <- .axis0(axis, .rank(xs[[1]]) + 1L)
  .op("stack", xs, list(axis = ax), name)
}

#' Split a symbol into parts
#'
#' `sym_split(x, sizes)` cuts `x` along `axis` into parts of the given
#' sizes; `sym_split(x, n = k)` into `k` parts of equal size (the last one
#' smaller when the size does not divide).
#'
#' @param x A symbol.
#' @param sizes Sizes of the parts (summing to the axis size).
#' @param n Number of equal parts (instead of `sizes`).
#' @param axis The axis (1-based, negative from the end).
#' @param name Optional node name.
#' @return A list of symbols.
#' @examples
#' x <- sym_var("x", c(2, 5))
#' parts <- sym_split(x, c(2, 3), axis = 2)
#' f <- sym_compile(parts)
#' f(x = matrix(1:10, 2, 5))
#' @export
sym_split <- function(x, sizes = NULL, n = NULL, axis = 1, name = NULL) {
  x <- as_symbol(x)
  ax <- .axis0(axis, .rank(x))
  if (is.null(sizes) == is.null(n)) sym_abort("Give exactly one of {.arg sizes} and {.arg n}.")
  attrs <- list(axis = ax)
  if (!is.null(sizes)) {
    attrs$sizes <- .ints_attr(.check_ints(sizes, "sizes", min = 0))
    if (!length(sizes)) sym_abort("{.arg sizes} must not be empty.")
  } else {
    attrs$num_outputs <- .check_int(n, "n", min = 1)
  }
  .op("split", list(x), attrs, name, multi = TRUE)
}

#' Repeat a symbol
#'
#' `sym_tile(x, repeats)` repeats `x` `repeats[k]` times along axis `k`
#' (one entry per axis), like tiling a matrix with copies of itself.
#'
#' @param x A symbol.
#' @param repeats Whole numbers >= 0, one per axis.
#' @param name Optional node name.
#' @return A symbol.
#' @examples
#' x <- sym_var("x", c(1, 2))
#' sym_compile(sym_tile(x, c(2, 3)))(x = matrix(1:2, 1))
#' @export
sym_tile <- function(x, repeats, name = NULL) {
  x <- as_symbol(x)
  reps <- .check_ints(repeats, "repeats", min = 0)
  # an unknown rank must turn out to be length(repeats): the engine checks it when fed
  if (!is.null(x$shape) && length(reps) != length(x$shape)) {
    sym_abort("{.arg repeats} needs one entry per axis ({length(x$shape)}), not {length(reps)}.")
  }
  .op("tile", list(x), list(repeats = .ints_attr(reps)), name)
}

#' Pad a symbol
#'
#' `sym_pad(x, pads)` adds elements before and after each axis. `pads` holds
#' pairs `c(before, after)` for each padded axis in turn: `c(1, 2, 0, 3)`
#' pads axis 1 with 1 before and 2 after, axis 2 with 3 after. Negative
#' values crop. By default every axis is listed in order; give `axis` to pad
#' only some.
#'
#' Modes: `"constant"` fills with `value`, `"reflect"` mirrors the inside
#' without repeating the edge (`3 2 | 1 2 3 | 2 1`), `"edge"` repeats the
#' edge element.
#'
#' @param x A symbol.
#' @param pads Whole numbers: `before, after` for each padded axis.
#' @param mode One of `"constant"`, `"reflect"`, `"edge"`.
#' @param value Fill value for `"constant"`.
#' @param axis Axes that `pads` refers to (default: all, in order).
#' @param name Optional node name.
#' @return A symbol.
#' @examples
#' x <- sym_var("x", c(2, 2))
#' f <- sym_compile(list(zero = sym_pad(x, c(1, 1), axis = 2),
#'                       edge = sym_pad(x, c(1, 0, 0, 1), mode = "edge")))
#' f(x = matrix(1:4, 2))
#' @export
sym_pad <- function(x, pads, mode = c("constant", "reflect", "edge"), value = 0, axis = NULL,
                    name = NULL) {
  x <- as_symbol(x)
  .need_rank(x, "{.fn sym_pad}")
  r <- length(x$shape)
  mode <- .match_arg(mode, c("constant", "reflect", "edge"), "mode")
  p <- .check_ints(pads, "pads")
  axes <- if (is.null(axis)) seq_len(r) - 1L else .axes0(axis, r)
  if (length(p) != 2 * length(axes)) {
    sym_abort("{.arg pads} needs 2 entries (before, after) for each of {length(axes)} ax{?is/es}, not {length(p)}.")
  }
  begin <- end <- integer(r)
  begin[axes + 1L] <- p[c(TRUE, FALSE)]
  end[axes + 1L] <- p[c(FALSE, TRUE)]
  .op("pad", list(x),
      list(pads = .ints_attr(c(begin, end)), mode = mode,
           value = .check_number(value, "value")), name)
}
