#!/bin/sh
# Builds the libFuzzer harnesses of tests/fuzz (clang, with ASan + UBSan) and runs each for N
# executions, one after the other, from the committed seed corpora.
#
#   sh tools/fuzz.sh [executions] [name...]     executions default 1000000; names: graph_json
#                                               model_file idx (default: every tests/fuzz/fuzz_*.cpp)
#
# Limits that make a finding of what the loaders must never do: -malloc_limit_mb (one
# allocation larger than that is a crash: a loader may allocate only a bounded multiple of its
# input, and inputs are at most FUZZ_MAX_LEN bytes), -rss_limit_mb (total memory), -timeout (a
# hang). Crash inputs land in build/fuzz/artifacts/<name>/; minimise one with
#   build/fuzz/fuzz_<name> -minimize_crash=1 -runs=100000 <crash file>
# and commit it as a Catch2 regression test (tests/engine/test_io.cpp).
# Environment: CXX (default clang++-14), SYMNET_JOBS (build jobs, 2), FUZZ_MAX_LEN (65536),
# FUZZ_MALLOC_MB (64), FUZZ_RSS_MB (2048), FUZZ_TIMEOUT (10 s), FUZZ_BUILD (build/fuzz).
# Prints one line per fuzzer: "fuzz <name>: N executions, N crashes, T s"; exit status 1 if
# any fuzzer found something.

cd "$(dirname "$0")/.." || exit 1
RUNS=${1:-1000000}
test $# -gt 0 && shift
NAMES=$*
if test -z "$NAMES"; then
  for f in tests/fuzz/fuzz_*.cpp; do
    n=$(basename "$f" .cpp)
    NAMES="$NAMES ${n#fuzz_}"
  done
fi
BUILD=${FUZZ_BUILD:-build/fuzz}
CXX=${CXX:-clang++-14}
JOBS=${SYMNET_JOBS:-2}
command -v "$CXX" >/dev/null 2>&1 || { echo "fuzz: $CXX not found (apt-get install clang-14 libfuzzer-14-dev)" >&2; exit 1; }

t0=$(date +%s)
CXX="$CXX" cmake -S tests/engine -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYMNET_FUZZ=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DSYMNET_BENCHMARKS=OFF >"$BUILD.cmake.log" 2>&1 || { cat "$BUILD.cmake.log"; exit 1; }
targets=""
for n in $NAMES; do targets="$targets fuzz_$n"; done
# shellcheck disable=SC2086
cmake --build "$BUILD" -j"$JOBS" --target $targets >"$BUILD.build.log" 2>&1 || { tail -40 "$BUILD.build.log"; exit 1; }
echo "fuzz: built$targets in $(( $(date +%s) - t0 )) s"

status=0
for n in $NAMES; do
  seeds=tests/fuzz/corpus/$n
  work=$BUILD/corpus/$n          # grows; the committed seeds are only read
  art=$BUILD/artifacts/$n
  rm -rf "$art"
  mkdir -p "$work" "$art"
  log=$BUILD/fuzz_$n.log
  dict=""
  test -f "tests/fuzz/$n.dict" && dict="-dict=tests/fuzz/$n.dict"
  t1=$(date +%s)
  # shellcheck disable=SC2086
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$BUILD/fuzz_$n" -runs="$RUNS" -max_len="${FUZZ_MAX_LEN:-65536}" \
    -malloc_limit_mb="${FUZZ_MALLOC_MB:-64}" -rss_limit_mb="${FUZZ_RSS_MB:-2048}" \
    -timeout="${FUZZ_TIMEOUT:-10}" -print_final_stats=1 -artifact_prefix="$art/" $dict \
    "$work" "$seeds" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  crashes=$(find "$art" -type f | wc -l | tr -d ' ')
  echo "fuzz $n: ${execs:-?} executions, $crashes crashes, $(( $(date +%s) - t1 )) s (exit $rc, log $log)"
  if test "$rc" -ne 0 || test "$crashes" -ne 0; then
    status=1
    grep -m 5 -E "ERROR|SUMMARY|runtime error|==[0-9]+==" "$log" >&2
  fi
done
echo "fuzz: total $(( $(date +%s) - t0 )) s"
exit $status
