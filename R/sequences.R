#' Pad ragged sequences to one length
#'
#' `pad_sequences(sequences)` turns a list of sequences of different lengths
#' into one array `[n, maxlen]` (vectors) or `[n, maxlen, features]`
#' (matrices with one row per step), padding and truncating like keras's
#' `pad_sequences()`: by default both happen at the start (`"pre"`), so the
#' last steps, which recurrent layers remember best, are kept and aligned.
#' Pair the result with [layer_masking()] (or a recurrent layer's `mask`) to
#' skip the padding.
#'
#' @param sequences A list of numeric vectors, or of matrices with the same
#'   number of columns (one row per step).
#' @param maxlen Length of the result; `NULL` is the longest sequence's.
#' @param dtype `"int32"` (default, for token ids) or `"float32"`/`"float64"`:
#'   integers or doubles in the result.
#' @param padding,truncating `"pre"` or `"post"`: where to pad short
#'   sequences and where to cut long ones.
#' @param value The padding value.
#' @return An integer or double array.
#' @examples
#' pad_sequences(list(1:3, 4:5, 6))
#' pad_sequences(list(1:3, 4:5, 6), maxlen = 2, padding = "post")
#' str(pad_sequences(list(matrix(1, 2, 3), matrix(2, 4, 3)), dtype = "float32"))
#' @export
pad_sequences <- function(sequences, maxlen = NULL, dtype = "int32", padding = c("pre", "post"),
                          truncating = c("pre", "post"), value = 0) {
  if (!is.list(sequences) || is.data.frame(sequences)) {
    sym_abort("{.arg sequences} must be a list of vectors or matrices, not {.obj_type_friendly {sequences}}.")
  }
  padding <- .match_arg(padding, c("pre", "post"), "padding")
  truncating <- .match_arg(truncating, c("pre", "post"), "truncating")
  dtype <- .check_dtype(dtype)
  if (!dtype %in% c("int32", "float32", "float64")) {
    sym_abort("{.arg dtype} must be {.val int32}, {.val float32} or {.val float64}, not {.val {dtype}}.", kind = "dtype")
  }
  value <- .check_number(value, "value")
  feats <- NULL
  lens <- integer(length(sequences))
  for (i in seq_along(sequences)) {
    s <- sequences[[i]]
    if (!(is.numeric(s) || is.logical(s)) || length(dim(s)) > 2) {
      sym_abort("Sequence {i} must be a numeric vector or matrix, not {.obj_type_friendly {s}}.")
    }
    f <- if (is.matrix(s)) ncol(s) else 0L
    if (is.null(feats)) feats <- f
    if (f != feats) {
      sym_abort(c("All sequences must have the same number of features.",
                  x = "Sequence {i} has {f} column{?s}; sequence 1 has {feats}."))
    }
    lens[i] <- if (is.matrix(s)) nrow(s) else length(s)
  }
  feats <- feats %||% 0L
  maxlen <- if (is.null(maxlen)) max(c(0L, lens)) else .check_int(maxlen, "maxlen", min = 0)
  as_type <- if (dtype == "int32") as.integer else as.double
  if (dtype == "int32" && (value != round(value) || abs(value) > .Machine$integer.max)) {
    sym_abort("{.arg value} must be a whole number in int32's range for {.val int32}.")
  }
  out <- array(as_type(value), if (feats) c(length(sequences), maxlen, feats) else c(length(sequences), maxlen))
  for (i in seq_along(sequences)) {
    s <- sequences[[i]]
    if (!feats) s <- matrix(s, ncol = 1)
    n <- min(nrow(s), maxlen)
    if (n == 0) next
    rows <- if (truncating == "pre") seq(nrow(s) - n + 1, nrow(s)) else seq_len(n)
    at <- if (padding == "pre") seq(maxlen - n + 1, maxlen) else seq_len(n)
    v <- s[rows, , drop = FALSE]
    if (anyNA(v)) sym_abort("Sequence {i} contains missing values.")
    if (dtype == "int32" && any(abs(v) > .Machine$integer.max)) sym_abort("Sequence {i} has values beyond int32's range.")
    if (dtype == "int32" && any(v != round(v))) {
      sym_abort(c("Sequence {i} has values that are not whole numbers; {.val int32} would truncate them.",
                  i = "Use {.code dtype = \"float32\"} for real-valued sequences."))
    }
    if (feats) out[i, at, ] <- as_type(v) else out[i, at] <- as_type(v)
  }
  out
}
