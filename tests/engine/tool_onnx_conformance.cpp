// ONNX backend node tests through symnet's importer:
//   tool_onnx_conformance [--failures] [dir]
// dir defaults to Debian's /usr/share/libonnx-testdata/data/node (SYMNET_ONNX_NODE_TESTS).
#include <cstdio>
#include <cstring>

#include "onnx_conformance.h"

int main(int argc, char** argv) {
  bool failures = false;
  std::string dir = symnet::test::onnx_node_test_dir();
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--failures") == 0) failures = true;
    else dir = argv[i];
  }
  const auto results = symnet::test::run_onnx_node_tests(dir);
  if (results.empty()) {
    std::printf("no ONNX node tests in %s (Debian: apt install libonnx-testdata)\n", dir.c_str());
    return 1;
  }
  std::fputs(symnet::test::conformance_report(results, failures).c_str(), stdout);
  return 0;
}
