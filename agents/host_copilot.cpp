// GitHub Copilot (cloud agent and CLI): a preToolUse command hook in .github/hooks/*.json
// (version 1). Copilot sends {timestamp, cwd, toolName, toolArgs} (toolArgs a JSON string of the
// arguments); its shell tool is `bash` ({command, description?}). It reads {"permissionDecision":
// "allow" | "deny" | "ask", "permissionDecisionReason"}; only a deny is acted on for every
// version, so a held call is denied with how to approve it and retry.
#include "host_hook.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

constexpr std::string_view kHost = "copilot";
constexpr std::string_view kPreToolUse = "preToolUse";

Result<HostEvent> parse(const Value& root) {
  HostEvent event;
  // The event carries no name (each hooks entry is one event); a newer payload may name it.
  Result<std::string> name = hook_string(root, "hookEventName", kHost);
  if (!name.ok()) return name.error();
  event.name = name->empty() ? std::string(kPreToolUse) : *name;
  if (event.name != kPreToolUse) return event;
  Result<std::string> tool = hook_string(root, "toolName", kHost);
  if (!tool.ok()) return tool.error();
  if (tool->empty()) return invalid_argument("copilot hook event: no `toolName`");
  Result<Value> input = hook_object(root, "toolArgs", kHost);
  if (!input.ok()) return input.error();
  if (*tool == "bash" || *tool == "shell") {
    Result<ToolCall> call = shell_call(*input, kHost);
    if (!call.ok()) return call.error();
    event.call = std::move(call).value();
  } else {
    event.call.tool = *tool;
    event.call.arguments = std::move(input).value();
  }
  Result<std::string> cwd = hook_string(root, "cwd", kHost);
  if (!cwd.ok()) return cwd.error();
  event.call.cwd = *cwd;
  event.gated = true;
  return event;
}

std::string deny_json(std::string_view reason) {
  Map out;
  out["permissionDecision"] = Value("deny");
  out["permissionDecisionReason"] = Value(reason);
  return to_json(Value(std::move(out))) + "\n";
}

ClaudeHookReply reply(const HostEvent& /*event*/, const HookAnswer& answer) {
  switch (answer.verdict) {
    case HookVerdict::kNone:
    case HookVerdict::kAllow:
      return {};  // no output: Copilot's own permission flow goes on
    case HookVerdict::kDeny:
    case HookVerdict::kHeld:
      return {0, deny_json(answer.reason)};
  }
  return {0, deny_json(answer.reason)};
}

/// The deny Copilot reads on stdout, and a failing exit besides.
ClaudeHookReply failure(const std::string& message) {
  return {2, deny_json(message)};
}

std::string settings(const std::string& command) {
  Map hook;
  hook["type"] = Value("command");
  hook["bash"] = Value(command);
  hook["timeoutSec"] = Value(int64_t{30});
  Map hooks;
  hooks[std::string(kPreToolUse)] = Value(List{Value(std::move(hook))});
  Map root;
  root["version"] = Value(int64_t{1});
  root["hooks"] = Value(std::move(hooks));
  return to_pretty_json(Value(std::move(root)));
}

}  // namespace

const HostAdapter& copilot_host() {
  static const HostAdapter adapter{kHost, parse, reply, failure, settings};
  return adapter;
}

}  // namespace stepgate
