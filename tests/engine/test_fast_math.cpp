// The float approximations the elementwise kernels use instead of libm calls (which do not
// vectorize): fast_exp against std::exp over a sweep of every 4099th float bit pattern.
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/math/elementwise_functors.h"
#include "harness.h"

using namespace symnet;

namespace {
int64_t ulps(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  return std::llabs(static_cast<int64_t>(ia) - ib);
}
}  // namespace

TEST_CASE("fast_exp is within 1 ulp of std::exp and exact at the edges", "[elementwise]") {
  int64_t worst = 0, checked = 0;
  for (uint64_t b = 0; b <= 0xFFFFFFFFull; b += 4099) {
    const uint32_t bits = static_cast<uint32_t>(b);
    float x;
    std::memcpy(&x, &bits, 4);
    const float want = std::exp(x), got = fn::fast_exp(x);
    if (std::isnan(x)) {
      REQUIRE(std::isnan(got));
    } else if (want == 0 || std::isinf(want)) {
      INFO("x = " << x);
      REQUIRE(got == want);
    } else {
      worst = std::max(worst, ulps(got, want));
      ++checked;
    }
  }
  CHECK(checked > 500000);
  CHECK(worst <= 1);
  CHECK(fn::fast_exp(0.0f) == 1.0f);
  CHECK(fn::fast_exp(INFINITY) == INFINITY);
  CHECK(fn::fast_exp(-INFINITY) == 0.0f);
  CHECK(std::isnan(fn::fast_exp(std::numeric_limits<float>::quiet_NaN())));
  // the largest finite result and the subnormal range
  CHECK(ulps(fn::fast_exp(88.72f), std::exp(88.72f)) <= 1);
  CHECK(ulps(fn::fast_exp(-100.0f), std::exp(-100.0f)) <= 1);
}

TEST_CASE("float sigmoid through fast_exp stays within a few ulp and saturates", "[elementwise]") {
  for (float x = -30.0f; x <= 30.0f; x += 0.0137f) {
    const double want = 1.0 / (1.0 + std::exp(-static_cast<double>(x)));
    const float got = fn::SigmoidF{}(x);
    INFO("x = " << x);
    CHECK(std::fabs(got - want) <= 3 * std::numeric_limits<float>::epsilon() * want);
  }
  CHECK(fn::SigmoidF{}(-200.0f) == 0.0f);
  CHECK(fn::SigmoidF{}(200.0f) == 1.0f);
}
