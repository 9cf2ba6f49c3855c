#!/bin/sh
# symnet developer/CI entry point (POSIX sh).
#
#   sh tools/setup.sh deps      install missing dependencies (apt as root on Debian/Ubuntu,
#                               else install.packages() from your CRAN mirror)
#   sh tools/setup.sh install   deps + Rcpp::compileAttributes() + R CMD build (vignettes) +
#                               R CMD INSTALL of the tarball (no roxygen)
#   sh tools/setup.sh docs      Rcpp::compileAttributes() + roxygen2::roxygenise() (dev step:
#                               man/ and NAMESPACE are committed)
#   sh tools/setup.sh demo      install, then Rscript inst/examples/demo.R
#   sh tools/setup.sh test      guard + install + engine tests (Catch2) + testthat; the last line
#                               is "N passed, N failed, N skipped"; exit status 1 on any failure
#
# Environment:
#   SYMNET_JOBS=2          parallel compile jobs (MAKEFLAGS=-jN, cmake --build -jN)
#   SYMNET_LIB=dir         install into this library (created; put first on R_LIBS)
#   SYMNET_SKIP_DEPS=1     skip the dependency check in install/demo/test
#   SYMNET_CCACHE=0        do not compile through ccache even if it is installed
#   SYMNET_VIGNETTES=0     install without rendering the vignettes (default for 'test')
#   SYMNET_CATCH_ARGS=...  extra arguments for the Catch2 binary (e.g. a tag filter "~[slow]")
#   R_MAKEVARS_USER=file   used as is instead of tools/dev-makevars
#   SYMNET_CUDA=0, SYMNET_OPENMP=0   passed through to ./configure (SYMNET_CUDA also to CMake)
#   SYMNET_CUDA_WERROR=1   warnings in src/cuda are errors (configure and CMake)

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
JOBS=${SYMNET_JOBS:-2}

R_PKGS="Rcpp RcppEigen cli rlang generics jsonlite testthat knitr rmarkdown withr ggplot2 roxygen2 pkgbuild"
R_PKGS_REQUIRED="Rcpp RcppEigen cli rlang generics jsonlite testthat"
APT_PKGS="r-base-dev r-cran-rcpp r-cran-rcppeigen r-cran-cli r-cran-rlang r-cran-generics r-cran-jsonlite \
r-cran-testthat r-cran-knitr r-cran-rmarkdown r-cran-withr r-cran-ggplot2 r-cran-roxygen2 \
r-cran-pkgbuild pandoc catch2 cmake ccache libopenblas0-pthread dataset-fashion-mnist \
libprotobuf-dev protobuf-compiler libopenmpi-dev openmpi-bin"

say() { printf '%s\n' "setup: $*"; }
warn() { printf '%s\n' "setup: WARNING: $*" >&2; }
die() { printf '%s\n' "setup: ERROR: $*" >&2; exit 1; }
now() { date +%s; }

if test -n "${SYMNET_LIB:-}"; then
  mkdir -p "${SYMNET_LIB}" || die "cannot create SYMNET_LIB=${SYMNET_LIB}"
  SYMNET_LIB=$(cd "${SYMNET_LIB}" && pwd)
  R_LIBS="${SYMNET_LIB}${R_LIBS:+:${R_LIBS}}"
  export R_LIBS
fi

deb_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# ---------------------------------------------------------------------------------------
step_deps() {
  use_apt=no
  if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
    if test "$(id -u)" = 0; then
      if command -v R >/dev/null 2>&1 && ! deb_installed r-base-core; then
        say "R is not the Debian r-base-core package: R packages come from install.packages()"
      else
        use_apt=yes
      fi
    else
      say "not root: skipping apt-get (R packages come from install.packages())"
    fi
  fi

  if test "${use_apt}" = yes; then
    missing=""
    for p in ${APT_PKGS}; do
      deb_installed "$p" || missing="${missing} $p"
    done
    if test -n "${missing}"; then
      say "apt-get install:${missing}"
      apt-get update || warn "apt-get update failed"
      installable=""
      for p in ${missing}; do
        if apt-cache show "$p" >/dev/null 2>&1; then
          installable="${installable} $p"
        else
          warn "no Debian package '$p' here; skipped"
        fi
      done
      if test -n "${installable}"; then
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${installable} \
          || warn "apt-get install failed; falling back to install.packages() for R packages"
      fi
    else
      say "Debian packages: all present"
    fi
  fi

  command -v Rscript >/dev/null 2>&1 || die "Rscript not found: install R (>= 4.1) first"

  SYMNET_R_PKGS="${R_PKGS}" SYMNET_R_REQUIRED="${R_PKGS_REQUIRED}" Rscript -e '
    pk <- strsplit(Sys.getenv("SYMNET_R_PKGS"), " +")[[1]]
    req <- strsplit(Sys.getenv("SYMNET_R_REQUIRED"), " +")[[1]]
    have <- function(p) {
      ok <- suppressWarnings(suppressMessages(requireNamespace(p, quietly = TRUE)))
      if (ok && p == "testthat") ok <- utils::packageVersion("testthat") >= "3.0.0"
      ok
    }
    miss <- pk[!vapply(pk, have, logical(1))]
    if (length(miss) == 0) {
      cat("setup: R packages: all present\n")
      quit(status = 0)
    }
    cat("setup: installing R packages:", miss, "\n")
    repos <- getOption("repos")
    if (is.null(repos) || length(repos) == 0 || any(repos == "@CRAN@"))
      options(repos = c(CRAN = "https://cloud.r-project.org"))
    lib <- .libPaths()[1]
    if (file.access(lib, 2) != 0) {
      lib <- path.expand(strsplit(Sys.getenv("R_LIBS_USER"), .Platform$path.sep)[[1]][1])
      dir.create(lib, recursive = TRUE, showWarnings = FALSE)
      .libPaths(c(lib, .libPaths()))
      cat("setup: installing into", lib, "\n")
    }
    try(utils::install.packages(miss, lib = lib))
    still <- miss[!vapply(miss, have, logical(1))]
    if (length(still)) {
      cat("setup: WARNING: R packages still missing:", still, "\n")
      if (any(still %in% req)) quit(status = 1)
    }
  ' || die "required R packages are missing"

  if ! command -v cmake >/dev/null 2>&1; then
    warn "cmake not found: engine (Catch2) tests will be skipped by 'test'"
  elif test ! -f /usr/include/catch2/catch.hpp && test ! -f /usr/local/include/catch2/catch.hpp; then
    say "note: Catch2 v2 header not found in /usr/include or /usr/local/include;" \
        "engine tests are skipped unless CMake finds Catch2 2.x"
  fi
}

# ---------------------------------------------------------------------------------------
# R_MAKEVARS_USER for dev/CI builds (warnings of Eigen silenced; ccache when present).
makevars_user() {
  if test -n "${R_MAKEVARS_USER:-}"; then
    printf '%s\n' "${R_MAKEVARS_USER}"
    return
  fi
  mv="${ROOT}/tools/dev-makevars"
  if test "${SYMNET_CCACHE:-1}" != 0 && command -v ccache >/dev/null 2>&1; then
    cxx=$(R CMD config CXX17)
    case "${cxx}" in
      *ccache*) ;;
      *)
        mkdir -p "${ROOT}/build"
        { cat "${mv}"; printf 'CXX17 = ccache %s\n' "${cxx}"; } > "${ROOT}/build/dev-makevars-ccache"
        mv="${ROOT}/build/dev-makevars-ccache"
        ;;
    esac
  fi
  printf '%s\n' "${mv}"
}

compile_attributes() {
  Rscript -e 'invisible(Rcpp::compileAttributes("."))' || die "Rcpp::compileAttributes() failed"
}

step_install() {
  if test "${SYMNET_SKIP_DEPS:-0}" != 1; then
    step_deps || return 1
  fi
  compile_attributes
  mv=$(makevars_user)
  say "R CMD INSTALL (MAKEFLAGS=-j${JOBS}, R_MAKEVARS_USER=${mv})"
  # cleanup removes src/engine/**/*.o too (R's preclean only removes src/*.o): header
  # dependencies are not tracked, so every install rebuilds everything (ccache makes it cheap).
  sh ./cleanup
  t0=$(now)
  # ccache may hit across folders (R CMD build compiles in a temporary copy).
  CCACHE_BASEDIR=${CCACHE_BASEDIR:-/}
  CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
  export CCACHE_BASEDIR CCACHE_NOHASHDIR
  src=.
  if test "${SYMNET_VIGNETTES:-1}" = 1 && vignettes_buildable; then
    # A built tarball carries the rendered vignettes, so vignette("...", package = "symnet") works.
    say "R CMD build (renders the vignettes; SYMNET_VIGNETTES=0 skips them)"
    rm -rf build/pkg && mkdir -p build/pkg
    (cd build/pkg && MAKEFLAGS="-j${JOBS}" R_MAKEVARS_USER="${mv}" R CMD build --no-manual "${ROOT}") || return 1
    src=$(ls build/pkg/symnet_*.tar.gz)
  fi
  if test -n "${SYMNET_LIB:-}"; then
    MAKEFLAGS="-j${JOBS}" R_MAKEVARS_USER="${mv}" R CMD INSTALL --preclean --no-multiarch \
      -l "${SYMNET_LIB}" "${src}" || return 1
  else
    MAKEFLAGS="-j${JOBS}" R_MAKEVARS_USER="${mv}" R CMD INSTALL --preclean --no-multiarch "${src}" \
      || return 1
  fi
  sh ./cleanup
  say "install took $(($(now) - t0)) s"
}

# Vignettes render with knitr + rmarkdown + pandoc.
vignettes_buildable() {
  command -v pandoc >/dev/null 2>&1 || { say "pandoc not found: installing without vignettes"; return 1; }
  Rscript -e 'quit(status = !all(vapply(c("knitr", "rmarkdown"), requireNamespace, logical(1), quietly = TRUE)))' \
    >/dev/null 2>&1 || { say "knitr/rmarkdown missing: installing without vignettes"; return 1; }
}

step_docs() {
  compile_attributes
  Rscript -e 'for (p in c("roxygen2", "pkgbuild")) if (!requireNamespace(p, quietly = TRUE))
                 stop("roxygenise needs the ", p, " package (sh tools/setup.sh deps)")' || exit 1
  mv=$(makevars_user)
  MAKEFLAGS="-j${JOBS}" R_MAKEVARS_USER="${mv}" Rscript -e 'roxygen2::roxygenise()' \
    || die "roxygen2::roxygenise() failed"
  sh ./cleanup
}

step_demo() {
  step_install || die "install failed"
  test -f inst/examples/demo.R || die "inst/examples/demo.R does not exist (yet)"
  Rscript inst/examples/demo.R
}

# ---------------------------------------------------------------------------------------
# Guard: the engine must stay free of R headers (it is also built alone by CMake).
step_guard() {
  test -d src/engine || return 0
  hits=$(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](R\.h|Rinternals\.h|Rdefines\.h|Rmath\.h|R_ext/[^>"]*|Rcpp[^>"]*)[>"]' \
           src/engine 2>/dev/null)
  if test -n "${hits}"; then
    printf '%s\n' "guard: R/Rcpp headers included under src/engine (must stay pure C++):" "${hits}"
    return 1
  fi
  say "guard: src/engine includes no R/Rcpp headers"
  return 0
}

# Engine tests. Sets E_PASS E_FAIL E_SKIP (assertions) and E_LINE.
E_PASS=0; E_FAIL=0; E_SKIP=0; E_LINE=""
run_engine_tests() {
  if test ! -f tests/engine/CMakeLists.txt; then
    E_SKIP=1; E_LINE="engine (Catch2): skipped (no tests/engine/CMakeLists.txt)"; return
  fi
  if ! command -v cmake >/dev/null 2>&1; then
    E_SKIP=1; E_LINE="engine (Catch2): skipped (cmake not found; sh tools/setup.sh deps on Debian installs it)"
    return
  fi
  mkdir -p build/engine
  t0=$(now)
  # The CUDA backend library (target symnet_cuda) is built where nvcc, cuBLAS and cuDNN are
  # found, as by configure; SYMNET_CUDA=0 and SYMNET_CUDA_WERROR=1 mean the same here.
  cuda_opt=AUTO
  case "${SYMNET_CUDA:-}" in
    0|no|NO|off|OFF|false|FALSE) cuda_opt=OFF ;;
    1|yes|YES|on|ON|true|TRUE) cuda_opt=ON ;;
  esac
  cuda_werror=OFF
  case "${SYMNET_CUDA_WERROR:-0}" in 1|yes|true|TRUE) cuda_werror=ON ;; esac
  if ! cmake -S tests/engine -B build/engine -DCMAKE_BUILD_TYPE=Release -DSYMNET_CUDA="${cuda_opt}" \
         -DSYMNET_CUDA_WERROR="${cuda_werror}" > build/engine/configure.log 2>&1; then
    cat build/engine/configure.log
    if grep -q 'Catch2' build/engine/configure.log; then
      E_SKIP=1; E_LINE="engine (Catch2): skipped (Catch2 v2 not found by CMake; install catch2 2.x)"
    else
      E_FAIL=1; E_LINE="engine (Catch2): CMake configure FAILED (counted as 1 failure)"
    fi
    return
  fi
  if ! cmake --build build/engine --target engine_tests -j "${JOBS}"; then
    E_FAIL=1; E_LINE="engine (Catch2): build FAILED (counted as 1 failure)"; return
  fi
  say "engine tests built in $(($(now) - t0)) s"
  log=build/engine/engine_tests.log
  # shellcheck disable=SC2086
  build/engine/engine_tests --use-colour no ${SYMNET_CATCH_ARGS:-} > "${log}" 2>&1
  rc=$?
  cat "${log}"
  # Catch2 v2 console totals: "All tests passed (N assertions in M test cases)", or
  # "test cases: M | a passed | b failed" + "assertions: N | x passed | y failed", or "No tests ran".
  summary=$(awk '
    function num(line, what,   re, s) {
      re = "[0-9]+ " what
      if (match(line, re)) { s = substr(line, RSTART, RLENGTH); sub(/ .*/, "", s); return s + 0 }
      return 0
    }
    function failed(line,   l) { l = line; gsub(/[0-9]+ failed as expected/, "", l); return num(l, "failed") }
    /^All tests passed/ {
      a = $0; sub(/.*\(/, "", a)
      ap = a; sub(/ assertion.*/, "", ap)
      cp = a; sub(/.* in /, "", cp); sub(/ test case.*/, "", cp)
      found = 1; apass = ap + 0; afail = 0; cpass = cp + 0; cfail = 0
    }
    /^test cases:/ { found = 1; cpass = num($0, "passed"); cfail = failed($0) }
    /^assertions:/ { found = 1; apass = num($0, "passed"); afail = failed($0) }
    /^No tests ran/ { found = 1; apass = 0; afail = 0; cpass = 0; cfail = 0 }
    END { if (found) printf "%d %d %d %d\n", apass, afail, cpass, cfail; else print "none" }
  ' "${log}")
  if test "${summary}" = none; then
    E_FAIL=1
    E_LINE="engine (Catch2): no summary from engine_tests (exit status ${rc}; crashed?) (counted as 1 failure)"
    return
  fi
  set -- ${summary}
  E_PASS=$1; E_FAIL=$2
  if test "${rc}" != 0 && test "${E_FAIL}" = 0; then
    E_FAIL=1
    E_LINE="engine (Catch2): engine_tests exited with status ${rc} without failed assertions (counted as 1 failure)"
    return
  fi
  E_LINE="engine (Catch2): ${E_PASS} passed, ${E_FAIL} failed assertions; test cases: $3 passed, $4 failed"
  # The suite again on the simulated devices, whose memory the executor may reach only
  # through uploads and downloads (issue 8): every transfer a real device needs is made;
  # sim_partial lacks the convolutions, so those cases also cross between memories.
  for target in sim sim_partial; do
    sim_log=build/engine/engine_tests_${target}.log
    if SYMNET_TEST_TARGET=${target} build/engine/engine_tests --use-colour no ${SYMNET_CATCH_ARGS:-} > "${sim_log}" 2>&1; then
      E_LINE="${E_LINE}; on ${target}: $(grep -E '^All tests passed' "${sim_log}")"
    else
      cat "${sim_log}"
      E_FAIL=$((E_FAIL + 1))
      E_LINE="${E_LINE}; on ${target}: FAILED (counted as 1 failure)"
    fi
  done
}

step_test() {
  total_fail=0
  G_LINE="guard: ok"
  if ! step_guard; then
    G_LINE="guard: src/engine includes R headers (counted as 1 failure)"
    total_fail=1
  fi

  installed=yes
  I_LINE="install: ok"
  t0=$(now)
  # Tests need no rendered vignettes (R CMD check builds them): skip the second compile.
  if ! (SYMNET_VIGNETTES=${SYMNET_VIGNETTES:-0} step_install); then
    installed=no
    I_LINE="install: FAILED (counted as 1 failure; testthat not run)"
    total_fail=$((total_fail + 1))
  else
    I_LINE="install: ok ($(($(now) - t0)) s)"
  fi

  run_engine_tests

  T_PASS=0; T_FAIL=0; T_SKIP=0
  if test "${installed}" = yes; then
    if test -d tests/testthat; then
      mkdir -p build
      rm -f build/testthat-totals.txt
      Rscript tools/run-tests.R build/testthat-totals.txt
      if test -f build/testthat-totals.txt; then
        # shellcheck disable=SC2046
        set -- $(cat build/testthat-totals.txt)
        T_PASS=$1; T_FAIL=$2; T_SKIP=$3
        T_LINE="testthat: ${T_PASS} passed, ${T_FAIL} failed, ${T_SKIP} skipped"
      else
        T_FAIL=1
        T_LINE="testthat: no totals (R crashed?) (counted as 1 failure)"
      fi
    else
      T_LINE="testthat: no tests/testthat directory"
    fi
  else
    T_LINE="testthat: not run (install failed)"
  fi

  passed=$((E_PASS + T_PASS))
  failed=$((total_fail + E_FAIL + T_FAIL))
  skipped=$((E_SKIP + T_SKIP))
  echo ""
  echo "================ symnet test summary ================"
  echo "${G_LINE}"
  echo "${I_LINE}"
  echo "${E_LINE}"
  echo "${T_LINE}"
  echo "${passed} passed, ${failed} failed, ${skipped} skipped"
  test "${failed}" = 0
}

# ---------------------------------------------------------------------------------------
case "${1:-}" in
  deps) step_deps ;;
  install) step_install || die "R CMD INSTALL failed" ;;
  docs) step_docs ;;
  demo) step_demo ;;
  test) step_test ;;
  *)
    echo "usage: sh tools/setup.sh deps|install|docs|demo|test" >&2
    exit 2
    ;;
esac
