#pragma once
// The command line about itself: completions, the man page, and typo suggestions.

#include <string>

#include "command.h"

namespace stepgate {

/// Registers `stepgate completion bash|zsh|fish` and `stepgate man` (both generated from `app`).
void register_meta_commands(CLI::App& app, CommandContext& context);

/// The listed subcommand of `app` within two edits of `word` (the closest), or "" when none is.
std::string closest_subcommand(const CLI::App& app, const std::string& word);

}  // namespace stepgate
