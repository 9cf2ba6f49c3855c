# save_model() / load_model(): one file in the safetensors layout, holding the
# graph as JSON (no executable code) and the variables as raw bytes.

.st_dtypes <- c(float32 = "F32", float64 = "F64", int32 = "I32", int64 = "I64", uint8 = "U8",
                bool = "BOOL", float16 = "F16", bfloat16 = "BF16")
.st_sizes <- c(F32 = 4, F64 = 8, I32 = 4, I64 = 8, U8 = 1, BOOL = 1, F16 = 2, BF16 = 2)

.model_format <- "symnet-model"
.model_format_version <- "1"

# Errors about the contents of a file: symnet_format_error, also a value error.
.format_abort <- function(message, what, ..., parent = NULL, call = parent.frame(), .envir = parent.frame()) {
  cli::cli_abort(c(message, i = "While reading {what}."),
                 class = c("symnet_format_error", "symnet_value_error", "symnet_error"),
                 kind = "format", ..., parent = parent, call = call, .envir = .envir)
}

.io_abort <- function(message, ..., parent = NULL, call = parent.frame(), .envir = parent.frame()) {
  cli::cli_abort(message, class = c("symnet_io_error", "symnet_error"), kind = "io", ...,
                 parent = parent, call = call, .envir = .envir)
}

.json_str <- function(x) as.character(jsonlite::toJSON(x, auto_unbox = TRUE))
.json_array <- function(x) as.character(jsonlite::toJSON(as.character(x)))
.json_object <- function(x) {
  if (!length(x)) return("{}")
  as.character(jsonlite::toJSON(as.list(x), auto_unbox = TRUE))
}

.num_str <- function(x) formatC(x, format = "f", digits = 0, big.mark = "")

# Header (with its 8-byte length prefix) for variables `vars` (symnet_shared
# objects) and metadata `meta` (a named list of strings).
.st_header <- function(vars, meta) {
  off <- 0
  entries <- character(length(vars))
  for (i in seq_along(vars)) {
    v <- vars[[i]]
    st <- .st_dtypes[[v$dtype]]
    n <- prod(as.double(v$shape)) * .st_sizes[[st]]
    entries[i] <- paste0(.json_str(v$name), ":{\"dtype\":\"", st, "\",\"shape\":[",
                         paste(.num_str(v$shape), collapse = ","), "],\"data_offsets\":[",
                         .num_str(off), ",", .num_str(off + n), "]}")
    off <- off + n
  }
  m <- paste0(vapply(names(meta), .json_str, character(1)), ":",
              vapply(meta, function(s) .json_str(as.character(s)), character(1)), collapse = ",")
  json <- paste0("{\"__metadata__\":{", m, "}", if (length(entries)) ",", paste(entries, collapse = ","), "}")
  body <- charToRaw(enc2utf8(json))
  pad <- (8 - length(body) %% 8) %% 8
  body <- c(body, rep(charToRaw(" "), pad))
  n <- length(body)
  if (n >= 2^31) sym_abort("The model header is too large to save ({n} bytes).")
  c(writeBin(as.integer(n), raw(), size = 4, endian = "little"), as.raw(c(0, 0, 0, 0)), body)
}

# Parses a safetensors byte vector: list(meta, tensors (name -> list(dtype,
# shape, begin, end)), data_start (0-based offset of the data buffer), bytes).
.st_parse <- function(bytes, what, call = parent.frame()) {
  if (!is.raw(bytes) || length(bytes) < 8) {
    .format_abort("The file is too short to be a symnet model ({length(bytes)} byte{?s}).", what, call = call)
  }
  lo <- readBin(bytes[1:4], "integer", size = 4, endian = "little")
  hi <- readBin(bytes[5:8], "integer", size = 4, endian = "little")
  if (lo < 0) lo <- lo + 2^32
  n <- lo + hi * 2^32
  if (hi < 0 || n < 2 || n > length(bytes) - 8) {
    nn <- .num_str(n)
    .format_abort(c("The header length ({nn}) does not fit the file ({length(bytes)} bytes).",
                    i = "The file is truncated or not a safetensors file."), what, call = call)
  }
  hdr <- bytes[9:(8 + n)]
  txt <- rawToChar(hdr[hdr != as.raw(0)])
  Encoding(txt) <- "UTF-8"
  parsed <- tryCatch(jsonlite::parse_json(txt, simplifyVector = FALSE), error = function(e) e)
  if (inherits(parsed, "error") || !is.list(parsed) || is.null(names(parsed))) {
    .format_abort("The header is not a JSON object.", what,
                  parent = if (inherits(parsed, "error")) parsed, call = call)
  }
  data_start <- 8 + n
  data_len <- length(bytes) - data_start
  meta <- parsed[["__metadata__"]]
  tensors <- list()
  for (nm in setdiff(names(parsed), "__metadata__")) {
    e <- parsed[[nm]]
    ok <- is.list(e) && is.character(e$dtype) && length(e$dtype) == 1 && e$dtype %in% names(.st_sizes) &&
      is.list(e$shape) && is.list(e$data_offsets) && length(e$data_offsets) == 2
    if (ok) {
      shape <- suppressWarnings(as.double(unlist(e$shape)))
      offs <- suppressWarnings(as.double(unlist(e$data_offsets)))
      ok <- length(shape) == length(e$shape) && !anyNA(shape) && all(shape >= 0 & shape == round(shape)) &&
        length(offs) == 2 && !anyNA(offs) && offs[1] >= 0 && offs[1] <= offs[2] && offs[2] <= data_len
    }
    if (!ok) {
      .format_abort(c("Tensor {.val {nm}} has an invalid entry in the header.",
                      i = "Its data may lie beyond the end of the file (truncated file)."), what, call = call)
    }
    if (offs[2] - offs[1] != prod(shape) * .st_sizes[[e$dtype]]) {
      got <- .num_str(offs[2] - offs[1])
      need <- .num_str(prod(shape) * .st_sizes[[e$dtype]])
      .format_abort("Tensor {.val {nm}} has {got} bytes, not the {need} its dtype and shape need.",
                    what, call = call)
    }
    tensors[[nm]] <- list(dtype = e$dtype, shape = shape, begin = offs[1], end = offs[2])
  }
  list(meta = meta, tensors = tensors, data_start = data_start, bytes = bytes)
}

.st_tensor_bytes <- function(st, t) {
  if (t$end == t$begin) return(raw())
  st$bytes[(st$data_start + t$begin + 1):(st$data_start + t$end)]
}

# ---- model <-> bytes ---------------------------------------------------------------------------

# Metadata and header of a model; computed once per model (the graph does not change).
.model_header <- function(model_fields) {
  f <- model_fields
  aux_names <- vapply(f$aux_updates, function(u) u$var$name, character(1))
  aux_out <- if (length(aux_names)) paste0("__aux__/", aux_names) else character()
  graph_json <- cpp_graph_json(c(lapply(unname(f$outputs), .ptr), lapply(f$aux_updates, function(u) .ptr(u$value))),
                               c(names(f$outputs), aux_out), include_values = FALSE)
  trainable <- names(Filter(function(v) isTRUE(v$trainable), f$variables))
  meta <- list(
    format = .model_format,
    version = .model_format_version,
    name = f$name,
    graph = graph_json,
    inputs = .json_array(names(f$inputs)),
    outputs = .json_array(names(f$outputs)),
    aux_updates = .json_object(stats::setNames(as.list(aux_out), aux_names)),
    trainable = .json_array(trainable),
    layers = .json_object(as.list(f$layer_types)),
    symnet_version = as.character(utils::packageVersion("symnet"))
  )
  .st_header(unname(f$variables), meta)
}

# The whole save format of a model as a raw vector (header + current values).
.model_bytes <- function(header, variables) {
  data <- lapply(unname(variables), function(v) cpp_shared_raw(v$var))
  do.call(c, c(list(header), data))
}

# Rebuilds a model's fields (see .model_fields()) from save-format bytes.
.model_from_bytes <- function(bytes, what, call = parent.frame()) {
  st <- .st_parse(bytes, what, call = call)
  meta <- st$meta
  if (!is.list(meta) || !identical(meta$format, .model_format)) {
    .format_abort(c("This is not a symnet model file.",
                    i = "Its header has no {.field __metadata__} with format {.val {(.model_format)}}."),
                  what, call = call)
  }
  if (!identical(meta$version, .model_format_version)) {
    .format_abort("Model format version {.val {meta$version}} is not supported (this symnet reads version {(.model_format_version)}).",
                  what, call = call)
  }
  field <- function(key) {
    s <- meta[[key]]
    if (!is.character(s) || length(s) != 1) .format_abort("Metadata {.field {key}} is missing.", what, call = call)
    s
  }
  json_field <- function(key) {
    s <- field(key)
    v <- tryCatch(jsonlite::parse_json(s, simplifyVector = FALSE), error = function(e) e)
    if (inherits(v, "error")) .format_abort("Metadata {.field {key}} is not valid JSON.", what, parent = v, call = call)
    v
  }
  input_names <- as.character(unlist(json_field("inputs")))
  output_names <- as.character(unlist(json_field("outputs")))
  aux_map <- json_field("aux_updates")
  trainable <- as.character(unlist(json_field("trainable")))
  layers <- json_field("layers")
  g <- tryCatch(cpp_graph_from_json(field("graph")), symnet_error = function(e) e)
  if (inherits(g, "error")) .format_abort("The graph could not be rebuilt.", what, parent = g, call = call)
  gouts <- lapply(g$outputs, new_symbol)
  names(gouts) <- g$output_names
  # variables: fill by name
  vptrs <- g$variables
  for (vp in vptrs) {
    info <- cpp_shared_info(vp)
    t <- st$tensors[[info$name]]
    if (is.null(t)) .format_abort("The file has no data for variable {.val {info$name}}.", what, call = call)
    want <- .st_dtypes[[info$dtype]]
    shp <- .shape_int(info$shape)
    if (!identical(t$dtype, want) || length(t$shape) != length(shp) || any(t$shape != shp)) {
      got <- paste0(t$dtype, "[", paste(t$shape, collapse = ", "), "]")
      exp <- paste0(want, "[", paste(shp, collapse = ", "), "]")
      .format_abort("Variable {.val {info$name}} is {got} in the data but {exp} in the graph.", what, call = call)
    }
    cpp_shared_set_raw(vp, .st_tensor_bytes(st, t))
    cpp_shared_set_trainable(vp, info$name %in% trainable)
  }
  miss <- setdiff(output_names, names(gouts))
  if (length(miss)) .format_abort("The graph lacks output {.val {miss}}.", what, call = call)
  outputs <- gouts[output_names]
  ins <- lapply(g$inputs, new_symbol)
  names(ins) <- vapply(ins, .input_name, character(1))
  miss <- setdiff(input_names, names(ins))
  if (length(miss)) .format_abort("The graph lacks input {.val {miss}}.", what, call = call)
  inputs <- ins[input_names]
  aux <- list()
  for (vn in names(aux_map)) {
    on <- as.character(aux_map[[vn]])
    if (is.null(gouts[[on]])) .format_abort("The graph lacks the update {.val {on}}.", what, call = call)
    aux[[vn]] <- list(var_name = vn, value = gouts[[on]])
  }
  types <- vapply(layers, function(s) as.character(s)[1], character(1))
  list(inputs = inputs, outputs = outputs, aux = aux, name = as.character(meta$name %||% "model"),
       layer_types = types, bytes = bytes)
}

# Writes `chunks` (raw vectors, or functions returning one) to `path`
# atomically: into a temporary file in the same directory, renamed over
# `path` only when everything was written and verified. On any failure the
# temporary file is removed and an existing `path` is left as it was.
#
# Why each step: writeBin() only WARNS on a short write (full disk, EFBIG
# from a file size limit, quota) and buffered data may fail only when the
# connection is closed, so a truncated temporary file could otherwise be
# renamed over a good checkpoint. Hence warnings become errors, close()'s
# status is checked, and the size on disk must equal the bytes handed out
# before the rename. The data are flushed to stable storage (fsync) before
# the rename where the platform's `sync` can take a file, so a power loss
# right after a save leaves the old or the new file, not an empty one.
.write_atomic <- function(path, chunks, call = parent.frame()) {
  dir <- dirname(path)
  tmp <- tempfile(paste0(".", basename(path), "."), tmpdir = dir, fileext = ".tmp")
  done <- FALSE
  con <- NULL
  on.exit({
    if (!is.null(con)) try(close(con), silent = TRUE)
    if (!done && file.exists(tmp)) unlink(tmp)
  }, add = TRUE)
  opened <- tryCatch(suppressWarnings(file(tmp, open = "wb")), error = function(e) e)
  if (inherits(opened, "error")) {
    .io_abort("Cannot write to directory {.file {dir}}.", parent = opened, call = call)
  }
  con <- opened
  expected <- 0
  res <- tryCatch(withCallingHandlers({
    for (ch in chunks) {
      if (is.function(ch)) ch <- ch()
      if (!is.raw(ch)) stop("a chunk to write is not a raw vector")
      writeBin(ch, con)
      expected <- expected + length(ch)
    }
    status <- close(con)
    con <- NULL
    if (length(status) && !is.na(status[1]) && status[1] != 0) {
      stop("closing the file failed (the disk may be full)")
    }
    NULL
  }, warning = function(w) {
    # a short write is only a warning in R; it must not lead to a rename
    stop(conditionMessage(w), call. = FALSE)
  }), error = function(e) e)
  if (is.null(res)) {
    size <- file.size(tmp)
    if (is.na(size) || size != expected) {
      res <- simpleError(sprintf("%s of %s bytes reached the disk (the disk may be full)",
                                 format(size, scientific = FALSE), format(expected, scientific = FALSE)))
    }
  }
  if (inherits(res, "error")) {
    .io_abort(c("Writing {.file {path}} failed; the previous file (if any) is unchanged.",
                x = "{conditionMessage(res)}"), parent = res, call = call)
  }
  .fsync_file(tmp)
  if (!suppressWarnings(file.rename(tmp, path))) {
    .io_abort("Cannot replace {.file {path}}; the previous file (if any) is unchanged.", call = call)
  }
  done <- TRUE
  invisible(path)
}

# Best-effort fsync of one file through coreutils' `sync FILE` (Linux; R has
# no fsync of its own). Off with options(symnet.fsync = FALSE).
.fsync_file <- function(path) {
  if (!isTRUE(getOption("symnet.fsync", TRUE)) || Sys.info()[["sysname"]] != "Linux") return(invisible())
  sync <- .sync_cmd()
  if (nzchar(sync)) suppressWarnings(try(system2(sync, shQuote(path), stdout = FALSE, stderr = FALSE), silent = TRUE))
  invisible()
}

.sync_cmd <- local({
  cmd <- NULL
  function() {
    if (is.null(cmd)) cmd <<- unname(Sys.which("sync"))
    cmd
  }
})

#' Save and load models
#'
#' `save_model(model, path)` writes a model -- its graph and the current
#' values of all its variables -- to one file; `load_model(path)` reads it
#' back as a new [sym_model()] that computes the same outputs (predictions
#' are identical). The file holds no executable code: the graph is JSON
#' text that is validated op by op when read, so loading a file from an
#' untrusted source cannot run code.
#'
#' The file is written atomically: to a temporary file in the same
#' directory, renamed over `path` only once complete, so a crash or error
#' while saving leaves any previous file at `path` intact (checkpoints stay
#' usable).
#'
#' `saveRDS()` / `readRDS()` of a model, and sending it to parallel
#' workers, also work: a model keeps its save format in memory (refreshed
#' whenever its weights change through [set_weights()] or training) and
#' rebuilds itself from it when used after being deserialized.
#'
#' @section File format:
#' The file follows the safetensors layout
#' (<https://github.com/huggingface/safetensors>), so the weights can be
#' read by other tools (e.g. Python's `safetensors.numpy.load_file()`):
#'
#' 1. 8 bytes: `N`, the header length, an unsigned little-endian 64-bit
#'    integer.
#' 2. `N` bytes: the header, a UTF-8 JSON object (padded with spaces to a
#'    multiple of 8 bytes). For each variable (parameters and state such as
#'    batch-norm running statistics), an entry
#'    `"<name>": {"dtype": "F32", "shape": [d1, ...], "data_offsets": [begin, end]}`
#'    with dtype one of `F32`, `F64`, `I32`, `I64`, `U8`, `BOOL`, and byte
#'    offsets relative to the start of the data buffer. The entry
#'    `"__metadata__"` maps strings to strings:
#'    * `format`: `"symnet-model"`; `version`: `"1"`; `name`: the model
#'      name; `symnet_version`: the version that wrote it;
#'    * `graph`: the graph as JSON text in symnet's graph format
#'      ([sym_json()]; format `"symnet-graph"`, version 1) without
#'      variable values: nodes with op names, typed attributes and inputs;
#'      variables by name, dtype and shape;
#'    * `inputs`, `outputs`: JSON arrays of the model's input and output
#'      names (graph outputs of those names);
#'    * `aux_updates`: a JSON object mapping a variable name to the graph
#'      output computing its new value in a training step (batch-norm
#'      running statistics), named `"__aux__/<variable>"`;
#'    * `trainable`: a JSON array of the names of the trainable variables;
#'    * `layers`: a JSON object mapping layer names to layer types (for
#'      `print()`).
#' 3. The data buffer: each variable's elements in row-major (C) order,
#'    little-endian, in the order of the header.
#'
#' @param model A `symnet_model`.
#' @param path File path (conventionally ending in `.safetensors`).
#' @param overwrite Whether to replace an existing file.
#' @return `save_model()`: `path`, invisibly. `load_model()`: a
#'   `symnet_model`.
#' @seealso [sym_model()], [get_weights()].
#' @examples
#' set.seed(1)
#' x <- sym_var("x", c(NA, 3))
#' model <- sym_model(x, x |> layer_dense(4, activation = "relu") |> layer_dense(1))
#' path <- tempfile(fileext = ".safetensors")
#' save_model(model, path)
#' model2 <- load_model(path)
#' model2
#' xx <- matrix(rnorm(6), 2, 3)
#' identical(sym_compile(model$outputs[[1]])(x = xx), sym_compile(model2$outputs[[1]])(x = xx))
#' @export
save_model <- function(model, path, overwrite = TRUE) {
  .check_model(model)
  path <- .check_string(path, "path")
  overwrite <- .check_flag(overwrite, "overwrite")
  path <- path.expand(path)
  if (dir.exists(path)) .io_abort("{.arg path} is a directory: {.file {path}}.")
  if (!dir.exists(dirname(path))) .io_abort("Directory {.file {dirname(path)}} does not exist.")
  if (!overwrite && file.exists(path)) {
    .io_abort(c("File {.file {path}} exists.", i = "Use {.code overwrite = TRUE} to replace it."))
  }
  bytes <- model_sync_snapshot(model)
  .write_atomic(path, list(bytes))
  invisible(path)
}

#' @rdname save_model
#' @export
load_model <- function(path) {
  path <- .check_string(path, "path")
  path <- path.expand(path)
  if (!file.exists(path) || dir.exists(path)) .io_abort("File {.file {path}} does not exist.")
  size <- file.size(path)
  bytes <- tryCatch(readBin(path, "raw", n = size), error = function(e) e)
  if (inherits(bytes, "error")) .io_abort("Cannot read {.file {path}}.", parent = bytes)
  what <- paste0("'", path, "'")
  st <- .model_from_bytes(bytes, what)
  .layer_names_register(st$layer_types)
  .new_model(st$inputs, st$outputs, aux = st$aux, name = st$name, layer_types = st$layer_types)
}
