// Doubles to and from text independently of the standard library's <charconv> support.
//
// std::to_chars/std::from_chars for floating point came late: libstdc++ has them from GCC 11,
// Apple's libc++ marks to_chars available only from macOS 13.3 and lacks from_chars for
// doubles. Where <charconv> announces them (__cpp_lib_to_chars) these functions forward to
// them; elsewhere (or with -DSYMNET_NO_FP_CHARCONV) they go through snprintf/strtod, made
// independent of LC_NUMERIC so that a model file written under a German locale still reads
// back.
#pragma once
#include <cstddef>
#include <system_error>

namespace symnet {

// Writes the shortest decimal text of a finite v that reads back to exactly v into
// [first, last) (32 chars always suffice) and returns the end of the text, or nullptr when
// the buffer is too small.
char* format_double(char* first, char* last, double v);

// Result of parse_double, in std::from_chars' terms.
struct ParseResult {
  const char* ptr;  // first character not consumed
  std::errc ec;     // std::errc() on success, invalid_argument, or result_out_of_range
};

// Reads a decimal floating-point number (the JSON number grammar: optional '-', digits,
// optional fraction and exponent; no leading '+', no whitespace) from [first, last). On
// result_out_of_range `value` is left unchanged.
ParseResult parse_double(const char* first, const char* last, double& value);

namespace detail {
// The snprintf/strtod versions, compiled everywhere so that tests compare them with
// <charconv> where both exist.
char* format_double_portable(char* first, char* last, double v);
ParseResult parse_double_portable(const char* first, const char* last, double& value);
}  // namespace detail

}  // namespace symnet
