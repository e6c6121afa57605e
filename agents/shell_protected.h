#pragma once
// Which paths a tool call names reach stepgate's own files: its config, secrets and state
// directories (seeds, keys, state database, audit log), and any repository's `.stepgate/`
// directory (the repository policy layer), however the path is spelled: through `cd`, `..`,
// `~`, $HOME, a glob (`~/.c*/step*/totp/*`), or an ancestor given to a recursive command.

#include <string>
#include <vector>

#include "shell_analysis.h"
#include "stepgate/env.h"

namespace stepgate {

/// stepgate's config, secrets and state directories as this process resolves them (the
/// environment overrides), plus their defaults under `home` and /etc/stepgate.
std::vector<std::string> stepgate_dirs(const std::string& home, const Env& env = {});

enum class StepgateReach {
  kNone,
  kOwnFiles,   // in the config, secrets or state directory
  kAncestor,   // a directory above them, given to a recursive command (rm -r, tar, grep -r)
  kRepoLayer,  // in a `.stepgate` directory
};

/// Whether `p` reaches one of `dirs` (or a `.stepgate` directory). A glob reaches a directory
/// when it could match it or something under it; an ancestor counts when `p.recursive`. An
/// uncertain path (unknown variable or directory) counts when a component names stepgate.
StepgateReach stepgate_reach(const ShellPath& p, const std::vector<std::string>& dirs);

}  // namespace stepgate
