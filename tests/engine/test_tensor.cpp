// Tensor storage: zero-filled and aligned at every size, on both allocation paths
// (malloc'd small buffers, kernel-mapped large ones).
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>

#include "engine/base/tensor.h"

using namespace symnet;

TEST_CASE("tensor storage is zeroed, aligned and independent across sizes", "[tensor]") {
  for (int64_t n : {int64_t{1}, int64_t{1000}, int64_t{20000}, int64_t{262144}, int64_t{3000001}}) {
    Tensor t(DType::f32, {n});
    const auto addr = reinterpret_cast<std::uintptr_t>(t.data());
    REQUIRE(addr % 64 == 0);
    if (t.bytes() >= 64 * 1024) REQUIRE(addr % 4096 == 0);
    const float* p = t.ptr<float>();
    bool zero = true;
    for (int64_t i = 0; i < n; ++i) zero = zero && p[i] == 0.0f;
    REQUIRE(zero);
    t.ptr<float>()[n - 1] = 3.5f;
    Tensor c = t.clone();
    REQUIRE(c.data() != t.data());
    REQUIRE(c.ptr<float>()[n - 1] == 3.5f);
    t.ptr<float>()[0] = -1.0f;
    REQUIRE(c.ptr<float>()[0] == (n == 1 ? 3.5f : 0.0f));
  }
}

TEST_CASE("an impossible allocation is a classed error, not a crash", "[tensor]") {
  REQUIRE_THROWS_AS(Tensor(DType::f32, {int64_t{1} << 46}), Error);
}
