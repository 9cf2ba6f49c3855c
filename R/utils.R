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

# Canonical dtype name or a classed error.
.check_dtype <- function(dtype, arg = "dtype", call = parent.frame()) {
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
  if (!is.logical(x) || length(x) != 1 || is.na(x)) {
    sym_abort("{.arg {arg}} must be {.code TRUE} or {.code FALSE}.", call = call)
  }
  x
}

.check_number <- function(x, arg, call = parent.frame(), finite = FALSE) {
  if (!is.numeric(x) || length(x) != 1 || is.na(x) || (finite && !is.finite(x))) {
    sym_abort("{.arg {arg}} must be a single {if (finite) 'finite '}number.", call = call)
  }
  as.double(x)
}

.check_int <- function(x, arg, call = parent.frame(), min = -Inf) {
  if (!.is_whole(x) || length(x) != 1 || x < min) {
    sym_abort("{.arg {arg}} must be a single whole number{if (is.finite(min)) paste0(' >= ', min) else ''}.",
              call = call)
  }
  as.integer(x)
}

.check_ints <- function(x, arg, call = parent.frame(), allow_na = FALSE, min = -Inf) {
  ok <- is.numeric(x) || (allow_na && is.logical(x) && all(is.na(x)))
  if (ok) {
    v <- as.double(x)
    known <- v[!is.na(v)]
    ok <- (allow_na || !anyNA(v)) && .is_whole(known) && all(known >= min)
    big <- known[abs(known) > .Machine$integer.max]
    if (ok && length(big)) {
      sym_abort("{.arg {arg}} has {format(big[1], big.mark = ',')}, beyond the largest size or index symnet takes ({format(.Machine$integer.max, big.mark = ',')}).",
                kind = "value", call = call)
    }
  }
  if (!ok) {
    sym_abort("{.arg {arg}} must be a vector of whole numbers{if (allow_na) ' (NA for unknown)' else ''}{if (is.finite(min)) paste0(' >= ', min) else ''}.",
              call = call)
  }
  as.integer(round(as.double(x)))
}

.check_string <- function(x, arg, call = parent.frame()) {
  if (!is.character(x) || length(x) != 1 || is.na(x)) {
    sym_abort("{.arg {arg}} must be a single string.", call = call)
  }
  x
}

# Shapes given by users: whole numbers >= 0, NA (or -1 when allow_minus1)
# for unknown. Returns an integer vector with NA for unknown dimensions.
.check_shape <- function(shape, arg = "shape", call = parent.frame(), allow_unknown = TRUE) {
  if (is.null(shape)) return(integer())
  s <- .check_ints(shape, arg, call = call, allow_na = allow_unknown)
  if (any(s < 0, na.rm = TRUE)) {
    sym_abort("{.arg {arg}} must contain sizes >= 0{if (allow_unknown) ' or NA for an unknown size' else ''}.",
              call = call)
  }
  if (!allow_unknown && anyNA(s)) {
    sym_abort("{.arg {arg}} must be fully known here (no NA).", call = call)
  }
  s
}

# One axis (1-based, negative from the end) -> 0-based non-negative engine
# axis, given the rank the axis refers to.
.axis0 <- function(axis, rank, arg = "axis", call = parent.frame()) {
  if (!.is_whole(axis) || length(axis) != 1 || axis == 0) {
    sym_abort(c("{.arg {arg}} must be a single non-zero whole number.",
                i = "Axes count from 1; negative axes count from the end ({.code -1} is the last)."),
              call = call)
  }
  .axes0(axis, rank, arg, call)
}

# Several axes -> 0-based engine axes (sorted as given; duplicates rejected).
.axes0 <- function(axis, rank, arg = "axis", call = parent.frame()) {
  if (is.null(axis)) return(integer())
  if (!.is_whole(axis) || any(axis == 0)) {
    sym_abort(c("{.arg {arg}} must contain non-zero whole numbers.",
                i = "Axes count from 1; negative axes count from the end ({.code -1} is the last)."),
              call = call)
  }
  axis <- as.integer(round(axis))
  bad <- axis[abs(axis) > rank]
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
