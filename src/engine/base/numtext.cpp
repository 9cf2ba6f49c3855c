#include "engine/base/numtext.h"

#include <cerrno>
#include <charconv>
#include <clocale>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L && !defined(SYMNET_NO_FP_CHARCONV)
#define SYMNET_FP_CHARCONV 1
#endif

namespace symnet {

#if defined(SYMNET_FP_CHARCONV)

char* format_double(char* first, char* last, double v) {
  auto r = std::to_chars(first, last, v);
  return r.ec == std::errc() ? r.ptr : nullptr;
}

ParseResult parse_double(const char* first, const char* last, double& value) {
  auto r = std::from_chars(first, last, value);
  return {r.ptr, r.ec};
}

#else

char* format_double(char* first, char* last, double v) { return detail::format_double_portable(first, last, v); }

ParseResult parse_double(const char* first, const char* last, double& value) {
  return detail::parse_double_portable(first, last, value);
}

#endif

namespace detail {

namespace {

// The C library's decimal point under the current LC_NUMERIC (R keeps it ".", a host
// program might not).
const char* locale_point() {
  const std::lconv* lc = std::localeconv();
  return (lc && lc->decimal_point && *lc->decimal_point) ? lc->decimal_point : ".";
}

// strtod of a JSON-grammar token with '.' as decimal point whatever the locale.
double strtod_c(const std::string& tok, size_t* used, bool* range) {
  const char* point = locale_point();
  std::string s;
  std::string::size_type dot = tok.find('.');
  if (dot != std::string::npos && std::strcmp(point, ".") != 0) {
    s = tok.substr(0, dot) + point + tok.substr(dot + 1);
  } else {
    s = tok;
  }
  errno = 0;
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  *range = errno == ERANGE;
  size_t n = static_cast<size_t>(end - s.c_str());
  // Map the length back to the token when the locale's point is longer than one char.
  if (s.size() != tok.size() && dot != std::string::npos && n > dot) n -= s.size() - tok.size();
  *used = n;
  return d;
}

bool is_json_number_char(char c) {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

// printf with '.' as decimal point whatever the locale.
std::string printf_c(const char* fmt, int prec, double v) {
  char buf[400];  // "%.Nf" needs 310 chars for 1.8e308 and 326 for 5e-324
  const int n = std::snprintf(buf, sizeof buf, fmt, prec, v);
  if (n <= 0 || n >= static_cast<int>(sizeof buf)) return std::string();
  std::string s(buf, static_cast<size_t>(n));
  const char* point = locale_point();
  if (std::strcmp(point, ".") != 0) {
    const std::string::size_type at = s.find(point);
    if (at != std::string::npos) s.replace(at, std::strlen(point), ".");
  }
  return s;
}

}  // namespace

char* format_double_portable(char* first, char* last, double v) {
  // The fewest significant digits that read back exactly, then, like to_chars, the shorter
  // of fixed and scientific notation (fixed on a tie).
  int digits = 17;
  for (int p = 1; p < 17; ++p) {
    size_t used = 0;
    bool range = false;
    if (strtod_c(printf_c("%.*e", p - 1, v), &used, &range) == v) {
      digits = p;
      break;
    }
  }
  const std::string sci = printf_c("%.*e", digits - 1, v);
  std::string out = sci;
  const std::string::size_type epos = sci.find('e');
  if (epos != std::string::npos) {
    const int exp10 = std::atoi(sci.c_str() + epos + 1);
    const int decimals = digits - 1 - exp10;
    const std::string fixed = printf_c("%.*f", decimals > 0 ? decimals : 0, v);
    if (!fixed.empty() && fixed.size() <= sci.size()) out = fixed;
  }
  if (out.empty() || out.size() > static_cast<size_t>(last - first)) return nullptr;
  std::memcpy(first, out.data(), out.size());
  return first + out.size();
}

ParseResult parse_double_portable(const char* first, const char* last, double& value) {
  // Like from_chars: no leading whitespace or '+', which strtod would accept.
  if (first == last || !(*first == '-' || *first == '.' || (*first >= '0' && *first <= '9')))
    return {first, std::errc::invalid_argument};
  const char* e = first;
  while (e != last && is_json_number_char(*e)) ++e;
  const std::string tok(first, e);
  size_t used = 0;
  bool range = false;
  const double d = strtod_c(tok, &used, &range);
  if (used == 0) return {first, std::errc::invalid_argument};
  // strtod flags ERANGE on overflow and on any underflow, subnormal results included;
  // from_chars reports out of range only when the value is lost (infinite, or zero from
  // nonzero digits).
  if (range) {
    bool nonzero = false;
    for (size_t i = 0; i < used && tok[i] != 'e' && tok[i] != 'E'; ++i) nonzero |= tok[i] >= '1' && tok[i] <= '9';
    if (std::isinf(d) || (d == 0 && nonzero)) return {first + used, std::errc::result_out_of_range};
  }
  value = d;
  return {first + used, std::errc()};
}

}  // namespace detail

}  // namespace symnet
