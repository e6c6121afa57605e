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

/// The `command = "..."` values of the [[hooks.PreToolUse.hooks]] tables in a Codex config.toml
/// (basic and literal strings; the rest of TOML is not read).
std::vector<std::string> codex_toml_hook_commands(std::string_view toml);

}  // namespace stepgate
