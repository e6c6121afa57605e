#pragma once
// Running the hook that was there before `stepgate hooks install` (renamed
// <hook>.stepgate-chained): same arguments, the same stdin replayed, output passed through.

#include <string>
#include <string_view>
#include <vector>

#include "stepgate/result.h"

namespace stepgate {

/// The hook that was in place before `stepgate hooks install`, renamed <hook> + this suffix. The
/// one definition: the installer, the hook and the stepgate-hook client all take it from here.
inline constexpr std::string_view kChainedSuffix = ".stepgate-chained";

/// Runs `path` with `args` (argv[1..]) and `input` on its stdin; returns its exit status
/// (128+N when killed by signal N). kNotFound when the file is missing or not executable
/// (git would not run it either).
Result<int> run_chained_hook(const std::string& path, const std::vector<std::string>& args,
                             const std::string& input);

}  // namespace stepgate
