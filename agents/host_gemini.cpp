// Gemini CLI: a BeforeTool command hook in settings.json. Gemini sends {session_id,
// transcript_path, cwd, hook_event_name, timestamp, tool_name, tool_input, mcp_context?}; its
// shell tool is run_shell_command ({command, description?, dir_path?}). It reads {"decision":
// "allow" | "deny" | "block", "reason"} from stdout on exit 0; exit 2 blocks with stderr as the
// reason; any other exit (a crash) or a timeout is a warning and the tool runs.
#include "host_hook.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

constexpr std::string_view kHost = "gemini";
constexpr std::string_view kBeforeTool = "BeforeTool";

/// An MCP tool: mcp_context {server_name, tool_name} when Gemini sends it, else the
/// "SERVER__TOOL" name Gemini gives tools from MCP servers.
Status name_mcp_tool(const Value& root, ToolCall& call) {
  const Value* context = root.find("mcp_context");
  if (context != nullptr && !context->is_null()) {
    if (!context->is_map())
      return invalid_argument("gemini hook event: `mcp_context` must be an object");
    Result<std::string> server = hook_string(*context, "server_name", kHost);
    if (!server.ok()) return server.error();
    Result<std::string> tool = hook_string(*context, "tool_name", kHost);
    if (!tool.ok()) return tool.error();
    if (!server->empty()) call.server = *server;
    if (!tool->empty()) call.tool = *tool;
    return {};
  }
  const std::size_t split = call.tool.find("__");
  if (split != std::string::npos && split > 0 && split + 2 < call.tool.size()) {
    call.server = call.tool.substr(0, split);
    call.tool = call.tool.substr(split + 2);
  }
  return {};
}

Result<HostEvent> parse(const Value& root) {
  HostEvent event;
  Result<std::string> name = hook_string(root, "hook_event_name", kHost);
  if (!name.ok()) return name.error();
  if (name->empty()) return invalid_argument("gemini hook event: no `hook_event_name`");
  event.name = *name;
  if (event.name != kBeforeTool) return event;
  Result<std::string> tool = hook_string(root, "tool_name", kHost);
  if (!tool.ok()) return tool.error();
  if (tool->empty()) return invalid_argument("gemini hook event: no `tool_name`");
  const Value* input = root.find("tool_input");
  if (input != nullptr && !input->is_null() && !input->is_map()) {
    return invalid_argument("gemini hook event: `tool_input` must be an object");
  }
  const Value none = Map{};
  const Value& arguments = input != nullptr && input->is_map() ? *input : none;
  if (*tool == "run_shell_command") {
    Result<ToolCall> call = shell_call(arguments, kHost);
    if (!call.ok()) return call.error();
    event.call = std::move(call).value();
  } else {
    event.call.tool = *tool;
    event.call.arguments = arguments;
    if (Status named = name_mcp_tool(root, event.call); !named.ok()) return named.error();
  }
  for (auto [key, out] : {std::pair{"session_id", &event.call.session}, {"cwd", &event.call.cwd}}) {
    Result<std::string> value = hook_string(root, key, kHost);
    if (!value.ok()) return value.error();
    *out = *value;
  }
  event.gated = true;
  return event;
}

std::string decision_json(std::string_view decision, std::string_view reason) {
  Map out;
  out["decision"] = Value(decision);
  out["reason"] = Value(reason);
  return to_json(Value(std::move(out))) + "\n";
}

ClaudeHookReply reply(const HostEvent& /*event*/, const HookAnswer& answer) {
  switch (answer.verdict) {
    case HookVerdict::kNone:
    case HookVerdict::kAllow:
      // No decision: Gemini's own confirmation settings still apply.
      return {0, "{}\n"};
    case HookVerdict::kDeny:
    case HookVerdict::kHeld:
      // Gemini has no "ask the user" answer for BeforeTool: a held call is denied with how to
      // approve it; the identical retry then passes once.
      return {0, decision_json("deny", answer.reason)};
  }
  return {0, decision_json("deny", answer.reason)};
}

/// Exit 2: Gemini's "system block", with stderr (written by the runner) as the reason.
ClaudeHookReply failure(const std::string& /*message*/) {
  return {2, ""};
}

std::string settings(const std::string& command) {
  Map extra;
  extra["name"] = Value("stepgate");
  extra["timeout"] = Value(int64_t{30000});  // milliseconds
  Value block = matcher_hooks_block(kBeforeTool, command, extra);
  // Gemini's matcher is a regular expression over tool names.
  block["hooks"][std::string(kBeforeTool)].as_list().front()["matcher"] = Value(".*");
  return to_pretty_json(block);
}

}  // namespace

const HostAdapter& gemini_host() {
  static const HostAdapter adapter{kHost, parse, reply, failure, settings};
  return adapter;
}

}  // namespace stepgate
