#!/bin/sh
# The engine's Catch2 suite under AddressSanitizer + UndefinedBehaviorSanitizer (any finding is
# fatal), and optionally R under valgrind on a representative script.
#
#   sh tools/sanitize.sh [--valgrind] [catch2 args...]
#
#   default      builds build/asan (-DSYMNET_SANITIZE=ON, RelWithDebInfo) and runs engine_tests
#   --valgrind   also installs the package into build/valgrind-lib and runs
#                tools/valgrind-check.R with R -d valgrind (slow: minutes)
#   --valgrind-only   only the valgrind part
# Environment: CXX (compiler, default c++), SYMNET_JOBS (2), SANITIZE_BUILD (build/asan).
# Prints "sanitize: engine_tests ... passed/failed, T s" and "valgrind: N errors, T s";
# exit status 1 when anything failed.

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
JOBS=${SYMNET_JOBS:-2}
BUILD=${SANITIZE_BUILD:-build/asan}
do_asan=1
do_vg=0
case "${1:-}" in
  --valgrind) do_vg=1; shift ;;
  --valgrind-only) do_vg=1; do_asan=0; shift ;;
esac
status=0

if test $do_asan = 1; then
  t0=$(date +%s)
  cmake -S tests/engine -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYMNET_SANITIZE=ON \
    -DSYMNET_BENCHMARKS=OFF >"$BUILD.cmake.log" 2>&1 || { cat "$BUILD.cmake.log"; exit 1; }
  cmake --build "$BUILD" -j"$JOBS" --target engine_tests >"$BUILD.build.log" 2>&1 ||
    { tail -40 "$BUILD.build.log"; exit 1; }
  t1=$(date +%s)
  echo "sanitize: built engine_tests with ASan+UBSan in $(( t1 - t0 )) s"
  # detect_leaks: leaks are findings too; the pool's threads are joined at exit
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$BUILD/engine_tests" "$@" >"$BUILD/engine_tests.log" 2>&1
  rc=$?
  tail -3 "$BUILD/engine_tests.log"
  if test $rc -ne 0; then
    status=1
    grep -m 20 -E "runtime error|ERROR: |SUMMARY|FAILED" "$BUILD/engine_tests.log" >&2
  fi
  echo "sanitize: engine_tests exit $rc, $(( $(date +%s) - t1 )) s (log $BUILD/engine_tests.log)"
fi

if test $do_vg = 1; then
  command -v valgrind >/dev/null 2>&1 || { echo "sanitize: valgrind not installed" >&2; exit 1; }
  t0=$(date +%s)
  lib=$ROOT/build/valgrind-lib
  mkdir -p "$lib"
  SYMNET_LIB=$lib SYMNET_SKIP_DEPS=1 sh tools/setup.sh install >build/valgrind-install.log 2>&1 ||
    { tail -30 build/valgrind-install.log; exit 1; }
  t1=$(date +%s)
  echo "valgrind: installed into $lib in $(( t1 - t0 )) s"
  # R itself is clean under memcheck; --error-exitcode makes any error in symnet fatal.
  # OMP/pool threads: --fair-sched keeps the 2-core run from starving.
  R_LIBS=$lib:${R_LIBS:-} R --vanilla -q -d "valgrind --error-exitcode=42 --leak-check=no --track-origins=yes \
--fair-sched=yes --suppressions=$ROOT/tools/valgrind.supp" -f tools/valgrind-check.R \
    >build/valgrind.log 2>&1
  rc=$?
  errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' build/valgrind.log | tail -1)
  tail -4 build/valgrind.log
  echo "valgrind: ${errs:-?} errors, exit $rc, $(( $(date +%s) - t1 )) s (log build/valgrind.log)"
  test "$rc" -ne 0 && status=1
fi
exit $status
