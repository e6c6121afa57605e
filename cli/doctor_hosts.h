#pragma once
// `stepgate doctor`'s checks of the agent hosts besides Claude Code: where each keeps its hook
// settings, whether a stepgate hook is installed there, which program it runs and whether that
// exists, whether the host's fail-closed option is on (Cursor's failClosed; the others have none),
// and a probe (`rm -rf /` in the host's own payload) that the hook must block, read the way the
// host reads the answer.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "stepgate/env.h"
#include "stepgate/value.h"
#include "subprocess.h"

namespace stepgate {

enum class HostCheckLevel { kOk, kInfo, kWarn, kFail };

/// One line of the doctor's report.
struct HostCheck {
  std::string area;  // the host: "codex", "cursor", "gemini", "copilot"
  std::string name;  // the settings file
  HostCheckLevel level = HostCheckLevel::kOk;
  std::string detail;
  std::string program;  // a hook that blocked its probe: the program it runs (for the version)
};

struct HostCheckContext {
  std::string repo_dir;
  Env env;               // HOME, CODEX_HOME, PATH
  ProcessOptions probe;  // how a probe runs: scratch state, no terminal, no daemon started
  /// The program a command line runs (its first word that is not NAME=value).
  std::function<std::string(std::string_view)> program_of;
};

/// Every host's settings files, the stepgate hooks in them, and a probe of each. A host with no
/// stepgate hook gets one kInfo line.
std::vector<HostCheck> check_agent_host_hooks(const HostCheckContext& context);

/// A Claude Code hook entry that is stepgate's HTTP hook (`type: http`, url ending in
/// /v1/claude/hook).
bool is_claude_http_hook(const Value& hook);

/// What doctor.cpp's command probe does not cover in a stepgate Claude Code hook entry: that it
/// says `"onFailure": "block"` (else Claude Code runs the call when the hook cannot start, crashes,
/// times out, or for the HTTP form is refused or unreachable); and for the HTTP form, that its URL
/// is loopback and the daemon answers there with the token in `token_path`. The HTTP form gets no
/// `rm -rf /` probe: the daemon would record it in the user's own state and audit log.
std::vector<HostCheck> check_claude_hook_entry(const std::string& file, const Value& hook,
                                               const std::string& token_path);

/// The `command = "..."` values of the [[hooks.PreToolUse.hooks]] tables in a Codex config.toml
/// (basic and literal strings; the rest of TOML is not read).
std::vector<std::string> codex_toml_hook_commands(std::string_view toml);

}  // namespace stepgate
