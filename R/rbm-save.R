# save_model()/load_model() for RBMs and DBNs: the same safetensors layout as models
# (R/save.R), with metadata format "symnet-rbm". The tensors are the parameters of each RBM,
# named "<rbm>/weights", "<rbm>/visible_bias", "<rbm>/hidden_bias" (the shared variables'
# names); the metadata `rbms` lists each RBM's name and unit types, `kind` is "rbm" or "dbn".
# Training state (momentum velocities, persistent chains) is not written: saveRDS() keeps it.

.rbm_format <- "symnet-rbm"
.rbm_format_version <- "1"

.is_rbm_object <- function(x) inherits(x, c("symnet_rbm", "symnet_dbn"))

.rbm_bytes <- function(x) {
  rbms <- if (inherits(x, "symnet_dbn")) x$rbms else list(x)
  vars <- unlist(lapply(rbms, function(r) list(r$weights, r$visible_bias, r$hidden_bias)), recursive = FALSE)
  info <- lapply(rbms, function(r) list(name = r$name, visible = r$visible, hidden = r$hidden,
                                        n_visible = r$n_visible, n_hidden = r$n_hidden))
  meta <- list(format = .rbm_format, version = .rbm_format_version,
               kind = if (inherits(x, "symnet_dbn")) "dbn" else "rbm", name = x$name,
               rbms = as.character(jsonlite::toJSON(info, auto_unbox = TRUE)),
               symnet_version = as.character(utils::packageVersion("symnet")))
  .model_bytes(.st_header(vars, meta), vars)
}

# Whether save-format bytes hold an RBM or DBN (so load_model() reads them here).
.is_rbm_bytes <- function(bytes) {
  st <- tryCatch(cpp_st_parse(bytes), error = function(e) NULL)
  is.list(st) && is.list(st$meta) && identical(st$meta$format, .rbm_format)
}

.rbm_from_bytes <- function(bytes, what, call = parent.frame()) {
  st <- .st_parse(bytes, what, call = call)
  meta <- st$meta
  if (!identical(meta$version, .rbm_format_version)) {
    .format_abort("RBM format version {.val {meta$version}} is not supported (this symnet reads version {(.rbm_format_version)}).",
                  what, call = call)
  }
  info <- tryCatch(jsonlite::parse_json(meta$rbms %||% ""), error = function(e) NULL)
  if (!is.list(info) || !length(info)) .format_abort("Metadata {.field rbms} is missing or invalid.", what, call = call)
  rbms <- lapply(info, function(i) {
    ok <- is.list(i) && is.character(i$name) && i$visible %in% c("bernoulli", "gaussian") &&
      i$hidden %in% c("bernoulli", "relu") && is.numeric(i$n_visible) && is.numeric(i$n_hidden) &&
      i$n_visible >= 1 && i$n_hidden >= 1
    if (!isTRUE(ok)) .format_abort("Metadata {.field rbms} describes an invalid RBM.", what, call = call)
    nv <- as.integer(i$n_visible)
    nh <- as.integer(i$n_hidden)
    r <- .new_rbm(i$name, i$visible, i$hidden, matrix(0, nv, nh), numeric(nv), numeric(nh))
    for (v in list(r$weights, r$visible_bias, r$hidden_bias)) {
      t <- st$tensors[[v$name]]
      if (is.null(t)) .format_abort("The file has no data for {.val {v$name}}.", what, call = call)
      if (!identical(t$dtype, "F32") || length(t$shape) != length(v$shape) || any(t$shape != v$shape)) {
        .format_abort("Tensor {.val {v$name}} does not have the shape its RBM needs.", what, call = call)
      }
      cpp_shared_set_raw(v$var, .st_tensor_bytes(st, t))
    }
    r
  })
  if (identical(meta$kind, "dbn")) return(.new_dbn(as.character(meta$name %||% "dbn"), rbms))
  rbms[[1]]
}
