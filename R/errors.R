# Classed conditions. Every error raised by symnet inherits "symnet_error";
# the engine's error kinds map to "symnet_<kind>_error".

.error_kinds <- c("shape", "dtype", "attr", "feed", "value", "index", "unsupported",
                  "interrupt", "comm", "device", "device_memory", "internal")

# Condition classes of a kind: an index error is also a value error, and running out of
# device memory is also a device error.
.error_classes <- function(kind) {
  c(paste0("symnet_", kind, "_error"), if (kind == "index") "symnet_value_error",
    if (kind == "device_memory") "symnet_device_error", "symnet_error")
}

# Raises an R-side error. `message` is a cli message vector (glue syntax is
# interpolated in `.envir`); `kind` one of .error_kinds.
sym_abort <- function(message, kind = "value", ..., call = parent.frame(),
                      .envir = parent.frame()) {
  cli::cli_abort(message,
                 class = .error_classes(kind),
                 kind = kind, ..., call = call, .envir = .envir)
}

# Called by the C++ glue for every engine error (the name and signature are
# part of the glue contract). The engine message is passed through verbatim:
# it may contain braces, so it is interpolated as a value, never as a template.
.raise_engine_error <- function(kind, message, op = "", node = "") {
  kind <- as.character(kind)[1]
  if (is.na(kind) || !kind %in% .error_kinds) kind <- "internal"
  msg <- if (length(message)) paste(as.character(message), collapse = "\n") else ""
  op <- if (length(op) && !is.na(op[1])) as.character(op[1]) else ""
  node <- if (length(node) && !is.na(node[1])) as.character(node[1]) else ""
  where <- character()
  if (nzchar(op) && nzchar(node)) {
    where <- c(i = "In op {.field {op}} (node {.val {node}}).")
  } else if (nzchar(op)) {
    where <- c(i = "In op {.field {op}}.")
  } else if (nzchar(node)) {
    where <- c(i = "In node {.val {node}}.")
  }
  if (kind == "internal") {
    where <- c(where, i = "This is a bug in symnet; please report it.")
  }
  # An error of an R-coded op (sym_custom_op()) carries its name and the R condition.
  custom <- .custom_op_of(op)
  # A collective that failed because another rank did carries that rank and its message.
  peer <- if (kind == "comm") tryCatch(cpp_dist_peer_failure(), error = function(e) NULL)
  cli::cli_abort(c("{msg}", where),
                 class = c(if (!is.null(custom)) "symnet_custom_op_error", .error_classes(kind)),
                 kind = kind, op = op, node = node, engine_message = msg, custom_op = custom,
                 failed_rank = peer$rank, failed_message = peer$message,
                 parent = if (!is.null(custom)) .custom_op_state$last_error,
                 call = NULL)
}
