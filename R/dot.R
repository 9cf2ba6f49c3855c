# Graphviz output.

#' Graphs as Graphviz DOT text
#'
#' `sym_dot(x)` returns the graph that computes `x` as Graphviz DOT text:
#' one box per node with its op, name, type and attributes.
#' `optimized = TRUE` shows the graph after the engine's optimising passes
#' (for symbols); for a compiled function the optimised graph of its most
#' recent specialisation is shown. `plot()` renders the graph with
#' Graphviz's `dot` program when it is installed.
#'
#' @param x A symbol, a list of symbols, a `symnet_model` (its outputs'
#'   graph) or a `symnet_function`.
#' @param optimized Show the optimised graph (symbols and models).
#' @return A string of class `symnet_dot` (print it with `cat()` or
#'   `print()`; write it with `writeLines()`).
#' @examples
#' x <- sym_var("x", c(NA, 3))
#' y <- sym_relu(x * 2 + 1)
#' dot <- sym_dot(y)
#' substr(dot, 1, 60)
#' nchar(sym_dot(y, optimized = TRUE)) > 0
#' @export
sym_dot <- function(x, optimized = FALSE) {
  optimized <- .check_flag(optimized, "optimized")
  if (inherits(x, "symnet_model")) x <- .check_model(x, "x")$outputs
  if (inherits(x, "symnet_function")) {
    out <- cpp_function_dot(.fn_state(x)$ptr)
  } else {
    xs <- if (is_symbol(x)) list(x) else x
    if (!is.list(xs) || !length(xs) || !all(vapply(xs, is_symbol, logical(1)))) {
      sym_abort("{.arg x} must be a symbol, a list of symbols or a compiled function.")
    }
    out <- cpp_sym_dot(lapply(unname(xs), .ptr), optimized)
  }
  structure(out, class = c("symnet_dot", "character"))
}

#' @export
print.symnet_dot <- function(x, ...) {
  cat(unclass(x), if (!endsWith(x, "\n")) "\n", sep = "")
  invisible(x)
}

.render_dot <- function(dot, file, format) {
  bin <- Sys.which("dot")
  if (!nzchar(bin)) {
    cli::cli_inform(c(
      "!" = "Graphviz's {.code dot} program was not found, so the graph cannot be drawn.",
      i = "Install Graphviz (Debian/Ubuntu: {.code apt-get install graphviz}; macOS: {.code brew install graphviz}; Windows: {.url https://graphviz.org/download/}).",
      i = "{.fn sym_dot} returns the DOT text, which any Graphviz viewer can draw."
    ), class = "symnet_message")
    return(invisible(NULL))
  }
  show <- is.null(file)
  if (is.null(format)) format <- if (is.null(file)) "svg" else tolower(tools::file_ext(file))
  if (!format %in% c("svg", "png", "pdf")) {
    sym_abort("{.arg format} must be {.val svg}, {.val png} or {.val pdf}, not {.val {format}}.")
  }
  if (is.null(file)) file <- tempfile("symnet-graph-", fileext = paste0(".", format))
  src <- tempfile(fileext = ".dot")
  on.exit(unlink(src), add = TRUE)
  writeLines(unclass(dot), src)
  err <- suppressWarnings(system2(bin, c(paste0("-T", format), "-o", shQuote(file), shQuote(src)),
                                  stdout = TRUE, stderr = TRUE))
  status <- attr(err, "status")
  if (!is.null(status) && status != 0 || !file.exists(file)) {
    sym_abort(c("Graphviz failed to render the graph.", i = "{paste(err, collapse = ' ')}"),
              kind = "unsupported")
  }
  if (show && interactive()) utils::browseURL(file)
  invisible(file)
}

#' Draw a graph with Graphviz
#'
#' `plot()` on a symbol, a model or a compiled function renders its graph (see
#' [sym_dot()]) with Graphviz's `dot` program to an SVG, PNG or PDF file and,
#' in an interactive session without `file`, opens it in the browser. When
#' Graphviz is not installed it says how to install it.
#'
#' @param x A symbol, a `symnet_model` or a `symnet_function`.
#' @param optimized For symbols and models: draw the optimised graph.
#' @param file Output file; `NULL` for a temporary file.
#' @param format `"svg"`, `"png"` or `"pdf"`; by default from `file`'s
#'   extension, else SVG.
#' @param y,... Unused.
#' @return The file path, invisibly (`NULL` without Graphviz).
#' @examples
#' x <- sym_var("x", 3)
#' p <- plot(sym_exp(x) + 1, file = tempfile(fileext = ".svg"))
#' inp <- sym_var("inp", c(NA, 4))
#' model <- sym_model(inp, layer_dense(inp, 2, activation = "relu"))
#' p <- plot(model, file = tempfile(fileext = ".svg"))
#' @export
plot.symnet_symbol <- function(x, y, ..., optimized = FALSE, file = NULL, format = NULL) {
  .render_dot(sym_dot(x, optimized = optimized), file, format)
}

#' @rdname plot.symnet_symbol
#' @export
plot.symnet_function <- function(x, y, ..., file = NULL, format = NULL) {
  .render_dot(sym_dot(x), file, format)
}

#' @rdname plot.symnet_symbol
#' @export
plot.symnet_model <- function(x, y, ..., optimized = FALSE, file = NULL, format = NULL) {
  .render_dot(sym_dot(x, optimized = optimized), file, format)
}

#' Graphs as JSON
#'
#' `sym_json(outputs)` serialises the graph computing `outputs` as JSON
#' text (nodes with ops, attributes and types), for inspection or other
#' tools.
#'
#' @param outputs A symbol or a (named) list of symbols.
#' @return A JSON string.
#' @examples
#' x <- sym_var("x", 2)
#' js <- sym_json(list(y = x + 1))
#' str(jsonlite::fromJSON(js), max.level = 1)
#' @export
sym_json <- function(outputs) {
  outs <- if (is_symbol(outputs)) list(outputs) else outputs
  if (!is.list(outs) || !length(outs) || !all(vapply(outs, is_symbol, logical(1)))) {
    sym_abort("{.arg outputs} must be a symbol or a list of symbols.")
  }
  nms <- names(outs) %||% rep("", length(outs))
  nms[!nzchar(nms)] <- paste0("output", seq_along(outs))[!nzchar(nms)]
  cpp_graph_json(lapply(unname(outs), .ptr), nms)
}
