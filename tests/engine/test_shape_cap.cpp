// Shapes that cannot exist are refused where they would be allocated, with the bytes named.
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

TEST_CASE("byte counts of huge shapes are checked, never wrapped", "[shape_cap]") {
  REQUIRE(shape_bytes({2, 3}, 4) == 24);
  REQUIRE(shape_bytes({}, 8) == 8);
  // 2^61 elements fit an int64 count, 2^64 bytes do not
  const Shape huge{int64_t{1} << 31, int64_t{1} << 30};
  REQUIRE(shape_numel(huge) == (int64_t{1} << 61));
  REQUIRE_THROWS_AS(shape_bytes(huge, 8), Error);
  REQUIRE_THROWS_AS(Tensor(DType::f64, huge), Error);
}

TEST_CASE("buffers larger than the machine's memory are refused", "[shape_cap]") {
  const size_t phys = physical_memory_bytes();
  if (phys == 0) return;  // unknown on this platform: nothing to compare with
  try {
    Storage s(phys + 1);
    FAIL("allocated more than physical memory");
  } catch (const Error& e) {
    REQUIRE(std::string(e.what()).find(std::to_string(phys + 1) + " bytes") != std::string::npos);
  }
  // at compile time, naming the node that would make the tensor
  const int64_t n = static_cast<int64_t>(phys / 4) + 1;
  Value big = make_node("fill", {}, {{"shape", Shape{n}}, {"value", 1.0}, {"dtype", std::string("float32")}}).at(0);
  Value y = op::add(big, op::scalar(1.0, DType::f32));
  Graph g = graph_of({}, {y});
  try {
    Executable::compile(g, {}, CompileOptions{});
    FAIL("compiled a plan larger than physical memory");
  } catch (const Error& e) {
    REQUIRE(std::string(e.what()).find("bytes") != std::string::npos);
  }
}
