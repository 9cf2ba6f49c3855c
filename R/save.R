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
  if (!is.raw(bytes)) .format_abort("The file contents are not bytes.", what, call = call)
  # the engine (engine/io/safetensors.cpp) validates every offset and shape against the
  # bytes present; its messages are whole sentences
  st <- tryCatch(cpp_st_parse(bytes), symnet_error = function(e) e)
  if (inherits(st, "error")) {
    msg <- st$engine_message %||% conditionMessage(st)
    .format_abort("{msg}", what, call = call)
  }
  st$bytes <- bytes
  st
}

.st_tensor_bytes <- function(st, t) cpp_raw_slice(st$bytes, st$data_start + t$begin, t$end - t$begin)

# ---- model <-> bytes ---------------------------------------------------------------------------

# Metadata of a model; computed once per model (the graph does not change).
.model_meta <- function(model_fields) {
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
  meta
}

# The loss and metrics of the last fit() as metadata, so that evaluate() and fit() of a
# loaded model need no `loss =`: built-in losses by name and arguments, metrics by name.
# A custom loss (an R function) cannot be stored: it is recorded as "custom".
.training_json <- function(model) {
  cfg <- .model_get(model, "cache")$fit_config
  if (is.null(cfg$loss)) return(NULL)
  enc <- function(l) {
    l <- tryCatch(.as_loss(l), error = function(e) NULL)
    if (is.null(l) || identical(l$name, "custom")) return(list(name = "custom"))
    list(name = l$name, args = l$args)
  }
  loss <- cfg$loss
  spec <- if (is.list(loss) && !inherits(loss, "symnet_loss")) lapply(loss, enc) else enc(loss)
  as.character(jsonlite::toJSON(list(loss = spec, metrics = I(as.character(names(cfg$metrics)))), auto_unbox = TRUE,
                                null = "null", digits = NA))
}

# fit_config (loss and metrics) rebuilt from .training_json() metadata; NULL when absent.
.training_from_json <- function(txt) {
  if (!is.character(txt) || length(txt) != 1) return(NULL)
  t <- tryCatch(jsonlite::parse_json(txt, simplifyVector = FALSE), error = function(e) NULL)
  if (!is.list(t) || is.null(t$loss)) return(NULL)
  custom <- FALSE
  dec <- function(s) {
    ctor <- if (is.list(s) && is.character(s$name)) get0(paste0("loss_", s$name), envir = asNamespace("symnet"),
                                                          mode = "function", inherits = FALSE)
    if (is.null(ctor)) {
      custom <<- TRUE
      return(NULL)
    }
    tryCatch(do.call(ctor, lapply(s$args %||% list(), unlist)), error = function(e) {
      custom <<- TRUE
      NULL
    })
  }
  loss <- if (is.character(t$loss$name)) dec(t$loss) else lapply(t$loss, dec)
  if (is.list(loss) && !inherits(loss, "symnet_loss") && any(vapply(loss, is.null, logical(1)))) loss <- NULL
  metrics <- list()
  for (nm in as.character(unlist(t$metrics))) {
    m <- tryCatch(.as_metrics(nm), error = function(e) NULL)
    if (!is.null(m)) metrics <- c(metrics, m)
  }
  list(loss = loss, metrics = metrics,
       loss_note = if (custom) "it was trained with a custom loss function, which a model file cannot hold")
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
  frozen <- if (is.null(meta$frozen)) character() else as.character(unlist(json_field("frozen")))
  lr_mult <- if (is.null(meta$lr_mult)) list() else json_field("lr_mult")
  layers <- json_field("layers")
  # the data buffer bounds what variables declared without values may allocate
  g <- tryCatch(cpp_graph_from_json(field("graph"), length(bytes) - st$data_start), symnet_error = function(e) e)
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
    cpp_shared_set_frozen(vp, info$name %in% frozen)
    m <- lr_mult[[info$name]]
    if (is.numeric(m) && length(m) == 1 && is.finite(m) && m >= 0) cpp_shared_set_lr_mult(vp, m)
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
       layer_types = types, training = .training_from_json(meta$training), bytes = bytes)
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
#' workers, also work and always carry the current weights, however they
#' were changed ([fit()], [set_weights()], `sym_value<-`, or updates of a
#' compiled function): R asks the engine for them at the moment it
#' serializes the model. The same holds for shared variables, symbols and
#' compiled functions, wherever they are stored.
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
#'      `print()`);
#'    * `training` (only after [fit()]): JSON
#'      `{"loss": {"name": ..., "args": {...}}, "metrics": [...]}` -- the
#'      loss (or one per output) and metric names of the last `fit()`, so
#'      that `evaluate()` and `fit()` of the loaded model need no `loss =`.
#'      A custom loss function is recorded as `{"name": "custom"}` and must
#'      be given again.
#' 3. The data buffer: each variable's elements in row-major (C) order,
#'    little-endian, in the order of the header.
#'
#' RBMs ([rbm()]) and deep belief networks ([dbn()]) are saved and loaded
#' the same way: the file holds their parameters (tensors
#' `"<rbm>/weights"`, `"<rbm>/visible_bias"`, `"<rbm>/hidden_bias"`) and
#' metadata with format `"symnet-rbm"` (`kind` `"rbm"` or `"dbn"`, and
#' `rbms`, a JSON array of each RBM's name, unit types and sizes);
#' `load_model()` returns a `symnet_rbm` or `symnet_dbn`. Training state
#' (momentum, persistent chains) is kept by `saveRDS()` only.
#'
#' @param model A `symnet_model`, `symnet_rbm` or `symnet_dbn`.
#' @param path File path (conventionally ending in `.safetensors`).
#' @param overwrite Whether to replace an existing file.
#' @return `save_model()`: `path`, invisibly. `load_model()`: a
#'   `symnet_model` (or the `symnet_rbm` / `symnet_dbn` saved).
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
  # RBMs and DBNs have their own metadata (R/rbm-save.R)
  if (!.is_rbm_object(model)) .check_model(model)
  path <- .check_string(path, "path")
  overwrite <- .check_flag(overwrite, "overwrite")
  path <- path.expand(path)
  if (dir.exists(path)) .io_abort("{.arg path} is a directory: {.file {path}}.")
  if (!dir.exists(dirname(path))) .io_abort("Directory {.file {dirname(path)}} does not exist.")
  if (!overwrite && file.exists(path)) {
    .io_abort(c("File {.file {path}} exists.", i = "Use {.code overwrite = TRUE} to replace it."))
  }
  if (.is_rbm_object(model)) {
    .write_atomic(path, list(.rbm_bytes(model)))
  } else {
    .write_atomic(path, list(.model_snapshot_bytes(model)))
    .note_custom_ops_saved(lapply(unname(model$outputs), .ptr))
  }
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
  if (.is_rbm_bytes(bytes)) return(.rbm_from_bytes(bytes, what))
  st <- .model_from_bytes(bytes, what)
  .layer_names_register(st$layer_types)
  model <- .new_model(st$inputs, st$outputs, aux = st$aux, name = st$name, layer_types = st$layer_types)
  if (!is.null(st$training)) assign("fit_config", st$training, envir = .model_get(model, "cache"))
  .check_custom_ops_loaded(lapply(unname(model$outputs), .ptr))
  model
}
