# Models: a graph from inputs to outputs with its parameters, as an
# environment (reference semantics, like keras). Fields:
#   name, inputs (named list of input symbols), outputs (named list of
#   symbols), params (named list of the trainable shared variables, bound to
#   the graph's own variable nodes), variables (all shared variables,
#   trainable or not), aux_updates (list of list(var = symnet_shared, value =
#   symbol, name): the state updates of a training step), carried_updates (those
#   of aux_updates not defined by the graph itself, which model$outputs carry; see
#   sym_with_update()), layers (data.frame, see model_layers()), layer_types,
#   .meta (the save format's metadata; the graph never changes), cache
#   (environment of compiled functions, for fit/predict/evaluate).
#
# saveRDS()/serialize() need no help: every engine pointer a model holds
# writes its current state when R serializes it (src/r_persist.h).

# ---- graph walking ----------------------------------------------------------------------------

.id_str <- function(id) format(id, scientific = FALSE)

.input_name <- function(s) {
  info <- cpp_sym_info(.ptr(s))
  nm <- info$attrs$name
  if (is.character(nm) && length(nm) == 1) {
    nm <- tryCatch(jsonlite::parse_json(nm), error = function(e) NULL)
    if (is.character(nm) && length(nm) == 1 && nzchar(nm)) return(nm)
  }
  info$name
}

# Walks the graph computing `ptrs` (value pointers). Returns the nodes in
# topological order: a list of records (id, op, name, n_outputs, shape, dtype,
# ptr, inputs (ids of the input nodes), in_body). Nodes inside bodies (subgraphs:
# a call's, recursively) come before the node holding them, with in_body TRUE,
# so that parameters used only there are the model's too; the bodies' own
# inputs are not listed. Ids are strings (.id_str). The walk
# runs in the engine: an R environment keyed by node id would intern every id
# as an R symbol, and R never frees symbols (a few hundred bytes per node of
# every model ever built).
.graph_walk <- function(ptrs) {
  if (!length(ptrs)) return(list())
  w <- cpp_graph_nodes(ptrs)
  ids <- .id_strs(w$id)
  lapply(seq_along(ids), function(i) {
    list(id = ids[[i]], op = w$op[[i]], name = w$name[[i]], n_outputs = w$n_outputs[[i]],
         shape = .shape_int(w$shape[[i]]), any_rank = is.null(w$shape[[i]]), dtype = w$dtype[[i]], ptr = w$ptr[[i]],
         inputs = .id_strs(w$inputs[[i]]), in_body = w$in_body[[i]])
  })
}

# .id_str() of each element (format() of a vector would pad to a common width).
.id_strs <- function(ids) if (length(ids)) sprintf("%.0f", ids) else character()

# A symnet_shared object bound to a variable node found in a graph (so that
# gradients with respect to it are gradients with respect to that node).
.shared_from_node <- function(node_ptr) {
  vptr <- cpp_graph_variables(list(node_ptr))[[1]]
  info <- cpp_shared_info(vptr)
  structure(list(ptr = node_ptr, dtype = info$dtype, shape = .shape_int(info$shape), var = vptr,
                 var_id = .id_str(info$id), name = info$name, trainable = isTRUE(info$trainable)),
            class = c("symnet_shared", "symnet_symbol"))
}

.group_key <- function(name) sub("/.*$", "", name)

# The layer table of a walked graph. Nodes named "<layer>/..." form the layer
# <layer>; an unnamed op joins a layer when it uses one of the layer's
# variables or an op already joined to it (ops written inline in a user's
# layer function, e.g. `x %*% w + b` with w and b from sym_param()); other
# nodes get a row each.
.layer_table <- function(nodes, variables, layer_types) {
  keys <- character()
  rows <- list()
  var_by_node <- list()
  for (v in variables) var_by_node[[.id_str(cpp_sym_info(v$ptr)$id)]] <- v
  group_of <- list()   # node id -> layer key, for variables of layers and joined ops
  for (rec in nodes) {
    if (rec$op == "constant") next
    # a body's computation belongs to the node running the body (its row)
    if (isTRUE(rec$in_body) && rec$op != "variable") next
    named <- grepl("/", rec$name, fixed = TRUE)
    if (named) {
      key <- .group_key(rec$name)
      if (rec$op == "variable") group_of[[rec$id]] <- key
    } else if (rec$op %in% c("input", "variable")) {
      key <- rec$name
    } else {
      cand <- unique(unlist(lapply(rec$inputs, function(i) group_of[[i]])))
      if (length(cand) == 1) {
        key <- cand
        named <- TRUE
        group_of[[rec$id]] <- key
      } else {
        key <- rec$name
      }
    }
    r <- rows[[key]]
    if (is.null(r)) {
      type <- if (rec$op == "input") {
        "Input"
      } else if (!named) {
        if (rec$op == "variable") "Variable" else .op_display(cpp_sym_info(rec$ptr))
      } else {
        layer_types[[key]] %||% .layer_type(key) %||% "Layer"
      }
      r <- list(name = key, type = type, shape = NULL, var_shape = NULL, params = 0, trainable = 0,
                vars = character())
      keys <- c(keys, key)
    }
    if (rec$op == "variable") {
      v <- var_by_node[[rec$id]]
      n <- prod(as.double(rec$shape))
      r$params <- r$params + n
      if (!is.null(v) && isTRUE(v$trainable)) r$trainable <- r$trainable + n
      if (!is.null(v)) r$vars <- c(r$vars, v$name)
      if (is.null(r$var_shape)) r$var_shape <- rec$shape
    } else {
      r$shape <- rec$shape
      r$any_rank <- isTRUE(rec$any_rank)
    }
    rows[[key]] <- r
  }
  rows <- rows[keys]
  shapes <- lapply(rows, function(r) if (isTRUE(r$any_rank)) NULL else r$shape %||% r$var_shape %||% integer())
  tab <- data.frame(
    name = keys,
    type = vapply(rows, function(r) r$type, character(1)),
    output_shape = vapply(shapes, .format_shape, character(1)),
    params = vapply(rows, function(r) r$params, numeric(1)),
    trainable_params = vapply(rows, function(r) r$trainable, numeric(1)),
    stringsAsFactors = FALSE, row.names = NULL
  )
  # the variables of each row (by name), for freezing and lookup (R/transfer.R)
  attr(tab, "variables") <- stats::setNames(lapply(rows, function(r) r$vars), keys)
  tab
}

# The layer table with trainable counts as of now: frozen parameters are not trainable.
.current_layers <- function(model) {
  tab <- .model_get(model, "layers")
  vars <- .model_get(model, "variables")
  frozen <- names(Filter(function(v) isTRUE(v$trainable) && .is_frozen(v), vars))
  if (!length(frozen)) return(tab)
  per_row <- attr(tab, "variables")
  for (i in seq_len(nrow(tab))) {
    fz <- intersect(per_row[[tab$name[i]]], frozen)
    if (length(fz)) {
      n <- sum(vapply(vars[fz], function(v) prod(as.double(v$shape)), numeric(1)))
      tab$trainable_params[i] <- tab$trainable_params[i] - n
    }
  }
  tab
}

# ---- construction ---------------------------------------------------------------------------

#' Models
#'
#' `sym_model(inputs, outputs)` bundles a graph -- built from input symbols
#' ([sym_var()]) through layers and ops to output symbols -- with its
#' parameters, found by walking the graph. Models are trained with
#' [fit()][generics::fit], used with [predict()] and `evaluate()`, saved
#' with [save_model()] (or `saveRDS()`), and printed as a keras-style table
#' of layers (nodes named `"<layer>/<what>"` are grouped into a layer; see
#' [sym_layer_name()]).
#'
#' A model is an environment (reference semantics, as in keras: training
#' changes the model in place). Its fields, read with `$`: `name`, `inputs`
#' and `outputs` (named lists of symbols; compile them with [sym_compile()]),
#' `params` (named list of the trainable shared variables, usable as `wrt`
#' of [sym_grad()]), `variables` (all shared variables, trainable or not),
#' `aux_updates` (state updates of a training step, see
#' [sym_with_update()] and [layer_batch_norm()]: a list of `list(var, value, name)` with `var` a
#' shared variable and `value` a symbol), `layers` (as [model_layers()]).
#'
#' Variable names must be unique within a model (layers name theirs
#' `"<layer>/<what>"` with unique layer names).
#'
#' @param inputs An input symbol ([sym_var()]) or a list of them.
#' @param outputs A symbol, or a (named) list of symbols. Unnamed outputs
#'   are called `"output"` (a single one) or `"output1"`, `"output2"`, ...
#' @param name Model name; `NULL` for `"model_<n>"`.
#' @return A `symnet_model`.
#' @seealso [print.symnet_model()], [get_weights()], [save_model()].
#' @examples
#' set.seed(42)
#' x <- sym_var("x", c(NA, 1, 28, 28))
#' y <- x |>
#'   layer_conv2d(20, 5, activation = "tanh") |>
#'   layer_max_pool2d(2) |>
#'   layer_conv2d(50, 5, activation = "tanh") |>
#'   layer_max_pool2d(2) |>
#'   layer_flatten() |>
#'   layer_dense(500, activation = "tanh") |>
#'   layer_dense(10)
#' lenet <- sym_model(x, y, name = "lenet")
#' lenet
#' names(lenet$params)
#' @export
sym_model <- function(inputs, outputs, name = NULL) {
  ins <- if (is_symbol(inputs)) list(inputs) else inputs
  if (!is.list(ins) || !length(ins) || !all(vapply(ins, is_symbol, logical(1)))) {
    sym_abort("{.arg inputs} must be an input symbol (from {.fn sym_var}) or a list of them.")
  }
  for (k in seq_along(ins)) {
    op <- cpp_sym_info(.ptr(ins[[k]]))$op
    if (op != "input") {
      sym_abort(c("Input {k} is not a graph input but the result of op {.val {op}}.",
                  i = "Model inputs are symbols made by {.fn sym_var}."))
    }
  }
  in_names <- vapply(ins, .input_name, character(1))
  if (anyDuplicated(in_names)) {
    sym_abort("Input names must be unique: {.val {unique(in_names[duplicated(in_names)])}} is used twice.")
  }
  names(ins) <- in_names
  single <- is_symbol(outputs)
  outs <- if (single) list(outputs) else outputs
  if (!is.list(outs) || !length(outs) || !all(vapply(outs, is_symbol, logical(1)))) {
    sym_abort("{.arg outputs} must be a symbol or a non-empty list of symbols.")
  }
  nms <- names(outs) %||% rep("", length(outs))
  nms[is.na(nms)] <- ""
  if (length(outs) == 1 && !nzchar(nms)) {
    nms <- "output"
  } else {
    nms[!nzchar(nms)] <- paste0("output", seq_along(outs))[!nzchar(nms)]
  }
  if (anyDuplicated(nms)) sym_abort("Output names must be unique: {.val {nms[duplicated(nms)]}}.")
  if (any(grepl("^__aux__/", nms))) sym_abort("Output names must not start with {.val __aux__/}.")
  names(outs) <- nms
  # every graph input (of the outputs and of the state updates they carry) must be among
  # `inputs`, and every input used
  carried <- .updates_of(outs)
  gin <- cpp_graph_inputs(c(lapply(unname(outs), .ptr), lapply(unname(carried), function(u) .ptr(u$value))))
  gids <- vapply(gin, function(p) .id_str(cpp_sym_info(p)$id), character(1))
  iids <- vapply(ins, function(s) .id_str(cpp_sym_info(.ptr(s))$id), character(1))
  missing <- !gids %in% iids
  if (any(missing)) {
    mn <- vapply(gin[missing], function(p) .input_name(new_symbol(p)), character(1))
    sym_abort(c("The outputs {if (length(carried)) '(or their state updates) ' else ''}depend on input{?s} {.val {mn}}, which {?is/are} not in {.arg inputs}.",
                i = "Pass every input the outputs need."))
  }
  unused <- !iids %in% gids
  if (any(unused)) {
    sym_abort("Input{?s} {.val {in_names[unused]}} {?is/are} not used by the outputs.")
  }
  if (is.null(name)) name <- .layer_name("model", "Model", NULL)
  name <- .check_string(name, "name")
  .new_model(ins, outs, aux = NULL, name = name, layer_types = NULL)
}

# Creates a model environment. `aux`: NULL (a new model: collect the updates its outputs
# carry) or a list of list(var_name, value) (loaded models).
.new_model <- function(inputs, outputs, aux, name, layer_types) {
  model <- new.env(parent = emptyenv())
  .model_fill(model, inputs, outputs, aux, name, layer_types)
  class(model) <- "symnet_model"
  model
}

# The state updates a graph defines itself: a batch-norm node whose running statistics
# (inputs 4 and 5) are variables sets them, in a training step, to outputs 4 and 5 of the
# node in training mode (momentum-weighted running mean and unbiased variance). Returns a
# list of list(var_node (node id), value (symbol)). A batch norm inside a body has no
# such update: its new statistics are values of the body, not of the graph.
.graph_state_updates <- function(nodes) {
  ops <- vapply(nodes, function(r) r$op, character(1))
  bn <- which(ops == "batch_norm" & !vapply(nodes, function(r) isTRUE(r$in_body), logical(1)))
  if (!length(bn)) return(list())
  ids <- vapply(nodes, function(r) r$id, character(1))
  stats_of <- function(k) nodes[[k]]$inputs[4:5]
  bn <- bn[vapply(bn, function(k) all(ops[match(stats_of(k), ids)] == "variable"), logical(1))]
  if (!length(bn)) return(list())
  # all nodes flipped in one rewrite, so they share the training-mode graph above them
  flipped <- cpp_graph_set_training(lapply(nodes[bn], function(r) r$ptr), TRUE)
  out <- list()
  for (j in seq_along(bn)) {
    st <- stats_of(bn[[j]])
    for (k in 1:2) {
      out[[length(out) + 1L]] <- list(var_node = st[[k]], value = new_symbol(cpp_sym_output(flipped[[j]], 2L + k)))
    }
  }
  out
}

.model_fill <- function(model, inputs, outputs, aux, name, layer_types, call = parent.frame()) {
  out_ptrs <- lapply(unname(outputs), .ptr)
  nodes <- .graph_walk(out_ptrs)
  # State updates, from (1) the graph itself (batch norm), (2) the outputs' symbols
  # (sym_with_update()) or, for loaded models, the file, (3) the deprecated registry.
  derived <- .graph_state_updates(nodes)
  carried_named <- if (is.null(aux)) .updates_of(outputs) %||% list() else list()
  carried <- unname(carried_named)
  # kept once, in `carried_updates`; model$outputs hands them out again
  outputs <- lapply(outputs, function(o) { o$updates <- NULL; o })
  # variables of the outputs, then those only the updates use (state such as a running
  # mean that the forward graph never reads)
  extra <- c(lapply(carried, function(u) .ptr(u$value)), lapply(carried, function(u) .ptr(u$var)),
             lapply(unname(aux), function(u) .ptr(u$value)))
  all_nodes <- if (length(extra)) .graph_walk(c(out_ptrs, extra)) else nodes
  vars <- list()
  var_of_node <- list()   # variable node id -> variable id
  for (rec in all_nodes) {
    if (rec$op != "variable") next
    v <- .shared_from_node(rec$ptr)
    var_of_node[[rec$id]] <- v$var_id
    if (any(vapply(vars, function(u) identical(u$var_id, v$var_id), logical(1)))) next
    if (!is.null(vars[[v$name]])) {
      sym_abort(c("Two different variables in the model are named {.val {v$name}}.",
                  i = "Variable names must be unique within a model; give the layers distinct names."),
                call = call)
    }
    vars[[v$name]] <- v
  }
  var_ids <- vapply(vars, function(v) v$var_id, character(1))
  var_by_id <- function(id) vars[[match(id, var_ids)]]
  aux_list <- list()
  add <- function(v, value) aux_list[[v$name]] <<- list(var = v, value = value, name = v$name)
  for (u in derived) add(var_by_id(var_of_node[[u$var_node]]), u$value)
  by_graph <- names(aux_list)
  keep <- list()   # the updates that are not the graph's own, carried by model$outputs
  if (is.null(aux)) {
    for (k in seq_along(carried)) {
      u <- carried[[k]]
      v <- var_by_id(u$var$var_id)
      if (v$name %in% by_graph) {
        sym_abort(c("Variable {.val {v$name}} is a batch-norm running statistic; it cannot take another state update.",
                    i = "Its batch-norm node updates it in every training step."), call = call)
      }
      if (!is.null(aux_list[[v$name]])) {
        sym_abort(c("Variable {.val {v$name}} has two different state updates.",
                    i = "Attach one update per variable with {.fn sym_with_update}."), call = call)
      }
      add(v, u$value)
    }
    keep <- carried_named
  } else {
    for (vn in names(aux)) {
      v <- vars[[vn]]
      if (is.null(v)) sym_abort("The update of {.val {vn}} refers to no variable of the model.", call = call)
      if (vn %in% by_graph) next
      add(v, aux[[vn]]$value)
      u <- list(var = v, value = aux[[vn]]$value)
      keep[[.update_key(v, u$value)]] <- u
    }
  }
  for (u in .aux_updates_for(var_ids)) {
    v <- var_by_id(u$var$var_id)
    if (is.null(aux_list[[v$name]])) add(v, u$value)
  }
  aux_list <- unname(aux_list)
  if (length(aux_list)) {
    ord <- order(match(vapply(aux_list, function(u) u$name, character(1)), names(vars)))
    aux_list <- aux_list[ord]
  }
  keys <- unique(vapply(nodes, function(r) if (grepl("/", r$name, fixed = TRUE)) .group_key(r$name) else "",
                        character(1)))
  keys <- keys[nzchar(keys)]
  types <- list()
  for (k in keys) {
    t <- if (k %in% names(layer_types)) layer_types[[k]] else .layer_type(k)
    if (!is.null(t)) types[[k]] <- t
  }
  types <- unlist(types) %||% stats::setNames(character(), character())
  meta <- .model_meta(list(name = name, inputs = inputs, outputs = outputs,
                            aux_updates = aux_list, variables = vars, layer_types = types))
  # the layer table shows the forward graph, plus the variables only updates use
  in_fwd <- vapply(nodes, function(r) r$id, character(1))
  state_only <- Filter(function(r) r$op == "variable" && !r$id %in% in_fwd, all_nodes)
  fields <- list(
    name = name, inputs = inputs, outputs = outputs, variables = vars,
    params = Filter(function(v) isTRUE(v$trainable), vars), aux_updates = aux_list,
    layer_types = types, layers = .layer_table(c(nodes, state_only), vars, as.list(types)),
    carried_updates = keep, cache = new.env(parent = emptyenv()), .meta = meta)
  for (f in names(fields)) assign(f, fields[[f]], envir = model)
  invisible(model)
}

# ---- validity, restore after deserialization -------------------------------------------------

.model_get <- function(model, name) get0(name, envir = model, inherits = FALSE)

# A model read back by readRDS() restores itself through its engine pointers. Models saved
# by symnet 0.1, whose pointers carry no state, are rebuilt from the `snapshot` (save
# format bytes) they kept instead.
.model_ensure <- function(model) {
  outs <- .model_get(model, "outputs")
  if (length(outs) && cpp_ptr_alive(outs[[1]]$ptr)) return(invisible(model))
  snap <- .model_get(model, "snapshot")
  if (!is.raw(snap)) {
    sym_abort("This model cannot be restored: its engine state was not saved with it.", kind = "value",
              call = NULL)
  }
  st <- .model_from_bytes(snap, "the model's in-memory snapshot", call = NULL)
  .layer_names_register(st$layer_types)
  .model_fill(model, st$inputs, st$outputs, st$aux, st$name, st$layer_types, call = NULL)
  invisible(model)
}

#' @export
`$.symnet_model` <- function(x, name) {
  .model_ensure(x)
  .model_field(x, name)
}

#' @export
`[[.symnet_model` <- function(x, i, ...) {
  .model_ensure(x)
  .model_field(x, i)
}

# A field as users see it: the outputs carry the model's state updates other than those
# its graph defines (batch norm), so that a model built on them applies them too.
.model_field <- function(model, name) {
  val <- get0(name, envir = model, inherits = FALSE)
  if (identical(name, "outputs")) {
    ups <- get0("carried_updates", envir = model, inherits = FALSE)
    if (length(ups)) val <- lapply(val, .carry_updates, ups = ups)
  }
  val
}

.check_model <- function(model, arg = "model", call = parent.frame()) {
  if (!inherits(model, "symnet_model") || !is.environment(model)) {
    sym_abort("{.arg {arg}} must be a symnet model (from {.fn sym_model}), not {.obj_type_friendly {model}}.",
              call = call)
  }
  .model_ensure(model)
  model
}

# The model in the save format (header + current values of its variables).
.model_snapshot_bytes <- function(model) {
  .check_model(model)
  vars <- .model_get(model, "variables")
  meta <- .model_get(model, ".meta")
  training <- .training_json(model)
  if (!is.null(training)) meta$training <- training
  # transfer-learning state (R/transfer.R); changes after the model is built
  info <- lapply(vars, function(v) cpp_shared_info(v$var))
  frozen <- names(vars)[vapply(info, function(i) isTRUE(i$frozen), logical(1))]
  mults <- vapply(info, function(i) i$lr_mult, numeric(1))
  if (length(frozen)) meta$frozen <- .json_array(frozen)
  if (any(mults != 1)) meta$lr_mult <- as.character(jsonlite::toJSON(as.list(mults[mults != 1]), auto_unbox = TRUE, digits = NA))
  .model_bytes(.st_header(unname(vars), meta), vars)
}

# ---- printing ---------------------------------------------------------------------------------

#' Print and summarise models
#'
#' `print(model)` (and `summary(model)`) show a keras-style table: one row
#' per layer (input, layer or ungrouped op) with its type, output shape
#' (`?` marks sizes known only at run time, such as the batch size) and
#' number of parameters, then the total, trainable and non-trainable
#' parameter counts. [model_layers()] returns the table as a data frame.
#'
#' @param x,object A `symnet_model`.
#' @param width Width of the table in characters.
#' @param ... Unused.
#' @return `format()`: a character vector of lines. `print()`: `x`,
#'   invisibly. `summary()`: a `summary.symnet_model` object (printed as
#'   the table) with elements `name`, `layers`, `total_params`,
#'   `trainable_params` and `non_trainable_params`.
#' @examples
#' set.seed(1)
#' x <- sym_var("x", c(NA, 8))
#' m <- sym_model(x, x |> layer_dense(4, activation = "relu") |> layer_batch_norm() |>
#'                  layer_dense(2), name = "mlp")
#' print(m)
#' s <- summary(m)
#' s$trainable_params
#' @export
format.symnet_model <- function(x, width = getOption("width", 80), ...) {
  .check_model(x, "x")
  .format_model_table(.model_get(x, "name"), .current_layers(x), width)
}

.format_count <- function(n) formatC(n, format = "f", digits = 0, big.mark = ",")

.format_model_table <- function(name, tab, width = 80) {
  col1 <- paste0(tab$name, " (", tab$type, ")")
  col2 <- tab$output_shape
  col3 <- .format_count(tab$params)
  w1 <- max(nchar(c("Layer (type)", col1)))
  w2 <- max(nchar(c("Output shape", col2)))
  w3 <- max(nchar(c("Param #", col3)))
  total_w <- max(w1 + w2 + w3 + 6, min(width, 65))
  pad <- function(s, w) formatC(s, width = -w)
  line <- function(a, b, c) paste0(" ", pad(a, w1), "  ", pad(b, w2), "  ", formatC(c, width = w3))
  total <- sum(tab$params)
  trainable <- sum(tab$trainable_params)
  c(sprintf("Model: \"%s\"", name),
    strrep("_", total_w),
    line("Layer (type)", "Output shape", "Param #"),
    strrep("=", total_w),
    if (nrow(tab)) mapply(line, col1, col2, col3, USE.NAMES = FALSE),
    strrep("=", total_w),
    paste0("Total params: ", .format_count(total)),
    paste0("Trainable params: ", .format_count(trainable)),
    paste0("Non-trainable params: ", .format_count(total - trainable)),
    strrep("_", total_w))
}

#' @rdname format.symnet_model
#' @export
print.symnet_model <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

#' @rdname format.symnet_model
#' @export
summary.symnet_model <- function(object, ...) {
  .check_model(object, "object")
  tab <- .current_layers(object)
  structure(list(name = .model_get(object, "name"), layers = tab, total_params = sum(tab$params),
                 trainable_params = sum(tab$trainable_params),
                 non_trainable_params = sum(tab$params) - sum(tab$trainable_params)),
            class = "summary.symnet_model")
}

#' @rdname format.symnet_model
#' @export
print.summary.symnet_model <- function(x, ...) {
  cat(.format_model_table(x$name, x$layers, getOption("width", 80)), sep = "\n")
  invisible(x)
}

#' Layers of a model
#'
#' `model_layers(model)` lists a model's layers as a data frame, the table
#' `print(model)` shows: nodes named `"<layer>/<what>"` form the layer
#' `<layer>`; inputs and ops outside any layer get a row each.
#'
#' @param model A `symnet_model`.
#' @return A data frame with columns `name`, `type`, `output_shape` (a
#'   string, `?` for sizes known only at run time), `params` and
#'   `trainable_params`, in graph order.
#' @examples
#' set.seed(1)
#' x <- sym_var("x", c(NA, 1, 8, 8))
#' m <- sym_model(x, x |> layer_conv2d(4, 3) |> layer_global_avg_pool2d() |> layer_dense(2))
#' model_layers(m)
#' @export
model_layers <- function(model) {
  .check_model(model)
  tab <- .current_layers(model)
  attr(tab, "variables") <- NULL
  tab
}

# ---- weights ----------------------------------------------------------------------------------

#' Get and set a model's weights
#'
#' `get_weights(model)` returns the current values of a model's variables
#' (parameters and state such as batch-norm running statistics) as a named
#' list of R arrays, named `"<layer>/<what>"`. `set_weights(model,
#' weights)` replaces them: `weights` is a named list (any subset of the
#' variables, matched by name) or an unnamed list with one array per
#' variable, in the order of `get_weights()`. Every value is checked
#' (names, shapes, types) before any variable changes.
#'
#' Both are generics: for an RBM ([rbm()]) they take and return
#' `list(weights = <n_visible x n_hidden>, visible_bias, hidden_bias)`.
#'
#' @param model A `symnet_model` (or a `symnet_rbm`).
#' @param trainable_only Only the trainable parameters.
#' @param weights A list of arrays, see above.
#' @param ... Passed to methods.
#' @return `get_weights()`: a named list of arrays (vectors for rank 1).
#'   `set_weights()`: `model`, invisibly (changed in place).
#' @examples
#' set.seed(1)
#' x <- sym_var("x", c(NA, 2))
#' m <- sym_model(x, layer_dense(x, 1, name = "out"))
#' w <- get_weights(m)
#' str(w)
#' w[["out/kernel"]][] <- 1
#' set_weights(m, w)
#' sym_compile(m$outputs[[1]])(x = matrix(1:4, 2))
#' @export
get_weights <- function(model, ...) UseMethod("get_weights")

#' @rdname get_weights
#' @export
get_weights.default <- function(model, trainable_only = FALSE, ...) {
  .check_dots(list(...), c("model", "trainable_only"), "get_weights")
  .check_model(model)
  trainable_only <- .check_flag(trainable_only, "trainable_only")
  vars <- .model_get(model, if (trainable_only) "params" else "variables")
  lapply(vars, function(v) cpp_shared_get(v$var))
}

#' @rdname get_weights
#' @export
set_weights <- function(model, weights, ...) UseMethod("set_weights")

#' @rdname get_weights
#' @export
set_weights.default <- function(model, weights, ...) {
  .check_dots(list(...), c("model", "weights"), "set_weights")
  .check_model(model)
  vars <- .model_get(model, "variables")
  if (!is.list(weights) || is.data.frame(weights)) {
    sym_abort("{.arg weights} must be a list of arrays, as returned by {.fn get_weights}.")
  }
  nms <- names(weights)
  if (is.null(nms) || all(!nzchar(nms))) {
    if (length(weights) != length(vars)) {
      sym_abort(c("An unnamed {.arg weights} list needs one value per variable ({length(vars)}), not {length(weights)}.",
                  i = "Or name the values, as {.fn get_weights} does."))
    }
    names(weights) <- names(vars)
  } else if (any(is.na(nms) | !nzchar(nms))) {
    sym_abort("Either name every element of {.arg weights} or none.")
  } else if (anyDuplicated(nms)) {
    sym_abort("{.arg weights} names {.val {unique(nms[duplicated(nms)])}} more than once.")
  }
  unknown <- setdiff(names(weights), names(vars))
  if (length(unknown)) {
    sym_abort(c("{.arg weights} has {length(unknown)} name{?s} that {?is/are} not a variable of the model: {.val {unknown}}.",
                i = "The model's variables: {.val {names(vars)}}."))
  }
  for (nm in names(weights)) {
    val <- weights[[nm]]
    v <- vars[[nm]]
    if (!(is.numeric(val) || is.logical(val)) || is.factor(val)) {
      sym_abort("The value for {.val {nm}} must be a numeric array, not {.obj_type_friendly {val}}.",
                kind = "dtype")
    }
    d <- dim(val) %||% length(val)
    ws <- v$shape
    ok <- (length(ws) == 0 && length(val) == 1) ||
      (length(d) == length(ws) && all(d == ws)) ||
      (length(ws) == 1 && is.null(dim(val)) && length(val) == ws)
    if (!ok) {
      got <- .format_shape(d)
      want <- .format_shape(ws)
      sym_abort("The value for {.val {nm}} has shape {got}, but the variable has shape {want}.",
                kind = "shape")
    }
    if (.is_int_dtype(v$dtype) && any(!is.na(val) & val != round(val))) {
      sym_abort("The value for {.val {nm}} must be whole numbers (the variable is {v$dtype}).", kind = "dtype")
    }
  }
  for (nm in names(weights)) {
    val <- weights[[nm]]
    v <- vars[[nm]]
    if (!length(v$shape)) val <- as.vector(val)[1]
    else if (is.null(dim(val)) && length(v$shape) == 1) val <- as.vector(val)
    cpp_shared_set(v$var, .strip(val))
  }
  invisible(model)
}
