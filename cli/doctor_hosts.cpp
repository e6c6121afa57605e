#include "doctor_hosts.h"

#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <utility>

#include "claude_hook_http.h"
#include "stepgate/files.h"
#include "stepgate/json.h"
#include "stepgate/value.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxSettingsBytes = std::size_t{1} << 20;

/// What a host does when its hook crashes, times out or cannot start.
enum class OnFailure {
  kOption,        // blocks when the entry says so (Cursor: failClosed: true)
  kFailsOpen,     // runs the tool (Codex, Gemini CLI: only exit 2 blocks)
  kUndocumented,  // no documented fail-closed option (Copilot)
};

struct HostSpec {
  std::string_view host;
  std::string_view display;
  std::vector<std::string_view> events;  // the hooks.EVENT lists that gate a tool call
  OnFailure on_failure;
  std::string (*probe)(const std::string& cwd);
  std::vector<std::string_view> decision_path;  // where the host reads its decision
  std::vector<std::string_view> blocking;       // the decisions that block
  bool exit2_blocks;                            // exit 2 alone blocks the call
};

std::string json_of(Map map) {
  return to_json(Value(std::move(map)));
}

Map shell_input() {
  Map input;
  input["command"] = Value("rm -rf /");
  return input;
}

std::string codex_probe(const std::string& cwd) {
  return json_of({{"session_id", Value("stepgate-doctor")},
                  {"cwd", Value(cwd)},
                  {"hook_event_name", Value("PreToolUse")},
                  {"tool_name", Value("Bash")},
                  {"tool_use_id", Value("stepgate-doctor")},
                  {"tool_input", Value(shell_input())}});
}

std::string cursor_probe(const std::string& cwd) {
  return json_of({{"conversation_id", Value("stepgate-doctor")},
                  {"hook_event_name", Value("beforeShellExecution")},
                  {"command", Value("rm -rf /")},
                  {"cwd", Value(cwd)},
                  {"workspace_roots", Value(List{Value(cwd)})}});
}

std::string gemini_probe(const std::string& cwd) {
  return json_of({{"session_id", Value("stepgate-doctor")},
                  {"cwd", Value(cwd)},
                  {"hook_event_name", Value("BeforeTool")},
                  {"tool_name", Value("run_shell_command")},
                  {"tool_input", Value(shell_input())}});
}

std::string copilot_probe(const std::string& cwd) {
  return json_of({{"cwd", Value(cwd)},
                  {"toolName", Value("bash")},
                  {"toolArgs", Value(to_json(Value(shell_input())))}});
}

const std::vector<HostSpec>& host_specs() {
  static const std::vector<HostSpec> kSpecs = {
      {"codex",
       "Codex",
       {"PreToolUse"},
       OnFailure::kFailsOpen,
       codex_probe,
       {"hookSpecificOutput", "permissionDecision"},
       {"deny"},
       true},
      {"cursor",
       "Cursor",
       {"beforeShellExecution", "beforeMCPExecution", "preToolUse"},
       OnFailure::kOption,
       cursor_probe,
       {"permission"},
       {"deny", "ask"},
       true},
      {"gemini",
       "Gemini CLI",
       {"BeforeTool"},
       OnFailure::kFailsOpen,
       gemini_probe,
       {"decision"},
       {"deny", "block"},
       true},
      {"copilot",
       "GitHub Copilot",
       {"preToolUse"},
       OnFailure::kUndocumented,
       copilot_probe,
       {"permissionDecision"},
       {"deny"},
       false},
  };
  return kSpecs;
}

/// Each host's settings files, most general first.
std::vector<std::string> settings_files(const HostSpec& spec, const HostCheckContext& context) {
  const std::string home = context.env.get("HOME");
  const std::string& repo = context.repo_dir;
  if (spec.host == "codex") {
    const std::string codex_home =
        context.env.get("CODEX_HOME").empty() ? home + "/.codex" : context.env.get("CODEX_HOME");
    return {codex_home + "/hooks.json", codex_home + "/config.toml", repo + "/.codex/hooks.json"};
  }
  if (spec.host == "cursor") return {home + "/.cursor/hooks.json", repo + "/.cursor/hooks.json"};
  if (spec.host == "gemini") {
    return {"/etc/gemini-cli/settings.json", home + "/.gemini/settings.json",
            repo + "/.gemini/settings.json"};
  }
  std::vector<std::string> files;  // copilot: every .github/hooks/*.json
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(repo + "/.github/hooks", ec)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

/// One hook entry: the command line it runs and whether it says failClosed: true.
struct Entry {
  std::string command;
  bool fail_closed = false;
  std::vector<std::string> events;
};

/// The stepgate entries of hooks.EVENT lists: either entries themselves (Cursor, Copilot) or
/// matcher groups holding a `hooks` list (Codex, Gemini). The command is `command` or `bash`.
std::vector<Entry> json_entries(const Value& settings, const HostSpec& spec) {
  std::map<std::string, Entry> by_command;
  const Value* hooks = settings.find("hooks");
  if (hooks == nullptr || !hooks->is_map()) return {};
  auto take = [&](const Value& hook, std::string_view event) {
    for (std::string_view key : {"command", "bash"}) {
      const Value* command = hook.find(key);
      if (command == nullptr || !command->is_string() ||
          command->as_string().find("stepgate") == std::string::npos) {
        continue;
      }
      Entry& entry = by_command[command->as_string()];
      entry.command = command->as_string();
      const Value* fail_closed = hook.find("failClosed");
      entry.fail_closed =
          fail_closed != nullptr && fail_closed->is_bool() && fail_closed->as_bool();
      entry.events.emplace_back(event);
      return;
    }
  };
  for (std::string_view event : spec.events) {
    const Value* list = hooks->find(event);
    if (list == nullptr || !list->is_list()) continue;
    for (const Value& item : list->as_list()) {
      const Value* inner = item.find("hooks");
      if (inner == nullptr || !inner->is_list()) {
        take(item, event);
        continue;
      }
      for (const Value& hook : inner->as_list()) take(hook, event);
    }
  }
  std::vector<Entry> out;
  for (auto& [command, entry] : by_command) out.push_back(std::move(entry));
  return out;
}

/// The string at `path` in the hook's stdout JSON, or "".
std::string decision_of(const std::string& out, const std::vector<std::string_view>& path) {
  Result<Value> reply = parse_json(out);
  if (!reply.ok()) return {};
  const Value* at = &*reply;
  for (std::string_view key : path) {
    at = at->find(key);
    if (at == nullptr) return {};
  }
  return at->is_string() ? at->as_string() : std::string();
}

/// True when `program` can be run: a path that is executable, or a name found on PATH.
bool runnable(const std::string& program, const Env& env) {
  if (program.empty()) return false;
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0;
  const std::string path = env.get("PATH");
  for (std::size_t from = 0; from <= path.size();) {
    const std::size_t to = std::min(path.find(':', from), path.size());
    const std::string dir = to > from ? path.substr(from, to - from) : ".";
    if (::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    from = to + 1;
  }
  return false;
}

std::string failure_note(const HostSpec& spec) {
  switch (spec.on_failure) {
    case OnFailure::kOption:
      return "";
    case OnFailure::kFailsOpen:
      // Codex 0.171.0 skips a non-managed hook until its exact definition is trusted; doctor
      // cannot see that state, so it says it.
      return "; " + std::string(spec.display) +
             " runs the call if the hook crashes or times out (no fail-closed option: see the "
             "README's agent hosts for what covers it)" +
             (spec.host == "codex" ? "; Codex skips a new or changed hook until you trust it in "
                                     "its /hooks view"
                                   : "");
    case OnFailure::kUndocumented:
      return "; " + std::string(spec.display) +
             " documents no fail-closed option: treat a crash or timeout as failing open";
  }
  return "";
}

void check_entry(const HostSpec& spec, const std::string& file, const Entry& entry,
                 const HostCheckContext& context, std::vector<HostCheck>& out) {
  const std::string area(spec.host);
  if (spec.on_failure == OnFailure::kOption && !entry.fail_closed) {
    out.push_back({area, file, HostCheckLevel::kWarn,
                   std::string(spec.display) +
                       " runs the call when this hook crashes, times out or cannot start: set "
                       "\"failClosed\": true on it (`stepgate agent-hook " +
                       area + " --print-config` prints it)",
                   ""});
  }
  const std::string program = context.program_of(entry.command);
  if (!runnable(program, context.env)) {
    out.push_back({area, file, HostCheckLevel::kFail,
                   "the hook runs `" + program + "`, which does not exist or is not executable: " +
                       std::string(spec.display) + " cannot start it" +
                       (spec.on_failure == OnFailure::kOption && entry.fail_closed
                            ? " (failClosed blocks every call)"
                            : " and runs the call"),
                   ""});
    return;
  }
  ProcessOptions probe = context.probe;
  probe.input = spec.probe(context.repo_dir);
  // The settings string run as the host runs it (sh -c); doctor builds no command from it.
  auto r = run_process({"/bin/sh", "-c", entry.command}, probe);
  if (!r.ok()) {
    out.push_back({area, file, HostCheckLevel::kFail,
                   "could not run `" + entry.command + "`: " + r.error().message, ""});
    return;
  }
  const std::string decision = decision_of(r->out, spec.decision_path);
  const bool decided =
      std::find(spec.blocking.begin(), spec.blocking.end(), decision) != spec.blocking.end();
  if (decided || (spec.exit2_blocks && r->exit_code == 2)) {
    out.push_back({area, file, HostCheckLevel::kOk,
                   (decided ? "answers `" + decision + "` to" : std::string("blocks")) +
                       " `rm -rf /` (exit " + std::to_string(r->exit_code) + ")" +
                       failure_note(spec),
                   program});
    return;
  }
  out.push_back({area, file, HostCheckLevel::kFail,
                 "let `rm -rf /` through (exit " + std::to_string(r->exit_code) +
                     (decision.empty() ? std::string() : ", decision " + decision) +
                     "): " + std::string(spec.display) + " would run the call; command `" +
                     entry.command + "`",
                 ""});
}

}  // namespace

bool is_claude_http_hook(const Value& hook) {
  return hook.get_string("type") == "http" &&
         std::string_view(hook.get_string("url")).ends_with(kClaudeHttpPath);
}

std::vector<HostCheck> check_claude_hook_entry(const std::string& file, const Value& hook,
                                               const std::string& token_path) {
  std::vector<HostCheck> out;
  const bool http = is_claude_http_hook(hook);
  if (hook.get_string("onFailure") != "block") {
    out.push_back({"claude", file, HostCheckLevel::kWarn,
                   std::string("Claude Code runs the call when this hook ") +
                       (http ? "is refused, unreachable (no daemon) or times out"
                             : "cannot start, crashes or times out") +
                       ": add \"onFailure\": \"block\" (Claude Code 2.1.295 or later; `stepgate "
                       "agent-hook claude --print-config" +
                       (http ? " --http" : "") + "` prints it)",
                   ""});
  }
  if (!http) return out;
  // Only a loopback URL is sent the token: anything else could collect it.
  const std::string url = hook.get_string("url");
  static const std::string kPrefix = "http://127.0.0.1:";
  const std::size_t path_at = url.find('/', kPrefix.size());
  const int port = url.starts_with(kPrefix) && path_at != std::string::npos
                       ? std::atoi(url.substr(kPrefix.size(), path_at - kPrefix.size()).c_str())
                       : 0;
  if (port <= 0 || port > 65535) {
    out.push_back({"claude", file, HostCheckLevel::kWarn,
                   "the HTTP hook's URL " + url +
                       " is not stepgate's loopback listener (http://127.0.0.1:PORT" +
                       std::string(kClaudeHttpPath) + "); not probed",
                   ""});
    return out;
  }
  Result<std::string> token = read_claude_http_token(token_path);
  if (!token.ok()) {
    out.push_back({"claude", file, HostCheckLevel::kFail, token.error().message, ""});
    return out;
  }
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(30, 0);
  // An event stepgate does not gate: it proves the daemon answers and takes the token, and
  // leaves no challenge or audit record behind.
  auto reply = client.Post(std::string(kClaudeHttpPath), {{"Authorization", "Bearer " + *token}},
                           R"({"hook_event_name":"SessionStart","session_id":"stepgate-doctor"})",
                           "application/json");
  if (!reply) {
    out.push_back({"claude", file, HostCheckLevel::kWarn,
                   "nothing answers on " + url + ": start `stepgate daemon --http-port " +
                       std::to_string(port) + "`" +
                       (hook.get_string("onFailure") == "block"
                            ? " (until then Claude Code blocks every tool call)"
                            : " (until then Claude Code runs every tool call unchecked)"),
                   ""});
    return out;
  }
  if (reply->status != 200) {
    out.push_back({"claude", file, HostCheckLevel::kFail,
                   url + " answered " + std::to_string(reply->status) + " to the token in " +
                       token_path + ": not this user's stepgate daemon",
                   ""});
    return out;
  }
  out.push_back({"claude", file, HostCheckLevel::kOk,
                 "HTTP hook: stepgate daemon answers on " + url + " with the token in " +
                     token_path + " (Claude Code must have $" + std::string(kClaudeHttpTokenEnv) +
                     " set)",
                 ""});
  return out;
}

std::vector<std::string> codex_toml_hook_commands(std::string_view toml) {
  std::vector<std::string> commands;
  bool in_hook = false;
  for (std::size_t at = 0; at < toml.size();) {
    const std::size_t end = std::min(toml.find('\n', at), toml.size());
    std::string_view line = toml.substr(at, end - at);
    at = end + 1;
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.starts_with('[')) {
      in_hook = line.starts_with("[[hooks.PreToolUse.hooks]]");
      continue;
    }
    if (!in_hook || !line.starts_with("command")) continue;
    std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view value = line.substr(eq + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (value.empty() || (value.front() != '"' && value.front() != '\'')) continue;
    const char quote = value.front();
    std::string text;
    for (std::size_t i = 1; i < value.size() && value[i] != quote; ++i) {
      // Basic strings escape; literal ('…') strings do not.
      if (quote == '"' && value[i] == '\\' && i + 1 < value.size()) {
        ++i;
        text += value[i] == 'n' ? '\n' : value[i] == 't' ? '\t' : value[i];
        continue;
      }
      text += value[i];
    }
    commands.push_back(std::move(text));
  }
  return commands;
}

std::vector<HostCheck> check_agent_host_hooks(const HostCheckContext& context) {
  std::vector<HostCheck> out;
  for (const HostSpec& spec : host_specs()) {
    bool any = false;
    for (const std::string& file : settings_files(spec, context)) {
      auto text = read_file(file, kMaxSettingsBytes);
      if (!text.ok()) continue;
      std::vector<Entry> entries;
      if (file.ends_with(".toml")) {
        for (std::string& command : codex_toml_hook_commands(*text)) {
          if (command.find("stepgate") == std::string::npos) continue;
          entries.push_back({std::move(command), false, {"PreToolUse"}});
        }
      } else {
        auto settings = parse_json(*text);
        if (!settings.ok()) {
          out.push_back({std::string(spec.host), file, HostCheckLevel::kWarn,
                         "not valid JSON: " + settings.error().message, ""});
          continue;
        }
        entries = json_entries(*settings, spec);
      }
      for (const Entry& entry : entries) {
        any = true;
        check_entry(spec, file, entry, context, out);
      }
    }
    if (!any) {
      out.push_back({std::string(spec.host), std::string(spec.events.front()),
                     HostCheckLevel::kInfo,
                     "no stepgate hook in " + std::string(spec.display) + "'s settings", ""});
    }
  }
  return out;
}

}  // namespace stepgate
