#pragma once
// `stepgate agent-hook HOST` for the agent hosts besides Claude Code (Codex, Cursor, Gemini CLI,
// GitHub Copilot). Each host runs the hook command with its own event JSON on stdin before a tool
// call and reads its own answer shape from stdout; every host's call becomes the same `tool.call`
// action with the same signals. The per-host parts live in host_*.cpp.

#include <string>
#include <string_view>
#include <vector>

#include "claude_hook.h"
#include "stepgate/process_context.h"
#include "stepgate/result.h"
#include "stepgate/value.h"
#include "tool_gate.h"

namespace stepgate {

/// What stepgate says about one hook event, in host-neutral terms.
enum class HookVerdict {
  kNone,   // not a tool call, or allowed with nothing to add: the host's own flow goes on
  kAllow,  // allowed, with `context` for the model
  kDeny,   // refused by policy
  kHeld,   // held for approval: `reason` says how to approve and that a retry passes once
};

struct HookAnswer {
  HookVerdict verdict = HookVerdict::kNone;
  std::string reason;   // what the model reads for kDeny / kHeld
  std::string context;  // kAllow: e.g. "elevation ends in 12 min"
  bool ask = false;     // kHeld and the policy lets the user confirm in the host itself
  bool defer = false;   // kHeld and the policy says defer (Claude Code's headless sessions)
};

/// Maps the gate's answer to a HookAnswer (the reasons through agent_refusal_text; an allow
/// that an elevation covered says when it ends, counted from `now`).
HookAnswer hook_answer(const ToolCall& call, const ToolGateAnswer& answer,
                       HoldMode step_up_response, const std::string& server_url, UnixTime now);

/// One host event, parsed.
struct HostEvent {
  std::string name;    // the host's event name (beforeShellExecution, BeforeTool...)
  bool gated = false;  // a tool call the gate decides; false: answered with HookVerdict::kNone
  ToolCall call;
};

/// One host's hook contract.
struct HostAdapter {
  std::string_view host;  // the HOST of `stepgate agent-hook HOST`
  /// The event as this host sends it; kInvalidArgument naming the field when it has another
  /// shape (a missing or mistyped tool name or input): the hook then fails closed.
  Result<HostEvent> (*parse)(const Value& event);
  /// The answer as this host reads it: stdout text (may be empty) and exit code.
  ClaudeHookReply (*reply)(const HostEvent& event, const HookAnswer& answer);
  /// What the hook answers when it cannot decide (`message` also goes to stderr): the host's
  /// blocking form, so that bad input or a broken gate never lets the call through.
  ClaudeHookReply (*failure)(const std::string& message);
  /// The host's settings block installing `command`, with its fail-closed options on.
  std::string (*settings)(const std::string& command);
};

const HostAdapter& codex_host();
const HostAdapter& cursor_host();
const HostAdapter& gemini_host();
const HostAdapter& copilot_host();

/// The adapter for `host`, or nullptr.
const HostAdapter* find_host_adapter(std::string_view host);
/// The hosts `agent-hook` knows besides claude.
std::vector<std::string_view> host_adapter_names();

/// Runs `adapter`'s hook on context.io.in (the options are Claude's: policy, server, gates);
/// sets context.exit_code. --print-config prints adapter.settings.
void run_host_hook(const HostAdapter& adapter, const ClaudeHookOptions& options,
                   CommandContext& context);

// Helpers the adapters share (host_hook.cpp).

/// A string field of `root`: "" when absent or null; kInvalidArgument when another type.
Result<std::string> hook_string(const Value& root, std::string_view key, std::string_view host);
/// An object field that may also come as a JSON string holding an object (Cursor's MCP
/// tool_input, Copilot's toolArgs); absent or null -> {}; anything else -> kInvalidArgument.
Result<Value> hook_object(const Value& root, std::string_view key, std::string_view host);
/// A shell tool call as every host's gate sees it: tool "Bash", arguments {command} only (what
/// else a host sends, a description or timeout, changes between retries and would make an
/// approval miss). kInvalidArgument when `input.command` is missing or not a string.
Result<ToolCall> shell_call(const Value& input, std::string_view host);
/// {"hooks": {EVENT: [{"matcher": "*", "hooks": [{"type": "command", "command": COMMAND}]}]}}
/// with `extra` members merged into the inner hook object.
Value matcher_hooks_block(std::string_view event, const std::string& command, const Map& extra);

}  // namespace stepgate
