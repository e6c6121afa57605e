#pragma once
// `stepgate agent-hook claude`: a Claude Code PreToolUse hook. Claude Code runs the hook command
// with the event JSON on stdin before each tool call; the hook answers through its exit code and
// an optional JSON object on stdout (hookSpecificOutput.permissionDecision).

#include <iosfwd>
#include <string>
#include <string_view>

#include "stepgate/policy.h"
#include "stepgate/process_context.h"
#include "stepgate/result.h"
#include "stepgate/value.h"
#include "tool_gate.h"

namespace stepgate {

/// The fields of a Claude Code hook event that the hook reads.
struct ClaudeHookEvent {
  std::string session_id;
  std::string transcript_path;
  std::string cwd;
  std::string hook_event_name;
  std::string tool_name;
  std::string tool_use_id;
  std::string permission_mode;
  Value tool_input = Map{};
};

/// Largest event accepted on stdin (Write events carry whole files).
inline constexpr std::size_t kMaxClaudeEventBytes = std::size_t{8} * 1024 * 1024;

/// Parses an event (size and depth limited). kInvalidArgument when it is not JSON, not an object,
/// lacks hook_event_name, or (for PreToolUse and PermissionRequest) lacks tool_name, has a
/// non-object tool_input, or gives one of Claude Code's own tools a missing or non-string field
/// (Bash `command`, Read/Write/ Edit `file_path`...).
Result<ClaudeHookEvent> parse_claude_hook_event(std::string_view text);

/// Turns a PreToolUse event into the tool call the gate sees: Bash keeps only `command`;
/// mcp__SERVER__TOOL names an MCP server and tool; other tools keep their input as arguments.
ToolCall tool_call_from_claude_event(const ClaudeHookEvent& event);

/// What the hook process answers: its exit code and what it prints on stdout (may be empty).
struct ClaudeHookReply {
  int exit_code = 0;
  std::string out;
};

/// {"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":DECISION,
///  "permissionDecisionReason":REASON}}
std::string claude_permission_json(std::string_view decision, std::string_view reason);

/// Maps the gate's answer to Claude Code's contract: forward -> exit 0 and no decision; deny ->
/// "deny" with the reasons; step-up not satisfied -> "deny" with the challenge and how to approve
/// it (and the inbox at `server_url` when set), or "ask" / "defer" when agents.step_up_response
/// is `ask` / `defer`.
/// An allow that an elevation covered -> exit 0 and additionalContext saying when it ends (`now`,
/// 0: this process's clock).
ClaudeHookReply claude_hook_reply(const ToolCall& call, const ToolGateAnswer& answer,
                                  HoldMode step_up_response, const std::string& server_url = {},
                                  UnixTime now = 0);

/// The PermissionRequest event (Claude Code is about to show its permission dialog): a deny, or a
/// held call, -> {"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":
/// {"behavior":"deny","message":REASON}}}; an allow, or a held call the policy lets the user
/// confirm in Claude Code (`ask`), -> no output, so the dialog asks the user.
ClaudeHookReply claude_permission_request_reply(const ToolCall& call, const ToolGateAnswer& answer,
                                                HoldMode step_up_response,
                                                const std::string& server_url, UnixTime now = 0);

/// {"hookSpecificOutput":{"hookEventName":EVENT,"additionalContext":CONTEXT}}
std::string claude_context_json(std::string_view event_name, std::string_view context);

/// {"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [HOOK]}]}}, pretty-printed.
std::string claude_pretooluse_settings(Map hook);

/// The settings.json block that installs `command` as a PreToolUse hook for every tool, with
/// `"onFailure": "block"` (a hook that cannot start, crashes or times out blocks the call).
std::string claude_settings_json(const std::string& command);

struct ClaudeHookOptions {
  std::string policy_path;
  std::string server_url;  // an inbox to point approvers at ($STEPGATE_SERVER when empty)
  bool print_config = false;
  bool daemon = true;  // --print-config: the `stepgate-hook` client (stepgate daemon); --no-daemon
  GatePool* gates = nullptr;  // the daemon's open gates; null: open one for this call
};

/// The gate's answer to a hook's tool call.
struct HookGateResult {
  ToolGateAnswer answer;
  HoldMode step_up_response = HoldMode::kInstruct;
  std::string server_url;            // the inbox named to approvers ("" when none)
  bool unavailable_allowed = false;  // no gate, and a policy that loads says on_error: allow
};

/// Opens the gate (or takes it from options.gates) and runs it on `call` with the caller's
/// actor, grants ($STEPGATE_GRANT), inbox ($STEPGATE_SERVER) and device. Errors: the gate could
/// not be opened and no policy said on_error: allow (the hook then fails closed).
Result<HookGateResult> gate_hook_call(const ClaudeHookOptions& options, ToolCall call,
                                      const ProcessContext& process);

/// The hook event on `in`, up to kMaxClaudeEventBytes (kResourceExhausted past it).
Result<std::string> read_hook_event(std::istream& in);

/// Runs the hook on context.io.in; sets context.exit_code (0, or 2 on any error: fail closed).
void run_claude_hook(const ClaudeHookOptions& options, CommandContext& context);

/// What a model (or the person reading an MCP error) is told about a refused call: the reasons,
/// and for a held call the challenge id, the `stepgate approve ID` command, the inbox entry at
/// `server_url` when set, and that the identical call passes once approved.
std::string agent_refusal_text(const ToolCall& call, const ToolGateAnswer& answer,
                               const std::string& server_url);

}  // namespace stepgate
