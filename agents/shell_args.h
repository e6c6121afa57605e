#pragma once
// Option parsing for the commands the shell analysis knows (private to agents/shell_*.cpp):
// GNU style, so `-rf`, `-r -f`, `--recursive --force` and options after operands
// (`rm -r DIR -f`) all read the same.

#include <algorithm>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shell_lexer.h"

namespace stepgate {

struct ShellArgs {
  std::set<char> shorts;
  std::set<std::string> longs;  // without the dashes and without "=value"
  std::vector<std::pair<std::string, std::string>> values;  // option -> value ("-o", "--output")
  std::vector<const ShellWord*> operands;
  bool dynamic_option = false;  // an option whose text comes from an unknown expansion

  [[nodiscard]] bool has(char s, std::string_view l = {}) const {
    return shorts.contains(s) || (!l.empty() && longs.contains(std::string(l)));
  }
  [[nodiscard]] bool has_long(std::string_view l) const { return longs.contains(std::string(l)); }
};

/// Parses `words` (the arguments, program excluded). `short_values` lists the short options that
/// take a value (the rest of the cluster or the next word); `long_values` the long ones (the next
/// word unless written `--name=value`). `--` ends the options; a lone `-` is an operand.
inline ShellArgs parse_shell_args(std::span<const ShellWord> words, std::string_view short_values,
                                  std::initializer_list<std::string_view> long_values = {}) {
  ShellArgs args;
  bool options = true;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const ShellWord& w = words[i];
    const std::string& t = w.text;
    if (!options || t.size() < 2 || t[0] != '-') {
      args.operands.push_back(&w);
      continue;
    }
    if (w.unknown) args.dynamic_option = true;
    if (t == "--") {
      options = false;
      continue;
    }
    if (t[1] == '-') {
      const std::size_t eq = t.find('=');
      std::string name = t.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      if (eq != std::string::npos) {
        args.values.emplace_back("--" + name, t.substr(eq + 1));
      } else if (std::find(long_values.begin(), long_values.end(), name) != long_values.end() &&
                 i + 1 < words.size()) {
        args.values.emplace_back("--" + name, words[++i].text);
      }
      args.longs.insert(std::move(name));
      continue;
    }
    for (std::size_t k = 1; k < t.size(); ++k) {
      const char c = t[k];
      args.shorts.insert(c);
      if (short_values.find(c) == std::string_view::npos) continue;
      if (k + 1 < t.size()) {
        args.values.emplace_back(std::string("-") + c, t.substr(k + 1));
      } else if (i + 1 < words.size()) {
        args.values.emplace_back(std::string("-") + c, words[++i].text);
      }
      break;
    }
  }
  return args;
}

}  // namespace stepgate
