#pragma once
/// Glob matching for kinds, refs and paths.

#include <string_view>

namespace stepgate {

/// Matches `text` against `pattern`: `*` any run of characters except '/', `**` any run
/// including '/', `?` one character except '/'; everything else literal. For kinds (`git.*`) the
/// '.' is an ordinary character, so `git.*` matches `git.push`.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace stepgate
