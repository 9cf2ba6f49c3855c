// Doubles to text and back without <charconv> (engine/base/numtext): the fallback used
// with libc++ (macOS) and old libstdc++ must read back exactly and, where <charconv> exists,
// write the same text as std::to_chars.
#include <catch2/catch.hpp>

#include <charconv>
#include <clocale>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/base/numtext.h"

using namespace symnet;

namespace {

std::string portable_text(double v) {
  char buf[64];
  char* end = detail::format_double_portable(buf, buf + sizeof buf, v);
  REQUIRE(end != nullptr);
  return std::string(buf, end);
}

double portable_read(const std::string& s) {
  double d = -12345;
  ParseResult r = detail::parse_double_portable(s.data(), s.data() + s.size(), d);
  REQUIRE(r.ec == std::errc());
  REQUIRE(r.ptr == s.data() + s.size());
  return d;
}

std::vector<double> sample_doubles() {
  std::vector<double> v = {0.0, -0.0, 1.0, -1.0, 0.1, 0.2, 1.0 / 3, 100, 1e5, 123456789, 1e21, 1e22,
                           1e-5, 1e-7, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                           3.14159, 0.30000000000000004, 9007199254740993.0, 1e300, 1e-300};
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<uint64_t> bits;
  while (v.size() < 2000) {
    const uint64_t b = bits(rng);
    double d;
    std::memcpy(&d, &b, sizeof d);
    if (std::isfinite(d)) v.push_back(d);
  }
  std::uniform_real_distribution<double> unit(-1000, 1000);
  for (int i = 0; i < 500; ++i) v.push_back(unit(rng));
  return v;
}

}  // namespace

TEST_CASE("portable double text reads back exactly", "[numtext]") {
  for (double v : sample_doubles()) {
    const std::string s = portable_text(v);
    const double back = portable_read(s);
    INFO(s);
    CHECK(std::memcmp(&back, &v, sizeof v) == 0);  // bit for bit, sign of zero included
    // The public functions (std::to_chars where present) read the same value back.
    double pub = 0;
    ParseResult r = parse_double(s.data(), s.data() + s.size(), pub);
    CHECK(r.ec == std::errc());
    CHECK(std::memcmp(&pub, &v, sizeof v) == 0);
  }
}

TEST_CASE("portable double text is the shortest form", "[numtext]") {
  CHECK(portable_text(0.1) == "0.1");
  CHECK(portable_text(100) == "100");
  CHECK(portable_text(1e5) == "1e+05");
  CHECK(portable_text(123456) == "123456");
  CHECK(portable_text(1e22) == "1e+22");
  CHECK(portable_text(1e-7) == "1e-07");
  CHECK(portable_text(-0.0) == "-0");
  CHECK(portable_text(1.5) == "1.5");
#if defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L
  // Same text as std::to_chars, where the standard library has it.
  for (double v : sample_doubles()) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    CHECK(portable_text(v) == std::string(buf, r.ptr));
  }
#endif
}

TEST_CASE("portable double parsing reports range and grammar errors like from_chars", "[numtext]") {
  double d = 7;
  const std::string big = "1e400", tiny = "1e-400", neg_big = "-1e400";
  CHECK(detail::parse_double_portable(big.data(), big.data() + big.size(), d).ec == std::errc::result_out_of_range);
  CHECK(detail::parse_double_portable(tiny.data(), tiny.data() + tiny.size(), d).ec == std::errc::result_out_of_range);
  CHECK(detail::parse_double_portable(neg_big.data(), neg_big.data() + neg_big.size(), d).ec ==
        std::errc::result_out_of_range);
  CHECK(d == 7);  // unchanged on out of range
  for (const std::string bad : {"", "+1", " 1", "-", "x1", "inf", "nan"}) {
    INFO(bad);
    CHECK(detail::parse_double_portable(bad.data(), bad.data() + bad.size(), d).ec == std::errc::invalid_argument);
  }
  // Stops at the first character after the number, like from_chars.
  const std::string tail = "2.5]";
  ParseResult r = detail::parse_double_portable(tail.data(), tail.data() + tail.size(), d);
  CHECK(r.ec == std::errc());
  CHECK(d == 2.5);
  CHECK(*r.ptr == ']');
}

TEST_CASE("portable double text ignores a comma decimal point locale", "[numtext]") {
  const char* names[] = {"de_DE.UTF-8", "de_DE.utf8", "de_DE", "fr_FR.UTF-8", "German_Germany.1252"};
  std::string old = std::setlocale(LC_NUMERIC, nullptr);
  const char* got = nullptr;
  for (const char* n : names)
    if ((got = std::setlocale(LC_NUMERIC, n))) break;
  if (!got) {
    WARN("no locale with a comma decimal point installed; only the C locale was checked");
    return;
  }
  const std::string s = portable_text(1234.5);
  const double back = portable_read("1234.5");
  std::setlocale(LC_NUMERIC, old.c_str());
  CHECK(s == "1234.5");
  CHECK(back == 1234.5);
}
