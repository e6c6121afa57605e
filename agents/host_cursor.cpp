// Cursor: .cursor/hooks.json (version 1) command hooks on beforeShellExecution ({command, cwd}),
// beforeMCPExecution ({tool_name, tool_input, url | command}) and preToolUse ({tool_name,
// tool_input, tool_use_id, cwd}), each with conversation_id, generation_id, workspace_roots and
// hook_event_name. Cursor reads {"permission": "allow" | "deny" | "ask", "user_message",
// "agent_message"}; `failClosed: true` makes it block when the hook crashes or times out.
#include "host_hook.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

constexpr std::string_view kHost = "cursor";
constexpr std::string_view kShell = "beforeShellExecution";
constexpr std::string_view kMcp = "beforeMCPExecution";
constexpr std::string_view kPreToolUse = "preToolUse";

/// Cursor names MCP tools "MCP:SERVER:TOOL" in preToolUse (and, in some versions, in
/// beforeMCPExecution); a bare name in beforeMCPExecution keeps the server unnamed as "mcp".
void name_tool(ToolCall& call, const std::string& name, bool mcp_event) {
  constexpr std::string_view kPrefix = "MCP:";
  call.tool = name;
  if (name.rfind(kPrefix, 0) == 0) {
    const std::string rest = name.substr(kPrefix.size());
    const std::size_t split = rest.find(':');
    if (split != std::string::npos && split > 0 && split + 1 < rest.size()) {
      call.server = rest.substr(0, split);
      call.tool = rest.substr(split + 1);
      return;
    }
  }
  if (mcp_event) call.server = "mcp";
}

Result<ToolCall> tool_event_call(const Value& root, bool mcp_event) {
  Result<std::string> tool = hook_string(root, "tool_name", kHost);
  if (!tool.ok()) return tool.error();
  if (tool->empty()) return invalid_argument("cursor hook event: no `tool_name`");
  Result<Value> input = hook_object(root, "tool_input", kHost);
  if (!input.ok()) return input.error();
  if (!mcp_event && (*tool == "Shell" || *tool == "Bash")) return shell_call(*input, kHost);
  ToolCall call;
  name_tool(call, *tool, mcp_event);
  call.arguments = std::move(input).value();
  return call;
}

/// The working directory: the event's cwd, else the first workspace root.
Result<std::string> event_cwd(const Value& root) {
  Result<std::string> cwd = hook_string(root, "cwd", kHost);
  if (!cwd.ok() || !cwd->empty()) return cwd;
  const Value* roots = root.find("workspace_roots");
  if (roots == nullptr || !roots->is_list() || roots->as_list().empty()) return std::string();
  const Value& first = roots->as_list().front();
  if (!first.is_string())
    return invalid_argument("cursor hook event: `workspace_roots` must hold strings");
  return first.as_string();
}

Result<HostEvent> parse(const Value& root) {
  HostEvent event;
  Result<std::string> name = hook_string(root, "hook_event_name", kHost);
  if (!name.ok()) return name.error();
  if (name->empty()) return invalid_argument("cursor hook event: no `hook_event_name`");
  event.name = *name;
  if (event.name != kShell && event.name != kMcp && event.name != kPreToolUse) return event;
  Result<ToolCall> call =
      event.name == kShell ? shell_call(root, kHost) : tool_event_call(root, event.name == kMcp);
  if (!call.ok()) return call.error();
  event.call = std::move(call).value();
  Result<std::string> session = hook_string(root, "conversation_id", kHost);
  if (!session.ok()) return session.error();
  Result<std::string> cwd = event_cwd(root);
  if (!cwd.ok()) return cwd.error();
  event.call.session = *session;
  event.call.cwd = *cwd;
  event.gated = true;
  return event;
}

std::string permission_json(std::string_view permission, std::string_view user,
                            std::string_view agent) {
  Map out;
  out["permission"] = Value(permission);
  if (!user.empty()) out["user_message"] = Value(user);
  if (!agent.empty()) out["agent_message"] = Value(agent);
  return to_json(Value(std::move(out))) + "\n";
}

ClaudeHookReply reply(const HostEvent& event, const HookAnswer& answer) {
  // Every gating event gets an explicit permission: with failClosed on, an answer Cursor cannot
  // read would block; events stepgate does not gate get an empty object.
  if (!event.gated) return {0, "{}\n"};
  switch (answer.verdict) {
    case HookVerdict::kNone:
      return {0, permission_json("allow", "", "")};
    case HookVerdict::kAllow:
      return {0, permission_json("allow", "", answer.context)};
    case HookVerdict::kDeny:
      return {0, permission_json("deny", "stepgate denied this tool call.", answer.reason)};
    case HookVerdict::kHeld:
      // `ask` (the policy lets the user confirm in Cursor's own prompt) only where Cursor
      // honours it: the shell and MCP events.
      if (answer.ask && event.name != kPreToolUse) {
        return {0, permission_json("ask", answer.reason, answer.reason)};
      }
      return {0,
              permission_json("deny", "stepgate held this tool call for approval.", answer.reason)};
  }
  return {0, permission_json("deny", "", answer.reason)};
}

/// A deny Cursor can read, and a failing exit for failClosed to block on even if it cannot.
ClaudeHookReply failure(const std::string& message) {
  return {2, permission_json("deny", message, message)};
}

std::string settings(const std::string& command) {
  Map hook;
  hook["command"] = Value(command);
  hook["failClosed"] = Value(true);
  Map hooks;
  for (std::string_view event : {kShell, kMcp, kPreToolUse}) {
    hooks[std::string(event)] = Value(List{Value(hook)});
  }
  Map root;
  root["version"] = Value(int64_t{1});
  root["hooks"] = Value(std::move(hooks));
  return to_pretty_json(Value(std::move(root)));
}

}  // namespace

const HostAdapter& cursor_host() {
  static const HostAdapter adapter{kHost, parse, reply, failure, settings};
  return adapter;
}

}  // namespace stepgate
