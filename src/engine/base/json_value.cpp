#include "engine/base/json_value.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "engine/base/error.h"
#include "engine/base/numtext.h"

namespace symnet {
namespace json {

namespace {

constexpr int kMaxDepth = 200;

class Parser {
 public:
  explicit Parser(std::string_view text) : t_(text) {}

  Value parse() {
    Value v = value(0);
    skip_ws();
    if (p_ != t_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    SN_THROW(ErrorKind::value, "malformed JSON at offset " << p_ << ": " << what);
  }
  void skip_ws() {
    while (p_ < t_.size() && (t_[p_] == ' ' || t_[p_] == '\n' || t_[p_] == '\t' || t_[p_] == '\r')) ++p_;
  }
  char peek() {
    skip_ws();
    if (p_ >= t_.size()) fail("unexpected end of input");
    return t_[p_];
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++p_;
  }
  void literal(const char* word) {
    size_t n = std::strlen(word);
    if (t_.compare(p_, n, word) != 0) fail("invalid literal");
    p_ += n;
  }

  Value value(int depth) {
    if (depth > kMaxDepth) fail("nesting too deep");
    Value v;
    char c = peek();
    if (c == '{') {
      v.kind = Value::object;
      ++p_;
      if (peek() == '}') { ++p_; return v; }
      for (;;) {
        if (peek() != '"') fail("expected a string key");
        std::string k = string_body();
        expect(':');
        v.members.emplace_back(std::move(k), value(depth + 1));
        if (peek() == ',') { ++p_; continue; }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.kind = Value::array;
      ++p_;
      if (peek() == ']') { ++p_; return v; }
      for (;;) {
        v.items.push_back(value(depth + 1));
        if (peek() == ',') { ++p_; continue; }
        expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.kind = Value::string;
      v.s = string_body();
      return v;
    }
    if (c == 't') { literal("true"); v.kind = Value::boolean; v.b = true; return v; }
    if (c == 'f') { literal("false"); v.kind = Value::boolean; return v; }
    if (c == 'n') { literal("null"); return v; }
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    fail(std::string("unexpected character '") + c + "'");
  }

  Value number() {
    size_t start = p_;
    auto digit = [&] { return p_ < t_.size() && t_[p_] >= '0' && t_[p_] <= '9'; };
    if (t_[p_] == '-') ++p_;
    if (!digit()) fail("invalid number");
    if (t_[p_] == '0') ++p_;
    else while (digit()) ++p_;
    bool integral = true;
    if (p_ < t_.size() && t_[p_] == '.') {
      integral = false;
      ++p_;
      if (!digit()) fail("invalid number");
      while (digit()) ++p_;
    }
    if (p_ < t_.size() && (t_[p_] == 'e' || t_[p_] == 'E')) {
      integral = false;
      ++p_;
      if (p_ < t_.size() && (t_[p_] == '+' || t_[p_] == '-')) ++p_;
      if (!digit()) fail("invalid number");
      while (digit()) ++p_;
    }
    Value v;
    v.kind = Value::number;
    const char* b = t_.data() + start;
    const char* e = t_.data() + p_;
    auto rd = parse_double(b, e, v.d);
    if (rd.ec == std::errc::result_out_of_range) {
      // Too large or too small for a double: tell them apart by the exponent's sign, or,
      // without an exponent, by a zero integer part.
      std::string tok(b, e);
      size_t ex = tok.find_first_of("eE");
      bool tiny = ex != std::string::npos ? tok.find('-', ex) != std::string::npos
                                          : (tok.rfind("0.", 0) == 0 || tok.rfind("-0.", 0) == 0);
      double mag = tiny ? 0.0 : HUGE_VAL;
      v.d = (*b == '-') ? -mag : mag;
    } else if (rd.ec != std::errc() || rd.ptr != e) {
      fail("invalid number");
    }
    if (integral) {
      auto ri = std::from_chars(b, e, v.i);
      v.is_int = ri.ec == std::errc() && ri.ptr == e;
    }
    return v;
  }

  static void put_utf8(std::string& o, uint32_t cp) {
    if (cp < 0x80) {
      o += static_cast<char>(cp);
    } else if (cp < 0x800) {
      o += static_cast<char>(0xC0 | (cp >> 6));
      o += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      o += static_cast<char>(0xE0 | (cp >> 12));
      o += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      o += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      o += static_cast<char>(0xF0 | (cp >> 18));
      o += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      o += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      o += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  uint32_t hex4() {
    if (p_ + 4 > t_.size()) fail("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = t_[p_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else fail("invalid \\u escape");
    }
    return v;
  }

  std::string string_body() {
    ++p_;  // opening quote
    std::string o;
    for (;;) {
      if (p_ >= t_.size()) fail("unterminated string");
      char c = t_[p_++];
      if (c == '"') return o;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') { o += c; continue; }
      if (p_ >= t_.size()) fail("unterminated string");
      char e = t_[p_++];
      switch (e) {
        case '"': o += '"'; break;
        case '\\': o += '\\'; break;
        case '/': o += '/'; break;
        case 'b': o += '\b'; break;
        case 'f': o += '\f'; break;
        case 'n': o += '\n'; break;
        case 'r': o += '\r'; break;
        case 't': o += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00) {
            if (p_ + 2 > t_.size() || t_[p_] != '\\' || t_[p_ + 1] != 'u') fail("unpaired surrogate");
            p_ += 2;
            uint32_t lo = hex4();
            if (lo < 0xDC00 || lo >= 0xE000) fail("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            fail("unpaired surrogate");
          }
          put_utf8(o, cp);
          break;
        }
        default: fail("invalid escape");
      }
    }
  }

  std::string_view t_;
  size_t p_ = 0;
};

}  // namespace

const Value* Value::find(const std::string& k) const {
  for (const auto& m : members)
    if (m.first == k) return &m.second;
  return nullptr;
}

Value parse(std::string_view text) { return Parser(text).parse(); }

}  // namespace json
}  // namespace symnet
