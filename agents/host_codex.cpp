// OpenAI Codex: a PreToolUse command hook (~/.codex/hooks.json or [hooks] in config.toml). Codex
// sends {session_id, turn_id, transcript_path, cwd, hook_event_name, model, permission_mode,
// tool_name, tool_use_id, tool_input}; tool_name is Bash, apply_patch (both with
// tool_input.command) or mcp__SERVER__TOOL. Only a deny is effective in PreToolUse: an allow or
// ask is not honoured there, so a held call is denied with how to approve it and that the
// identical retry then passes once.
#include <sstream>

#include "host_hook.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

constexpr std::string_view kHost = "codex";
constexpr std::string_view kPreToolUse = "PreToolUse";

/// The files an apply_patch envelope names ("*** Update File: PATH", Add, Delete, "*** Move to:").
List patch_paths(const std::string& patch) {
  static constexpr std::string_view kMarkers[] = {
      "*** Update File: ", "*** Add File: ", "*** Delete File: ", "*** Move to: "};
  List paths;
  std::istringstream lines(patch);
  for (std::string line; std::getline(lines, line);) {
    for (std::string_view marker : kMarkers) {
      if (line.rfind(marker, 0) == 0) paths.emplace_back(line.substr(marker.size()));
    }
  }
  return paths;
}

/// apply_patch carries a patch, not a shell command, in `command`: the gate sees the patch and the
/// paths it writes, so the path signals (outside_workspace, sensitive_paths...) read them.
Result<ToolCall> patch_call(const Value& input) {
  const Value* patch = input.find("command");
  if (patch == nullptr || !patch->is_string()) {
    return invalid_argument("codex hook event: apply_patch `tool_input.command` must be a string");
  }
  ToolCall call;
  call.tool = "apply_patch";
  Map arguments;
  arguments["patch"] = *patch;
  arguments["paths"] = Value(patch_paths(patch->as_string()));
  call.arguments = Value(std::move(arguments));
  return call;
}

Result<ToolCall> codex_call(const std::string& tool, const Value& input) {
  if (tool == "Bash") return shell_call(input, kHost);
  if (tool == "apply_patch") return patch_call(input);
  ToolCall call;
  call.tool = tool;
  call.arguments = input;
  constexpr std::string_view kMcp = "mcp__";
  if (tool.rfind(kMcp, 0) == 0) {
    const std::string rest = tool.substr(kMcp.size());
    const std::size_t split = rest.find("__");
    if (split != std::string::npos && split > 0 && split + 2 < rest.size()) {
      call.server = rest.substr(0, split);
      call.tool = rest.substr(split + 2);
    }
  }
  return call;
}

Result<HostEvent> parse(const Value& root) {
  HostEvent event;
  Result<std::string> name = hook_string(root, "hook_event_name", kHost);
  if (!name.ok()) return name.error();
  if (name->empty()) return invalid_argument("codex hook event: no `hook_event_name`");
  event.name = *name;
  if (event.name != kPreToolUse) return event;
  Result<std::string> tool = hook_string(root, "tool_name", kHost);
  if (!tool.ok()) return tool.error();
  if (tool->empty()) return invalid_argument("codex hook event: no `tool_name`");
  const Value* input = root.find("tool_input");
  if (input != nullptr && !input->is_null() && !input->is_map()) {
    return invalid_argument("codex hook event: `tool_input` must be an object");
  }
  const Value none = Map{};
  Result<ToolCall> call = codex_call(*tool, input != nullptr && input->is_map() ? *input : none);
  if (!call.ok()) return call.error();
  event.call = std::move(call).value();
  for (auto [key, out] : {std::pair{"session_id", &event.call.session}, {"cwd", &event.call.cwd}}) {
    Result<std::string> value = hook_string(root, key, kHost);
    if (!value.ok()) return value.error();
    *out = *value;
  }
  event.gated = true;
  return event;
}

std::string deny_json(std::string_view reason) {
  Map inner;
  inner["hookEventName"] = Value(kPreToolUse);
  inner["permissionDecision"] = Value("deny");
  inner["permissionDecisionReason"] = Value(reason);
  Map outer;
  outer["hookSpecificOutput"] = Value(std::move(inner));
  return to_json(Value(std::move(outer))) + "\n";
}

ClaudeHookReply reply(const HostEvent& /*event*/, const HookAnswer& answer) {
  switch (answer.verdict) {
    case HookVerdict::kNone:
    case HookVerdict::kAllow:
      // Codex ignores an allow here (and additionalContext on PreToolUse): print nothing.
      return {};
    case HookVerdict::kDeny:
    case HookVerdict::kHeld:
      // A held call is denied: `ask` is not effective in Codex's PreToolUse.
      return {0, deny_json(answer.reason)};
  }
  return {0, deny_json(answer.reason)};
}

/// Exit 2 is Codex's blocking error, with stderr (written by the runner) as the reason; any
/// other failure would let the call run.
ClaudeHookReply failure(const std::string& /*message*/) {
  return {2, ""};
}

std::string settings(const std::string& command) {
  Map extra;
  extra["timeout"] = Value(int64_t{30});
  extra["statusMessage"] = Value("stepgate: checking the tool call");
  return to_pretty_json(matcher_hooks_block(kPreToolUse, command, extra));
}

}  // namespace

const HostAdapter& codex_host() {
  static const HostAdapter adapter{kHost, parse, reply, failure, settings};
  return adapter;
}

}  // namespace stepgate
