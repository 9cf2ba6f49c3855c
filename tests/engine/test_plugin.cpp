// Backends from separately built shared libraries: loaded through the C entry point,
// registered by name, compiled for and run; bad libraries are clear errors.
#include "engine/backend/plugin.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

TEST_CASE("a backend library loads, registers and runs graphs", "[backend][plugin]") {
  if (!backends().find("plugin_test")) {
    std::vector<std::string> added = load_backend_library(SYMNET_TEST_BACKEND);
    REQUIRE(added == std::vector<std::string>{"plugin_test"});
  }
  const Backend& b = backends().get("plugin_test");
  CHECK(b.kernel("neg") != nullptr);
  CHECK(b.kernel("mul") == nullptr);

  Value x = op::input("x", DType::f32, {2, 3});
  Value z = op::input("z", DType::f32, {2, 3});
  Graph g = graph_of({x, z}, {op::add(op::neg(x), z)});
  CompileOptions opts;
  opts.target = "plugin_test";
  auto ex = Executable::compile(g, {{DType::f32, {2, 3}}, {DType::f32, {2, 3}}}, opts);
  Tensor xv = make_tensor(DType::f32, {2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor zv = make_tensor(DType::f32, {2, 3}, {10, 10, 10, 10, 10, 10});
  ex->run({xv.view(), zv.view()});
  check_close(to_tensor(ex->output(0)), make_tensor(DType::f32, {2, 3}, {9, 8, 7, 6, 5, 4}), 0);

  // A node the backend lacks falls back to the CPU (the test backend's memory is host
  // memory, so no transfer is needed) and is reported.
  Graph h = graph_of({x}, {op::neg(op::mul(x, x))});
  auto mixed = Executable::compile(h, {{DType::f32, {2, 3}}}, opts);
  mixed->run({xv.view()});
  check_close(to_tensor(mixed->output(0)), make_tensor(DType::f32, {2, 3}, {-1, -4, -9, -16, -25, -36}), 0);
  const CompileStats& st = mixed->stats();
  REQUIRE(st.fallback_nodes.size() == 1);
  CHECK(st.fallback_nodes[0].find("mul") != std::string::npos);
  CHECK(st.transfers == 0);
  CHECK(st.steps_per_backend == std::vector<std::pair<std::string, size_t>>{{"cpu", 1}, {"plugin_test", 1}});
}

TEST_CASE("loading what is not a backend library is an unsupported error", "[backend][plugin]") {
  auto kind_of = [](const std::string& path) {
    try {
      load_backend_library(path);
    } catch (const Error& e) {
      return e.kind();
    }
    return ErrorKind::internal;
  };
  CHECK(kind_of("/nonexistent/libsymnet_nothing.so") == ErrorKind::unsupported);
  CHECK(kind_of(SYMNET_ENGINE_DIR "/backend/plugin.h") == ErrorKind::unsupported);  // not a library
  try {
    backends().get("no_such_device");
    FAIL("unknown backend");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::unsupported);
    CHECK(std::string(e.what()).find("'cpu'") != std::string::npos);
  }
}

TEST_CASE("a library built for another ABI is refused", "[backend][plugin]") {
  symnet_host_api_v1 h = host_api();
  CHECK(abi_matches(&h));
  h.abi_version += 1;
  CHECK_FALSE(abi_matches(&h));
  h = host_api();
  h.sizeof_kernel_impl += 8;
  CHECK_FALSE(abi_matches(&h));
}
