#pragma once
/// Private to the expression language: tokens.

#include <cstdint>
#include <string>
#include <string_view>

namespace stepgate::expr_detail {

enum class Tok : uint8_t { kEnd, kIdent, kInt, kDouble, kString, kPunct };

struct Token {
  Tok kind = Tok::kEnd;
  std::size_t pos = 0;    // byte offset of the first character
  std::string_view text;  // the token as written (punctuation, identifiers)
  uint64_t int_value = 0;
  double double_value = 0;
  std::string string_value;  // decoded string literal
};

/// Reads the token starting at or after `pos` (skipping whitespace) and advances `pos`.
/// On a lexical error returns false and sets `error` to "column N: message".
bool next_token(std::string_view src, std::size_t& pos, Token& tok, std::string& error);

/// "column N: message" for a byte offset.
std::string at_column(std::size_t pos, std::string_view message);

}  // namespace stepgate::expr_detail
