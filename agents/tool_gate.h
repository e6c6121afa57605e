#pragma once
// The tool-call gate shared by the HTTP shim, the Claude Code hook and the stdio wrapper:
// turning a tool call into a `tool.call` Action with its signals, and a decision into what an
// MCP client sees.

#include <string>

#include "stepgate/action.h"
#include "stepgate/env.h"
#include "stepgate/gate.h"
#include "stepgate/policy.h"
#include "stepgate/signal_demand.h"
#include "stepgate/store.h"
#include "stepgate/value.h"

namespace stepgate {

/// One tool call as an agent front-end sees it.
struct ToolCall {
  std::string server;  // MCP server name ("" for built-in agent tools such as Claude's Bash)
  std::string tool;    // tool name
  Value arguments = Map{};
  std::string client;   // client name from initialize, or "claude-code"
  std::string session;  // MCP session id or agent session id
  std::string cwd;      // the agent's working directory, when known
  std::string home;     // the caller's $HOME for `~` (its ProcessContext); "": this process's
  Env env;              // the caller's environment (XDG and stepgate directories); default: ours
};

/// The tool.call action: kind "tool.call", resource "SERVER/TOOL" (or "TOOL"), attributes
/// {server, tool, arguments}. The client name and session are kept out of the attributes so an
/// approval for a call still holds when the client retries it in a new session.
Action make_tool_action(const ToolCall& call, const std::string& actor);

/// tool.call signals: destructive, destructive_patterns, shell_command, shell_programs,
/// shell_unresolved, paths, outside_workspace, sensitive_paths, stepgate_paths, stepgate_writes,
/// network_hosts, new_host, secrets_in_args, args_bytes, rate. A shell command is analysed with
/// analyse_shell (shell_analysis.h), never by its text alone. `demand` (when given) names the
/// signals the loaded rules read: the secret scan of the arguments is skipped when no rule reads
/// `secrets_in_args` (the signal is then empty).
Value collect_tool_signals(const ToolCall& call, const Policy& policy, StateStore* store,
                           UnixTime now, const SignalDemand* demand = nullptr);

/// What to do with a tools/call after the gate ran.
struct ToolGateAnswer {
  bool forward = false;      // allowed (or step-up satisfied): pass it on unchanged
  std::string text;          // for a refused call: the text an agent/model should read
  std::string challenge_id;  // set when held for approval
  std::string challenge_token;
  /// How a person approves the held call: `stepgate approve ID` (local state) or `stepgate
  /// authority approve ID`, and the inbox entry when an inbox URL is known ("" otherwise). The
  /// model is shown these, never the 1.3 KB token.
  std::string approve_command;
  std::string approve_url;
  GateOutcome outcome;
};

/// Held for approval and still approvable (a challenge an approver refused has no token).
bool held_for_approval(const ToolGateAnswer& answer);

/// Runs the gate on a tool call (no terminal; grants from `grants`), registering a pending
/// challenge in the store when step-up is needed and not satisfied. `now` and `device` are the
/// caller's (its ProcessContext's clock, device_fingerprint of its Env).
ToolGateAnswer gate_tool_call(Gate& gate, const ToolCall& call, const std::string& actor,
                              const std::vector<std::string>& grants, const std::string& server_url,
                              UnixTime now, const std::string& device);

}  // namespace stepgate
