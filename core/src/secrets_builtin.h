#pragma once
// The built-in secret rules (private to core/src/secrets*.cpp).

#include <string_view>
#include <vector>

namespace stepgate::secrets_detail {

/// A value check run on the captured secret after the pattern matched: false drops the match.
using ValueCheck = bool (*)(std::string_view value);

struct BuiltinRule {
  const char* id;
  const char* description;
  const char* pattern;   // group 1 captures the secret itself
  const char* keywords;  // '|'-separated lower-case literals, one of which every match holds
  ValueCheck check;      // nullptr: every match counts
  bool generic;          // runs after every specific rule (and any policy rule)
};

/// In the order they run on a line: a match overlapping an earlier rule's is not reported again.
const std::vector<BuiltinRule>& builtin_rules();

/// Words and shapes that mark a value as a placeholder rather than a credential.
bool is_placeholder(std::string_view value);

}  // namespace stepgate::secrets_detail
