# Layer names: unique per session and per type, like keras ("dense_1",
# "dense_2", ...). A layer names every node it creates "<layer>/<what>" so a
# model can group its nodes by prefix (print(model), model_layers()).

# The state stays bounded however many layers a session creates: auto names are not
# recorded one by one (the counter only grows, so they cannot repeat, and their display
# type is the prefix's), only names given explicitly or read from files are. Every name
# recorded would otherwise stay for the session, as an R symbol R never frees.
.layer_state <- new.env(parent = emptyenv())
.layer_state$counters <- new.env(parent = emptyenv())  # prefix -> last number used
# Names given explicitly or read from files, with their display types ("Dense"): a named
# character vector, not an environment, since looking a string up in an environment
# interns it as a symbol even when it is not there.
.layer_state$types <- stats::setNames(character(), character())
.layer_state$prefix_types <- new.env(parent = emptyenv())  # prefix -> list(from = first n, type)

#' Unique layer names for user-written layers
#'
#' `sym_layer_name(prefix)` returns a fresh name `"<prefix>_<n>"` (the
#' first `n` not used yet in this session) and records it, as the built-in
#' layers do for their own names (`"dense_1"`, `"conv2d_2"`, ...). A layer
#' then names its parameters and nodes `"<name>/<what>"` (`"glu_1/kernel"`,
#' `"glu_1/matmul"`), which is how [print.symnet_model()] and
#' [model_layers()] group nodes into layers.
#'
#' When `name` is given it is used as is (after validation), so a user may
#' name layers explicitly; auto names never reuse a name given explicitly.
#'
#' @param prefix Prefix of auto names (a single string of letters, digits,
#'   `_`, `.` or `-`).
#' @param name `NULL` for an auto name, else the name to use.
#' @param type Display type shown in the model table (defaults to `prefix`
#'   in CamelCase, e.g. `"glu"` -> `"Glu"`).
#' @return A string.
#' @seealso [sym_param()] for an example of a user-written layer.
#' @examples
#' sym_layer_name("glu")
#' sym_layer_name("glu")
#' sym_layer_name("glu", name = "gate")
#' @export
sym_layer_name <- function(prefix, name = NULL, type = NULL) {
  prefix <- .check_string(prefix, "prefix")
  if (!grepl("^[A-Za-z0-9_.-]+$", prefix)) {
    sym_abort("{.arg prefix} must contain only letters, digits, {.code _}, {.code .} or {.code -}, not {.val {prefix}}.")
  }
  if (is.null(type)) type <- .camel(prefix)
  type <- .check_string(type, "type")
  .layer_name(prefix, type, name)
}

# Internal: the name of a new layer of `type` (display type) with auto names
# "<prefix>_<n>"; `name` (user-given) is validated and used as is.
.layer_name <- function(prefix, type, name = NULL, call = parent.frame()) {
  if (is.null(name)) {
    k <- get0(prefix, envir = .layer_state$counters, inherits = FALSE) %||% 0L
    repeat {
      k <- k + 1L
      nm <- paste0(prefix, "_", k)
      if (!nm %in% names(.layer_state$types)) break
    }
    assign(prefix, k, envir = .layer_state$counters)
    # the type of "<prefix>_<n>" is the last one given for the prefix at or before n
    pt <- get0(prefix, envir = .layer_state$prefix_types, inherits = FALSE)
    if (is.null(pt) || !identical(pt$type[[length(pt$type)]], type)) {
      pt <- list(from = c(pt$from, k), type = c(pt$type, type))
      assign(prefix, pt, envir = .layer_state$prefix_types)
    }
    return(nm)
  }
  nm <- .check_string(name, "name", call = call)
  if (!nzchar(nm) || grepl("/", nm, fixed = TRUE)) {
    sym_abort("{.arg name} must be a non-empty string without {.code /}, not {.val {nm}}.", call = call)
  }
  .layer_state$types[[nm]] <- type
  nm
}

# Marks names as used (models loaded from files) and records their types.
.layer_names_register <- function(types) {
  for (nm in names(types)) .layer_state$types[[nm]] <- as.character(types[[nm]])
  invisible()
}

.layer_type <- function(name) {
  k <- match(name, names(.layer_state$types))
  if (!is.na(k)) return(.layer_state$types[[k]])
  m <- regmatches(name, regexec("^(.+)_([0-9]+)$", name))[[1]]
  if (length(m) != 3) return(NULL)
  n <- as.numeric(m[3])
  # ls() first: get0() of a string that is not there would intern it all the same
  if (!m[2] %in% ls(.layer_state$prefix_types, all.names = TRUE)) return(NULL)
  last <- get(m[2], envir = .layer_state$counters, inherits = FALSE)
  pt <- get(m[2], envir = .layer_state$prefix_types, inherits = FALSE)
  # only names the counter has handed out
  if (n > last || n < pt$from[1]) return(NULL)
  pt$type[[max(which(pt$from <= n))]]
}

# Forgets all names (tests; a fresh session). Not exported.
.reset_layer_names <- function() {
  for (e in list(.layer_state$counters, .layer_state$prefix_types)) {
    rm(list = ls(e, all.names = TRUE), envir = e)
  }
  .layer_state$types <- stats::setNames(character(), character())
  invisible()
}

.camel <- function(s) {
  parts <- strsplit(s, "[_.-]+")[[1]]
  parts <- parts[nzchar(parts)]
  paste0(toupper(substring(parts, 1, 1)), substring(parts, 2), collapse = "")
}

# "<layer>/<what>"
.nn <- function(layer, what) paste0(layer, "/", what)
