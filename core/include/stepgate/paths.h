#pragma once
/// Where stepgate keeps its files, and where the policy is found. Every path has an environment
/// override; STEPGATE_HOME moves them all (tests set it so they never touch the real home
/// directory). File helpers are in stepgate/files.h, environment helpers in stepgate/env.h (both
/// included here for the code that took them from this header before).

#include <string>

#include "stepgate/env.h"
#include "stepgate/files.h"
#include "stepgate/result.h"

namespace stepgate {

/// The directories stepgate uses:
///  config  = $STEPGATE_CONFIG_DIR | $STEPGATE_HOME/config | $XDG_CONFIG_HOME/stepgate |
///            ~/.config/stepgate
///  state   = $STEPGATE_STATE_DIR  | $STEPGATE_HOME/state  | $XDG_STATE_HOME/stepgate  |
///            ~/.local/state/stepgate
///  secrets = $STEPGATE_SECRETS_DIR | config
///  state.db = state/state.db ; audit = $STEPGATE_AUDIT | state/audit.jsonl
struct Paths {
  std::string config_dir;
  std::string state_dir;
  std::string secrets_dir;
  std::string state_db;
  std::string audit_log;

  /// The paths `env` names. Commands pass their ProcessContext's (ProcessContext::paths()); no
  /// default, so nothing reads this process's environment behind the context's back.
  static Paths from_environment(const Env& env);
};

/// `path` resolved against `cwd` when it is relative (and `cwd` is not "" or "."); else `path`.
std::string relative_to(const std::string& path, const std::string& cwd);

/// Finds the policy that supplies the settings: the first of the layers find_policy_layers()
/// finds (policy_layers.h) — the system's, else the user's (`explicit_path` relative to `cwd`,
/// $STEPGATE_POLICY, config_dir/policy.yaml, read from `env`), else the repository's. kNotFound
/// when none exists. The gate evaluates every layer; this is for commands that need one policy's
/// settings (approvers, on_error).
Result<std::string> find_policy_path(const std::string& explicit_path, const std::string& cwd,
                                     const Env& env = {});

}  // namespace stepgate
