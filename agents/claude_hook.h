#pragma once
// `stepgate agent-hook claude`: a Claude Code PreToolUse hook. Claude Code runs the hook command
// with the event JSON on stdin before each tool call; the hook answers through its exit code and
// an optional JSON object on stdout (hookSpecificOutput.permissionDecision).

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
/// lacks hook_event_name, or (for PreToolUse) lacks tool_name, has a non-object tool_input, or
/// gives one of Claude Code's own tools a missing or non-string field (Bash `command`, Read/Write/
/// Edit `file_path`...).
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
/// it (and the inbox at `server_url` when set), or "ask" when agents.step_up_response is `ask`.
ClaudeHookReply claude_hook_reply(const ToolCall& call, const ToolGateAnswer& answer,
                                  HoldMode step_up_response, const std::string& server_url = {});

/// The settings.json block that installs `command` as a PreToolUse hook for every tool.
std::string claude_settings_json(const std::string& command);

struct ClaudeHookOptions {
  std::string policy_path;
  std::string server_url;  // an inbox to point approvers at ($STEPGATE_SERVER when empty)
  bool print_config = false;
  bool daemon = true;  // --print-config: the `stepgate-hook` client (stepgate daemon); --no-daemon
  GatePool* gates = nullptr;  // the daemon's open gates; null: open one for this call
};

/// Runs the hook on context.io.in; sets context.exit_code (0, or 2 on any error: fail closed).
void run_claude_hook(const ClaudeHookOptions& options, CommandContext& context);

/// What a model (or the person reading an MCP error) is told about a refused call: the reasons,
/// and for a held call the challenge id, the `stepgate approve TOKEN` command, the inbox at
/// `server_url` when set, and that the identical call passes once approved.
std::string agent_refusal_text(const ToolCall& call, const ToolGateAnswer& answer,
                               const std::string& server_url);

}  // namespace stepgate
