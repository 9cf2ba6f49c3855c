#!/bin/sh
# Portability check of the C++ sources on one Linux machine (POSIX sh).
#
#   sh tools/cross-check.sh [--fast] [mingw] [clang]      (no part named = both)
#
# mingw  Windows (Rtools) stand-in: every src/engine/**/*.cpp compiled for real with
#        x86_64-w64-mingw32-g++ (POSIX thread model, as Rtools' GCC; Rtools' default flags
#        -O2 -mfpmath=sse -msse2 -mstackrealign and -fopenmp), then linked with the Catch2
#        tests into engine_tests.exe (run under wine when present); every Rcpp glue unit
#        (src/*.cpp) checked with -fsyntax-only against R's headers dressed as Windows R's
#        (Windows Rconfig.h, no Rinterface.h / eventloop.h / GetX11Image.h).
# clang  macOS (Apple clang) stand-in: the engine and its Catch2 suite built with clang++
#        and libc++ (-stdlib=libc++), once without OpenMP (Apple's default) and once with
#        -fopenmp + libomp (the CRAN macOS setup), and each suite run.
#
# --fast (what .ci/run uses; about a quarter of the compile time, nothing is run): every
#        unit only through -fsyntax-only (templates are still instantiated, so a missing
#        library function or a Windows/libc++ difference still fails): the engine and the
#        glue with MinGW-w64, the engine and the tests with clang + libc++, and the units
#        that use OpenMP once more with -fopenmp.
#
# Tools: x86_64-w64-mingw32-g++(-posix) (Debian g++-mingw-w64-x86-64), clang++-14 or clang++
# (CROSS_CLANG=...) with libc++-dev + libc++abi-dev, libomp-dev for the OpenMP variant,
# Catch2 v2 headers (CATCH2_INCLUDE, default /usr/include), Eigen (SYMNET_EIGEN_INCLUDE,
# default RcppEigen's copy via Rscript). A missing tool skips its part with a message.
# Output under build/cross/; ccache is used when installed. Exit status 1 if any part that
# ran failed; the last line is "cross-check: N passed, N failed, N skipped".
# Environment: SYMNET_JOBS (default 2) parallel compiles.

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
JOBS=${SYMNET_JOBS:-2}
OUT="${ROOT}/build/cross"
FAST=no
PARTS=""
for a in "$@"; do
  case "$a" in
    --fast) FAST=yes ;;
    mingw|clang) PARTS="${PARTS} $a" ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "cross-check: unknown argument '$a'" >&2; exit 2 ;;
  esac
done
test -n "${PARTS}" || PARTS="mingw clang"

n_pass=0
n_fail=0
n_skip=0
say() { printf '%s\n' "cross-check: $*"; }
pass() { say "PASS $*"; n_pass=$((n_pass + 1)); }
fail() { say "FAIL $*"; n_fail=$((n_fail + 1)); }
skip() { say "SKIP $*"; n_skip=$((n_skip + 1)); }
now() { date +%s; }

CCACHE=""
if command -v ccache >/dev/null 2>&1 && test "${SYMNET_CCACHE:-1}" != 0; then CCACHE="ccache"; fi

# --- shared inputs -------------------------------------------------------------------------
EIGEN="${SYMNET_EIGEN_INCLUDE:-}"
if test -z "${EIGEN}" && command -v Rscript >/dev/null 2>&1; then
  EIGEN=$(Rscript -e "cat(system.file('include', package = 'RcppEigen'))" 2>/dev/null)
fi
CATCH_INC="${CATCH2_INCLUDE:-/usr/include}"
ENGINE_SRCS=$(find src/engine -type f -name '*.cpp' | LC_ALL=C sort)
TEST_SRCS=$(find tests/engine -maxdepth 1 -type f -name '*.cpp' ! -name 'bench_*' | LC_ALL=C sort)
GLUE_SRCS=$(find src -maxdepth 1 -type f -name '*.cpp' | LC_ALL=C sort)

have_eigen() { test -n "${EIGEN}" && test -f "${EIGEN}/Eigen/Core"; }
have_catch() { test -f "${CATCH_INC}/catch2/catch.hpp"; }

# compile_all DIR "CXX FLAGS" SOURCES... : one object per source under DIR, in parallel
# through a generated makefile; compiler output goes to DIR/build.log.
# Definitions the engine tests take from CMake: the engine's sources (test_layers.cpp) and
# the backend library built from tests/engine/plugin (test_plugin.cpp, test_backends.cpp).
test_defs() {
  printf '%s' "-DSYMNET_ENGINE_DIR='\"${ROOT}/src/engine\"' -DSYMNET_TEST_BACKEND='\"$1\"'"
}

compile_all() {
  # sh has no local variables: every name here starts with ca_ so that callers keep theirs.
  ca_dir=$1
  ca_cxx=$2
  shift 2
  mkdir -p "${ca_dir}" || return 1
  ca_mk="${ca_dir}/Makefile"
  ca_objs=""
  : > "${ca_mk}.rules"
  for ca_s in "$@"; do
    ca_o="${ca_dir}/obj/$(printf '%s' "${ca_s}" | sed 's|/|_|g; s|\.cpp$|.o|')"
    ca_objs="${ca_objs} ${ca_o}"
    printf '%s: %s\n\t@mkdir -p %s/obj\n\t%s -c %s -o %s\n' "${ca_o}" "${ROOT}/${ca_s}" "${ca_dir}" "${ca_cxx}" \
      "${ROOT}/${ca_s}" "${ca_o}" >> "${ca_mk}.rules"
  done
  { printf 'all:%s\n' "${ca_objs}"; cat "${ca_mk}.rules"; } > "${ca_mk}"
  rm -f "${ca_mk}.rules"
  rm -rf "${ca_dir}/obj"
  make -k -j"${JOBS}" -f "${ca_mk}" all > "${ca_dir}/build.log" 2>&1
}

# Prints the errors of a log (or its tail) for the record.
show_log() {
  if grep -qE 'error:|Error [0-9]' "$1" 2>/dev/null; then
    grep -E 'error:|Error [0-9]|undefined reference' "$1" | head -n 30
  else
    grep -v '^ccache \|^[^ ]*g++\|^[^ ]*clang++' "$1" | tail -n 20
  fi
}

# Catch2 through a private copy: -isystem /usr/include itself would put the C library's
# headers ahead of libc++'s wrappers (and ahead of MinGW's).
CATCH_PRIV="${OUT}/catch-include"
CATCH_MAIN="${OUT}/catch_main.cpp"
write_catch_main() {
  mkdir -p "${CATCH_PRIV}"
  if test ! -f "${CATCH_PRIV}/catch2/catch.hpp" || ! cmp -s "${CATCH_INC}/catch2/catch.hpp" "${CATCH_PRIV}/catch2/catch.hpp"; then
    rm -rf "${CATCH_PRIV}/catch2"
    cp -R "${CATCH_INC}/catch2" "${CATCH_PRIV}/catch2"
  fi
  printf '%s\n' '// Catch2 v2 main compiled from the header (the prebuilt libCatch2WithMain.a is libstdc++).' \
    '#define CATCH_CONFIG_MAIN' '#include <catch2/catch.hpp>' > "${CATCH_MAIN}"
}

# --- Windows (MinGW-w64) -------------------------------------------------------------------
part_mingw() {
  gxx=""
  for c in x86_64-w64-mingw32-g++-posix x86_64-w64-mingw32-g++; do
    if command -v "$c" >/dev/null 2>&1; then gxx=$c; break; fi
  done
  if test -z "${gxx}"; then
    skip "mingw: no x86_64-w64-mingw32-g++ (Debian: apt-get install g++-mingw-w64-x86-64)"
    return
  fi
  # Rtools' GCC uses the POSIX thread model (std::thread, std::mutex); the win32 model of
  # GCC 12 has neither.
  if ! "${gxx}" -v 2>&1 | grep -q 'Thread model: posix'; then
    skip "mingw: ${gxx} uses the win32 thread model (need x86_64-w64-mingw32-g++-posix)"
    return
  fi
  if ! have_eigen; then skip "mingw: no Eigen headers (install RcppEigen or set SYMNET_EIGEN_INCLUDE)"; return; fi
  d="${OUT}/mingw"
  test "${FAST}" = yes && d="${OUT}/mingw-syntax"
  mkdir -p "${d}"
  t0=$(now)
  flags="-std=gnu++17 -O2 -mfpmath=sse -msse2 -mstackrealign -fopenmp -DNDEBUG -I${ROOT}/src -isystem ${EIGEN}"
  how="compiled"
  if test "${FAST}" = yes; then
    flags="${flags} -fsyntax-only"
    how="checked (-fsyntax-only)"
  fi
  # shellcheck disable=SC2086
  if compile_all "${d}/engine" "${CCACHE} ${gxx} ${flags}" ${ENGINE_SRCS}; then
    pass "mingw: $(echo "${ENGINE_SRCS}" | wc -l | tr -d ' ') engine units ${how} for x86_64-w64-mingw32 ($(($(now) - t0)) s)"
  else
    fail "mingw: engine units (log: ${d}/engine/build.log)"
    show_log "${d}/engine/build.log"
  fi

  # Glue: R's headers with the Windows differences, Rcpp/RcppEigen from R's library.
  rinc="${OUT}/r-include-windows"
  rcpp_inc=""
  if command -v Rscript >/dev/null 2>&1; then
    rsrc=$(Rscript -e 'cat(R.home("include"))' 2>/dev/null)
    rcpp_inc=$(Rscript -e "cat(system.file('include', package = 'Rcpp'))" 2>/dev/null)
  fi
  if test -z "${rcpp_inc}" || test ! -f "${rsrc}/Rinternals.h"; then
    skip "mingw: glue syntax check needs R's headers and Rcpp"
  else
    rm -rf "${rinc}"
    mkdir -p "${rinc}"
    cp -R "${rsrc}/." "${rinc}/"
    rm -f "${rinc}/Rinterface.h" "${rinc}/R_ext/eventloop.h" "${rinc}/R_ext/GetX11Image.h"
    # Windows R's Rconfig.h: no visibility attribute, no alloca.h.
    cat > "${rinc}/Rconfig.h" <<'EOF'
#ifndef R_RCONFIG_H
#define R_RCONFIG_H
#ifndef R_CONFIG_H
#define HAVE_F77_UNDERSCORE 1
#define IEEE_754 1
#define R_INLINE inline
#define SUPPORT_UTF8 1
#define SUPPORT_MBCS 1
#define ENABLE_NLS 1
#ifdef USE_FC_LEN_T
#define FC_LEN_T size_t
#endif
#define SIZEOF_SIZE_T 8
#define HAVE_UINTPTR_T 1
#endif
#endif
EOF
    t0=$(now)
    gflags="-std=gnu++17 -fsyntax-only -fopenmp -DNDEBUG -I${ROOT}/src -I${rinc} -isystem ${rcpp_inc} -isystem ${EIGEN}"
    # shellcheck disable=SC2086
    if compile_all "${d}/glue" "${CCACHE} ${gxx} ${gflags}" ${GLUE_SRCS}; then
      pass "mingw: $(echo "${GLUE_SRCS}" | wc -l | tr -d ' ') glue units pass -fsyntax-only against Windows-like R headers ($(($(now) - t0)) s)"
    else
      # -fsyntax-only writes no object, so make reports every rule as failed only on errors.
      if grep -qE 'error:' "${d}/glue/build.log"; then
        fail "mingw: glue units (log: ${d}/glue/build.log)"
        show_log "${d}/glue/build.log"
      else
        pass "mingw: glue units pass -fsyntax-only ($(($(now) - t0)) s)"
      fi
    fi
  fi

  if test "${FAST}" = yes; then return; fi
  if ! have_catch; then skip "mingw: no Catch2 v2 headers in ${CATCH_INC}"; return; fi
  t0=$(now)
  write_catch_main
  tflags="${flags} -I${ROOT}/tests/engine -isystem ${CATCH_PRIV} $(test_defs "${d}/symnet_test_backend.dll")"
  # shellcheck disable=SC2086
  if ! compile_all "${d}/tests" "${CCACHE} ${gxx} ${tflags}" ${TEST_SRCS} build/cross/catch_main.cpp; then
    fail "mingw: Catch2 test units (log: ${d}/tests/build.log)"
    show_log "${d}/tests/build.log"
    return
  fi
  # No Windows BLAS here: a stub that fails loudly stands in for Rblas.dll's sgemm_/dgemm_
  # (the engine's BLAS detection finds no OpenBLAS and uses Eigen, so it is never called).
  cat > "${d}/blas_stub.cpp" <<'EOF'
#include <cstdio>
#include <cstdlib>
extern "C" void sgemm_() { std::fputs("sgemm_ stub called\n", stderr); std::abort(); }
extern "C" void dgemm_() { std::fputs("dgemm_ stub called\n", stderr); std::abort(); }
EOF
  # shellcheck disable=SC2086
  if ! ${gxx} -std=gnu++17 -shared -O2 -static -I"${ROOT}/src" -o "${d}/symnet_test_backend.dll" \
       "${ROOT}/tests/engine/plugin/test_backend.cpp" >> "${d}/tests/build.log" 2>&1; then
    fail "mingw: the test backend DLL (log: ${d}/tests/build.log)"
    show_log "${d}/tests/build.log"
    return
  fi
  # shellcheck disable=SC2086
  if ${gxx} -O2 -static -fopenmp -o "${d}/engine_tests.exe" "${d}"/engine/obj/*.o "${d}"/tests/obj/*.o \
       "${d}/blas_stub.cpp" >> "${d}/tests/build.log" 2>&1; then
    pass "mingw: engine_tests.exe linked ($(($(now) - t0)) s)"
  else
    fail "mingw: link of engine_tests.exe (log: ${d}/tests/build.log)"
    show_log "${d}/tests/build.log"
    return
  fi
  if command -v wine >/dev/null 2>&1; then
    if WINEDEBUG=-all wine "${d}/engine_tests.exe" > "${d}/run.log" 2>&1; then
      pass "mingw: engine_tests.exe under wine: $(grep -E '^(All tests passed|test cases:)' "${d}/run.log" | tail -n 1)"
    else
      fail "mingw: engine_tests.exe under wine (log: ${d}/run.log)"
      tail -n 30 "${d}/run.log"
    fi
  else
    skip "mingw: no wine to run engine_tests.exe"
  fi
}

# --- macOS stand-in (clang + libc++) ---------------------------------------------------------
# Sources (engine and tests) that use OpenMP directly or through a header they include.
omp_units() {
  pat='#pragma omp|_Pragma\("omp|<omp\.h>'
  allh=$(find src/engine tests/engine -name '*.h')
  hdrs=$(grep -lE "${pat}" ${allh} 2>/dev/null | sed 's|.*/||')
  # Headers that include such a header, to a depth of three.
  for ou_i in 1 2 3; do
    for ou_h in ${hdrs}; do
      hdrs="${hdrs} $(grep -l "/${ou_h}\"" ${allh} 2>/dev/null | sed 's|.*/||')"
    done
    hdrs=$(printf '%s\n' ${hdrs} | LC_ALL=C sort -u)
  done
  for ou_f in ${ENGINE_SRCS} ${TEST_SRCS}; do
    if grep -qE "${pat}" "${ou_f}"; then echo "${ou_f}"; continue; fi
    for ou_h in ${hdrs}; do
      if grep -q "/${ou_h}\"" "${ou_f}"; then echo "${ou_f}"; break; fi
    done
  done
}

part_clang() {
  cxx="${CROSS_CLANG:-}"
  if test -z "${cxx}"; then
    for c in clang++-14 clang++; do
      if command -v "$c" >/dev/null 2>&1; then cxx=$c; break; fi
    done
  fi
  if test -z "${cxx}"; then skip "clang: no clang++ (Debian: apt-get install clang-14)"; return; fi
  if ! printf '#include <vector>\nint main(){std::vector<int> v(3); return (int)v.size()-3;}\n' \
       | "${cxx}" -stdlib=libc++ -x c++ - -o "${OUT}/libcxx-probe" >/dev/null 2>&1; then
    mkdir -p "${OUT}"
    skip "clang: ${cxx} cannot link with -stdlib=libc++ (Debian: libc++-14-dev libc++abi-14-dev)"
    return
  fi
  if ! have_eigen; then skip "clang: no Eigen headers"; return; fi
  if ! have_catch; then skip "clang: no Catch2 v2 headers in ${CATCH_INC}"; return; fi
  blas=""
  if command -v R >/dev/null 2>&1; then blas=$(R CMD config BLAS_LIBS 2>/dev/null); fi
  test -n "${blas}" || blas="-lblas"
  write_catch_main
  if test "${FAST}" = yes; then
    t0=$(now)
    base="-std=gnu++17 -stdlib=libc++ -fsyntax-only -DNDEBUG -I${ROOT}/src -I${ROOT}/tests/engine -isystem ${EIGEN} -isystem ${CATCH_PRIV} $(test_defs none)"
    # shellcheck disable=SC2086
    if compile_all "${OUT}/clang-syntax" "${CCACHE} ${cxx} ${base}" ${ENGINE_SRCS} ${TEST_SRCS}; then
      pass "clang: engine and test units pass -fsyntax-only with libc++ ($(($(now) - t0)) s)"
    else
      fail "clang: -fsyntax-only with libc++ (log: ${OUT}/clang-syntax/build.log)"
      show_log "${OUT}/clang-syntax/build.log"
    fi
    if printf '#include <omp.h>\nint main(){return 0;}\n' | "${cxx}" -stdlib=libc++ -fopenmp -fsyntax-only -x c++ - >/dev/null 2>&1; then
      # shellcheck disable=SC2046
      if compile_all "${OUT}/clang-syntax-omp" "${CCACHE} ${cxx} ${base} -fopenmp" $(omp_units); then
        pass "clang: units that use OpenMP pass -fsyntax-only with -fopenmp"
      else
        fail "clang: -fopenmp units (log: ${OUT}/clang-syntax-omp/build.log)"
        show_log "${OUT}/clang-syntax-omp/build.log"
      fi
    else
      skip "clang: no omp.h for clang (Debian: libomp-dev)"
    fi
    return
  fi
  for v in noomp omp; do
    d="${OUT}/clang-${v}"
    omp=""
    srcs="${ENGINE_SRCS} ${TEST_SRCS} build/cross/catch_main.cpp"
    if test "$v" = omp; then
      omp="-fopenmp"
      if ! printf '#include <omp.h>\nint main(){return omp_get_max_threads()>0?0:1;}\n' \
           | "${cxx}" -stdlib=libc++ -fopenmp -x c++ - -o "${OUT}/omp-probe" >/dev/null 2>&1; then
        skip "clang: -fopenmp does not link (Debian: libomp-dev)"
        continue
      fi
      # -fopenmp changes no ABI: only the units that use OpenMP (a pragma or omp.h, in the
      # unit or in a header it includes directly) are compiled again; the other objects of
      # the variant without OpenMP are reused.
      if test -d "${OUT}/clang-noomp/obj"; then
        srcs=$(omp_units)
      fi
    fi
    t0=$(now)
    flags="-std=gnu++17 -stdlib=libc++ -O2 -DNDEBUG ${omp} -I${ROOT}/src -I${ROOT}/tests/engine -isystem ${EIGEN} -isystem ${CATCH_PRIV} $(test_defs "${OUT}/libsymnet_test_backend.so")"
    # shellcheck disable=SC2086
    if ! compile_all "${d}" "${CCACHE} ${cxx} ${flags}" ${srcs}; then
      fail "clang ${v}: compile (log: ${d}/build.log)"
      show_log "${d}/build.log"
      continue
    fi
    objs="${d}/obj/*.o"
    if test "$v" = omp && test -d "${OUT}/clang-noomp/obj"; then
      objs=""
      for o in "${OUT}"/clang-noomp/obj/*.o; do
        b=$(basename "$o")
        if test -f "${d}/obj/$b"; then objs="${objs} ${d}/obj/$b"; else objs="${objs} $o"; fi
      done
      say "clang omp: $(ls "${d}"/obj/*.o | wc -l | tr -d ' ') units use OpenMP and were compiled with -fopenmp"
    fi
    # The backend library test_plugin.cpp loads: it must need no engine symbol.
    if ! "${cxx}" -std=gnu++17 -stdlib=libc++ -shared -fPIC -O2 -I"${ROOT}/src" -Wl,--no-undefined -o "${OUT}/libsymnet_test_backend.so" \
         "${ROOT}/tests/engine/plugin/test_backend.cpp" >> "${d}/build.log" 2>&1; then
      fail "clang ${v}: the test backend library (log: ${d}/build.log)"
      show_log "${d}/build.log"
      continue
    fi
    # shellcheck disable=SC2086
    if ! "${cxx}" -stdlib=libc++ ${omp} -o "${d}/engine_tests" ${objs} ${blas} -pthread -ldl >> "${d}/build.log" 2>&1; then
      fail "clang ${v}: link (log: ${d}/build.log)"
      show_log "${d}/build.log"
      continue
    fi
    if "${d}/engine_tests" > "${d}/run.log" 2>&1; then
      pass "clang ${v} (libc++$(test -n "${omp}" && echo ', OpenMP')): $(grep -E '^All tests passed' "${d}/run.log" | tail -n 1) ($(($(now) - t0)) s)"
    else
      fail "clang ${v}: engine tests (log: ${d}/run.log)"
      grep -E -B 3 -A 8 'FAILED|failed' "${d}/run.log" | head -n 60
      tail -n 3 "${d}/run.log"
    fi
  done
}

mkdir -p "${OUT}"
for p in ${PARTS}; do "part_$p"; done
say "${n_pass} passed, ${n_fail} failed, ${n_skip} skipped"
test "${n_fail}" = 0
