#include "stepgate/glob.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace stepgate {
namespace {

bool has_wildcard(std::string_view pattern) {
  return pattern.find_first_of("*?") != std::string_view::npos;
}

bool is_double_star(std::string_view pattern, std::size_t i) {
  return i + 1 < pattern.size() && pattern[i] == '*' && pattern[i + 1] == '*';
}

bool is_dirs(std::string_view pattern, std::size_t i) {
  return is_double_star(pattern, i) && i + 2 < pattern.size() && pattern[i + 2] == '/';
}

/// Completes a state set with everything reachable without consuming text: a star may match
/// nothing, and `**/` may match no directory at all. Epsilon edges only go forward, so one
/// forward sweep suffices (no recursion, whatever the pattern).
///
/// State i means "pattern[0, i) matched". For `**` at i, state i is "before the stars"; for
/// `**/` state i+1 means "the stars consumed something", which may not skip the '/'.
void close_states(std::string_view pattern, uint8_t* states) {
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (is_double_star(pattern, i)) {
      if (states[i] != 0 || states[i + 1] != 0) states[i + 2] = 1;
      if (states[i] != 0 && is_dirs(pattern, i)) states[i + 3] = 1;
      ++i;
    } else if (pattern[i] == '*' && states[i] != 0) {
      states[i + 1] = 1;
    }
  }
}

/// Simulates the pattern as an NFA over its byte positions: O(pattern * text), no backtracking,
/// so hostile patterns like `*a*a*a*a*b` cannot blow up.
bool nfa_match(std::string_view pattern, std::string_view text, uint8_t* current, uint8_t* next) {
  const std::size_t n = pattern.size() + 1;
  std::fill(current, current + n, 0);
  current[0] = 1;
  close_states(pattern, current);
  for (char c : text) {
    std::fill(next, next + n, 0);
    bool any = false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
      std::size_t to = n;
      if (is_double_star(pattern, i)) {
        if (current[i] != 0 || current[i + 1] != 0) to = is_dirs(pattern, i) ? i + 1 : i;
        ++i;
      } else if (current[i] == 0) {
        continue;
      } else if (pattern[i] == '*') {
        if (c != '/') to = i;
      } else if (pattern[i] == '?' ? c != '/' : pattern[i] == c) {
        to = i + 1;
      }
      if (to < n) next[to] = 1, any = true;
    }
    if (!any) return false;
    close_states(pattern, next);
    std::swap(current, next);
  }
  return current[pattern.size()] != 0;
}

/// A necessary condition, checked before the NFA: every run of literal bytes in the pattern
/// (split at '*', '?' and '/', since `**/` may match nothing) appears in the text, in order. Most
/// paths fail a pattern such as `**/testdata/**` here, in one search per run.
bool literals_in_order(std::string_view pattern, std::string_view text) {
  std::size_t at = 0;
  std::size_t i = 0;
  while (i < pattern.size()) {
    const std::size_t end = std::min(pattern.find_first_of("*?/", i), pattern.size());
    if (end > i) {
      const std::size_t found = text.find(pattern.substr(i, end - i), at);
      if (found == std::string_view::npos) return false;
      at = found + (end - i);
    }
    i = end + 1;
  }
  return true;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text) {
  if (!has_wildcard(pattern)) return pattern == text;
  // Fast path for the common `prefix*` and `prefix**` forms (kinds such as `git.*`).
  std::size_t first = pattern.find_first_of("*?");
  std::string_view prefix = pattern.substr(0, first);
  if (text.substr(0, prefix.size()) != prefix) return false;
  std::string_view rest = pattern.substr(first);
  std::string_view tail = text.substr(prefix.size());
  if (rest == "**") return true;
  if (rest == "*") return tail.find('/') == std::string_view::npos;
  if (!literals_in_order(rest, tail)) return false;

  constexpr std::size_t kStackStates = 256;
  if (rest.size() + 1 <= kStackStates) {
    std::array<uint8_t, kStackStates> a{};
    std::array<uint8_t, kStackStates> b{};
    return nfa_match(rest, tail, a.data(), b.data());
  }
  std::vector<uint8_t> a(rest.size() + 1);
  std::vector<uint8_t> b(rest.size() + 1);
  return nfa_match(rest, tail, a.data(), b.data());
}

}  // namespace stepgate
