// Runs the ONNX backend node tests (Debian libonnx-testdata: <dir>/test_*/model.onnx and
// test_data_set_*/{input,output}_N.pb) through the importer and the CPU executor.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace symnet {
namespace test {

struct ConformanceResult {
  std::string test;    // directory name, e.g. "test_abs"
  std::string op;      // the operator tested (first node that is not a Constant)
  bool in_scope = true;  // false: string, sequence, optional, quantized, training or signal ops
  bool passed = false;
  bool bound = false;  // passed with inputs bound at import (shape-like inputs fed as data)
  std::string reason;  // why it failed (first line of the error, or the mismatch)
};

// Default folder of the Debian package; SYMNET_ONNX_NODE_TESTS overrides it.
std::string onnx_node_test_dir();
std::vector<ConformanceResult> run_onnx_node_tests(const std::string& dir);
// Per-op table and totals.
std::string conformance_report(const std::vector<ConformanceResult>& results, bool list_failures);

}  // namespace test
}  // namespace symnet
