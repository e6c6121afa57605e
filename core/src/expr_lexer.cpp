#include "expr_lexer.h"

#include <cctype>
#include <charconv>
#include <cstdlib>

namespace stepgate::expr_detail {
namespace {

bool is_ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_';
}
bool is_ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/// Decodes the escape at src[pos] (just after the backslash); advances pos past it.
bool read_escape(std::string_view src, std::size_t& pos, std::string& out, std::string& error) {
  const std::size_t start = pos - 1;
  if (pos >= src.size()) return error = at_column(start, "unterminated string"), false;
  char c = src[pos++];
  switch (c) {
    case 'n':
      out += '\n';
      return true;
    case 't':
      out += '\t';
      return true;
    case 'r':
      out += '\r';
      return true;
    case 'a':
      out += '\a';
      return true;
    case 'b':
      out += '\b';
      return true;
    case 'f':
      out += '\f';
      return true;
    case 'v':
      out += '\v';
      return true;
    case '\\':
    case '"':
    case '\'':
    case '`':
    case '?':
      out += c;
      return true;
    default:
      break;
  }
  int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
  uint32_t cp = 0;
  if (digits == 0 && c >= '0' && c <= '3') {  // octal \ooo
    cp = static_cast<uint32_t>(c - '0');
    for (int i = 0; i < 2; ++i, ++pos) {
      if (pos >= src.size() || src[pos] < '0' || src[pos] > '7') {
        return error = at_column(start, "octal escape needs three digits"), false;
      }
      cp = cp * 8 + static_cast<uint32_t>(src[pos] - '0');
    }
    out += static_cast<char>(cp);
    return true;
  }
  if (digits == 0) return error = at_column(start, "unknown escape sequence"), false;
  for (int i = 0; i < digits; ++i, ++pos) {
    int h = pos < src.size() ? hex_value(src[pos]) : -1;
    if (h < 0) return error = at_column(start, "bad hexadecimal escape"), false;
    cp = cp * 16 + static_cast<uint32_t>(h);
  }
  if (c == 'x') {
    out += static_cast<char>(cp);
    return true;
  }
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return error = at_column(start, "escape is not a valid code point"), false;
  }
  append_utf8(out, cp);
  return true;
}

bool read_string(std::string_view src, std::size_t& pos, bool raw, Token& tok, std::string& error) {
  const char quote = src[pos++];
  tok.kind = Tok::kString;
  tok.string_value.clear();
  while (pos < src.size()) {
    char c = src[pos++];
    if (c == quote) return true;
    if (c == '\n' || c == '\r') break;
    if (c == '\\' && !raw) {
      if (!read_escape(src, pos, tok.string_value, error)) return false;
      continue;
    }
    tok.string_value += c;
  }
  error = at_column(tok.pos, "unterminated string");
  return false;
}

bool read_number(std::string_view src, std::size_t& pos, Token& tok, std::string& error) {
  const std::size_t start = pos;
  if (src.substr(pos, 2) == "0x" || src.substr(pos, 2) == "0X") {
    pos += 2;
    std::size_t digits = pos;
    while (pos < src.size() && hex_value(src[pos]) >= 0) ++pos;
    auto [p, ec] = std::from_chars(src.data() + digits, src.data() + pos, tok.int_value, 16);
    if (digits == pos || ec != std::errc()) {
      return error = at_column(start, "integer literal out of range"), false;
    }
    tok.kind = Tok::kInt;
    return true;
  }
  while (pos < src.size() && is_digit(src[pos])) ++pos;
  bool is_double = false;
  if (pos + 1 < src.size() && src[pos] == '.' && is_digit(src[pos + 1])) {
    is_double = true;
    for (++pos; pos < src.size() && is_digit(src[pos]);) ++pos;
  }
  if (pos < src.size() && (src[pos] == 'e' || src[pos] == 'E')) {
    std::size_t e = pos + 1;
    if (e < src.size() && (src[e] == '+' || src[e] == '-')) ++e;
    if (e >= src.size() || !is_digit(src[e])) return error = at_column(pos, "bad exponent"), false;
    is_double = true;
    for (pos = e; pos < src.size() && is_digit(src[pos]);) ++pos;
  }
  if (pos < src.size() && is_ident_char(src[pos])) {
    return error = at_column(pos, "unexpected character after number"), false;
  }
  std::string text(src.substr(start, pos - start));
  if (is_double) {
    tok.kind = Tok::kDouble;
    tok.double_value = std::strtod(text.c_str(), nullptr);
    return true;
  }
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), tok.int_value);
  if (ec != std::errc()) return error = at_column(start, "integer literal out of range"), false;
  tok.kind = Tok::kInt;
  return true;
}

std::size_t punct_length(std::string_view rest) {
  static constexpr std::string_view kTwo[] = {"<=", ">=", "==", "!=", "&&", "||"};
  for (std::string_view p : kTwo) {
    if (rest.substr(0, 2) == p) return 2;
  }
  return std::string_view("()[].,?:!-+*/%<>").find(rest[0]) != std::string_view::npos ? 1 : 0;
}

}  // namespace

std::string at_column(std::size_t pos, std::string_view message) {
  return "column " + std::to_string(pos + 1) + ": " + std::string(message);
}

bool next_token(std::string_view src, std::size_t& pos, Token& tok, std::string& error) {
  while (pos < src.size() && std::isspace(static_cast<unsigned char>(src[pos])) != 0) ++pos;
  tok.pos = pos;
  if (pos >= src.size()) {
    tok.kind = Tok::kEnd;
    tok.text = {};
    return true;
  }
  char c = src[pos];
  bool raw = (c == 'r' || c == 'R') && pos + 1 < src.size() &&
             (src[pos + 1] == '"' || src[pos + 1] == '\'');
  if (raw) ++pos;
  if (raw || c == '"' || c == '\'') return read_string(src, pos, raw, tok, error);
  if (is_digit(c)) return read_number(src, pos, tok, error);
  if (is_ident_start(c)) {
    while (pos < src.size() && is_ident_char(src[pos])) ++pos;
    tok.kind = Tok::kIdent;
    tok.text = src.substr(tok.pos, pos - tok.pos);
    return true;
  }
  std::size_t n = punct_length(src.substr(pos));
  if (n == 0) {
    if (c == '=') return error = at_column(pos, "unexpected '=' (use '==')"), false;
    error = at_column(pos, std::isprint(static_cast<unsigned char>(c)) != 0
                               ? "unexpected character '" + std::string(1, c) + "'"
                               : std::string("unexpected character"));
    return false;
  }
  tok.kind = Tok::kPunct;
  tok.text = src.substr(pos, n);
  pos += n;
  return true;
}

}  // namespace stepgate::expr_detail
