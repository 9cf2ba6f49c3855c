#!/bin/sh
# Builds and runs the checks of the CUDA kernels (src/cuda/kernels) apart from the backend:
#  1. kernel_table_check: every kernel registers once, under an op the CPU has, with the
#     CPU's in-place pairs (runs anywhere, no GPU needed);
#  2. cuda_cases "[cuda]": every op case of tests/engine/cases_*.cpp with a CUDA kernel
#     run on the GPU and compared with the CPU kernel (skips, saying why, without a GPU).
# Uses the engine's CMake build (build/engine) for the engine library and the harness.
# Usage: sh tools/cuda-kernel-check.sh [nvcc arch flag, default -arch=native]
set -e
ARCH=${1:--arch=native}
NVCC=${NVCC:-nvcc}
B=build/engine
OUT=${CUDA_CHECK_DIR:-build/cuda-kernel-check}
mkdir -p "$OUT"
cmake -S tests/engine -B "$B" >/dev/null
cmake --build "$B" --target engine_tests -j"${JOBS:-2}"
FLAGS="-std=c++17 -O2 -I src $ARCH -Xcompiler -Wall,-Wextra -Werror all-warnings"
OBJS=""
for f in src/cuda/kernels/*.cu tests/engine/cuda/throw_stubs.cu; do
  o="$OUT/$(basename "$f" .cu).o"
  $NVCC $FLAGS -c "$f" -o "$o"
  OBJS="$OBJS $o"
done
# The libraries engine_tests links (engine, Catch2, protobuf, BLAS, OpenMP), as CMake found them.
ENGINE_LIBS=$(tr ' ' '\n' < "$B/CMakeFiles/engine_tests.dir/link.txt" | grep -E '\.(a|so)$|^-l' | grep -v Catch2 | \
  sed "s|^libsymnet_engine.a|$B/libsymnet_engine.a|" | tr '\n' ' ')
CATCH2_MAIN=$(tr ' ' '\n' < "$B/CMakeFiles/engine_tests.dir/link.txt" | grep Catch2WithMain | head -n 1)
LIBS="$ENGINE_LIBS -lcublas -lcudnn -Xcompiler -fopenmp"
$NVCC $FLAGS tests/engine/cuda/kernel_table_check.cu $OBJS $LIBS -o "$OUT/kernel_table_check"
"$OUT/kernel_table_check"
T=$B/CMakeFiles/engine_tests.dir
$NVCC $FLAGS tests/engine/cuda/test_kernel_cases.cu $OBJS "$T/harness.cpp.o" "$T"/cases_*.cpp.o \
  "$CATCH2_MAIN" $LIBS -o "$OUT/cuda_cases"
"$OUT/cuda_cases" "[cuda]"
