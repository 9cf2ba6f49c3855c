# Compile time against graph size.
#
# Builds a chain of N steps y <- sin(y) * 0.999 + 0.001 on x * w (x: batch x 8, w: a
# shared variable), sums it and takes the gradient with respect to w (about 10 nodes per
# step), then compiles loss and gradient with and without optimisation. Prints, per chain
# length, the node count, the time to build the gradient, the compile times (wall clock
# and CPU), the per-pass times of the optimised compile, and the growth exponent of each
# (slope of log(time) against log(nodes)): 1 is linear growth.
#
#   Rscript inst/benchmarks/compile-time.R                  # N = 1000, 4000, 10000, 25000
#   Rscript inst/benchmarks/compile-time.R --sizes 1000,4000 --reps 3
#
# Times are the best of --reps compilations. This prints figures; nothing checks them.

suppressPackageStartupMessages(library(symnet))

args <- commandArgs(trailingOnly = TRUE)
opt <- function(name, default) {
  i <- match(paste0("--", name), args)
  if (is.na(i) || i == length(args)) default else args[[i + 1]]
}
sizes <- as.integer(strsplit(opt("sizes", "1000,4000,10000,25000"), ",")[[1]])
reps <- as.integer(opt("reps", "1"))

build <- function(n) {
  x <- sym_var("x", c(NA, 8))
  w <- sym_shared(matrix(1, 1, 8), name = "w")
  y <- x * w
  for (i in seq_len(n)) y <- sin(y) * 0.999 + 0.001
  loss <- sym_sum(y)
  t_grad <- system.time(g <- sym_grad(loss, w))[["elapsed"]]
  list(loss = loss, grad = g, t_grad = t_grad)
}

# x has an unknown batch dimension: the first call compiles for its batch (a new function
# has an empty cache), and the tiny run adds next to nothing.
compile_best <- function(m, optimize) {
  best <- list(wall = Inf)
  for (r in seq_len(reps)) {
    f <- sym_compile(list(loss = m$loss, grad = m$grad), optimize = optimize)
    t <- system.time(f(x = matrix(0.5, 4, 8)))
    if (t[["elapsed"]] < best$wall) {
      best <- list(wall = t[["elapsed"]], cpu = t[["user.self"]] + t[["sys.self"]], summary = summary(f))
    }
    rm(f)
  }
  best
}

rows <- list()
pass_rows <- list()
for (n in sizes) {
  m <- build(n)
  off <- compile_best(m, FALSE)
  on <- compile_best(m, TRUE)
  s <- on$summary
  rows[[length(rows) + 1]] <- data.frame(
    chain = n, nodes = s$nodes_before, nodes_opt = s$nodes_after, groups = s$fused_groups,
    grad_s = m$t_grad, noopt_s = off$wall, opt_s = on$wall, opt_cpu_s = on$cpu,
    engine_s = s$compile_ms / 1000)
  p <- s$passes
  agg <- tapply(p$ms, factor(p$pass, levels = unique(p$pass)), sum) / 1000  # both simplify runs
  pass_rows[[length(pass_rows) + 1]] <- data.frame(chain = n, nodes = s$nodes_before, t(as.matrix(agg)),
                                                   check.names = FALSE)
  rm(m)
  invisible(gc())
}
res <- do.call(rbind, rows)
passes <- do.call(rbind, pass_rows)

cat("Compile time by graph size, seconds (chain of sin(y) * 0.999 + 0.001 plus its gradient)\n")
cat("  noopt_s: compile without optimisation; opt_s / opt_cpu_s: with it, wall clock / CPU;\n")
cat("  engine_s: the engine's own compile time (summary()$compile_ms)\n")
print(res, row.names = FALSE, digits = 3)
cat("\nPer-pass time of the optimised compile, seconds\n")
print(passes, row.names = FALSE, digits = 3)

slope <- function(t) {
  ok <- is.finite(t) & t > 0
  if (sum(ok) < 2) return(NA_real_)
  unname(coef(lm(log(t[ok]) ~ log(res$nodes[ok])))[2])
}
cols <- c("grad_s", "noopt_s", "opt_s", "opt_cpu_s")
pcols <- setdiff(names(passes), c("chain", "nodes"))
exps <- c(vapply(cols, function(cn) slope(res[[cn]]), numeric(1)),
          vapply(pcols, function(cn) slope(passes[[cn]]), numeric(1)))
cat("\nGrowth exponent (log-log slope of time against nodes; 1 = linear):\n")
cat(paste(sprintf("%s %.2f", names(exps), exps), collapse = "; "), "\n")
