# Argument validation and conversion helpers shared by the op wrappers.

`%||%` <- function(a, b) if (is.null(a)) b else a

.dtype_aliases <- c(
  float32 = "float32", float = "float32", single = "float32",
  float64 = "float64", double = "float64", numeric = "float64",
  int32 = "int32", integer = "int32", int = "int32",
  int64 = "int64",
  uint8 = "uint8",
  bool = "bool", logical = "bool"
)
# Declared by the engine for GPU work; no CPU kernel computes in them yet.
.dtypes_reserved <- c(float16 = "float16", half = "float16", bfloat16 = "bfloat16")

#' Element types
#'
#' symnet tensors have one of the element types `"float32"`, `"float64"`,
#' `"int32"`, `"int64"`, `"uint8"` or `"bool"`. (`"float16"` and
#' `"bfloat16"` are reserved for GPU work and rejected with a classed error
#' until a backend computes in them.) The R spellings `"double"`, `"integer"` and
#' `"logical"` are accepted as aliases of `"float64"`, `"int32"` and `"bool"`.
#' R values convert to the declared type when fed; results come back as
#' double (float types and int64), integer (int32, uint8) or logical (bool)
#' arrays.
#'
#' @return `sym_dtypes()` returns the canonical names as a character vector.
#' @examples
#' sym_dtypes()
#' @export
sym_dtypes <- function() {
  c("float32", "float64", "int32", "int64", "uint8", "bool")
}

# A required argument that was not given. The .check_* helpers test for it
# first: missing() follows the promise to the caller's own argument, so the
# user gets a classed error naming the argument, not R's plain
# "argument is missing, with no default".
.missing_abort <- function(arg, call = parent.frame(2)) {
  sym_abort("{.arg {arg}} is missing, with no default.", call = call)
}

# Canonical dtype name or a classed error.
.check_dtype <- function(dtype, arg = "dtype", call = parent.frame()) {
  if (missing(dtype)) .missing_abort(arg, call)
  if (!is.character(dtype) || length(dtype) != 1 || is.na(dtype)) {
    sym_abort("{.arg {arg}} must be a single string such as {.val float32}.",
              kind = "dtype", call = call)
  }
  out <- .dtype_aliases[tolower(dtype)]
  if (is.na(out) && !is.na(.dtypes_reserved[tolower(dtype)])) {
    sym_abort(c("dtype {.val {dtype}} is not supported yet: no CPU kernel computes in it.",
                i = "Use one of {.val {sym_dtypes()}}."),
              kind = "dtype", call = call)
  }
  if (is.na(out)) {
    sym_abort(c("Unknown dtype {.val {dtype}}.",
                i = "Use one of {.val {sym_dtypes()}}."),
              kind = "dtype", call = call)
  }
  unname(out)
}

.is_float_dtype <- function(dt) dt %in% c("float32", "float64", "float16", "bfloat16")
.is_int_dtype <- function(dt) dt %in% c("int32", "int64", "uint8")

.is_whole <- function(x) {
  is.numeric(x) && all(is.finite(x)) && all(abs(x - round(x)) < 1e-8)
}

.check_flag <- function(x, arg, call = parent.frame()) {
  if (missing(x)) .missing_abort(arg, call)
  if (!is.logical(x) || length(x) != 1 || is.na(x)) {
    sym_abort("{.arg {arg}} must be {.code TRUE} or {.code FALSE}.", call = call)
  }
  x
}

.check_number <- function(x, arg, call = parent.frame(), finite = FALSE) {
  if (missing(x)) .missing_abort(arg, call)
  if (!is.numeric(x) || length(x) != 1 || is.na(x) || (finite && !is.finite(x))) {
    sym_abort("{.arg {arg}} must be a single {if (finite) 'finite '}number.", call = call)
  }
  as.double(x)
}

# Whole numbers must also fit R's integer type: as.integer() would turn a
# larger value into NA with only a warning (a size of 3e9 silently became
# "unknown", a seed of 1e10 an error from set.seed()).
.range_text <- function(min, max) {
  if (is.finite(min) && max < .large_int) paste0(" in ", min, "..", max)
  else if (is.finite(min)) paste0(" >= ", min)
  else if (max < .large_int) paste0(" <= ", max)
  else ""
}

.check_int <- function(x, arg, call = parent.frame(), min = -Inf, max = .large_int) {
  if (missing(x)) .missing_abort(arg, call)
  if (!.is_whole(x) || length(x) != 1 || x < min || x > max || abs(x) > .large_int) {
    sym_abort(c("{.arg {arg}} must be a single whole number{(.range_text(min, max))}.",
                x = "Got {.obj_type_friendly {x}}{if (.is_scalar_number(x)) paste0(': ', format(x)) else ''}."),
              call = call)
  }
  as.integer(round(x))
}

.check_ints <- function(x, arg, call = parent.frame(), allow_na = FALSE, min = -Inf, max = .large_int) {
  if (missing(x)) .missing_abort(arg, call)
  ok <- is.numeric(x) || (allow_na && is.logical(x) && all(is.na(x)))
  if (ok) {
    v <- as.double(x)
    known <- v[!is.na(v)]
    ok <- (allow_na || !anyNA(v)) && .is_whole(known) && all(known >= min) && all(known <= max) &&
      all(abs(known) <= .large_int)
  }
  if (!ok) {
    sym_abort("{.arg {arg}} must be a vector of whole numbers{if (allow_na) ' (NA for unknown)' else ''}{(.range_text(min, max))}.",
              call = call)
  }
  as.integer(round(as.double(x)))
}

.is_scalar_number <- function(x) is.numeric(x) && length(x) == 1

.check_string <- function(x, arg, call = parent.frame()) {
  if (missing(x)) .missing_abort(arg, call)
  if (!is.character(x) || length(x) != 1 || is.na(x)) {
    sym_abort("{.arg {arg}} must be a single string.", call = call)
  }
  x
}

# One of `choices` (the whole default vector means its first element). The
# offending value is described by type unless it is a string: {.val} of a
# function or an environment would itself fail inside cli.
.match_arg <- function(x, choices, arg, call = parent.frame()) {
  if (missing(x)) .missing_abort(arg, call)
  if (identical(x, choices)) return(choices[1])
  if (!is.character(x) || length(x) != 1 || is.na(x) || !x %in% choices) {
    got <- if (is.character(x) && length(x) == 1 && !is.na(x)) .val_text(x) else .obj_text(x)
    sym_abort("{.arg {arg}} must be one of {.val {choices}}, not {got}.", kind = "value", call = call)
  }
  x
}

# Short descriptions of arbitrary (hostile) values for messages; never fail.
.obj_text <- function(x) {
  tryCatch(cli::format_inline("{.obj_type_friendly {x}}"), error = function(e) paste0("an object of type ", typeof(x)))
}
.val_text <- function(x) {
  tryCatch(cli::format_inline("{.val {x}}"), error = function(e) .obj_text(x))
}

# Shapes given by users: whole numbers >= 0, NA (or -1 when allow_minus1)
# for unknown. Returns an integer vector with NA for unknown dimensions.
.check_shape <- function(shape, arg = "shape", call = parent.frame(), allow_unknown = TRUE) {
  if (missing(shape)) .missing_abort(arg, call)
  if (is.null(shape)) return(integer())
  .check_shape_size(shape, arg, call, rank_only = TRUE)  # before checking 10^6 entries one by one
  s <- .check_ints(shape, arg, call = call, allow_na = allow_unknown)
  .check_shape_size(s, arg, call)
  if (any(s < 0, na.rm = TRUE)) {
    sym_abort("{.arg {arg}} must contain sizes >= 0{if (allow_unknown) ' or NA for an unknown size' else ''}.",
              call = call)
  }
  if (!allow_unknown && anyNA(s)) {
    sym_abort("{.arg {arg}} must be fully known here (no NA).", call = call)
  }
  s
}

# Shapes are symbolic until compiled, so a large shape costs nothing here; only
# what can never exist is refused now: more than .max_rank axes, or more
# elements than a 64-bit byte count can address (8-byte elements). Whether the
# memory exists is checked by the engine where it allocates, naming the bytes.
.check_shape_size <- function(s, arg, call, rank_only = FALSE) {
  if (!(is.numeric(s) || is.logical(s))) return(invisible())
  if (length(s) > .max_rank) {
    sym_abort("{.arg {arg}} has {length(s)} dimensions; tensors have at most {(.max_rank)}.",
              kind = "shape", call = call)
  }
  if (rank_only) return(invisible())
  known <- suppressWarnings(as.double(s[!is.na(s)]))
  known <- known[is.finite(known)]
  if (length(known) && all(known > 0) && sum(log2(known)) + 3 >= 63) {
    txt <- paste(ifelse(is.na(s), "NA", format(s, scientific = FALSE, trim = TRUE)), collapse = " x ")
    sym_abort(c("{.arg {arg}} = {txt} has more elements than can be addressed.",
                i = "Its size in bytes would not fit in 64 bits."),
              kind = "shape", call = call)
  }
  invisible()
}

# One axis (1-based, negative from the end) -> 0-based non-negative engine
# axis, given the rank the axis refers to.
.axis0 <- function(axis, rank, arg = "axis", call = parent.frame()) {
  if (missing(axis)) .missing_abort(arg, call)
  if (!.is_whole(axis) || length(axis) != 1 || axis == 0) {
    sym_abort(c("{.arg {arg}} must be a single non-zero whole number.",
                i = "Axes count from 1; negative axes count from the end ({.code -1} is the last)."),
              call = call)
  }
  .axes0(axis, rank, arg, call)
}

# Several axes -> 0-based engine axes (sorted as given; duplicates rejected).
# An NA rank (a symbol whose rank is known only when fed) keeps negative axes
# negative: the engine counts them from the end once the rank is known, and
# reports an axis out of range then.
.axes0 <- function(axis, rank, arg = "axis", call = parent.frame()) {
  if (is.null(axis)) return(integer())
  if (!.is_whole(axis) || any(axis == 0)) {
    sym_abort(c("{.arg {arg}} must contain non-zero whole numbers.",
                i = "Axes count from 1; negative axes count from the end ({.code -1} is the last)."),
              call = call)
  }
  if (is.na(rank)) {
    if (any(abs(axis) > .max_rank)) {
      sym_abort("{.arg {arg}} is out of range: tensors have at most {(.max_rank)} axes.", kind = "value", call = call)
    }
    out <- as.integer(round(ifelse(axis > 0, axis - 1, axis)))
    if (anyDuplicated(out)) sym_abort("{.arg {arg}} names the same axis more than once.", call = call)
    return(out)
  }
  # compare as doubles first: as.integer() of a huge axis would be NA
  bad <- axis[abs(axis) > rank]
  if (!length(bad)) axis <- as.integer(round(axis))
  if (length(bad)) {
    sym_abort(c("{.arg {arg}} = {bad} is out of range for a tensor of rank {rank}.",
                i = "Valid axes are 1..{rank} or -{rank}..-1."),
              kind = "value", call = call)
  }
  out <- ifelse(axis > 0, axis - 1L, rank + axis)
  if (anyDuplicated(out)) {
    sym_abort("{.arg {arg}} names the same axis more than once.", call = call)
  }
  as.integer(out)
}

# Attribute helpers: the glue treats AsIs vectors as list attributes even
# when their length is 1.
.ints_attr <- function(x) I(as.integer(x))
.floats_attr <- function(x) I(as.double(x))

.large_int <- .Machine$integer.max
# Most axes a tensor may have (the engine's kMaxRank).
.max_rank <- 32L
