#!/bin/sh
# ONNX backend node tests through symnet's importer (engine level, no R needed):
#   sh tools/onnx-conformance.sh [--failures] [DIR]
# Builds tests/engine/tool_onnx_conformance with CMake (needs protobuf: Debian
# libprotobuf-dev protobuf-compiler) and runs it over DIR, by default Debian's
# /usr/share/libonnx-testdata/data/node (package libonnx-testdata). Prints passed/tests per
# operator and the totals for the tests in scope. The Catch2 test "[onnx][conformance]"
# runs the same tests and fails if an in-scope test fails other than by a classed refusal.
set -eu
cd "$(dirname "$0")/.."
build=${SYMNET_BUILD_DIR:-build/engine}
cmake -S tests/engine -B "${build}" >/dev/null
cmake --build "${build}" --target tool_onnx_conformance -j2 >/dev/null
exec "${build}/tool_onnx_conformance" "$@"
