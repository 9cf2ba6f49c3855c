# Compiling graphs into callable functions.

#' Compile symbols into an R function
#'
#' `sym_compile(outputs)` turns symbols into a `symnet_function`: an R
#' function whose arguments are the graph's inputs ([sym_var()] names) and
#' which returns the outputs' values. Compilation runs the engine's passes
#' (shape inference, dead-code elimination, common subexpressions, constant
#' folding, algebraic simplification, elementwise fusion, in-place
#' selection) and plans all intermediate memory into one arena; see
#' [summary.symnet_function()] for the figures.
#'
#' Calling `f(x = array, w = array)` converts each R value to the input's
#' declared element type (double, integer and logical values; int64
#' included), checks it against the declared shape, and runs. Inputs given
#' without names fill the remaining inputs in the order of `f$inputs$name`.
#' Sizes declared `NA` are taken from the values: the first
#' call with a new combination of input shapes compiles a specialised
#' version, which is cached and reused (the 16 most recently used shapes;
#' older ones are dropped and compiled again when they come back).
#'
#' @param outputs A symbol (the function returns its value bare) or a list
#'   of symbols (the function returns a list, named by the list's names or
#'   `output1`, `output2`, ...). May be an empty list when only `updates`
#'   matter.
#' @param updates Shared variables to update after each call: a named list
#'   `list(w = new_w)`, where each name is the name of a shared variable
#'   ([sym_shared()]'s `name`, or the R variable holding it) and each value
#'   a symbol (or R value) of the variable's shape and type; or a list of
#'   pairs `list(list(w, new_w), ...)`. All updates use the values from
#'   before the call (they are simultaneous), and happen in place in the
#'   engine.
#' @param device Where the function runs: `"cpu"`, or a GPU: `"cuda"` (the
#'   first, `"cuda:0"`) or `"cuda:N"` when [cuda_is_available()] (otherwise a
#'   `symnet_cuda_unavailable_error` says why); see [fit()][fit.symnet_model]
#'   for the developers' simulated device.
#' @param optimize Run the optimising passes (`FALSE` for debugging).
#' @param seed Seed for random ops without their own seed (a whole number);
#'   `NULL` for the engine default.
#' @return A `symnet_function`.
#' @seealso [summary.symnet_function()], [sym_dot()], [sym_shared()].
#' @examples
#' x <- sym_var("x", c(NA, 2))
#' w <- sym_shared(c(0.5, -0.5), name = "w")
#' y <- x %*% w
#' f <- sym_compile(list(y = y, total = sum(y)))
#' f
#' f(x = matrix(1:6, 3, 2))
#'
#' # one SGD step on a least-squares loss, updating w in place
#' t <- sym_var("t", NA)
#' loss <- sym_mean((y - t)^2)
#' step <- sym_compile(loss, updates = list(w = w - 0.1 * sym_grad(loss, w)))
#' for (i in 1:3) print(step(x = matrix(1:6, 3, 2), t = c(1, 2, 3)))
#' sym_value(w)
#' @export
sym_compile <- function(outputs, updates = list(), device = "cpu", optimize = TRUE, seed = NULL) {
  bare <- is_symbol(outputs)
  outs <- if (bare) list(outputs) else outputs
  if (!is.list(outs) || !all(vapply(outs, is_symbol, logical(1)))) {
    sym_abort("{.arg outputs} must be a symbol or a list of symbols.")
  }
  nms <- names(outs) %||% rep("", length(outs))
  nms[is.na(nms) | !nzchar(nms)] <- paste0("output", seq_along(outs))[is.na(nms) | !nzchar(nms)]
  if (anyDuplicated(nms)) sym_abort("Output names must be unique: {.val {nms[duplicated(nms)]}}.")
  ups <- .resolve_updates(updates, outs, parent.frame())
  if (!length(outs) && !length(ups$vars)) {
    sym_abort("Nothing to compile: give {.arg outputs} or {.arg updates}.")
  }
  device <- .check_device(device)
  optimize <- .check_flag(optimize, "optimize")
  if (!is.null(seed)) seed <- as.double(.check_int(seed, "seed", min = 0))
  fptr <- cpp_compile(lapply(outs, .ptr), nms, lapply(ups$vars, function(v) v$var),
                      lapply(ups$values, .ptr),
                      list(device = device, optimize = optimize, seed = seed))
  .new_function(fptr, bare = bare, output_names = nms,
                update_names = vapply(ups$vars, function(v) v$name, character(1)),
                device = device)
}

.resolve_updates <- function(updates, outs, env, call = parent.frame()) {
  res <- list(vars = list(), values = list())
  if (is.null(updates) || !length(updates)) return(res)
  if (!is.list(updates) || is_symbol(updates)) {
    sym_abort("{.arg updates} must be a list: {.code list(w = new_w)} or {.code list(list(w, new_w))}.",
              call = call)
  }
  nms <- names(updates) %||% rep("", length(updates))
  # shared variables reachable from the outputs and the update values, by name
  vals <- lapply(updates, function(u) {
    if (is_symbol(u)) u else if (is.list(u) && length(u) == 2 && is_symbol(u[[2]])) u[[2]]
  })
  reach <- c(outs, Filter(Negate(is.null), vals))
  known <- if (length(reach)) lapply(cpp_graph_variables(lapply(unname(reach), .ptr)), .new_shared) else list()
  for (i in seq_along(updates)) {
    u <- updates[[i]]
    nm <- nms[i]
    is_pair <- is.list(u) && !is_symbol(u) && length(u) == 2 && is_shared(u[[1]])
    if (is_pair) {
      # a pair names its variable itself; a list name (as Map() over named params gives) is a label
      var <- u[[1]]
      val <- u[[2]]
    } else if (is.na(nm) || !nzchar(nm)) {
      if (!is.list(u) || is_symbol(u) || length(u) != 2 || !is_shared(u[[1]])) {
        sym_abort("Unnamed update {i} must be a pair {.code list(shared_variable, new_value)}.",
                  call = call)
      }
      var <- u[[1]]
      val <- u[[2]]
    } else {
      var <- NULL
      hits <- Filter(function(v) identical(v$name, nm), known)
      if (length(hits) == 1) {
        var <- hits[[1]]
      } else {
        cand <- get0(nm, envir = env, inherits = TRUE)
        if (is_shared(cand)) var <- cand
      }
      if (is.null(var)) {
        if (length(hits) > 1) {
          sym_abort(c("Update {.val {nm}} is ambiguous: several shared variables have that name.",
                      i = "Use a pair {.code list(list(variable, new_value))} instead."),
                    call = call)
        }
        sym_abort(c("Update {.val {nm}} does not name a shared variable.",
                    i = "Use the name given to {.fn sym_shared}, an R variable holding it, or a pair {.code list(variable, new_value)}."),
                  call = call)
      }
      val <- u
    }
    if (!is_symbol(val)) {
      .check_value(val, "update value", call = call)
      val <- sym_const(val, dtype = var$dtype)
    }
    if (val$dtype != var$dtype) val <- sym_cast(val, var$dtype)
    vs <- val$shape
    ws <- var$shape
    # an update of unknown rank is checked against the variable when fed
    ok <- is.null(vs) || length(vs) == length(ws) && all(is.na(vs) | vs == ws)
    if (!ok && !(length(ws) == 0 && length(vs) > 0 && !anyNA(vs) && prod(vs) == 1)) {
      vt <- .format_type(val$dtype, vs)
      wt <- .format_type(var$dtype, ws)
      sym_abort("The update for shared variable {.val {var$name}} has type {vt}, but the variable is {wt}.",
                kind = "shape", call = call)
    }
    if (length(ws) == 0 && length(vs) > 0) val <- sym_reshape(val, integer())
    if (any(vapply(res$vars, function(v) identical(v$var_id, var$var_id), logical(1)))) {
      sym_abort("Shared variable {.val {var$name}} is updated twice.", call = call)
    }
    res$vars[[length(res$vars) + 1]] <- var
    res$values[[length(res$values) + 1]] <- val
  }
  res
}

.new_function <- function(fptr, bare, output_names, update_names, device) {
  state <- new.env(parent = emptyenv())
  state$ptr <- fptr
  state$bare <- bare
  state$output_names <- output_names
  state$update_names <- update_names
  state$device <- device
  inp <- cpp_function_inputs(fptr)
  state$inputs <- data.frame(name = as.character(inp$name), dtype = as.character(inp$dtype),
                             stringsAsFactors = FALSE)
  state$inputs$shape <- lapply(inp$shape, .shape_int)
  # Feeds travel as one list: an input named `s` or `st` must not partially match an argument.
  f <- function(...) .run_function(state, list(...))
  environment(f) <- list2env(list(state = state), parent = asNamespace("symnet"))
  class(f) <- c("symnet_function", "function")
  f
}

.run_function <- function(state, feeds) {
  n <- length(feeds)
  nms <- names(feeds) %||% rep("", n)
  nms[is.na(nms)] <- ""
  unnamed <- which(!nzchar(nms))
  if (length(unnamed)) {
    free <- setdiff(state$inputs$name, nms[nzchar(nms)])
    if (length(unnamed) > length(free)) {
      sym_abort(c("{length(unnamed)} unnamed argument{?s} but only {length(free)} input{?s} left to fill.",
                  i = "This function takes: {.val {state$inputs$name}}."),
                kind = "feed", call = NULL)
    }
    nms[unnamed] <- free[seq_along(unnamed)]
  }
  if (anyDuplicated(nms)) {
    sym_abort("Input {.val {nms[duplicated(nms)][1]}} is given more than once.", kind = "feed", call = NULL)
  }
  names(feeds) <- nms
  for (k in seq_len(n)) {
    v <- feeds[[k]]
    if (is.data.frame(v)) v <- as.matrix(v)
    if (is.factor(v)) {
      sym_abort("Input {.val {nms[k]}} is a factor; convert it with {.code as.integer()}.",
                kind = "dtype", call = NULL)
    }
    if (!(is.numeric(v) || is.logical(v))) {
      sym_abort("Input {.val {nms[k]}} must be a numeric, integer or logical array, not {.obj_type_friendly {v}}.",
                kind = "dtype", call = NULL)
    }
    feeds[k] <- list(.strip(v))
  }
  res <- cpp_function_run(state$ptr, feeds)
  if (state$bare) res[[1]] else res
}

.fn_state <- function(f) environment(f)$state

#' @export
format.symnet_function <- function(x, ...) {
  st <- .fn_state(x)
  ins <- st$inputs
  inputs <- if (nrow(ins)) {
    paste(sprintf("%s %s", ins$name, mapply(.format_type, ins$dtype, ins$shape)), collapse = ", ")
  } else {
    "(none)"
  }
  lines <- c(sprintf("<symnet_function> on %s", st$device),
             paste0("  inputs:  ", inputs),
             paste0("  outputs: ", if (length(st$output_names)) {
               paste(st$output_names, collapse = ", ")
             } else {
               "(none)"
             }, if (st$bare) " (returned bare)" else ""))
  if (length(st$update_names)) {
    lines <- c(lines, paste0("  updates: ", paste(st$update_names, collapse = ", ")))
  }
  lines
}

#' Print and summarise compiled functions
#'
#' `print()` shows a compiled function's inputs (with types), outputs and
#' updated shared variables. `summary()` reports what compilation did for
#' the most recently used input shapes: graph nodes before and after
#' optimisation, execution steps, fused elementwise groups (and how many
#' ops they absorbed), in-place steps, the planned arena size against the
#' naive sum of all intermediate buffers, compile time, per-pass figures,
#' and how many shape specialisations are cached. A function whose inputs
#' all have known sizes is compiled for them on the first `summary()`;
#' otherwise call it once first.
#'
#' @param x,object A `symnet_function`.
#' @param ... Unused.
#' @return `summary()`: a `summary.symnet_function` list with elements
#'   `nodes_before`, `nodes_after`, `steps`, `fused_groups`, `fused_ops`,
#'   `inplace_steps`, `arena_bytes`, `naive_bytes`, `arena_ratio`,
#'   `compile_ms`, `passes` (a data frame), `cached_shapes`,
#'   `input_shapes`, `device`, and where it runs: `placement` (a data frame
#'   of steps per backend), `fallback_nodes` (nodes the device has no kernel
#'   for, run on the CPU), `transfers` and `transfer_bytes` (copies between
#'   memories per run) and `arenas` (planned bytes per memory); `loops`: the
#'   number of loops ([sym_scan()], [sym_while_loop()], recurrent layers
#'   built on them), the planned working memory of their bodies (reused by
#'   every iteration) and the bytes of the per-step values they stack,
#'   including those kept for a gradient.
#' @examples
#' x <- sym_var("x", c(8, 4))
#' w <- sym_var("w", c(4, 3))
#' y <- sym_mean(sym_relu(x %*% w) * 2 + 1)
#' f <- sym_compile(list(y = y, g = sym_grad(y, w)))
#' f
#' summary(f)
#' @export
print.symnet_function <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

#' @rdname print.symnet_function
#' @export
summary.symnet_function <- function(object, ...) {
  s <- cpp_function_summary(.fn_state(object)$ptr)
  s$arena_ratio <- if (isTRUE(s$naive_bytes > 0)) s$arena_bytes / s$naive_bytes else NA_real_
  if (!is.null(s$passes)) {
    s$passes <- data.frame(pass = as.character(s$passes$name),
                           nodes_before = as.numeric(s$passes$nodes_before),
                           nodes_after = as.numeric(s$passes$nodes_after),
                           ms = as.numeric(s$passes$ms), stringsAsFactors = FALSE)
  }
  if (!is.null(s$input_shapes)) s$input_shapes <- lapply(s$input_shapes, .shape_int)
  lp <- s$loops
  s$loops <- if (!is.null(lp)) list(count = lp$count, workspace_bytes = lp$workspace_bytes,
                                    stacked_bytes = lp$stacked_bytes)
  pl <- s$placement
  s$placement <- NULL
  s$device <- .fn_state(object)$device %||% "cpu"
  if (!is.null(pl)) {
    s$placement <- data.frame(backend = as.character(pl$backend), steps = as.numeric(pl$steps),
                              stringsAsFactors = FALSE)
    s$fallback_nodes <- as.character(pl$fallback_nodes)
    s$transfers <- pl$transfers
    s$transfer_bytes <- pl$transfer_bytes
    s$arenas <- data.frame(memory = as.character(pl$arena_memory), bytes = as.numeric(pl$arena_bytes),
                           stringsAsFactors = FALSE)
  }
  structure(s, class = "summary.symnet_function")
}

.format_bytes <- function(b) {
  if (is.na(b)) return("NA")
  units <- c("B", "KiB", "MiB", "GiB")
  k <- 1
  while (b >= 1024 && k < length(units)) {
    b <- b / 1024
    k <- k + 1
  }
  if (k == 1) sprintf("%d B", as.integer(b)) else sprintf("%.1f %s", b, units[k])
}

#' @rdname print.symnet_function
#' @export
print.summary.symnet_function <- function(x, ...) {
  if (is.na(x$nodes_before)) {
    cat("symnet function: not compiled yet (some input sizes are known only at run time);\n",
        "call it once, then summary() reports on that specialisation.\n", sep = "")
    return(invisible(x))
  }
  cat(sprintf("symnet function: %d nodes -> %d after optimisation, %d steps\n",
              as.integer(x$nodes_before), as.integer(x$nodes_after), as.integer(x$steps)))
  cat(sprintf("  fused: %d group%s of %d ops; in-place steps: %d\n",
              as.integer(x$fused_groups), if (x$fused_groups == 1) "" else "s",
              as.integer(x$fused_ops), as.integer(x$inplace_steps)))
  cat(sprintf("  memory: arena %s planned vs %s naive (%.0f%%)\n",
              .format_bytes(x$arena_bytes), .format_bytes(x$naive_bytes),
              100 * (x$arena_ratio %||% NA_real_)))
  if (isTRUE(x$loops$count > 0)) {
    cat(sprintf("  loops: %d; their bodies' memory %s, per-step values stacked %s (gradients' included)\n",
                as.integer(x$loops$count), .format_bytes(x$loops$workspace_bytes),
                .format_bytes(x$loops$stacked_bytes)))
  }
  if (!is.null(x$placement) && (x$device != "cpu" || nrow(x$placement) > 1)) {
    cat(sprintf("  device %s: %s\n", x$device,
                paste(sprintf("%d step%s on %s", as.integer(x$placement$steps),
                              ifelse(x$placement$steps == 1, "", "s"), x$placement$backend),
                      collapse = ", ")))
    if (length(x$fallback_nodes)) {
      shown <- utils::head(x$fallback_nodes, 5)
      cat(sprintf("  on the cpu (no kernel on %s): %s%s\n", x$device, paste(shown, collapse = ", "),
                  if (length(x$fallback_nodes) > 5) sprintf(" and %d more", length(x$fallback_nodes) - 5) else ""))
    }
    cat(sprintf("  transfers per run: %d (%s); arenas: %s\n", as.integer(x$transfers),
                .format_bytes(x$transfer_bytes),
                paste(sprintf("%s %s", x$arenas$memory, vapply(x$arenas$bytes, .format_bytes, "")),
                      collapse = ", ")))
  }
  cat(sprintf("  compile: %.2f ms; %d cached shape specialisation%s\n",
              x$compile_ms, as.integer(x$cached_shapes), if (x$cached_shapes == 1) "" else "s"))
  if (!is.null(x$passes) && nrow(x$passes)) {
    cat("  passes:\n")
    p <- x$passes
    for (i in seq_len(nrow(p))) {
      cat(sprintf("    %-14s %5d -> %5d nodes  %7.2f ms\n", p$pass[i], as.integer(p$nodes_before[i]),
                  as.integer(p$nodes_after[i]), p$ms[i]))
    }
  }
  invisible(x)
}

#' @export
`$.symnet_function` <- function(x, name) {
  st <- .fn_state(x)
  switch(name,
    inputs = st$inputs,
    outputs = st$output_names,
    updates = st$update_names,
    device = st$device,
    NULL)
}

#' Time each kernel of a compiled function
#'
#' `sym_profile(f, TRUE)` starts timing every kernel launch of `f` (all its
#' cached shape specialisations), `sym_profile(f, FALSE)` stops, and
#' `sym_profile(f)` returns what was measured since timing started: one row
#' per step, slowest first, with the op, the node name, the algorithm the
#' kernel takes (for convolutions: `"packed-1x1"`, `"im2col-packed"`,
#' `"flipped-packed"`, `"col2im-packed"`, `"convgemm"` or `"blas"`, chosen once
#' per compiled shape; empty for other kernels), the total milliseconds, the
#' number of calls and the share of the total.
#'
#' @param f A `symnet_function` from [sym_compile()].
#' @param enable `TRUE` to start (and reset) timing, `FALSE` to stop, `NULL`
#'   to read the figures.
#' @return For `enable = NULL`, a data frame with columns `op`, `node`,
#'   `algorithm`, `ms`, `calls` and `share`; otherwise `f`, invisibly.
#' @examples
#' x <- sym_var("x", c(NA, 50))
#' f <- sym_compile(sum(tanh(x %*% matrix(0.1, 50, 20))))
#' sym_profile(f, TRUE)
#' for (i in 1:5) f(x = matrix(rnorm(500), 10))
#' head(sym_profile(f))
#' @export
sym_profile <- function(f, enable = NULL) {
  if (!inherits(f, "symnet_function")) {
    sym_abort("{.arg f} must be a compiled symnet function (from {.fn sym_compile}).")
  }
  st <- .fn_state(f)
  if (!is.null(enable)) {
    if (!is.logical(enable) || length(enable) != 1 || is.na(enable)) {
      sym_abort("{.arg enable} must be TRUE, FALSE or NULL.")
    }
    cpp_function_profile(st$ptr, enable)
    return(invisible(f))
  }
  p <- cpp_function_profile(st$ptr, NA)
  df <- data.frame(op = as.character(p$op), node = as.character(p$node),
                   algorithm = as.character(p$algorithm), ms = as.numeric(p$ms),
                   calls = as.numeric(p$calls), stringsAsFactors = FALSE)
  total <- sum(df$ms)
  df$share <- if (total > 0) df$ms / total else numeric(nrow(df))
  df <- df[order(-df$ms), , drop = FALSE]
  rownames(df) <- NULL
  df
}
